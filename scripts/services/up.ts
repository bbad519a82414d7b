/**
 * For developers: provisions Kafka and Redis (env → Docker → local processes, see provision.ts),
 * prints the exports to paste into another shell, and keeps them running until Ctrl-C.
 *
 *   node scripts/services/up.ts            # both
 *   node scripts/services/up.ts --redis    # only Redis (or --kafka)
 */
import { provisionServices } from './provision.ts';

const args = new Set(process.argv.slice(2));
const only = args.has('--redis') || args.has('--kafka');
const services = await provisionServices({
  redis: !only || args.has('--redis'),
  kafka: !only || args.has('--kafka'),
  log: (msg) => console.error(msg),
});

const exports = [
  services.redisUrl !== undefined ? `REDIS_URL=${services.redisUrl}` : '',
  services.kafkaBrokers !== undefined ? `KAFKA_BROKERS=${services.kafkaBrokers}` : '',
].filter((e) => e.length > 0);
console.log(`export ${exports.join(' ')}`);
console.error('Running; Ctrl-C stops them.');

const keepAlive = setInterval(() => undefined, 1 << 30);
let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: stopping`);
  clearInterval(keepAlive);
  try {
    await services.stop();
  } finally {
    process.exit(0);
  }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => void shutdown(signal));
}
