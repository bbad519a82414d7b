/**
 * A sandbox process dying mid-invocation: the invocation fails with a retriable
 * FAAS_SANDBOX_CRASHED, the pool replaces the process, functions on the other process are
 * untouched and the function that crashed serves again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG, FaasError } from '../../core/errors.ts';
import type { IsolateRunner } from '../../sandbox/runner.ts';
import { deploy, failureOf, invoke, loadedCount, resultOf, startRunner, waitFor, type HealthyResult, type Outcome } from './helpers.ts';

let runner: IsolateRunner;

beforeAll(async () => {
  runner = await startRunner({ processes: 2 });
});
afterAll(() => runner.close(2000));

/** Run `start` and return the pid of the process whose instance count it raised (placement is synchronous). */
function placed<T>(start: () => T): { value: T; pid: number } {
  const before = new Map(runner.stats().processes.map((p) => [p.pid, p.instances]));
  const value = start();
  const grown = runner.stats().processes.filter((p) => p.instances > (before.get(p.pid) ?? 0));
  expect(grown).toHaveLength(1);
  return { value, pid: grown[0]!.pid };
}

describe('sandbox process crash', () => {
  it('SIGKILL of the process hosting a hanging invocation → FAAS_SANDBOX_CRASHED (retriable); the process is replaced', async () => {
    const bystander = await deploy('crash-bystander', { fixture: 'healthy' });
    const hang = await deploy('crash-hang', { fixture: 'never' });
    const after = await deploy('crash-after', { fixture: 'healthy' });

    const warmed = placed(() => invoke(runner, bystander));
    const before = resultOf<HealthyResult>(await warmed.value);
    // The hanging invocation lands on the least-loaded process: the other one.
    const hanging = placed(() => invoke(runner, hang, { hang: true }, 20_000));
    expect(hanging.pid).not.toBe(warmed.pid);
    // Let it reach the sandbox (loaded, so the invocation is running) before the kill.
    await waitFor(() => loadedCount(runner, 'crash-hang'), (n) => n === 1, { what: 'the hanging instance to load' });

    process.kill(hanging.pid, 'SIGKILL');
    const out: Outcome = await hanging.value;

    const error = failureOf(out, 'FAAS_SANDBOX_CRASHED');
    expect(out.elapsedMs).toBeLessThan(5000); // not left to the 20 s deadline
    expect(ERROR_CATALOG.FAAS_SANDBOX_CRASHED.retriable).toBe(true);
    expect(FaasError.fromData(error).retriable).toBe(true);

    // The pool replaces the process (bounded wait on the outcome).
    const procs = await waitFor(() => runner.stats().processes, (ps) => ps.length === 2 && ps.every((p) => p.pid !== hanging.pid && p.pid > 0), { what: 'a replacement process' });
    expect(procs.map((p) => p.pid)).toContain(warmed.pid);
    expect(runner.processRestarts).toBe(1);

    // The crashed function serves again, from a new instance.
    const again = await invoke(runner, hang, null);
    expect(resultOf(again)).toBe('ok');
    expect(again.start).toBe('cold');
    // A function on the surviving process is untouched: same warm instance, module state intact.
    const still = await invoke(runner, bystander);
    expect(still.start).toBe('warm');
    expect(resultOf<HealthyResult>(still)).toEqual({ ...before, n: before.n + 1 });
    // And a new function runs.
    resultOf(await invoke(runner, after));
  });
});
