/**
 * Webhooks end to end: a gateway built with createGateway around a real runtime's invoker (real
 * sandbox processes), the webhook plugin started directly (the trigger controller is not wired
 * here), replay ids in the real Redis (random prefix), async requests on an EmbeddedEventLog.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTriggerSchema } from '../../core/trigger-specs.ts';
import { EmbeddedEventLog } from '../../eventlog/embedded.ts';
import { createGateway } from '../../gateway/server.ts';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { MemoryActivityStore } from '../../scheduler/activity-memory.ts';
import type { EventLog, LogRecord } from '../../scheduler/event-log.ts';
import { Metrics } from '../../scheduler/metrics.ts';
import { systemClock } from '../../scheduler/ports.ts';
import { ScaleRegistry } from '../../scheduler/scale-registry.ts';
import type { RunningTrigger, TriggerDeps } from '../../scheduler/trigger-source.ts';
import { WebhookRoutes } from '../../scheduler/webhook-routes.ts';
import { RedisFenceStore } from '../../state/redis-fence.ts';
import { connectRedis, waitReady } from '../../state/redis-connection.ts';
import { webhookEventFromIngestRecord, webhookTrigger } from '../../triggers/webhook.ts';
import { testRedisUrl } from '../support/env.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';
import { triggerDeps } from '../support/trigger-deps.ts';

const SECRET = 'gh-secret-0123456789';
const env: Record<string, string> = { GH_SECRET: `old-secret,${SECRET}` };
const prefix = `test-webhook-${randomBytes(4).toString('hex')}:`;

let rt: Runtime & { url: string };
let app: FastifyInstance;
let redis: Redis;
let eventLog: EmbeddedEventLog;
const webhooks = new WebhookRoutes();
const running: RunningTrigger[] = [];
const problems: unknown[] = [];

const log = { info: () => undefined, warn: (o: object) => problems.push(o), error: (o: object) => problems.push(o) };

function deps(overrides: Partial<TriggerDeps> = {}): TriggerDeps {
  return triggerDeps({
    invoker: rt.invoker,
    eventLog,
    fences: new RedisFenceStore(redis, { prefix }),
    clock: systemClock,
    webhooks,
    secret: (name) => env[name],
    log,
    ...overrides,
  });
}

async function deploy(name: string, source: string, manifest: Record<string, unknown> = {}): Promise<void> {
  const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, manifest) });
  expect(res.statusCode, res.body).toBe(201);
}

/** Deploy `source` as `fn` and start its webhook trigger with `trigger` (parsed by the manifest schema). */
async function hook(fn: string, source: string, trigger: Record<string, unknown>, extra: { manifest?: Record<string, unknown>; deps?: Partial<TriggerDeps> } = {}) {
  await deploy(fn, source, extra.manifest);
  const spec = webhookTriggerSchema.parse({ type: 'webhook', ...trigger });
  const version = await rt.invoker.resolve(fn);
  const t = await webhookTrigger.start({ fn, manifest: version.manifest, index: 0, spec, deps: deps(extra.deps) });
  running.push(t);
  return t;
}

async function logLines(fn: string): Promise<string[]> {
  const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${fn}/logs?limit=100` });
  return res.json<{ entries: { message: string }[] }>().entries.map((e) => e.message).filter((m) => !m.startsWith('[faas]'));
}

function github(body: string, delivery = randomBytes(8).toString('hex'), secret = SECRET) {
  return {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': delivery,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  };
}

beforeAll(async () => {
  rt = await startRuntime();
  redis = connectRedis({ url: testRedisUrl(), name: 'webhook-test' });
  await waitReady(redis);
  eventLog = new EmbeddedEventLog();
  app = createGateway({
    registry: rt.registry,
    runner: rt.runner,
    scales: new ScaleRegistry(),
    activity: new MemoryActivityStore({ retention: 100, invocationTtlMs: 60_000 }),
    invoker: rt.invoker,
    asyncCalls: rt.asyncCalls,
    deployer: rt.deployer,
    metrics: new Metrics(rt.runner),
    lifecycle: rt.lifecycle,
    webhooks,
    eventLog,
    triggers: rt.triggers,
    apiToken: 'control-token-0123456789',
    maxBodyBytes: 1024 * 1024,
    maxBundleBytes: 5 * 1024 * 1024,
    logLevel: 'silent',
  });
  await app.ready();
});

afterAll(async () => {
  await Promise.all(running.map((t) => t.stop()));
  await app?.close();
  const keys = redis ? await redis.keys(`${prefix}*`) : [];
  if (keys.length > 0) await redis.del(...keys);
  await redis?.quit();
  await eventLog?.close();
  await rt?.stop();
});

describe('sync webhooks (GitHub scheme)', () => {
  const fn = uniqueName('gh');
  const source = `export default async (e) => {
    console.log('ran ' + e.id);
    return { status: 201, headers: { 'x-handled-by': 'gh', 'content-length': '1' }, body: { ref: e.data.ref, type: e.type, source: e.source, event: e.http.headers['x-github-event'], auth: e.http.headers.authorization ?? null, q: e.http.query.a } };
  }`;

  beforeAll(async () => {
    await hook(fn, source, { path: `${fn}/push`, signature: { scheme: 'github', secretEnv: 'GH_SECRET' }, maxBodyBytes: 256 });
  });

  it('a valid signed request runs the handler and its { status, headers, body } is the response; no bearer token needed', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const headers = { ...github(body, 'delivery-ok'), authorization: 'Bearer not-the-control-token' };
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}/push?a=1`, headers, payload: body });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['x-handled-by']).toBe('gh');
    expect(res.headers['x-faas-invocation-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json()).toEqual({ ref: 'refs/heads/main', type: 'faas.webhook', source: `/hooks/${fn}/push`, event: 'push', auth: null, q: '1' });
    expect(await logLines(fn)).toContain('ran delivery-ok');
  });

  it('a tampered body is 401 FAAS_SIGNATURE_INVALID and the handler does not run', async () => {
    const before = (await logLines(fn)).length;
    const headers = github(JSON.stringify({ ref: 'refs/heads/main' }));
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers, payload: JSON.stringify({ ref: 'refs/heads/evil' }) });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('FAAS_SIGNATURE_INVALID');
    expect(res.headers['x-faas-error-code']).toBe('FAAS_SIGNATURE_INVALID');
    const unsigned = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(unsigned.statusCode).toBe(401);
    const wrongSecret = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github('{}', undefined, 'nope'), payload: '{}' });
    expect(wrongSecret.statusCode).toBe(401);
    expect((await logLines(fn)).length).toBe(before);
  });

  it('the old secret still verifies during a rotation', async () => {
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github('{"ref":"r"}', undefined, 'old-secret'), payload: '{"ref":"r"}' });
    expect(res.statusCode).toBe(201);
  });

  it('a replayed delivery is answered 2xx and the handler ran once', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/replay' });
    const headers = github(body, 'delivery-replay');
    const first = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers, payload: body });
    const second = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers, payload: body });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(200);
    expect(second.headers['x-faas-replayed']).toBe('true');
    expect(second.json()).toEqual({ replayed: true, deliveryId: 'delivery-replay' });
    expect((await logLines(fn)).filter((l) => l === 'ran delivery-replay')).toHaveLength(1);
  });

  it('limits: oversized 413, bad JSON 400, unknown path 404, wrong method 405 (with allow), each with its code', async () => {
    const big = JSON.stringify({ ref: 'x'.repeat(300) });
    const tooLarge = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github(big), payload: big });
    expect([tooLarge.statusCode, tooLarge.json().error.code]).toEqual([413, 'FAAS_PAYLOAD_TOO_LARGE']);
    const badJson = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github('{"ref":'), payload: '{"ref":' });
    expect([badJson.statusCode, badJson.json().error.code]).toEqual([400, 'FAAS_JSON_INVALID']);
    const unknown = await app.inject({ method: 'POST', url: `/hooks/${fn}/nope`, headers: github('{}'), payload: '{}' });
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'FAAS_WEBHOOK_NOT_FOUND']);
    const method = await app.inject({ method: 'PUT', url: `/hooks/${fn}/push`, headers: github('{}'), payload: '{}' });
    expect([method.statusCode, method.json().error.code, method.headers.allow]).toEqual([405, 'FAAS_METHOD_NOT_ALLOWED', 'POST']);
    // A bad JSON delivery was not remembered: once fixed, the same delivery id runs.
    const fixed = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github('{"ref":"ok"}', 'delivery-bad-json'), payload: '{"ref":"ok"}' });
    expect(fixed.statusCode).toBe(201);
  });

  it('a chunked body over the limit (no content-length) is 413 on a real socket', async () => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const chunk = new TextEncoder().encode('x'.repeat(100));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${url}/hooks/${fn}/push`, { method: 'POST', body: stream, headers: { 'content-type': 'text/plain' }, duplex: 'half' });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FAAS_PAYLOAD_TOO_LARGE');
  });

  it('leaves the /v1 JSON scope as it was: JSON bodies parsed, bad JSON 400, bearer token required', async () => {
    const auth = { authorization: 'Bearer control-token-0123456789', 'content-type': 'application/json' };
    const ok = await app.inject({ method: 'POST', url: `/v1/functions/${fn}/invoke`, headers: auth, payload: JSON.stringify({ ref: 'v1' }) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 201, body: { ref: 'v1' } });
    const bad = await app.inject({ method: 'POST', url: `/v1/functions/${fn}/invoke`, headers: auth, payload: '{nope' });
    expect(bad.json().error.code).toBe('FAAS_JSON_INVALID');
    const noToken = await app.inject({ method: 'POST', url: `/v1/functions/${fn}/invoke`, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(noToken.statusCode).toBe(401);
  });
});

describe('the github-push example', () => {
  it('verifies the GitHub signature and answers a summary of the push (its handler, run in sync mode)', async () => {
    const dir = new URL('../../functions/github-push/', import.meta.url);
    const { triggers, ...manifest } = JSON.parse(readFileSync(new URL('function.json', dir), 'utf8')) as { triggers: Record<string, unknown>[] };
    const fn = uniqueName('github-push');
    // The example runs async (queued on github.pushes; see examples.test.ts); here its handler
    // answers directly, so the summary it computes is visible in the response.
    const { ingestTopic: _ingest, ...declared } = triggers[0] as Record<string, unknown>;
    const trigger = { ...declared, mode: 'sync', path: `${fn}/push` };
    env.GITHUB_WEBHOOK_SECRET = SECRET;
    await hook(fn, readFileSync(new URL('index.ts', dir), 'utf8'), trigger, { manifest: { ...manifest, name: fn } });
    const push = JSON.stringify({
      ref: 'refs/heads/main', before: 'a'.repeat(40), after: 'b'.repeat(40), repository: { full_name: 'acme/app' }, pusher: { name: 'ada' },
      commits: [{ id: 'c'.repeat(40), message: 'Fix the thing\n\nLonger text', author: { name: 'Ada', username: 'ada' } }],
    });
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github(push, 'gh-delivery-1'), payload: push });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ delivery: 'gh-delivery-1', repository: 'acme/app', branch: 'main', pusher: 'ada', commitCount: 1, authors: ['ada'], commits: [{ id: 'cccccccccccc', title: 'Fix the thing' }] });
    const ping = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: { ...github('{"zen":"Keep it simple."}'), 'x-github-event': 'ping' }, payload: '{"zen":"Keep it simple."}' });
    expect(ping.json()).toEqual({ pong: true, zen: 'Keep it simple.' });
    const forged = await app.inject({ method: 'POST', url: `/hooks/${fn}/push`, headers: github(push, undefined, 'guess'), payload: push });
    expect(forged.statusCode).toBe(401);
  });
});

describe('sync webhook failures', () => {
  it('a failing handler is 502 with the error JSON and releases the delivery id, so the retry runs again', async () => {
    const fn = uniqueName('boom');
    await hook(fn, "export default async (e) => { console.log('attempt ' + e.id); throw new TypeError('boom') }", { path: fn, signature: { scheme: 'github', secretEnv: 'GH_SECRET' } });
    const headers = github('{}', 'delivery-fail');
    const first = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers, payload: '{}' });
    expect(first.statusCode).toBe(502);
    expect(first.json().error).toMatchObject({ code: 'FAAS_HANDLER_ERROR', name: 'TypeError', message: 'boom' });
    const retry = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers, payload: '{}' });
    expect(retry.statusCode).toBe(502);
    expect(await eventually(async () => ((await logLines(fn)).length === 2 ? logLines(fn) : undefined))).toEqual(['attempt delivery-fail', 'attempt delivery-fail']);
  });

  it('a handler past its deadline is 504 FAAS_TIMEOUT', async () => {
    const fn = uniqueName('slow');
    await hook(fn, 'export default async () => { await new Promise((r) => setTimeout(r, 5000)); return 1 }', { path: fn }, { manifest: { limits: { timeoutMs: 200 } } });
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}`, payload: '' });
    expect([res.statusCode, res.json().error.code]).toEqual([504, 'FAAS_TIMEOUT']);
  });

  it('a plain result is 200 JSON; an unsigned webhook uses idempotency-key as its delivery id', async () => {
    const fn = uniqueName('plain');
    await hook(fn, "export default async (e) => { console.log('ran'); return { got: e.data, id: e.id } }", { path: fn, methods: ['POST', 'GET'] });
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers: { 'content-type': 'text/plain', 'idempotency-key': 'k-1' }, payload: 'hi' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json()).toEqual({ got: 'hi', id: 'k-1' });
    const again = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers: { 'content-type': 'text/plain', 'idempotency-key': 'k-1' }, payload: 'hi' });
    expect(again.headers['x-faas-replayed']).toBe('true');
    const get = await app.inject({ method: 'GET', url: `/hooks/${fn}` });
    expect(get.json()).toMatchObject({ got: null });
  });

  it('a missing secret refuses every request with 503 FAAS_WEBHOOK_SECRET_MISSING, logged at start', async () => {
    const fn = uniqueName('nosecret');
    const t = await hook(fn, 'export default () => 1', { path: fn, signature: { scheme: 'standard', secretEnv: 'UNSET_SECRET' } });
    expect(problems).toContainEqual(expect.objectContaining({ fn, code: 'FAAS_WEBHOOK_SECRET_MISSING' }));
    expect(t.status()).toMatchObject({ error: { code: 'FAAS_WEBHOOK_SECRET_MISSING' } });
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}`, payload: '{}' });
    expect([res.statusCode, res.json().error.code]).toEqual([503, 'FAAS_WEBHOOK_SECRET_MISSING']);
  });

  it('stop() unregisters the route', async () => {
    const fn = uniqueName('stopped');
    const t = await hook(fn, 'export default () => 1', { path: fn });
    expect((await app.inject({ method: 'POST', url: `/hooks/${fn}` })).statusCode).toBe(200);
    await t.stop();
    expect((await app.inject({ method: 'POST', url: `/hooks/${fn}` })).statusCode).toBe(404);
  });
});

async function readTopic(topic: string, count: number): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  const sub = await eventLog.subscribe({
    groupId: `reader-${randomBytes(4).toString('hex')}`,
    topic,
    start: 'earliest',
    onBatch: async (batch, control) => {
      records.push(...batch.records);
      await control.commit(String(Number(batch.records.at(-1)!.offset) + 1));
    },
  });
  try {
    await eventually(() => records.length >= count);
    await new Promise((r) => setTimeout(r, 100)); // anything beyond `count` would show up now
  } finally {
    await sub.stop();
  }
  return records;
}

describe('async webhooks (Standard Webhooks scheme)', () => {
  const key = randomBytes(32);
  const secret = `whsec_${key.toString('base64')}`;
  env.STD_SECRET = secret;

  function standard(body: Buffer, id: string) {
    const ts = Math.floor(Date.now() / 1000);
    const sig = createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
    return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` };
  }

  it('answers 202 after the request is on the ingest topic; the record rebuilds the sync event; a replay adds nothing', async () => {
    const fn = uniqueName('queued');
    const topic = `test.${fn}.ingest`;
    await hook(fn, 'export default () => 1', { path: fn, mode: 'async', ingestTopic: topic, signature: { scheme: 'standard', secretEnv: 'STD_SECRET' } });
    const body = Buffer.from(JSON.stringify({ type: 'invoice.paid', n: 1 }));
    const headers = { ...standard(body, 'msg_async_1'), authorization: 'Basic c2VjcmV0' };
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}?x=y`, headers, payload: body });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: true, deliveryId: 'msg_async_1' });
    const replay = await app.inject({ method: 'POST', url: `/hooks/${fn}?x=y`, headers, payload: body });
    expect([replay.statusCode, replay.json()]).toEqual([202, { accepted: true, deliveryId: 'msg_async_1', replayed: true }]);

    const [record, ...more] = await readTopic(topic, 1);
    expect(more).toEqual([]);
    expect(record?.key?.toString()).toBe('msg_async_1');
    const input = webhookEventFromIngestRecord(record!.value!, fn);
    expect(input).toMatchObject({ data: { type: 'invoice.paid', n: 1 }, type: 'faas.webhook', source: `/hooks/${fn}`, eventId: 'msg_async_1', http: { method: 'POST', path: `/hooks/${fn}`, query: { x: 'y' } } });
    expect(input.http?.headers.authorization).toBeUndefined();
    expect((await rt.invoker.invoke(fn, input)).resultJson).toBe('1');
  });

  it('a failed write to the ingest topic is 503 FAAS_INGEST_UNAVAILABLE and releases the delivery id', async () => {
    const fn = uniqueName('down');
    const broken: EventLog = Object.assign(Object.create(eventLog) as EventLog, { produce: () => Promise.reject(new Error('broker down')) });
    const t = await hook(fn, 'export default () => 1', { path: fn, mode: 'async', signature: { scheme: 'standard', secretEnv: 'STD_SECRET' } }, { deps: { eventLog: broken } });
    const body = Buffer.from('{}');
    const headers = standard(body, 'msg_down');
    const res = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers, payload: body });
    expect([res.statusCode, res.json().error.code]).toEqual([503, 'FAAS_INGEST_UNAVAILABLE']);
    // The broker is back: the sender's retry of the same delivery is queued, not taken for a replay.
    await t.stop();
    const spec = webhookTriggerSchema.parse({ type: 'webhook', path: fn, mode: 'async', signature: { scheme: 'standard', secretEnv: 'STD_SECRET' } });
    running.push(await webhookTrigger.start({ fn, manifest: (await rt.invoker.resolve(fn)).manifest, index: 0, spec, deps: deps() }));
    const retry = await app.inject({ method: 'POST', url: `/hooks/${fn}`, headers, payload: body });
    expect([retry.statusCode, retry.json()]).toEqual([202, { accepted: true, deliveryId: 'msg_down' }]);
    expect(await readTopic(`faas.${fn}.ingest`, 1)).toHaveLength(1);
  });
});
