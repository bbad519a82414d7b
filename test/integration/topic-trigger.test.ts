/**
 * Topic-trigger conformance through a real runtime (real sandboxes), against the embedded log and
 * real Kafka: delivery of every record, per-key order, poison records to the dead-letter topic
 * while later ones flow, undecodable values, key-parallel processing, batch mode, a redeploy while
 * consuming, and stop/resume from the committed offsets. Random topic and function names per test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testKafkaBrokers } from '../support/env.ts';
import { deployBody, eventually, readTopic, startRuntime, uniqueName } from '../support/runtime.ts';

/** Logs one JSON line per processed record; fails on { poison }, sleeps on { sleep }. */
const HANDLER = `
export default async (event, ctx) => {
  const items = Array.isArray(event.data) ? event.data.map((d) => ({ v: d.value, k: d.key, p: d.partition, o: d.offset })) : [{ v: event.data, k: event.kafka.key, p: event.kafka.partition, o: event.kafka.offset }];
  const t0 = Date.now();
  for (const it of items) {
    if (it.v && it.v.poison) throw new Error('poison record ' + it.v.n);
    if (it.v && it.v.sleep) await new Promise((r) => setTimeout(r, it.v.sleep));
  }
  for (const it of items) console.log(JSON.stringify({ n: it.v && it.v.n, k: it.k, p: it.p, o: it.o, ver: ctx.functionVersion, t0, t1: Date.now(), size: items.length, id: event.id }));
  return null;
};`;

interface Seen {
  n: number;
  k: string | null;
  p: number;
  o: string;
  ver: number;
  t0: number;
  t1: number;
  size: number;
  id: string;
}

describe.each(['embedded', 'kafka'] as const)('topic trigger on %s', (backend) => {
  let rt: Runtime & { url: string };

  beforeAll(async () => {
    rt = await startRuntime({ FAAS_LOG_RETENTION: '100000', ...(backend === 'kafka' ? { KAFKA_BROKERS: testKafkaBrokers().join(',') } : {}) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  async function deploy(name: string, trigger: Record<string, unknown>, manifest: Record<string, unknown> = {}, source = HANDLER) {
    const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, { triggers: [{ type: 'topic', start: 'earliest', ...trigger }], scaling: { maxInstances: 8 }, ...manifest }) });
    expect(res.statusCode, res.body).toBeLessThan(300);
    await rt.triggers.settled(name);
    return res.json<{ version: number }>();
  }

  async function seen(name: string): Promise<Seen[]> {
    const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` });
    return res
      .json<{ entries: { level: string; message: string }[] }>()
      .entries.filter((e) => e.level === 'info' && e.message.startsWith('{'))
      .map((e) => JSON.parse(e.message) as Seen);
  }

  async function produce(topic: string, records: { key?: string; value: unknown }[]) {
    const res = await rt.gateway.inject({ method: 'POST', url: `/v1/topics/${topic}/records`, payload: { records } });
    expect(res.statusCode, res.body).toBe(200);
  }

  const deadLetters = (topic: string, expected: number) => readTopic(rt.eventLog, topic, expected);

  /** What the handler logged, once it logged at least `n` records. */
  const seenAtLeast = (name: string, n: number) =>
    eventually(async () => {
      const s = await seen(name);
      return s.length >= n ? s : undefined;
    }, 30_000);

  async function fullyCommitted(group: string, topic: string) {
    // A partition that never got a record has no commit (Kafka): its start equals its end.
    await eventually(async () => (await rt.eventLog.offsets(group, topic)).every((p) => (p.committed ?? p.start) === p.end), 20_000);
  }

  it('runs the handler for every record, keeps each key in order, and commits to the end', async () => {
    const name = uniqueName('enrich');
    const topic = uniqueName('orders');
    await rt.eventLog.ensureTopic(topic, 3);
    await deploy(name, { topic });
    const keys = ['a', 'b', 'c', 'd'];
    await produce(topic, Array.from({ length: 40 }, (_, n) => ({ key: keys[n % 4], value: { n } })));
    const got = await eventually(async () => {
      const s = await seen(name);
      return new Set(s.map((x) => x.n)).size >= 40 ? s : undefined;
    }, 30_000);
    for (const k of keys) {
      const ns = got.filter((x) => x.k === k).map((x) => x.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(new Set(got.map((x) => x.id)).size).toBe(40); // event ids are topic/partition/offset
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('sends a poison record to the dead-letter topic after its retries, while later records flow', async () => {
    const name = uniqueName('poison');
    const topic = uniqueName('payments');
    await deploy(name, { topic }, { retry: { maxAttempts: 2, backoffMs: 10, maxBackoffMs: 20 } });
    await produce(topic, [{ key: 'x', value: { n: 1 } }, { key: 'x', value: { n: 2, poison: true } }, { key: 'x', value: { n: 3 } }, { key: 'x', value: '{not json' }, { key: 'x', value: { n: 4 } }]);
    await eventually(async () => (await seen(name)).filter((s) => s.n === 4).length > 0, 30_000);
    expect((await seen(name)).map((s) => s.n)).toEqual([1, 3, 4]);
    const dlq = await deadLetters(`faas.${name}.dlq`, 2);
    const [poison, undecodable] = dlq;
    expect(poison?.headers).toMatchObject({ 'faas-error-code': 'FAAS_HANDLER_ERROR', 'faas-attempts': '2', 'faas-source-topic': topic, 'faas-source-offset': '1', 'faas-function': name });
    expect(JSON.parse(poison?.value?.toString() ?? '')).toEqual({ n: 2, poison: true });
    expect(poison?.key?.toString()).toBe('x');
    expect(undecodable?.headers).toMatchObject({ 'faas-error-code': 'FAAS_RECORD_UNDECODABLE', 'faas-attempts': '0', 'faas-source-offset': '3' });
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('keyConcurrency runs keys of one partition in parallel while keeping each key in order', async () => {
    const name = uniqueName('lanes');
    const topic = uniqueName('events');
    await rt.eventLog.ensureTopic(topic, 1);
    await produce(topic, Array.from({ length: 24 }, (_, n) => ({ key: `k${n % 4}`, value: { n, sleep: 30 } })));
    await deploy(name, { topic, keyConcurrency: 4 });
    const got = await seenAtLeast(name, 24);
    for (const k of ['k0', 'k1', 'k2', 'k3']) {
      const ns = got.filter((x) => x.k === k).map((x) => x.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    // Parallel: some invocation of one key overlapped one of another key.
    const overlaps = got.some((a) => got.some((b) => a.k !== b.k && a.t0 < b.t1 && b.t0 < a.t1));
    expect(overlaps).toBe(true);
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('batch mode hands the handler arrays of at most batchSize records', async () => {
    const name = uniqueName('batch');
    const topic = uniqueName('clicks');
    await rt.eventLog.ensureTopic(topic, 1);
    await produce(topic, Array.from({ length: 12 }, (_, n) => ({ value: { n } })));
    await deploy(name, { topic, mode: 'batch', batchSize: 5 });
    const got = await seenAtLeast(name, 12);
    expect(got.map((x) => x.n)).toEqual(Array.from({ length: 12 }, (_, n) => n));
    expect(Math.max(...got.map((x) => x.size))).toBeLessThanOrEqual(5);
    expect(got.every((x) => x.id.includes('-'))).toBe(true);
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('batch mode fills whole batches out of one large fetch, in order, the last one short', async () => {
    const name = uniqueName('batch-big');
    const topic = uniqueName('views');
    await rt.eventLog.ensureTopic(topic, 1);
    await produce(topic, Array.from({ length: 250 }, (_, n) => ({ value: { n } })));
    await deploy(name, { topic, mode: 'batch', batchSize: 100 });
    const got = await seenAtLeast(name, 250);
    expect(got.map((x) => x.n)).toEqual(Array.from({ length: 250 }, (_, n) => n));
    // One produce request, one fetch: whole batches of 100, then the rest (sizes by invocation).
    expect([...new Map(got.map((x) => [x.id, x.size])).values()]).toEqual([100, 100, 50]);
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('batch mode in series: an undecodable record goes to the dead-letter topic alone, a poison batch whole, and the batches after them flow', async () => {
    const name = uniqueName('batch-poison');
    const topic = uniqueName('meters');
    await rt.eventLog.ensureTopic(topic, 1);
    // 60 batches of 5; the first batches run alone until two fit in a series, the later ones in series.
    const values: unknown[] = Array.from({ length: 300 }, (_, n) => ({ n }));
    values[212] = '{not json'; // batch 42: its other four records still run, as one batch
    values[253] = { n: 253, poison: true }; // batch 50: fails whole, after its retries
    await produce(topic, values.map((value) => ({ value })));
    await deploy(name, { topic, mode: 'batch', batchSize: 5 }, { retry: { maxAttempts: 2, backoffMs: 10, maxBackoffMs: 20 } });
    await fullyCommitted(`faas.${name}`, topic); // dead letters are written before their records are committed
    const dlq = await deadLetters(`faas.${name}.dlq`, 6);
    const ns = (await seen(name)).map((x) => x.n);
    const expected = Array.from({ length: 300 }, (_, n) => n).filter((n) => n !== 212 && (n < 250 || n >= 255));
    expect([...new Set(ns)].sort((a, b) => a - b)).toEqual(expected);
    expect(dlq.map((r) => [r.headers['faas-source-offset'], r.headers['faas-error-code'], r.headers['faas-attempts']])).toEqual([
      ['212', 'FAAS_RECORD_UNDECODABLE', '0'],
      ...[250, 251, 252, 253, 254].map((o) => [String(o), 'FAAS_HANDLER_ERROR', '2']),
    ]);
  });

  it('batchWaitMs: a short batch waits for more records, up to batchWaitMs, then runs as it is', async () => {
    const name = uniqueName('batch-wait');
    const topic = uniqueName('events');
    await rt.eventLog.ensureTopic(topic, 1);
    await deploy(name, { topic, mode: 'batch', batchSize: 10, batchWaitMs: 1500 });
    await produce(topic, Array.from({ length: 3 }, (_, n) => ({ value: { n } })));
    await new Promise((r) => setTimeout(r, 300));
    expect(await seen(name)).toEqual([]); // 3 of 10, and 300 of 1500 ms: still waiting
    await produce(topic, Array.from({ length: 7 }, (_, n) => ({ value: { n: n + 3 } })));
    const full = await seenAtLeast(name, 10);
    expect(full.map((x) => [x.n, x.size])).toEqual(Array.from({ length: 10 }, (_, n) => [n, 10])); // one invocation of all 10
    const lone = Date.now();
    await produce(topic, [{ value: { n: 10 } }]);
    const late = await eventually(async () => (await seen(name)).find((x) => x.n === 10), 30_000);
    expect(late.size).toBe(1);
    expect(late.t0 - lone).toBeGreaterThanOrEqual(1400); // ran once its wait was over, alone
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('a redeploy while consuming loses nothing: later records meet the new version', async () => {
    const name = uniqueName('redeploy');
    const topic = uniqueName('stream');
    await rt.eventLog.ensureTopic(topic, 2);
    await deploy(name, { topic });
    const producing = (async () => {
      for (let n = 0; n < 60; n++) {
        await produce(topic, [{ key: `k${n % 2}`, value: { n, sleep: 5 } }]);
        if (n === 30) await deploy(name, { topic }, {}, `${HANDLER}\nexport const revision = 2;`);
      }
    })();
    await producing;
    const got = await eventually(async () => {
      const s = await seen(name);
      return new Set(s.map((x) => x.n)).size >= 60 ? s : undefined;
    }, 30_000);
    expect(got.some((x) => x.ver === 1)).toBe(true);
    expect(got.some((x) => x.ver === 2)).toBe(true);
    const lastOfV1 = Math.max(...got.filter((x) => x.ver === 1).map((x) => x.n));
    expect(got.filter((x) => x.n > lastOfV1).every((x) => x.ver === 2)).toBe(true);
    await fullyCommitted(`faas.${name}`, topic);
  });

  it('a changed trigger restarts its consumer mid-stream: completed work is committed, the rest resumes', async () => {
    const name = uniqueName('resume');
    const topic = uniqueName('jobs');
    await rt.eventLog.ensureTopic(topic, 2);
    await produce(topic, Array.from({ length: 30 }, (_, n) => ({ key: `k${n % 3}`, value: { n, sleep: 20 } })));
    await deploy(name, { topic });
    await eventually(async () => (await seen(name)).length >= 5, 30_000);
    // A new declaration: the old consumer finishes its record in flight, commits, leaves the group;
    // the new one joins and continues from the committed offsets.
    await deploy(name, { topic, description: 'restarted' });
    const got = await eventually(async () => {
      const s = await seen(name);
      return new Set(s.map((x) => x.n)).size >= 30 ? s : undefined;
    }, 30_000);
    expect(got.length).toBeLessThanOrEqual(30 + 3); // at most the records in flight run twice
    await fullyCommitted(`faas.${name}`, topic);
  });
});
