#!/usr/bin/env -S node --no-node-snapshot
/**
 * `npm start`: run the runtime on its configuration (embedded defaults when REDIS_URL and
 * KAFKA_BROKERS are unset), deploy every example under functions/, print the gateway URL.
 * SIGTERM / SIGINT drain and stop.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config.ts';
import { FaasError } from '../core/errors.ts';
import { createRuntime } from '../runtime/create-runtime.ts';
import { deployFolder } from '../runtime/examples.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const runtime = createRuntime(config);
  const url = await runtime.start();
  const functionsDir = process.env.FAAS_FUNCTIONS_DIR ?? path.join(root, 'functions');
  const deployed = process.env.FAAS_DEPLOY_EXAMPLES === '0' ? [] : await deployFolder(runtime, functionsDir);
  for (const d of deployed) {
    console.log(d.error ? `  ✗ ${path.relative(root, d.dir)}: ${d.error}` : `  ✓ ${d.name} v${d.version}`);
  }
  console.log(`faas runtime ready at ${url} (${config.REDIS_URL ? 'Redis registry' : 'embedded, one process'})`);
  console.log(`  try: curl -s -X POST ${url}/v1/functions/hello/invoke -H 'content-type: application/json' -d '{"name":"Ada"}'`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining (grace ${config.FAAS_SHUTDOWN_GRACE_MS} ms)`);
    runtime.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof FaasError ? `error: ${err.message} (${err.code})` : err);
  process.exit(1);
});
