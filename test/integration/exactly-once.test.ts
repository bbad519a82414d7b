/**
 * Effectively-once across a crash (real Kafka, real Redis): kill -9 of a runtime node in the middle
 * of a stream of N records to a function that increments a counter per record and emits one record
 * per input. After a second node (same Kafka, Redis and key prefix) takes the consumer group over,
 * every record has been processed, the counter is exactly N, and the downstream topic holds every
 * emitted record, with duplicates only as identical copies under one `faas-event-id`.
 *
 * Why the counter is exact although records are redelivered: the records the killed node processed
 * after its last offset commit are run again by the survivor (at-least-once), but a topic record's
 * state writes are committed in one Redis script together with a fence (group/topic/partition/
 * offset of the record), and a write set whose fence is already there is skipped. So each record's
 * incr lands once, whichever node ran it and however often. Emitted records are published before
 * that state commit, so a redelivered record publishes them again, with the same event id
 * (`<fence>#<index>`): downstream deduplicates by id.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaEventLog } from '../../eventlog/kafka.ts';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { PartitionLag } from '../../scheduler/event-log.ts';
import { functionNamespace } from '../../scheduler/state-store.ts';
import { connectRedis } from '../../state/redis-connection.ts';
import { RedisStateStore } from '../../state/redis-state.ts';
import { SERIES_MAX } from '../../triggers/partition-processor.ts';
import { testKafkaBrokers, testRedisUrl } from '../support/env.ts';
import { startNodeProcess } from '../support/node-process.ts';
import { deployBody, eventually, readTopic, startRuntime, uniqueName } from '../support/runtime.ts';

const prefix = `faas-eo-${randomBytes(4).toString('hex')}:`;
let victim: ChildProcess | undefined;
let survivor: (Runtime & { url: string }) | undefined;
let log: KafkaEventLog | undefined;
let redis: ReturnType<typeof connectRedis> | undefined;

afterAll(async () => {
  if (victim?.exitCode === null && victim.signalCode === null) victim.kill('SIGKILL');
  await survivor?.stop();
  await log?.close();
  if (redis !== undefined) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
});

/** Records of a topic (or of a group on it) over all partitions: log end minus start / committed. */
const total = (lags: PartitionLag[], upTo: (p: PartitionLag) => string = (p) => p.end) => lags.reduce((sum, p) => sum + Number(BigInt(upTo(p)) - BigInt(p.start)), 0);

describe('exactly-once effects across a crash', () => {
  it('kill -9 mid-stream: after the takeover the counter is exactly N and downstream has every event id', async () => {
    const N = 200;
    const PARTITIONS = 4;
    const MAX_INSTANCES = 4;
    const env = {
      REDIS_URL: testRedisUrl(),
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      FAAS_REDIS_PREFIX: prefix,
      FAAS_PORT: '0',
      FAAS_SANDBOX_PROCESSES: '1',
      FAAS_LOG_LEVEL: 'silent',
      FAAS_DEPLOY_EXAMPLES: '0',
    };
    const name = uniqueName('exactly');
    const group = `faas.${name}`; // the topic trigger's consumer group, the same on both nodes
    const input = uniqueName('eo-in');
    const output = uniqueName('eo-out');
    log = new KafkaEventLog({ brokers: testKafkaBrokers(), clientId: uniqueName('exactly-once-test') });
    await log.ensureTopic(input, PARTITIONS);
    await log.ensureTopic(output, 2);
    redis = connectRedis({ url: testRedisUrl(), name: 'exactly-once-test' });
    // Read the counter where the nodes keep it, without going through (or loading) either node.
    const state = new RedisStateStore(redis, { prefix });
    const count = async () => Number((await state.get(functionNamespace(name), 'count')) ?? '0');

    const node = await startNodeProcess(env);
    victim = node.proc;
    const exited = new Promise((r) => node.proc.once('exit', r));
    // Triggered by a record: count it and emit one record. Invoked directly (no event.kafka): the count.
    const source = `export default async (e, ctx) => {
      if (!e.kafka) return ctx.state.get('count');
      await new Promise((r) => setTimeout(r, 20));
      await ctx.state.incr('count');
      await ctx.emit('${output}', { n: e.data.n }, { key: String(e.data.n) });
      return null;
    }`;
    // The whole stream is in the topic before the consumer starts, so each partition's first fetch
    // holds all its records (one sandbox series each, committed only once the series is settled).
    const positions = await log.produce(input, Array.from({ length: N }, (_, n) => ({ key: String(n), value: JSON.stringify({ n }) })));
    expect(new Set(positions.map((p) => p.partition)).size).toBe(PARTITIONS); // the stream really is spread
    const manifest = { triggers: [{ type: 'topic', topic: input, start: 'earliest' }], scaling: { maxInstances: MAX_INSTANCES } };
    const put = await fetch(`${node.url}/v1/functions/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(deployBody(name, source, manifest)) });
    expect(put.status).toBe(201);

    // Kill inside the window the test is about: records whose state is committed while their
    // offsets are not. A series' item states commit one by one after it returns, its offsets only
    // after the last, so the window lasts a few milliseconds per series: a check followed by a kill
    // sometimes landed where the two agree. So the counter is polled until it moves (a series is
    // committing its states right now), then the node is frozen (SIGSTOP), the requests it had
    // already sent are let land, and the window is checked on what the frozen node can no longer
    // change: if the counter is ahead of the committed offsets it is killed, else resumed.
    const committedNow = async () => total(await (log as KafkaEventLog).offsets(group, input), (p) => p.committed ?? p.start);
    let seen = -1;
    await eventually(async () => {
      const c = await count();
      const moving = seen >= 0 && c !== seen;
      seen = c;
      if (!moving || c < N / 4 || c >= N) return undefined;
      node.proc.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 300));
      const frozen = await count();
      if (frozen < N && frozen > (await committedNow())) return true;
      node.proc.kill('SIGCONT');
      seen = -1;
      return undefined;
    }, 60_000, 1);
    node.proc.kill('SIGKILL');
    await exited;
    // What the killed node left behind: its state writes, and the offsets it had committed.
    const countAtKill = await count();
    const committedAtKill = total(await log.offsets(group, input), (p) => p.committed ?? p.start);
    expect(countAtKill).toBeGreaterThan(0);
    expect(countAtKill).toBeLessThan(N); // the kill really was mid-stream
    expect(committedAtKill).toBeLessThanOrEqual(countAtKill); // a record is committed only after its state
    // Records whose state is committed but whose offset is not: the survivor runs them again, and
    // only their fences keep the count at N (the point of this test).
    expect(countAtKill - committedAtKill).toBeGreaterThan(0);

    survivor = await startRuntime(env);
    // Done when the group has committed every record: each one's state commit came before.
    await eventually(async () => (await log?.offsets(group, input))?.every((p) => p.committed === p.end), 60_000, 100);
    expect(await count()).toBe(N);
    const direct = await fetch(`${survivor.url}/v1/functions/${name}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'null' });
    expect(await direct.json()).toBe(N); // the function itself reads N

    // Downstream: every record on the output topic (the emits all happened before the commits above).
    const published = total(await log.offsets(uniqueName('probe'), output));
    const records = await readTopic(log, output, published);
    expect(records).toHaveLength(published);
    const byId = new Map<string, { n: number; key: string | undefined; value: string | undefined; copies: number }>();
    for (const r of records) {
      const id = r.headers['faas-event-id'] as string;
      const value = r.value?.toString();
      const key = r.key?.toString();
      const first = byId.get(id);
      if (first === undefined) {
        byId.set(id, { n: (JSON.parse(value ?? 'null') as { n: number }).n, key, value, copies: 1 });
      } else {
        expect({ id, key, value }).toEqual({ id, key: first.key, value: first.value }); // a duplicate is an identical copy
        first.copies++;
      }
    }
    // Exactly one event id per input record, and it is that record's fence: `<group>/<topic>/<partition>/<offset>#0`.
    const expected = new Map(positions.map((p, n) => [`${group}/${input}/${p.partition}/${p.offset}#0`, n]));
    expect(byId.size).toBe(N);
    expect(new Map([...byId].map(([id, r]) => [id, r.n]))).toEqual(expected);
    expect(new Set([...byId.values()].map((r) => r.n)).size).toBe(N);
    for (const r of byId.values()) expect(r.key).toBe(String(r.n));

    // Duplicates come only from records the killed node ran after its last commit, each republished
    // once by the survivor (the only member after the kill: no further rebalance). Those whose state
    // it committed are all redelivered (countAtKill - committedAtKill); beyond them, the records of
    // the series it was settling: a series' emits are published together (one produce per topic)
    // before its items' state commits, so at most one series (≤ SERIES_MAX records) per partition it was
    // running had emitted without reaching its state commit.
    const duplicates = published - N;
    expect(Math.max(...[...byId.values()].map((r) => r.copies))).toBeLessThanOrEqual(2);
    expect(duplicates).toBeGreaterThanOrEqual(countAtKill - committedAtKill);
    expect(duplicates).toBeLessThanOrEqual(countAtKill - committedAtKill + Math.min(PARTITIONS, MAX_INSTANCES) * SERIES_MAX);
    expect(await count()).toBe(N); // and it stays N
  }, 120_000);
});
