/**
 * The handler's ctx (sandbox/guest/bootstrap.ts Ctx): frozen, its functions made on first use and
 * kept, usable when taken off the object (`const { emit } = ctx`), bound to their own invocation,
 * and no constructor to make another one with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { IsolateRunner } from '../../sandbox/runner.ts';
import type { RuntimeCall } from '../../scheduler/ports.ts';

let runner: IsolateRunner;
const calls: RuntimeCall[] = [];
beforeAll(async () => {
  runner = new IsolateRunner({ processes: 1 });
  runner.handleCalls(async (call) => {
    calls.push(call);
    return { ok: true, payload: '"answered"' };
  });
  await runner.ready();
});
afterAll(() => runner.close(1000));

const SOURCE = `
let kept;
export default async (event, ctx) => {
  const { emit, invoke, state, remainingMs } = ctx;
  const facts = {
    frozen: Object.isFrozen(ctx),
    sameState: ctx.state === ctx.state && state === ctx.state,
    sameEmit: ctx.emit === emit,
    keys: Object.keys(ctx),
    constructor: typeof ctx.constructor,
    remaining: remainingMs() > 0,
    emitted: await emit('topic-a', { n: 1 }),
    invoked: await invoke('other', { m: 2 }),
    read: await state.get('k'),
    assigned: (() => { try { ctx.invocationId = 'x'; } catch {} return ctx.invocationId; })(),
  };
  if (event.data === 'first') kept = ctx;
  else facts.earlier = await kept.state.get('k2'); // an earlier invocation's ctx stays bound to it
  return facts;
};`;

describe('ctx', () => {
  it('is frozen, makes its functions on first use, and binds them to its own invocation', async () => {
    const b = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': SOURCE }, maxBytes: 1e6 });
    const f = { name: 'ctx-fn', version: 1, digest: b.digest, code: b.code, manifest: parseManifest({ name: 'ctx-fn' }), files: {}, deployedAt: '' };
    const first = await runner.invoke(f, JSON.stringify({ data: 'first' }), { invocationId: 'inv-1', correlationId: 'c', deadline: Date.now() + 5000 });
    expect(first.ok && JSON.parse(first.resultJson)).toEqual({
      frozen: true,
      sameState: true,
      sameEmit: true,
      keys: ['invocationId', 'correlationId', 'functionName', 'functionVersion', 'deadline', 'env', 'log'],
      constructor: 'undefined',
      remaining: true,
      emitted: 'answered',
      invoked: 'answered',
      read: 'answered',
      assigned: 'inv-1',
    });
    expect(calls.map((c) => [c.invocationId, c.op])).toEqual([['inv-1', 'emit'], ['inv-1', 'invoke'], ['inv-1', 'state.get']]);
    calls.length = 0;
    const second = await runner.invoke(f, JSON.stringify({ data: 'second' }), { invocationId: 'inv-2', correlationId: 'c', deadline: Date.now() + 5000 });
    expect(second.ok && JSON.parse(second.resultJson)).toMatchObject({ earlier: 'answered' });
    expect(calls.map((c) => [c.invocationId, c.op])).toEqual([['inv-2', 'emit'], ['inv-2', 'invoke'], ['inv-2', 'state.get'], ['inv-1', 'state.get']]);
  });
});
