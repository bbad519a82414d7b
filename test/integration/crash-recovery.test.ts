/**
 * kill -9 of a runtime node in the middle of a topic stream (real Kafka, real Redis): a second node
 * sharing both takes the consumer group over from the last commit, and every record is processed
 * at least once. The processed set is read from the function's logs in Redis, which both nodes write
 * before they commit.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testKafkaBrokers, testRedisUrl } from '../support/env.ts';
import { startNodeProcess } from '../support/node-process.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

let victim: ChildProcess | undefined;
let survivor: (Runtime & { url: string }) | undefined;

afterAll(async () => {
  if (victim?.exitCode === null) victim.kill('SIGKILL');
  await survivor?.stop();
});

describe('crash recovery', () => {
  it('kill -9 of the consuming node mid-stream: the other node resumes, every record processed at least once', async () => {
    const env = {
      REDIS_URL: testRedisUrl(),
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      FAAS_REDIS_PREFIX: `faas-crash-${randomBytes(4).toString('hex')}:`,
      FAAS_PORT: '0',
      FAAS_SANDBOX_PROCESSES: '1',
      FAAS_LOG_LEVEL: 'silent',
      FAAS_LOG_RETENTION: '100000',
      FAAS_DEPLOY_EXAMPLES: '0',
    };
    const node = await startNodeProcess(env);
    victim = node.proc;
    const name = uniqueName('crashy');
    const topic = uniqueName('crash-stream');
    const N = 80;
    const source = "export default async (event, ctx) => { await new Promise((r) => setTimeout(r, 25)); ctx.log.info(String(event.data.n)); return null; }";
    const put = await fetch(`${node.url}/v1/functions/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(deployBody(name, source, { triggers: [{ type: 'topic', topic, start: 'earliest' }], scaling: { maxInstances: 4 } })) });
    expect(put.status).toBe(201);
    const records = Array.from({ length: N }, (_, n) => ({ key: `k${n % 6}`, value: { n } }));
    const pub = await fetch(`${node.url}/v1/topics/${topic}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }) });
    expect(pub.status).toBe(200);

    const processed = async (url: string) => {
      const res = await fetch(`${url}/v1/functions/${name}/logs?limit=10000`);
      const body = (await res.json()) as { entries: { level: string; message: string }[] };
      return body.entries.filter((e) => e.level === 'info').map((e) => Number(e.message));
    };
    await eventually(async () => (await processed(node.url)).length >= 15, 60_000, 50);
    victim.kill('SIGKILL');
    await new Promise((r) => victim?.once('exit', r));
    const before = new Set(await (async () => {
      survivor = await startRuntime(env);
      return processed(survivor.url);
    })());
    expect(before.size).toBeGreaterThanOrEqual(15);
    expect(before.size).toBeLessThan(N); // the kill really was mid-stream

    const all = await eventually(async () => {
      const seen = await processed((survivor as Runtime & { url: string }).url);
      return new Set(seen).size >= N ? seen : undefined;
    }, 60_000, 100);
    expect([...new Set(all)].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, n) => n));
    // Redelivered: at most what the killed node completed after its last commit. A completed series
    // (records of one partition in one sandbox round trip: 16 at first, then about 250 ms of work,
    // 10 records of this handler) is committed unless a commit went out in the last 100 ms: at most
    // one series.
    expect(all.length - N).toBeLessThanOrEqual(64);
  }, 120_000);
});
