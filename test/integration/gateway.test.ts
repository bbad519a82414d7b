/**
 * The gateway end to end on embedded defaults: deploy, list, invoke (sync and async), logs,
 * metrics, delete, auth, and bad input that changes nothing. Real sandbox processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

let rt: Runtime & { url: string };
const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  rt = await startRuntime({ FAAS_API_TOKEN: TOKEN, FAAS_MAX_BODY_BYTES: '4096' });
});
afterAll(async () => {
  await rt.stop();
});

async function deploy(name: string, source: string, manifest: Record<string, unknown> = {}) {
  return rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, headers: auth, payload: deployBody(name, source, manifest) });
}
async function invoke(name: string, payload?: unknown, query = '') {
  return rt.gateway.inject({ method: 'POST', url: `/v1/functions/${name}/invoke${query}`, headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });
}

describe('control API', () => {
  it('deploys, lists, shows, invokes cold then warm, and deletes', async () => {
    const name = uniqueName('greet');
    const put = await deploy(name, "export default async (e, ctx) => { console.log('hi', e.data.who); return { hello: e.data.who, env: ctx.env.MODE, v: ctx.functionVersion } }", { env: { MODE: 'test' } });
    expect(put.statusCode).toBe(201);
    expect(put.json()).toMatchObject({ name, version: 1 });

    const first = await invoke(name, { who: 'Ada' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ hello: 'Ada', env: 'test', v: 1 });
    expect(first.headers['x-faas-start']).toBe('cold');
    expect(first.headers['x-faas-invocation-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(first.headers['x-faas-duration-ms'])).toBeGreaterThan(0);
    const second = await invoke(name, { who: 'Bo' });
    expect(second.headers['x-faas-start']).toBe('warm');

    const list = await rt.gateway.inject({ method: 'GET', url: '/v1/functions', headers: auth });
    expect(list.json().functions).toEqual(expect.arrayContaining([expect.objectContaining({ name, version: 1, instances: { idle: 1, busy: 0 } })]));
    const one = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}`, headers: auth });
    expect(one.json().manifest.limits.timeoutMs).toBe(10_000);

    const logs = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?invocation=${String(first.headers['x-faas-invocation-id'])}`, headers: auth });
    expect(logs.json().entries).toEqual([expect.objectContaining({ level: 'info', message: 'hi Ada', invocationId: first.headers['x-faas-invocation-id'] })]);

    expect((await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}`, headers: auth })).json()).toEqual({ deleted: true });
    const after = await invoke(name, {});
    expect(after.statusCode).toBe(404);
    expect(after.json().error.code).toBe('FAAS_FUNCTION_NOT_FOUND');
  });

  it('treats a repeated identical deploy as a no-op, and a changed manifest as a new version', async () => {
    const name = uniqueName('same');
    const first = await deploy(name, 'export default () => 1');
    const again = await deploy(name, 'export default () => 1');
    expect([again.statusCode, again.json().version, again.json().unchanged]).toEqual([200, 1, true]);
    expect(again.json().digest).toBe(first.json().digest);
    const changed = await deploy(name, 'export default () => 1', { limits: { timeoutMs: 5000 } });
    expect([changed.json().version, changed.json().unchanged]).toEqual([2, false]);
  });

  it('runs async invocations and serves their outcome by id', async () => {
    const name = uniqueName('slow');
    await deploy(name, 'export default async (e) => { await new Promise(r => setTimeout(r, 50)); return e.data * 2 }');
    const accepted = await invoke(name, 21, '?mode=async');
    expect(accepted.statusCode).toBe(202);
    const { invocationId, statusUrl } = accepted.json<{ invocationId: string; statusUrl: string }>();
    const done = await eventually<{ status: string; result?: unknown }>(async () => {
      const r = (await rt.gateway.inject({ method: 'GET', url: statusUrl, headers: auth })).json<{ status: string; result?: unknown }>();
      return r.status === 'pending' ? undefined : r;
    });
    expect(done).toMatchObject({ id: invocationId, status: 'succeeded', result: 42 });
    const unknown = await rt.gateway.inject({ method: 'GET', url: '/v1/invocations/nope', headers: auth });
    expect(unknown.json().error.code).toBe('FAAS_INVOCATION_NOT_FOUND');
  });

  it('maps handler failures to codes with invocation headers', async () => {
    const name = uniqueName('fail');
    await deploy(name, "export default (e) => { if (e.data === 'loop') while (true) {} throw new TypeError('nope') }", { limits: { timeoutMs: 300 } });
    const thrown = await invoke(name, 'x');
    expect(thrown.statusCode).toBe(502);
    expect(thrown.json().error).toMatchObject({ code: 'FAAS_HANDLER_ERROR', message: 'nope', name: 'TypeError' });
    const id = String(thrown.headers['x-faas-invocation-id']);
    const logged = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?invocation=${id}`, headers: auth });
    expect(logged.json().entries[0].message).toMatch(/^\[faas\] invocation failed: FAAS_HANDLER_ERROR: TypeError: nope\n\s+at /);
    const late = await invoke(name, 'loop');
    expect(late.statusCode).toBe(504);
    expect(late.json().error.code).toBe('FAAS_TIMEOUT');
  });

  it('exposes Prometheus metrics for invocations, cold starts, durations and instances', async () => {
    const name = uniqueName('metered');
    await deploy(name, 'export default () => 1');
    await invoke(name);
    await invoke(name);
    const text = (await rt.gateway.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain(`faas_invocations_total{function="${name}",outcome="success",start="cold"} 1`);
    expect(text).toContain(`faas_invocations_total{function="${name}",outcome="success",start="warm"} 1`);
    expect(text).toContain(`faas_cold_starts_total{function="${name}"} 1`);
    expect(text).toContain(`faas_invocation_duration_seconds_count{function="${name}",start="warm"} 1`);
    expect(text).toContain(`faas_warm_instances{function="${name}",state="idle"} 1`);
  });

  it('answers health and readiness without a token', async () => {
    expect((await rt.gateway.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'ok', state: 'running' });
    expect((await rt.gateway.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('bad input gets a stable code and changes nothing', () => {
  it('refuses missing or wrong tokens', async () => {
    const none = await rt.gateway.inject({ method: 'GET', url: '/v1/functions' });
    expect([none.statusCode, none.json().error.code]).toEqual([401, 'FAAS_UNAUTHORIZED']);
    const wrong = await rt.gateway.inject({ method: 'GET', url: '/v1/functions', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
  });

  it('refuses invalid manifests, built-in imports, name mismatches and bad JSON; the old version keeps serving', async () => {
    const name = uniqueName('keep');
    await deploy(name, 'export default () => "v1"');
    const cases = [
      [await deploy(name, 'export default () => 2', { limits: { memoryMb: 1 } }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, "import fs from 'node:fs'; export default () => fs", {}), 422, 'FAAS_BUNDLE_BUILTIN_IMPORT'],
      [await deploy(name, 'export default () => {', {}), 422, 'FAAS_BUNDLE_FAILED'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'lag', topic: 'orders', lagPerInstance: 10, targetDrainSeconds: 5 }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'lag', topic: 'orders', minInstances: 4, maxInstances: 2 }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'lag', topic: 'orders', activationLag: -1 }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'lag', topic: 'orders', lagPerinstance: 10 }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'topic', topic: 'a', group: 'g' }, { type: 'topic', topic: 'b', group: 'g' }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'cron', schedule: '61 * * * *' }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await deploy(name, 'export default () => 2', { triggers: [{ type: 'cron', schedule: '* * * * *', timezone: 'Mars/Olympus' }] }), 422, 'FAAS_MANIFEST_INVALID'],
      [await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, headers: auth, payload: deployBody('other-name', 'export default () => 2') }), 400, 'FAAS_BODY_INVALID'],
      [await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, headers: { ...auth, 'content-type': 'application/json' }, payload: '{"manifest":' }), 400, 'FAAS_JSON_INVALID'],
      [await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, headers: auth, payload: { manifest: {} } }), 400, 'FAAS_BODY_INVALID'],
      [await rt.gateway.inject({ method: 'PUT', url: '/v1/functions/Bad_Name', headers: auth, payload: deployBody('x', '') }), 400, 'FAAS_BODY_INVALID'],
      [await invoke(name, 'x'.repeat(5000)), 413, 'FAAS_PAYLOAD_TOO_LARGE'],
      [await rt.gateway.inject({ method: 'GET', url: '/v2/nothing', headers: auth }), 404, 'FAAS_ROUTE_NOT_FOUND'],
    ] as const;
    for (const [res, status, code] of cases) {
      expect([res.statusCode, res.json().error.code]).toEqual([status, code]);
    }
    const still = await invoke(name);
    expect([still.json(), still.headers['x-faas-version']]).toEqual(['v1', '1']);
  });
});
