/**
 * The example functions, deployed the way `npm start` does, driven as a user would: a signed
 * GitHub push is published durably to github.pushes, where the webhook's own handler and the
 * enricher (its own consumer group) both run; a redelivery runs nothing again. Plus triggers
 * declared in manifests through the controller: a per-second cron and `faas publish` into a
 * topic-triggered function.
 */
import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createRuntime, type Runtime } from '../../runtime/create-runtime.ts';
import { deployFolder } from '../../runtime/examples.ts';
import { deployBody, eventually, uniqueName } from '../support/runtime.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'test-github-secret';
let rt: Runtime;
let url = '';

beforeAll(async () => {
  rt = createRuntime(loadConfig({ FAAS_PORT: '0', FAAS_SANDBOX_PROCESSES: '1', FAAS_LOG_LEVEL: 'silent' }), {
    secret: (name) => (name === 'GITHUB_WEBHOOK_SECRET' ? SECRET : undefined),
  });
  url = await rt.start();
  const deployed = await deployFolder(rt, path.join(root, 'functions'));
  expect(deployed.filter((d) => d.error !== undefined)).toEqual([]);
  await Promise.all(deployed.map((d) => rt.triggers.settled(d.name as string)));
});
afterAll(async () => {
  await rt?.stop();
});

async function messages(fn: string): Promise<string[]> {
  const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${fn}/logs?limit=1000` });
  return res.json<{ entries: { message: string }[] }>().entries.map((e) => e.message);
}

function signedPush(body: string, delivery: string, secret = SECRET) {
  return {
    method: 'POST' as const,
    url: '/hooks/github/push',
    payload: body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
  };
}

/** POST to a function's invoke route; answers the JSON result (expects 200). */
async function call<T>(fn: string, payload: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await rt.gateway.inject({ method: 'POST', url: `/v1/functions/${fn}/invoke`, payload: payload as object, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<T>();
}

interface Hop {
  function: string;
  invocationId: string;
  parentInvocationId?: string;
  depth: number;
  status: string;
  error?: { code: string; message: string };
}

describe('examples', () => {
  it('a signed GitHub push is queued on github.pushes; github-push and push-enricher both run it once', async () => {
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      repository: { full_name: 'acme/shop' },
      pusher: { name: 'ada' },
      commits: [
        { id: 'a1b2c3d4e5f6a7b8', message: 'feat: add cart', added: ['cart.ts'], modified: ['app.ts'], author: { username: 'ada' } },
        { id: 'b1b2c3d4e5f6a7b8', message: 'wip', removed: ['old.ts'], author: { username: 'bo' } },
      ],
    });
    const delivery = randomUUID();
    const first = await rt.gateway.inject(signedPush(body, delivery));
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ accepted: true, deliveryId: delivery });
    const stats = await eventually(async () => (await messages('push-enricher')).find((m) => m.includes(delivery)), 15_000);
    expect(JSON.parse(stats)).toMatchObject({ repository: 'acme/shop', commits: 2, filesAdded: 1, filesRemoved: 1, filesModified: 1, conventional: 1 });
    await eventually(async () => (await messages('github-push')).some((m) => m.includes('push to acme/shop refs/heads/main: 2 commit(s) by ada')), 15_000);

    // GitHub redelivers: answered 2xx, nothing queued or run again.
    const again = await rt.gateway.inject(signedPush(body, delivery));
    expect([again.statusCode, again.headers['x-faas-replayed']]).toEqual([202, 'true']);
    // A tampered request is refused before anything is queued.
    const forged = await rt.gateway.inject(signedPush(body, randomUUID(), 'not-the-secret'));
    expect([forged.statusCode, forged.json().error.code]).toEqual([401, 'FAAS_SIGNATURE_INVALID']);
    await new Promise((r) => setTimeout(r, 300));
    expect((await messages('push-enricher')).filter((m) => m.includes(delivery))).toHaveLength(1);
    const offsets = await rt.eventLog.offsets('faas.push-enricher', 'github.pushes');
    expect(offsets.reduce((n, p) => n + Number(p.end), 0)).toBe(1);
  });

  it('order-router and order-status: an order becomes payment and stock requests, tracked in a view', async () => {
    await rt.gateway.inject({ method: 'POST', url: '/v1/topics/orders/records', payload: { records: [{ key: 'o-1', value: { id: 'o-1', total: 99, items: [{ sku: 'a', qty: 1 }] } }] } });
    const view = await eventually(async () => {
      const r = await rt.gateway.inject({ method: 'POST', url: '/v1/functions/order-status/invoke' });
      const v = r.json<Record<string, { payment?: string; stock?: string }>>();
      return v['o-1']?.payment && v['o-1'].stock ? v : undefined;
    }, 15_000, 100);
    expect(view['o-1']).toEqual({ payment: 'requested', stock: 'requested' });
  });

  it('a per-second cron declared in a manifest fires, with its scheduled time in the event', async () => {
    const name = uniqueName('tick');
    const source = "export default async (event, ctx) => { ctx.log.info(JSON.stringify({ scheduled: event.data.scheduledTime, type: event.type })); return null; }";
    const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, { triggers: [{ type: 'cron', schedule: '* * * * * *', timezone: 'Europe/Berlin' }] }) });
    expect(res.statusCode).toBe(201);
    const ticks = await eventually(async () => {
      const lines = (await messages(name)).map((m) => JSON.parse(m) as { scheduled: string; type: string });
      return lines.length >= 2 ? lines : undefined;
    }, 10_000);
    expect(ticks[0]?.type).toBe('faas.cron.tick');
    expect(new Date(ticks[0]?.scheduled ?? '').getUTCMilliseconds()).toBe(0);
    const status = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}` });
    expect(status.json().triggerStatus.triggers[0]).toMatchObject({ type: 'cron' });
    await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
  });

  it('faas publish feeds a topic-triggered function', async () => {
    const name = uniqueName('sink');
    const topic = uniqueName('cli-topic');
    const source = "export default async (event, ctx) => { ctx.log.info(JSON.stringify({ data: event.data, key: event.kafka.key, h: event.kafka.headers.source })); return null; }";
    await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, { triggers: [{ type: 'topic', topic, start: 'earliest' }] }) });
    await rt.triggers.settled(name);
    const { stdout } = await promisify(execFile)(process.execPath, ['--no-node-snapshot', 'cli/faas.ts', '--url', url, 'publish', topic, '{"order":42}', '--key', 'o-42', '--header', 'source=cli'], { cwd: root });
    expect(stdout).toMatch(new RegExp(`^published to ${topic} partition 0 offset 0`));
    const line = await eventually(async () => (await messages(name))[0], 10_000);
    expect(JSON.parse(line)).toEqual({ data: { order: 42 }, key: 'o-42', h: 'cli' });
  });

  it('checkout: a saga over ctx.invoke confirms an order, and undoes done steps when charge or ship fails', async () => {
    const run = randomUUID().slice(0, 8);
    const [widget, gadget] = [`widget-${run}`, `gadget-${run}`];
    const stock = () => call<Record<string, number>>('inventory', { action: 'stock', skus: [widget, gadget] });
    const order = (n: number, patch: Record<string, unknown> = {}) => ({
      orderId: `ord-${run}-${n}`,
      items: [{ sku: widget, qty: 2, price: 9.5 }, { sku: gadget, qty: 1, price: 20 }],
      card: '4242424242424242',
      address: '1 Main St',
      ...patch,
    });
    interface Result { orderId: string; status: string; failedStep?: string; reason?: string; code?: string; compensated: string[]; chargeId?: string; trackingId?: string; total?: number }

    // 1. A good order: every step done, stock taken. One correlation id covers the whole saga.
    const corr = `saga-${randomUUID()}`;
    const before1 = await stock();
    const ok = await call<Result>('checkout', order(1), { 'x-faas-correlation-id': corr });
    expect(ok).toMatchObject({ orderId: `ord-${run}-1`, status: 'confirmed', total: 39, compensated: [], chargeId: expect.any(String), trackingId: expect.any(String) });
    expect(await stock()).toEqual({ [widget]: (before1[widget] ?? 0) - 2, [gadget]: (before1[gadget] ?? 0) - 1 });
    const hops = (await rt.gateway.inject({ method: 'GET', url: `/v1/correlations/${corr}` })).json<{ correlationId: string; hops: Hop[] }>().hops;
    const root = hops.find((h) => h.function === 'checkout');
    expect(root).toMatchObject({ depth: 1, status: 'succeeded' });
    const steps = hops.filter((h) => h !== root);
    expect(steps.map((h) => h.function)).toEqual(['order-validate', 'inventory', 'payments', 'shipping']);
    for (const h of steps) expect(h).toMatchObject({ depth: 2, parentInvocationId: root?.invocationId, status: 'succeeded' });

    // 2. A declined card: charge fails, the reservation is released, stock is back.
    const before2 = await stock();
    const declined = await call<Result>('checkout', order(2, { card: '4000000000000002' }));
    expect(declined).toMatchObject({ status: 'failed', failedStep: 'charge', reason: 'card declined', code: 'FAAS_HANDLER_ERROR', compensated: ['inventory.release'] });
    expect(await stock()).toEqual(before2);
    expect(await call('payments', { action: 'get', orderId: `ord-${run}-2` })).toBeNull();

    // 3. An address nobody ships to: ship fails after the charge; refund, then release, in that order.
    const before3 = await stock();
    const corr3 = `saga-${randomUUID()}`;
    const unshippable = await call<Result>('checkout', order(3, { address: 'nowhere' }), { 'x-faas-correlation-id': corr3 });
    expect(unshippable).toMatchObject({ status: 'failed', failedStep: 'ship', reason: 'cannot ship to nowhere', compensated: ['payments.refund', 'inventory.release'] });
    expect(await stock()).toEqual(before3);
    expect(await call('payments', { action: 'get', orderId: `ord-${run}-3` })).toMatchObject({ status: 'refunded', amount: 39 });
    // The trace shows the failed call and both undos, all called by checkout.
    const hops3 = (await rt.gateway.inject({ method: 'GET', url: `/v1/correlations/${corr3}` })).json<{ hops: Hop[] }>().hops;
    const root3 = hops3.find((h) => h.depth === 1);
    expect(root3).toMatchObject({ function: 'checkout', status: 'succeeded' });
    expect(hops3.filter((h) => h.depth === 2).map((h) => [h.function, h.status, h.parentInvocationId === root3?.invocationId])).toEqual([
      ['order-validate', 'succeeded', true],
      ['inventory', 'succeeded', true],
      ['payments', 'succeeded', true],
      ['shipping', 'failed', true],
      ['payments', 'succeeded', true],
      ['inventory', 'succeeded', true],
    ]);

    // The saga is kept in checkout's state, and posting the same order again replays its outcome.
    const saga = await call<Record<string, unknown>>('checkout', { lookup: `ord-${run}-3` });
    expect(saga).toMatchObject({ validate: 'done', reserve: 'done', charge: 'done', ship: 'failed', 'payments.refund': 'done', 'inventory.release': 'done', status: 'failed' });
    expect(await call('checkout', order(3, { address: 'nowhere' }))).toEqual(unshippable);
    expect(await stock()).toEqual(before3);
    // An invalid order is rejected at validate, before anything needs undoing.
    expect(await call('checkout', order(4, { items: [] }))).toMatchObject({ status: 'rejected', failedStep: 'validate', reason: 'invalid order: it has no items', compensated: [] });
  });
});

describe('mail-sender (lag trigger)', () => {
  it('sleeps at zero, a backlog on mail.outbox wakes it, every mail is sent once, and it reports why it scaled', async () => {
    const idle = await rt.gateway.inject({ method: 'GET', url: '/v1/scale/mail-sender' });
    expect(idle.json()).toMatchObject({ function: 'mail-sender', healthy: true, instances: { current: 0 } });
    const n = 120;
    const res = await rt.gateway.inject({
      method: 'POST',
      url: '/v1/topics/mail.outbox/records',
      payload: { records: Array.from({ length: n }, (_, i) => ({ key: `user${i % 7}@example.com`, value: { to: `user${i % 7}@example.com`, subject: `mail ${i}` } })) },
    });
    expect(res.statusCode, res.body).toBe(200);
    const sent = await eventually(async () => {
      const lines = (await messages('mail-sender')).filter((m) => m.startsWith('sent "mail '));
      return lines.length >= n ? lines : undefined;
    }, 30_000, 50);
    expect(new Set(sent).size).toBe(n);
    const view = await rt.gateway.inject({ method: 'GET', url: '/v1/scale/mail-sender' });
    const decisions = view.json<{ decisions: { from: number; to: number; reason: string }[] }>().decisions;
    expect(decisions[0]).toMatchObject({ from: 0 });
    expect(decisions[0]?.reason).toMatch(/^wake: lag \d+ \/ lagPerInstance 50/);
  });
});
