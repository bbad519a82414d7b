import { inject } from 'vitest';

/**
 * The one way for test files to reach the Kafka and Redis that `global-setup.ts` provisioned.
 * The addresses come through vitest's provide/inject; `process.env.REDIS_URL` / `KAFKA_BROKERS` are
 * set too (forked workers inherit them), but prefer these helpers.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    kafkaBrokers: string;
    /** Set instead of the addresses when provisioning failed outside CI. */
    servicesError: string;
  }
}

function missing(name: string): Error {
  const why = inject('servicesError') || 'test/support/global-setup.ts did not provide it';
  return new Error(`${name} is not available to tests: ${why}`);
}

/** The provided address, else the env one (a config without the global setup); never after a failure. */
function address(key: 'redisUrl' | 'kafkaBrokers', envName: string): string | undefined {
  if (inject('servicesError')) return undefined;
  return inject(key) || process.env[envName] || undefined;
}

/** e.g. `redis://127.0.0.1:40123`. Use a random key prefix per test; never flush the database. */
export function testRedisUrl(): string {
  const url = address('redisUrl', 'REDIS_URL');
  if (!url) throw missing('Redis');
  return url;
}

/** e.g. `['127.0.0.1:40125']`. Use a random topic and group per test. */
export function testKafkaBrokers(): string[] {
  const brokers = address('kafkaBrokers', 'KAFKA_BROKERS');
  if (!brokers) throw missing('Kafka');
  return brokers.split(',').map((b) => b.trim()).filter((b) => b.length > 0);
}
