import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Forks, not threads: isolated-vm and native addons are safer in child processes.
    pool: 'forks',
    // Two cores: Kafka's JVM and Redis run beside the workers, so keep one worker per core at most.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
