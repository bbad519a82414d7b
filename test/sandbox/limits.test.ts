/**
 * Resource limits through the production path: deadlines (sync and async), memory, stack, result
 * size and shape, bounded timers. Each hostile invocation fails alone; an instance whose state is
 * uncertain is destroyed (the next invocation is a cold start); the runtime keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IsolateRunner } from '../../sandbox/runner.ts';
import type { FunctionVersion } from '../../scheduler/ports.ts';
import { Bystander, deploy, failureOf, invoke, resultOf, startRunner } from './helpers.ts';

/** Deadline of the hostile invocations; a timeout must be reported within DEADLINE_MS + SLACK_MS. */
const DEADLINE_MS = 400;
const SLACK_MS = 1500;

let runner: IsolateRunner;
let bystander: Bystander;

beforeAll(async () => {
  runner = await startRunner({ processes: 2 });
  bystander = await Bystander.start(runner, 'limits');
});
afterAll(() => runner.close(2000));

/** Warm `fn` with a benign invocation so the hostile one runs in a known, reused instance. */
async function warm(fn: FunctionVersion, data: unknown = null): Promise<void> {
  resultOf(await invoke(runner, fn, data));
  const again = await invoke(runner, fn, data);
  resultOf(again);
  expect(again.start).toBe('warm');
}

/** After a destroyed instance: the same function serves again, from a new (cold) instance. */
async function expectColdAndServing(fn: FunctionVersion, data: unknown = null): Promise<void> {
  const next = await invoke(runner, fn, data);
  resultOf(next);
  expect(next.start).toBe('cold');
  await bystander.expectStillServes();
}

describe('deadlines', () => {
  let loop: FunctionVersion;
  beforeAll(async () => {
    loop = await deploy('loop');
  });

  it.each(['sync', 'microtask', 'timer'])('while(true) (%s) → FAAS_TIMEOUT near the deadline; the instance is destroyed', async (spin) => {
    await warm(loop);

    const out = await invoke(runner, loop, { spin }, DEADLINE_MS);

    failureOf(out, 'FAAS_TIMEOUT');
    expect(out.elapsedMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(out.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    await expectColdAndServing(loop);
  });

  it('a never-settling promise → FAAS_TIMEOUT; the instance is destroyed', async () => {
    const never = await deploy('never');
    await warm(never);

    const out = await invoke(runner, never, { hang: true }, DEADLINE_MS);

    failureOf(out, 'FAAS_TIMEOUT');
    expect(out.elapsedMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    await expectColdAndServing(never);
  });
});

describe('memory and stack', () => {
  it.each(['sync', 'timer'])('a heap bomb (%s) → FAAS_MEMORY_LIMIT (limits.memoryMb 16); the instance is destroyed', async (when) => {
    const bomb = await deploy('heap-bomb', { manifest: { limits: { memoryMb: 16 } } });
    await warm(bomb);

    const out = await invoke(runner, bomb, { bomb: when }, 10_000);

    failureOf(out, 'FAAS_MEMORY_LIMIT');
    await expectColdAndServing(bomb);
  });

  it.each(['one-huge', 'many', 'string'])('memory outside the heap (%s) → FAAS_HANDLER_ERROR (RangeError); the sandbox process survives', async (bomb) => {
    const buffers = await deploy('buffer-bomb', { manifest: { limits: { memoryMb: 32 } } });
    const restartsBefore = runner.processRestarts;

    const error = failureOf(await invoke(runner, buffers, { bomb }, 10_000), 'FAAS_HANDLER_ERROR');

    expect(error.name).toBe('RangeError');
    expect(runner.processRestarts).toBe(restartsBefore);
    await bystander.expectStillServes();
  });

  it('unbounded recursion → FAAS_HANDLER_ERROR (RangeError); the function still serves', async () => {
    const recursion = await deploy('recursion');
    await warm(recursion);

    const error = failureOf(await invoke(runner, recursion, { deep: true }), 'FAAS_HANDLER_ERROR');

    expect(error.name).toBe('RangeError');
    // A caught stack overflow leaves the isolate consistent: it is kept (observed: a warm start).
    const next = await invoke(runner, recursion);
    expect(resultOf(next)).toBe('ok');
    expect(next.start).toBe('warm');
    await bystander.expectStillServes();
  });
});

describe('results (limits.maxResultBytes 1000)', () => {
  let results: FunctionVersion;
  beforeAll(async () => {
    results = await deploy('results', { manifest: { limits: { maxResultBytes: 1000 } } });
  });

  it.each([
    { kind: 'ascii', n: 5000, code: 'FAAS_RESULT_TOO_LARGE' },
    { kind: 'function', n: 0, code: 'FAAS_RESULT_INVALID' },
    { kind: 'bigint', n: 1, code: 'FAAS_RESULT_INVALID' },
    // 600 × 'é': 602 UTF-16 units (passes the guest's cheap check), 1202 bytes (caught by the host).
    { kind: 'utf8', n: 600, code: 'FAAS_RESULT_TOO_LARGE' },
  ] as const)('$kind × $n → $code; the instance is kept', async ({ kind, n, code }) => {
    await warm(results, { kind: 'ascii', n: 1 });

    const error = failureOf(await invoke(runner, results, { kind, n }), code);

    if (kind === 'utf8') expect(error.message).toContain('1202 bytes');
    const next = await invoke(runner, results, { kind: 'ascii', n: 1 });
    expect(resultOf(next)).toBe('a');
    expect(next.start).toBe('warm');
    await bystander.expectStillServes();
  });

  it.each([
    { kind: 'ascii', n: 998 }, // "aaa…" = 1000 bytes
    { kind: 'utf8', n: 499 }, // "ééé…" = 2 + 998 bytes
  ])('a result of exactly limits.maxResultBytes bytes passes ($kind × $n)', async ({ kind, n }) => {
    const out = await invoke(runner, results, { kind, n });

    expect(out.ok && Buffer.byteLength(out.resultJson)).toBe(1000);
  });
});

describe('bounded timers', () => {
  let timers: FunctionVersion;
  beforeAll(async () => {
    timers = await deploy('timers');
  });

  it('await setTimeout(r, 20) works', async () => {
    expect(resultOf(await invoke(runner, timers, { mode: 'sleep', ms: 20 }))).toBe('slept');
  });

  it('clearTimeout cancels a timer', async () => {
    expect(resultOf(await invoke(runner, timers, { mode: 'cleared' }))).toBe(0);
  });

  it('setTimeout with a string throws a TypeError (no eval)', async () => {
    const error = failureOf(await invoke(runner, timers, { mode: 'string' }), 'FAAS_HANDLER_ERROR');

    expect(error.name).toBe('TypeError');
    await bystander.expectStillServes();
  });

  it('a timer longer than the deadline → FAAS_TIMEOUT', async () => {
    await warm(timers, { mode: 'sleep', ms: 0 });

    const out = await invoke(runner, timers, { mode: 'sleep', ms: 60_000 }, DEADLINE_MS);

    failureOf(out, 'FAAS_TIMEOUT');
    expect(out.elapsedMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    await expectColdAndServing(timers, { mode: 'sleep', ms: 0 });
  });

  it('a timer left pending when its invocation ends never fires (the host clears it)', async () => {
    await warm(timers, { mode: 'check', ms: 0 });

    // Arms a 30 ms timer that would increment a module counter, and returns without awaiting it.
    expect(resultOf(await invoke(runner, timers, { mode: 'arm', ms: 30 }))).toBe(0);
    // The next invocation of the same instance outlives that timer by far, then reads the counter.
    const check = await invoke(runner, timers, { mode: 'check', ms: 150 });

    expect(check.start).toBe('warm');
    expect(resultOf(check)).toBe(0);
  });
});
