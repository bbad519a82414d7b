/**
 * A heap bomb must fail its own invocation only, even when the runner's periodic stats request
 * (heap statistics of every isolate) reaches the sandbox process while the bomb's isolate is being
 * torn down. A fast sweep makes that overlap likely; one process makes every function share it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IsolateRunner } from '../../sandbox/runner.ts';
import { deploy, failureOf, invoke, resultOf, startRunner, type HealthyResult } from './helpers.ts';

let runner: IsolateRunner;

beforeAll(async () => {
  runner = await startRunner({ processes: 1, sweepMs: 2 });
});
afterAll(() => runner.close(2000));

describe('heap bomb vs. process stats', () => {
  it('heap bombs never take the sandbox process (and a bystander\'s invocation) down', async () => {
    const bomb = await deploy('stats-bomb', { fixture: 'heap-bomb', manifest: { limits: { memoryMb: 16 } } });
    const bystander = await deploy('stats-bystander', { fixture: 'healthy' });
    const first = resultOf<HealthyResult>(await invoke(runner, bystander));

    for (let round = 0; round < 8; round++) {
      const [bombed, slow] = await Promise.all([invoke(runner, bomb, { bomb: 'sync' }, 10_000), invoke(runner, bystander, { ms: 100 }, 10_000)]);
      failureOf(bombed, 'FAAS_MEMORY_LIMIT');
      expect(slow.ok, slow.ok ? '' : `round ${round}: ${slow.error.code} ${slow.error.message}`).toBe(true);
    }

    expect(runner.processRestarts).toBe(0);
    const last = resultOf<HealthyResult>(await invoke(runner, bystander));
    expect(last.instance).toBe(first.instance);
  });
});
