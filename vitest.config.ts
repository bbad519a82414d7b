import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Forks, not threads: isolated-vm and native addons are safer in child processes.
    pool: 'forks',
    // isolated-vm needs it in any process that loads it (the sandbox tests load it in the worker).
    execArgv: ['--no-node-snapshot', '--disable-warning=TimeoutNegativeWarning'],
    // Two cores: Kafka's JVM and Redis run beside the workers, so keep one worker per core at most.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
