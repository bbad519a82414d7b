/**
 * Direct calls between functions (ctx.invoke, ctx.invokeAsync) through a real runtime on real
 * Kafka and Redis: results and typed errors come back to the caller, cycles and paths deeper than
 * the limit are refused before anything runs, the caller's deadline bounds the callee, queued calls
 * run from the queue topic, and one correlation id follows the request across every hop.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { TraceHop } from '../../scheduler/ports.ts';
import { testKafkaBrokers, testRedisUrl } from '../support/env.ts';
import { deployFunction, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

let rt: Runtime & { url: string };
beforeAll(async () => {
  rt = await startRuntime({
    KAFKA_BROKERS: testKafkaBrokers().join(','),
    REDIS_URL: testRedisUrl(),
    FAAS_REDIS_PREFIX: `faas-call-${randomBytes(4).toString('hex')}:`,
  });
});
afterAll(async () => {
  await rt?.stop();
});

const deploy = (name: string, source: string, manifest: Record<string, unknown> = {}) => deployFunction(rt, name, source, manifest);
async function invoke(name: string, data: unknown = null, headers: Record<string, string> = {}) {
  const r = await rt.gateway.inject({ method: 'POST', url: `/v1/functions/${name}/invoke`, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(data) });
  return { status: r.statusCode, body: r.json<Record<string, unknown>>(), headers: r.headers };
}
/** A caller that returns what the call answered, or the code and details it rejected with. */
const catching = (call: string) => `export default async (e, ctx) => {
  try { return { ok: await ${call} }; }
  catch (err) { return { name: err.name, code: err.code, message: err.message, details: err.details ?? null }; }
}`;

describe('ctx.invoke', () => {
  it('runs the callee and answers its result, with the caller\'s correlation id and the call on the event', async () => {
    const [caller, callee] = [uniqueName('caller'), uniqueName('callee')];
    await deploy(callee, 'export default async (e, ctx) => ({ doubled: e.data.n * 2, correlationId: ctx.correlationId, call: e.call, type: e.type })');
    await deploy(caller, `export default async (e, ctx) => ({ me: ctx.invocationId, got: await ctx.invoke('${callee}', { n: e.data.n }) })`);
    const r = await invoke(caller, { n: 21 }, { 'x-faas-correlation-id': 'corr-direct-1' });
    expect(r.status).toBe(200);
    const body = r.body as { me: string; got: { doubled: number; correlationId: string; call: unknown; type: string } };
    expect(body.got.doubled).toBe(42);
    expect(body.got.correlationId).toBe('corr-direct-1');
    expect(body.got.type).toBe('faas.call');
    expect(body.got.call).toEqual({ caller, callerInvocationId: body.me, depth: 2 });
  });

  it('hands the callee\'s failure to the caller as a typed error with its code and the callee', async () => {
    const [caller, callee] = [uniqueName('caller'), uniqueName('thrower')];
    await deploy(callee, 'export default async () => { throw new TypeError("card declined"); }');
    await deploy(caller, catching(`ctx.invoke('${callee}', {})`));
    const r = await invoke(caller);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'FaasError', code: 'FAAS_HANDLER_ERROR', message: 'card declined', details: { function: callee, name: 'TypeError' } });
    expect(typeof (r.body.details as { invocationId?: unknown }).invocationId).toBe('string');

    const missing = uniqueName('caller');
    await deploy(missing, catching("ctx.invoke('no-such-function-here', {})"));
    expect((await invoke(missing)).body).toMatchObject({ code: 'FAAS_FUNCTION_NOT_FOUND', details: { function: 'no-such-function-here' } });

    const bad = uniqueName('caller');
    await deploy(bad, catching("ctx.invoke('../etc/passwd', {})"));
    expect((await invoke(bad)).body).toMatchObject({ code: 'FAAS_CALL_INVALID' });
  });

  it('an uncaught callee failure fails the caller with the same code', async () => {
    const [caller, callee] = [uniqueName('caller'), uniqueName('thrower')];
    await deploy(callee, 'export default async () => { throw new Error("boom"); }');
    await deploy(caller, `export default async (e, ctx) => ctx.invoke('${callee}', {})`);
    const r = await invoke(caller);
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ error: { code: 'FAAS_HANDLER_ERROR', message: 'boom' } });
  });

  it('refuses a cycle (A → B → A, and A → A) before the callee runs', async () => {
    const [a, b] = [uniqueName('cyc-a'), uniqueName('cyc-b')];
    await deploy(a, `export default async (e, ctx) => {
      if (e.data && e.data.self) { try { return await ctx.invoke('${a}', {}); } catch (err) { return { code: err.code, chain: err.details.chain }; } }
      return ctx.invoke('${b}', {});
    }`);
    await deploy(b, catching(`ctx.invoke('${a}', {})`));
    const corr = `corr-${randomBytes(6).toString('hex')}`;
    const r = await invoke(a, null, { 'x-faas-correlation-id': corr });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ code: 'FAAS_CALL_CYCLE', details: { chain: [a, b, a] } });
    const self = await invoke(a, { self: true });
    expect(self.body).toEqual({ code: 'FAAS_CALL_CYCLE', chain: [a, a] });
    // Only a and b ran for the first request: the refused call never started an invocation.
    const hops = (await rt.gateway.inject({ method: 'GET', url: `/v1/correlations/${corr}` })).json<{ hops: TraceHop[] }>().hops;
    expect(hops.map((h) => h.function).sort()).toEqual([a, b].sort());
  });

  it(`bounds the call depth (default 16): the 16th function's call is refused`, async () => {
    const names = Array.from({ length: 17 }, (_, i) => uniqueName(`d${i + 1}`));
    const source = `export default async (e, ctx) => {
      const [next, ...rest] = e.data.path;
      if (next === undefined) return { depth: e.call ? e.call.depth : 1 };
      try { return await ctx.invoke(next, { path: rest }); }
      catch (err) { return { refusedAt: ctx.functionName, code: err.code, chainLength: err.details && err.details.chain ? err.details.chain.length : null }; }
    }`;
    for (const n of names) await deploy(n, source);
    const ok = await invoke(names[0] as string, { path: names.slice(1, 16) });
    expect(ok.body).toEqual({ depth: 16 });
    const deep = await invoke(names[0] as string, { path: names.slice(1) });
    expect(deep.body).toEqual({ refusedAt: names[15], code: 'FAAS_CALL_DEPTH_EXCEEDED', chainLength: 17 });
  });

  it('the caller\'s remaining time bounds the callee, and the caller still gets to handle the timeout', async () => {
    const [caller, slow] = [uniqueName('caller'), uniqueName('slow')];
    await deploy(slow, 'export default async () => { await new Promise((r) => setTimeout(r, 5000)); return "late"; }', { limits: { timeoutMs: 10_000 } });
    await deploy(caller, `export default async (e, ctx) => {
      const t0 = Date.now();
      try { await ctx.invoke('${slow}', {}); return { code: null }; }
      catch (err) { return { code: err.code, waitedMs: Date.now() - t0, leftMs: ctx.remainingMs() }; }
    }`, { limits: { timeoutMs: 1000 } });
    const t0 = Date.now();
    const r = await invoke(caller);
    const took = Date.now() - t0;
    expect(r.status).toBe(200);
    const body = r.body as { code: string; waitedMs: number; leftMs: number };
    expect(body.code).toBe('FAAS_TIMEOUT');
    expect(body.waitedMs).toBeGreaterThanOrEqual(800);
    expect(body.waitedMs).toBeLessThan(1000);
    expect(body.leftMs).toBeGreaterThan(0);
    expect(took).toBeLessThan(2500);
  });
});

describe('ctx.invokeAsync', () => {
  it('queues the call durably through the queue topic and answers its id; the outcome is stored under it', async () => {
    const [caller, callee] = [uniqueName('caller'), uniqueName('queued')];
    await deploy(callee, 'export default async (e, ctx) => { ctx.log.info("queued ran"); return { got: e.data, type: e.type }; }');
    await deploy(caller, `export default async (e, ctx) => ({ id: await ctx.invokeAsync('${callee}', { x: 1 }) })`);
    const r = await invoke(caller, null, { 'x-faas-correlation-id': 'corr-async-1' });
    const id = (r.body as { id: string }).id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const rec = await eventually(async () => {
      const res = await rt.gateway.inject({ method: 'GET', url: `/v1/invocations/${id}` });
      const body = res.json<{ status: string }>();
      return body.status === 'pending' ? undefined : body;
    }, 30_000, 50);
    expect(rec).toMatchObject({ id, function: callee, status: 'succeeded', result: { got: { x: 1 }, type: 'faas.call.async' }, attempts: 1, correlationId: 'corr-async-1' });
  });

  it('retries a failing queued call per the callee\'s retry policy, then stores the failure', async () => {
    const callee = uniqueName('flaky');
    await deploy(callee, `export default async (e, ctx) => { const n = await ctx.state.get('n') ?? 0; await ctx.state.set('n', n + 1); throw new Error('attempt failed'); }`, { retry: { maxAttempts: 3, backoffMs: 10 } });
    const accepted = await rt.gateway.inject({ method: 'POST', url: `/v1/functions/${callee}/invoke?mode=async`, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(accepted.statusCode).toBe(202);
    const id = accepted.json<{ invocationId: string }>().invocationId;
    const rec = await eventually(async () => {
      const body = (await rt.gateway.inject({ method: 'GET', url: `/v1/invocations/${id}` })).json<{ status: string }>();
      return body.status === 'pending' ? undefined : body;
    }, 30_000, 50);
    expect(rec).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'FAAS_HANDLER_ERROR', message: 'attempt failed' } });
  });
});

describe('correlation', () => {
  it('one correlation id shows every hop of a request: direct calls, emitted records and queued calls, with their logs', async () => {
    const [front, mid, back, listener] = [uniqueName('front'), uniqueName('mid'), uniqueName('back'), uniqueName('listener')];
    const topic = uniqueName('corr-topic');
    await deploy(listener, 'export default async (e, ctx) => { ctx.log.info("heard", e.data.v); return null; }', { triggers: [{ type: 'topic', topic, start: 'earliest' }] });
    await deploy(back, 'export default async (e, ctx) => { ctx.log.info("back ran"); await ctx.emit(e.data.topic, { v: 7 }); return "back"; }');
    await deploy(mid, `export default async (e, ctx) => { ctx.log.info("mid ran"); return ctx.invoke('${back}', e.data); }`);
    await deploy(front, `export default async (e, ctx) => { await ctx.invokeAsync('${back}', { topic: '${uniqueName('unused')}' }); return ctx.invoke('${mid}', { topic: '${topic}' }); }`);
    const corr = `corr-${randomBytes(6).toString('hex')}`;
    const r = await invoke(front, null, { 'x-faas-correlation-id': corr });
    expect(r.status).toBe(200);

    const trace = await eventually(async () => {
      const res = await rt.gateway.inject({ method: 'GET', url: `/v1/correlations/${corr}` });
      const body = res.json<{ hops: (TraceHop & { logs: { message: string }[] })[] }>();
      return body.hops.length >= 5 ? body : undefined;
    }, 30_000, 50);
    const byFn = (fn: string) => trace.hops.filter((h) => h.function === fn);
    const [f] = byFn(front);
    const [m] = byFn(mid);
    const backs = byFn(back);
    const [l] = byFn(listener);
    expect(f?.depth).toBe(1);
    expect(m).toMatchObject({ depth: 2, parentInvocationId: f?.invocationId, type: 'faas.call' });
    expect(backs.map((h) => h.parentInvocationId).sort()).toEqual([f?.invocationId, m?.invocationId].sort());
    const directBack = backs.find((h) => h.parentInvocationId === m?.invocationId);
    expect(directBack?.depth).toBe(3);
    expect(l).toMatchObject({ type: 'faas.kafka.record', parentInvocationId: directBack?.invocationId });
    expect(l?.logs.map((e) => e.message)).toContain('heard 7');
    expect(m?.logs.map((e) => e.message)).toContain('mid ran');
  });
});
