import type { TestProject } from 'vitest/node';
import { provisionServices, type ProvisionedServices } from '../../scripts/services/provision.ts';

/**
 * Provisions Kafka and Redis once per test run (see scripts/services/provision.ts for the order:
 * env, Docker, local processes) and hands their addresses to test files through provide/inject and
 * process.env. `FAAS_TEST_SERVICES=0` skips provisioning (unit tests only).
 *
 * Under CI a failure is fatal: a missing service fails the run, it never skips tests. Elsewhere the
 * run goes on, and every test that asks for a service fails with the reason.
 */
let services: ProvisionedServices | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const ci = Boolean(process.env['CI']) && process.env['CI'] !== 'false';
  if (process.env['FAAS_TEST_SERVICES'] === '0') {
    project.provide('servicesError', 'FAAS_TEST_SERVICES=0 skipped provisioning');
  } else {
    try {
      services = await provisionServices({
        kafka: true,
        redis: true,
        log: (msg) => console.log(`[services] ${msg}`),
      });
    } catch (err) {
      if (ci) throw err;
      const message = (err as Error).message;
      console.warn(`[services] not provisioned, tests that need Kafka or Redis will fail:\n${message}`);
      project.provide('servicesError', message);
    }
  }
  if (services?.redisUrl !== undefined) {
    process.env['REDIS_URL'] = services.redisUrl;
    project.provide('redisUrl', services.redisUrl);
  }
  if (services?.kafkaBrokers !== undefined) {
    process.env['KAFKA_BROKERS'] = services.kafkaBrokers;
    project.provide('kafkaBrokers', services.kafkaBrokers);
  }
  return async () => {
    await services?.stop();
    services = undefined;
  };
}
