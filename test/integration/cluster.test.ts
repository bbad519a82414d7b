/**
 * Two runtime nodes sharing one Redis: a deploy through either is served by both within a second,
 * and a redeploy swaps versions atomically (in-flight invocations finish on the old one).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testRedisUrl } from '../support/env.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

let a: Runtime & { url: string };
let b: Runtime & { url: string };

beforeAll(async () => {
  const env = { REDIS_URL: testRedisUrl(), FAAS_REDIS_PREFIX: `faas-test-${randomBytes(4).toString('hex')}:` };
  [a, b] = await Promise.all([startRuntime({ ...env, FAAS_LOG_RETENTION: '10000' }), startRuntime({ ...env, FAAS_LOG_RETENTION: '10000' })]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const invoke = (node: Runtime, name: string, data: unknown = null) =>
  node.gateway.inject({ method: 'POST', url: `/v1/functions/${name}/invoke`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(data) });

describe('two nodes, one Redis', () => {
  it('a function deployed on node A is invocable on node B within a second', async () => {
    const name = uniqueName('shared');
    const t0 = Date.now();
    await a.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, 'export default (e) => ({ got: e.data })') });
    const res = await eventually(async () => {
      const r = await invoke(b, name, 7);
      return r.statusCode === 200 ? r : undefined;
    }, 1000, 10);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(res.json()).toEqual({ got: 7 });
  });

  it('a per-second cron runs on both nodes, yet each tick fires exactly once', async () => {
    const name = uniqueName('cron-once');
    const source = "export default async (event, ctx) => { ctx.log.info(event.data.scheduledTime); return null; }";
    await a.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, { triggers: [{ type: 'cron', schedule: '* * * * * *' }] }) });
    // Both nodes run the trigger (the deploy reached b through Redis).
    await eventually(() => a.triggers.status(name).triggers.length === 1 && b.triggers.status(name).triggers.length === 1, 5000);
    const ticks = await eventually(async () => {
      const res = await a.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=1000` });
      const lines = res.json<{ entries: { message: string }[] }>().entries.map((e) => e.message);
      return lines.length >= 4 ? lines : undefined;
    }, 10_000, 100);
    expect(new Set(ticks).size).toBe(ticks.length); // no scheduled time twice
    const runs = (n: Runtime) => Number((n.triggers.status(name).triggers[0]?.status as { runs?: number }).runs ?? 0);
    expect(runs(a) + runs(b)).toBeGreaterThanOrEqual(ticks.length);
    await a.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
  });

  it('a redeploy lets in-flight invocations finish on the old version while new ones get the new', async () => {
    const name = uniqueName('swap');
    const slowV1 = "export default async () => { await new Promise(r => setTimeout(r, 400)); return 'v1' }";
    await a.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, slowV1) });
    await eventually(() => b.registry.cached(name));
    const inflight = invoke(b, name);
    await eventually(() => (b.runner.stats().instances[name]?.busy ?? 0) > 0);
    await a.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, "export default () => 'v2'") });
    await eventually(() => b.registry.cached(name)?.version === 2, 1000, 5);
    const fresh = await invoke(b, name);
    expect([fresh.json(), fresh.headers['x-faas-version']]).toEqual(['v2', '2']);
    const old = await inflight;
    expect([old.json(), old.headers['x-faas-version']]).toEqual(['v1', '1']);
    // The v1 instance is retired, not reused: only the current version remains.
    await eventually(() => b.runner.stats().instances[name]?.version === 2 && b.runner.stats().instances[name]?.idle === 1);
  });
});
