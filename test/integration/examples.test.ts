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
});
