/**
 * The sync-first path of an invocation (IsolateInstance.invoke): the handler starts from a
 * synchronous call into its isolate on the sandbox process's thread, and an outcome reached without
 * the host is taken synchronously too. It must change nothing a handler or the runtime can see:
 * - runtime calls made by a handler that then returns at once reach the runtime before its outcome;
 * - a synchronous part longer than SYNC_SLICE_MS is cut off and the invocation runs again in a new
 *   isolate, asynchronously: what the cut-off run did (runtime calls, module state) is never seen;
 * - a long synchronous handler holds the process's thread, shared by every instance in it, for
 *   SYNC_SLICE_MS at most: a neighbour in the same process is not held up behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { SYNC_SLICE_MS } from '../../sandbox/isolate-instance.ts';
import { IsolateRunner } from '../../sandbox/runner.ts';
import type { FunctionVersion, RuntimeCall } from '../../scheduler/ports.ts';

let runner: IsolateRunner;
const calls: (RuntimeCall & { at: number })[] = [];
beforeAll(async () => {
  // One sandbox process: every instance shares its thread.
  runner = new IsolateRunner({ processes: 1 });
  runner.handleCalls(async (call) => {
    calls.push({ ...call, at: performance.now() });
    return { ok: true, payload: 'null' };
  });
  await runner.ready();
});
afterAll(() => runner.close(1000));

async function fn(name: string, source: string): Promise<FunctionVersion> {
  const b = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': source }, maxBytes: 1e6 });
  return { name, version: 1, digest: b.digest, code: b.code, manifest: parseManifest({ name, limits: { timeoutMs: 5000 } }), files: {}, deployedAt: '' };
}

let seq = 0;
async function invoke(f: FunctionVersion, data: unknown, deadlineMs = 4000) {
  const invocationId = `sync-first-${++seq}`;
  const t0 = performance.now();
  const out = await runner.invoke(f, JSON.stringify({ data }), { invocationId, correlationId: invocationId, deadline: Date.now() + deadlineMs });
  return { out, invocationId, doneAt: performance.now(), elapsedMs: performance.now() - t0 };
}

/** Spins for `event.data.ms` after an un-awaited emit; answers how often its module ran a handler. */
const SPINNER = `
let runs = 0;
export default async (event, ctx) => {
  runs++;
  void ctx.emit('spun', { run: runs });
  const until = Date.now() + event.data.ms;
  while (Date.now() < until) { /* spin */ }
  return { runs };
};`;

describe('sync-first invocations', () => {
  it('runtime calls of a handler that returns at once reach the runtime before its outcome', async () => {
    const f = await fn('sync-first-emitter', 'export default async (event, ctx) => { void ctx.emit("t", event.data); return "done"; };');
    for (let i = 0; i < 3; i++) {
      const { out, invocationId, doneAt } = await invoke(f, { i });
      expect(out.ok && out.resultJson).toBe('"done"');
      const seen = calls.filter((c) => c.invocationId === invocationId);
      expect(seen.map((c) => [c.op, JSON.parse(c.args)[1]])).toEqual([['emit', JSON.stringify({ i })]]);
      expect((seen[0] as { at: number }).at).toBeLessThanOrEqual(doneAt);
    }
  });

  it(`a synchronous part over SYNC_SLICE_MS (${SYNC_SLICE_MS} ms) runs again in a new isolate: the cut-off run's calls and module state are never seen`, async () => {
    const f = await fn('sync-first-spinner', SPINNER);
    const first = await invoke(f, { ms: SYNC_SLICE_MS * 3 });
    expect(first.out.ok && JSON.parse(first.out.resultJson)).toEqual({ runs: 1 });
    const emitted = calls.filter((c) => c.invocationId === first.invocationId).map((c) => JSON.parse(JSON.parse(c.args)[1]));
    expect(emitted).toEqual([{ run: 1 }]);

    // The new isolate serves on, warm; this function version now runs asynchronously.
    const second = await invoke(f, { ms: 1 });
    expect(second.out.ok && JSON.parse(second.out.resultJson)).toEqual({ runs: 2 });
    expect(second.out.start).toBe('warm');
  });

  it('a long synchronous handler holds the shared process thread for SYNC_SLICE_MS at most', async () => {
    const spinner = await fn('sync-first-hog', SPINNER);
    const neighbour = await fn('sync-first-neighbour', 'export default async () => "here";');
    await invoke(neighbour, null); // loaded before the hog starts
    const hog = invoke(spinner, { ms: 1500 });
    await new Promise((r) => setTimeout(r, 50));
    const near = await invoke(neighbour, null);
    expect(near.out.ok && near.out.resultJson).toBe('"here"');
    // Behind a held thread it would wait for the whole 1500 ms spin.
    expect(near.elapsedMs).toBeLessThan(750);
    const { out } = await hog;
    expect(out.ok && JSON.parse(out.resultJson)).toEqual({ runs: 1 });
  });
});
