/**
 * Pins an isolated-vm behaviour the host bridge depends on (sandbox/isolate-instance.ts): a
 * Reference passed to `evalClosure` with `arguments: { reference: true }` arrives wrapped in a
 * second Reference, so `$0.applyIgnored(...)` targets the inner Reference object, not the function,
 * and silently calls nothing. An `ivm.Callback` is called. If this test starts failing after an
 * isolated-vm upgrade, the bridge's choice of Callback can be revisited.
 *
 * Loads isolated-vm in the test process: vitest must start its workers with --no-node-snapshot.
 */
import ivm from 'isolated-vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';

describe('isolated-vm bridge quirk', () => {
  let isolate: ivm.Isolate;
  let context: ivm.Context;

  beforeAll(async () => {
    isolate = new ivm.Isolate({ memoryLimit: 8 });
    context = await isolate.createContext();
  });
  afterAll(() => isolate.dispose());

  /** Run a guest snippet with `$0` bound to `arg`; resolves with the copied completion value. */
  const run = (code: string, arg: unknown, options: ivm.ContextEvalClosureOptions = {}) =>
    context.evalClosure(code, [arg], { ...options, result: { copy: true } }) as Promise<unknown>;

  /** Let the host run whatever the isolate queued for it (a round trip to the isolate, then a host turn). */
  async function flush(): Promise<void> {
    await context.eval('0');
    await new Promise((r) => setImmediate(r));
  }

  it('runs in a process started with --no-node-snapshot (isolated-vm requires it; vitest `test.execArgv`)', () => {
    expect(process.execArgv).toContain('--no-node-snapshot');
  });

  it('a Reference passed with arguments.reference is wrapped again: applyIgnored never calls the function', async () => {
    const calls: unknown[] = [];
    const ref = new ivm.Reference((x: unknown) => void calls.push(x));

    const seen = await run('$0.applyIgnored(undefined, ["wrapped"]); return $0.typeof', ref, { arguments: { reference: true } });
    await flush();

    expect(seen).toBe('object'); // a Reference to the Reference object, not to the function
    expect(calls).toEqual([]);
  });

  it('the same Reference passed plainly is called (the quirk is the extra wrapping)', async () => {
    const calls: unknown[] = [];
    const ref = new ivm.Reference((x: unknown) => void calls.push(x));

    const seen = await run('$0.applyIgnored(undefined, ["plain"]); return $0.typeof', ref);

    expect(seen).toBe('function');
    await waitFor(() => calls, (c) => c.length === 1, { what: 'the plain Reference to be called' });
    expect(calls).toEqual(['plain']);
  });

  it('an ivm.Callback with { ignored: true } is a plain guest function and is called', async () => {
    const calls: unknown[] = [];
    const cb = new ivm.Callback((x: unknown) => void calls.push(x), { ignored: true });

    const seen = await run('const r = $0("callback"); return [typeof $0, r === undefined]', cb);

    expect(seen).toEqual(['function', true]);
    await waitFor(() => calls, (c) => c.length === 1, { what: 'the Callback to be called' });
    expect(calls).toEqual(['callback']);
  });
});
