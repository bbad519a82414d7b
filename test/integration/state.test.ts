/**
 * ctx.state end to end (real sandboxes; memory and real Redis): counters and maps with
 * read-your-writes, writes that take effect only with success, effectively-once per fence,
 * namespaces that hostile keys cannot leave, and a topic stream counted exactly.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testRedisUrl } from '../support/env.ts';
import { deployFunction, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

describe.each(['memory', 'redis'] as const)('ctx.state on %s', (backend) => {
  let rt: Runtime & { url: string };
  beforeAll(async () => {
    rt = await startRuntime({ FAAS_LOG_RETENTION: '10000', ...(backend === 'redis' ? { REDIS_URL: testRedisUrl(), FAAS_REDIS_PREFIX: `faas-st-${randomBytes(4).toString('hex')}:` } : {}) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const deploy = (name: string, source: string, manifest: Record<string, unknown> = {}) => deployFunction(rt, name, source, manifest);
  const invoke = async (name: string, data: unknown = null) => {
    const r = await rt.gateway.inject({ method: 'POST', url: `/v1/functions/${name}/invoke`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(data) });
    return { status: r.statusCode, body: r.json() };
  };

  it('counts, maps and reads its own writes within an invocation', async () => {
    const name = uniqueName('st');
    await deploy(name, `export default async (e, ctx) => {
      const n = await ctx.state.incr('visits');
      await ctx.state.set('last', { who: e.data, n });
      await ctx.state.hset('by-user', e.data, n);
      return { n, last: await ctx.state.get('last'), all: await ctx.state.hgetall('by-user'), missing: await ctx.state.get('nope') };
    }`);
    expect((await invoke(name, 'ada')).body).toEqual({ n: 1, last: { who: 'ada', n: 1 }, all: { ada: 1 }, missing: null });
    expect((await invoke(name, 'bo')).body).toEqual({ n: 2, last: { who: 'bo', n: 2 }, all: { ada: 1, bo: 2 }, missing: null });
  });

  it('a failing invocation leaves no state behind', async () => {
    const name = uniqueName('st-fail');
    await deploy(name, `export default async (e, ctx) => {
      if (e.data === 'read') return { v: await ctx.state.get('v'), n: await ctx.state.get('n') };
      await ctx.state.set('v', 'written');
      await ctx.state.incr('n', 5);
      throw new Error('after writing');
    }`);
    expect((await invoke(name, 'write')).status).toBe(502);
    expect((await invoke(name, 'read')).body).toEqual({ v: null, n: null });
  });

  it('applies the writes of one fenced input once, however often it runs', async () => {
    const name = uniqueName('st-fence');
    await deploy(name, `export default async (e, ctx) => ({ n: await ctx.state.incr('count') })`);
    const run = (fence: string) => rt.invoker.invoke(name, { data: null, fence });
    await run('g/orders/0/7');
    const again = await run('g/orders/0/7'); // a redelivery: it runs, its writes are skipped
    expect(again.error).toBeUndefined();
    await run('g/orders/0/8');
    expect((await invoke(name)).body).toEqual({ n: 3 }); // 2 fenced + this unfenced one
  });

  it("cannot read or write another function's keys, whatever the key", async () => {
    const owner = uniqueName('st-owner');
    const thief = uniqueName('st-thief');
    await deploy(owner, `export default async (e, ctx) => { if (e.data === 'set') await ctx.state.set('secret', 'mine'); return ctx.state.get('secret'); }`);
    await invoke(owner, 'set');
    const keys = ['secret', `../${owner}:secret`, `fn:${owner}:secret`, `${owner}:secret`, '*', ':secret', 'secret\\u0000', `fn%3A${owner}%3Asecret`, `fn\\uFF1A${owner}\\uFF1Asecret`, `state:fn:${owner}:secret`, '\\u0000', 'secret*', `fn:${owner}:*`];
    await deploy(thief, `export default async (e, ctx) => {
      const seen = [];
      for (const k of e.data) {
        seen.push(await ctx.state.get(k), await ctx.state.hget(k, 'secret'), Object.keys(await ctx.state.hgetall(k)).length || null);
        await ctx.state.set(k, 'stolen');
        await ctx.state.delete(k + 'x');
      }
      const shared = [];
      for (const s of ['${owner}', 'fn:${owner}', '../fn', '*']) { try { await ctx.state.shared(s).get('secret'); shared.push('read'); } catch (err) { shared.push(err.code); } }
      return { seen, shared };
    }`);
    expect((await invoke(thief, keys)).body).toEqual({ seen: keys.flatMap(() => [null, null, null]), shared: ['FAAS_STATE_FORBIDDEN', 'FAAS_STATE_FORBIDDEN', 'FAAS_STATE_FORBIDDEN', 'FAAS_STATE_FORBIDDEN'] });
    expect((await invoke(owner, 'get')).body).toBe('mine');
  });

  it('a shared store is reachable by the functions its name is granted to, and only by them', async () => {
    const store = uniqueName('orders-ctx');
    const [writer, reader, outsider] = [uniqueName('st-w'), uniqueName('st-r'), uniqueName('st-o')];
    const grant = { state: { shared: [store] } };
    // The writer's own and shared writes commit together, and only when it succeeds.
    await deploy(writer, `export default async (e, ctx) => {
      const orders = ctx.state.shared('${store}');
      await orders.hset('order:' + e.data.id, 'status', e.data.status);
      await orders.incr('count');
      await ctx.state.incr('mine');
      if (e.data.fail) throw new Error('after the writes');
      return [await orders.get('count'), await ctx.state.get('mine')];
    }`, grant);
    await deploy(reader, `export default async (e, ctx) => {
      const orders = ctx.state.shared('${store}');
      return { count: await orders.get('count'), order: await orders.hgetall('order:1'), mine: await ctx.state.get('mine') };
    }`, grant);
    await deploy(outsider, `export default async (e, ctx) => { try { return await ctx.state.shared('${store}').get('count'); } catch (err) { return err.code; } }`);
    expect((await invoke(writer, { id: 1, status: 'paid' })).body).toEqual([1, 1]);
    expect((await invoke(writer, { id: 1, status: 'lost', fail: true })).status).toBe(502);
    expect((await invoke(reader)).body).toEqual({ count: 1, order: { status: 'paid' }, mine: null });
    expect((await invoke(outsider)).body).toBe('FAAS_STATE_FORBIDDEN');
  });

  it('a topic stream counted in state is exact, even across a consumer restart mid-stream', async () => {
    const name = uniqueName('st-count');
    const topic = uniqueName('st-topic');
    await rt.eventLog.ensureTopic(topic, 2);
    const N = 60;
    const source = `export default async (e, ctx) => { await new Promise((r) => setTimeout(r, 5)); const n = await ctx.state.incr('count'); console.log(String(n)); return null; }`;
    await deploy(name, source, { triggers: [{ type: 'topic', topic, start: 'earliest' }] });
    await rt.gateway.inject({ method: 'POST', url: `/v1/topics/${topic}/records`, payload: { records: Array.from({ length: N }, (_, i) => ({ key: `k${i % 4}`, value: { i } })) } });
    await eventually(async () => (await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` })).json().entries.length >= 10, 20_000);
    await deploy(name, source, { description: 'restarted', triggers: [{ type: 'topic', topic, start: 'earliest' }] });
    await eventually(async () => (await rt.eventLog.offsets(`faas.${name}`, topic)).every((p) => (p.committed ?? p.start) === p.end), 30_000);
    // A namespace belongs to its function: read the count through the function itself.
    await deploy(name, `export default async (e, ctx) => ctx.state.get('count')`, { description: 'reader', triggers: [] });
    expect((await invoke(name)).body).toBe(N);
  });
});
