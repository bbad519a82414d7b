/**
 * A queued call (invoke ?mode=async) survives the node that accepted it: the call is on the topic
 * faas.invocations before the 202, so after kill -9 of that node mid-run, a second node sharing
 * Kafka and Redis runs it from the queue and stores its outcome under the same id. Its state
 * writes are fenced by the call id, so the counter it increments moves once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testKafkaBrokers, testRedisUrl } from '../support/env.ts';
import { killNode, startNodeProcess } from '../support/node-process.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

let victim: ChildProcess | undefined;
let survivor: (Runtime & { url: string }) | undefined;
afterAll(async () => {
  if (victim) await killNode(victim);
  await survivor?.stop();
});

describe('queued calls', () => {
  it('a call accepted by a node killed mid-run is run by another node, once for its state', async () => {
    const env = {
      REDIS_URL: testRedisUrl(),
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      FAAS_REDIS_PREFIX: `faas-async-${randomBytes(4).toString('hex')}:`,
      FAAS_PORT: '0',
      FAAS_SANDBOX_PROCESSES: '1',
      FAAS_LOG_LEVEL: 'silent',
      FAAS_DEPLOY_EXAMPLES: '0',
      FAAS_CLUSTER: `async-${randomBytes(4).toString('hex')}`,
    };
    const node = await startNodeProcess(env);
    victim = node.proc;
    const name = uniqueName('slow-queued');
    // Counts each run that finishes (state, fenced by the call id) and logs each start.
    const source = `export default async (e, ctx) => {
      if (e.data && e.data.read) return ctx.state.get('done');
      ctx.log.info('started');
      await new Promise((r) => setTimeout(r, 1500));
      await ctx.state.incr('done');
      return { finishedBy: 'someone' };
    }`;
    const put = await fetch(`${node.url}/v1/functions/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(deployBody(name, source)) });
    expect(put.status).toBe(201);
    const accepted = await fetch(`${node.url}/v1/functions/${name}/invoke?mode=async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(accepted.status).toBe(202);
    const { invocationId } = (await accepted.json()) as { invocationId: string };
    // Kill the node while the call runs there (it has logged its start, not finished).
    await eventually(async () => {
      const res = await fetch(`${node.url}/v1/functions/${name}/logs`);
      const body = (await res.json()) as { entries: { message: string }[] };
      return body.entries.some((e) => e.message === 'started') || undefined;
    }, 30_000, 20);
    await killNode(node.proc);

    survivor = await startRuntime(env);
    const rec = await eventually(async () => {
      const res = await (survivor as Runtime & { url: string }).gateway.inject({ method: 'GET', url: `/v1/invocations/${invocationId}` });
      const body = res.json<{ status: string }>();
      return body.status === 'succeeded' ? body : undefined;
    }, 60_000, 100);
    expect(rec).toMatchObject({ id: invocationId, function: name, result: { finishedBy: 'someone' } });
    const count = await survivor.invoker.invoke(name, { data: { read: true } });
    expect(count.resultJson).toBe('1');
  }, 120_000);
});
