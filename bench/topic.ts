/**
 * Issue 3: topic → function throughput and latency on real Kafka, next to a bare kafkajs consumer
 * in the same run (DESIGN.md "Performance bars": ≥ 0.8× its records/s).
 *
 * 1. Throughput: RECORDS small JSON records pre-produced on a PARTITIONS-partition topic; each run
 *    consumes all of them with a fresh consumer group from the earliest offset. records/s = records /
 *    (time from subscribe until the group's committed offsets reach the end of every partition),
 *    polled with the admin API every POLL_MS for both. Runs alternate (baseline, ours, ...).
 *    - baseline: a kafkajs consumer, eachBatch, autoCommit as usual, resolveOffset per message,
 *      commitOffsetsIfNecessary per batch (kafkajs commits each batch when no interval or threshold
 *      is set), partitionsConsumedConcurrently = partitions, the runtime's fetch wait (100 ms).
 *    - ours: a function with a topic trigger and a handler returning null (record mode: one
 *      invocation per record), scaling.maxInstances = partitions, deployed fresh per run.
 *    For information: the same function in batch mode (batchSize 100), and the embedded log.
 * 2. Latency produce → done: LATENCY.rate records/s produced one at a time for LATENCY.seconds, the
 *    producer's clock in the value; both consumers (fresh groups) read the same stream at once.
 *    "Done" is host-side, on the same clock: for the baseline, eachBatch holding the record; for
 *    ours, the trigger's invocation of the record (alone or in a series) returning to the host.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import type { EventLog, SubscribeOptions } from '../scheduler/event-log.ts';
import type { InvokeInput } from '../scheduler/invoker.ts';
import type { RecordRun } from '../scheduler/record-run.ts';
import { JsonText } from '../scheduler/json-text.ts';
import { provisionServices } from '../scripts/services/provision.ts';
import { FloorSandboxes } from './lib/floor.ts';
import { counter, cpuBetween, cpuSample, deploy, localBrokerPid, seriesInputs, startBenchRuntime, undeploy, type BenchRuntime, type CpuUse } from './lib/runtime.ts';
import { bar, fmt, formatBar, median, sleep, summarize, table, type Bar, type Summary } from './lib/stats.ts';

export const description = 'topic trigger records/s and produce→done latency vs a bare kafkajs eachBatch consumer, real Kafka (issue 3)';

const PARTITIONS = 4;
/**
 * Records per throughput run: enough for about a second per run, so that the group join (50–100 ms,
 * in every path) weighs little and the ratio is one of throughputs. At 20 000 records (the default
 * until 2026-11-22) a run lasted 80–200 ms, mostly the join: the floor then measured 0.9–1.0× the
 * baseline, against 0.63–0.72× at this size.
 */
const RECORDS = 600_000;
/** Records for the embedded log's run (information): it holds them all in memory. */
const EMBEDDED_RECORDS = 20_000;
const ROUNDS = 3;
const WARMUP_RECORDS = 2_000;
const POLL_MS = 20;
const LATENCY = { rate: 200, seconds: 10 };
const HANDLER = 'export default async () => null;';

const now = () => performance.now();
/** Epoch ms with sub-ms precision, comparable across this process. */
const epochMs = () => performance.timeOrigin + performance.now();

interface Options {
  quick: boolean;
  /** --records=N: records per throughput run (default RECORDS). */
  records: number | undefined;
}

export async function run(args: string[]): Promise<void> {
  const given = args.find((a) => a.startsWith('--records='));
  const o: Options = { quick: args.includes('--quick'), records: given === undefined ? undefined : Number(given.slice('--records='.length)) };
  if (o.records !== undefined && !(Number.isInteger(o.records) && o.records >= 1000)) throw new Error('--records=N needs an integer N ≥ 1000');
  const records = o.records ?? (o.quick ? 5_000 : RECORDS);
  const rounds = o.quick ? 1 : ROUNDS;
  const started = now();
  const services = await provisionServices({ kafka: true, redis: false });
  let rt: BenchRuntime | undefined;
  let client: KafkaClient | undefined;
  try {
    const brokers = services.kafkaBrokers as string;
    rt = await startBenchRuntime({ KAFKA_BROKERS: brokers });
    client = await KafkaClient.connect(brokers);
    const sandboxes = rt.runner.stats().processes.length;
    console.log(`topic: node ${process.version}, ${navigator.hardwareConcurrency} cores, Kafka ${services.how.kafka} (${brokers}), ${PARTITIONS} partitions, ${sandboxes} sandbox processes\n`);
    const probes = installProbes(rt.eventLog);

    const throughput = await throughputRounds(rt, client, probes, records, rounds);
    const latency = await latencyRun(rt, client, o.quick ? 4 : LATENCY.seconds);
    await client.close();
    client = undefined;
    await rt.stop();
    rt = undefined;
    const embedded = await embeddedRun(o.quick ? 5_000 : EMBEDDED_RECORDS);

    const bars: Bar[] = [bar('topic → function records/s / bare kafkajs eachBatch (median of runs, from subscribe)', throughput.ratio, 'min', 0.8, '×')];
    console.log('\nbars');
    for (const b of bars) console.log(`  ${formatBar(b)}`);
    const seconds = (now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    console.log(JSON.stringify({ bench: 'topic', node: process.version, cores: navigator.hardwareConcurrency, kafka: services.how.kafka, partitions: PARTITIONS, sandboxProcesses: sandboxes, seconds, throughput, latency, embedded, bars }));
  } finally {
    await client?.close().catch(() => undefined);
    await rt?.stop().catch(() => undefined);
    await services.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Probes on the runtime's event log: when a group subscribed, when its first batch came, how many
// batches and commits it made. Wraps the instance's subscribe (no runtime code changes).

interface Probe {
  subscribeAt: number;
  firstBatchAt?: number;
  batches: number;
  records: number;
  commits: number;
}

function installProbes(log: EventLog): Map<string, Probe> {
  const probes = new Map<string, Probe>();
  const subscribe = log.subscribe.bind(log);
  log.subscribe = (opts: SubscribeOptions) => {
    const probe: Probe = { subscribeAt: now(), batches: 0, records: 0, commits: 0 };
    probes.set(opts.groupId, probe);
    return subscribe({
      ...opts,
      onBatch: (batch, control) => {
        probe.firstBatchAt ??= now();
        probe.batches++;
        probe.records += batch.records.length;
        return opts.onBatch(batch, {
          ...control,
          commit: (next) => {
            probe.commits++;
            return control.commit(next);
          },
        });
      },
    });
  };
  return probes;
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput

interface RunResult {
  path: Path;
  records: number;
  /** From subscribe to fully committed. */
  seconds: number;
  recordsPerS: number;
  /** From the first batch delivered to fully committed (group join excluded). */
  steadyRecordsPerS: number;
  joinMs: number;
  batches: number;
  commits: number;
  cpu: CpuUse;
}

type Path = 'baseline' | 'floor' | 'ours' | 'ours-batch';
const LABEL: Record<Path, string> = {
  baseline: 'baseline: bare kafkajs eachBatch',
  floor: 'floor: eachBatch + IPC + isolate, no runtime',
  ours: 'ours: topic trigger, record mode',
  'ours-batch': 'info: ours, batch mode (batchSize 100)',
};

async function throughputRounds(rt: BenchRuntime, client: KafkaClient, probes: Map<string, Probe>, records: number, rounds: number) {
  const topic = `bench-topic-${rand()}`;
  const warmTopic = `bench-topic-warm-${rand()}`;
  await client.createTopic(topic, PARTITIONS);
  await client.createTopic(warmTopic, PARTITIONS);
  await client.fill(warmTopic, WARMUP_RECORDS);
  await client.fill(topic, records);
  const ends = await client.ends(topic);
  const broker = localBrokerPid(client.brokers[0] ?? '');
  const warmEnds = await client.ends(warmTopic);

  const once = async (path: Path, t: string, e: Map<number, string>, n: number): Promise<RunResult> => {
    const pids = { sandbox: path === 'floor' ? floor.pids : rt.runner.stats().processes.map((p) => p.pid), broker: broker === undefined ? [] : [broker] };
    const before = cpuSample(pids);
    const r = path === 'baseline' || path === 'floor' ? await baselineRun(client, t, e, path === 'floor' ? floor : undefined) : await oursRun(rt, client, probes, t, e, path === 'ours-batch');
    const cpu = cpuBetween(before, cpuSample(pids));
    const secs = r.seconds;
    return { path, records: n, seconds: secs, recordsPerS: n / secs, steadyRecordsPerS: n / (secs - r.joinMs / 1000), joinMs: r.joinMs, batches: r.batches, commits: r.commits, cpu };
  };

  const floor = await FloorSandboxes.start(rt.runner.stats().processes.length);
  try {
    // Warm-up (not reported): JIT, connections, the function's first sandbox instances.
    await once('baseline', warmTopic, warmEnds, WARMUP_RECORDS);
    await once('floor', warmTopic, warmEnds, WARMUP_RECORDS);
    await once('ours', warmTopic, warmEnds, WARMUP_RECORDS);

    const runs: RunResult[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const path of ['baseline', 'floor', 'ours'] as const) {
        const res = await once(path, topic, ends, records);
        runs.push(res);
        console.error(`  round ${r + 1} ${path}: ${fmt(res.recordsPerS)} records/s (${fmt(res.seconds)} s)`);
      }
    }
    // For information: batch mode (one invocation per up to 100 records), one run.
    const batch = await once('ours-batch', topic, ends, records);
    const medianOf = (p: Path) => median(runs.filter((x) => x.path === p).map((x) => x.recordsPerS));
    const medianSteady = (p: Path) => median(runs.filter((x) => x.path === p).map((x) => x.steadyRecordsPerS));
    const ratio = medianOf('ours') / medianOf('baseline');
    const perRound = (p: Path) => Array.from({ length: rounds }, (_, i) => (runs.find((x, j) => x.path === p && Math.floor(j / 3) === i) as RunResult).recordsPerS / (runs[3 * i] as RunResult).recordsPerS);
    const ratios = perRound('ours');
    const floorRatio = medianOf('floor') / medianOf('baseline');

    console.log(`1. throughput: ${records} records, ${PARTITIONS} partitions, fresh group per run, ${rounds} alternated runs each; records/s from subscribe to fully committed`);
    const row = (x: RunResult, label: string) => [
      label,
      fmt(x.recordsPerS),
      fmt(x.steadyRecordsPerS),
      fmt(x.joinMs),
      String(x.batches),
      String(x.commits),
      fmt((x.cpu.hostS * 1e6) / x.records),
      fmt(((x.cpu.groupsS['sandbox'] ?? 0) * 1e6) / x.records),
      broker === undefined ? '-' : fmt(((x.cpu.groupsS['broker'] ?? 0) * 1e6) / x.records),
      fmt(x.cpu.machineBusyFraction * 100),
    ];
    console.log(table(
      ['run', 'records/s', 'excl. join', 'join ms', 'batches', 'commits', 'CPU µs/record: host', 'sandboxes', 'broker', 'machine busy %'],
      [...runs.map((x, i) => row(x, `${Math.floor(i / 3) + 1}. ${LABEL[x.path]}`)), row(batch, LABEL['ours-batch'])],
    ));
    console.log(`   median records/s: baseline ${fmt(medianOf('baseline'))}, ours ${fmt(medianOf('ours'))} → ${fmt(ratio)}× (per round: ${ratios.map((x) => fmt(x)).join(', ')}); excluding the group join: ${fmt(medianSteady('ours') / medianSteady('baseline'))}×`);
    console.log(`   floor: ${fmt(medianOf('floor'))} records/s → ${fmt(floorRatio)}× baseline (per round: ${perRound('floor').map((x) => fmt(x)).join(', ')}): what isolates in supervised processes cost with nothing else`);
    console.log(`   batch mode: ${fmt(batch.recordsPerS)} records/s = ${fmt(batch.recordsPerS / medianOf('baseline'))}× baseline (information)`);
    return {
      records,
      rounds,
      baselineRecordsPerS: medianOf('baseline'),
      oursRecordsPerS: medianOf('ours'),
      ratio,
      ratioPerRound: ratios,
      floorRecordsPerS: medianOf('floor'),
      floorRatio,
      ratioExcludingJoin: medianSteady('ours') / medianSteady('baseline'),
      batchModeRecordsPerS: batch.recordsPerS,
      runs: [...runs, batch],
    };
  } finally {
    floor.stop();
  }
}

/** A batch's values through the floor's sandboxes, in series of FLOOR_SERIES records, one after another. */
const FLOOR_SERIES = 256;
async function floorSeries(floor: FloorSandboxes, partition: number, messages: { value: Buffer | null }[]): Promise<void> {
  for (let i = 0; i < messages.length; i += FLOOR_SERIES) {
    await floor.call(partition, `[${messages.slice(i, i + FLOOR_SERIES).map((m) => m.value?.toString('utf8') ?? 'null').join(',')}]`);
  }
}

/** The bare consumer; with `floor`, each batch's values also go through the floor's sandboxes first. */
async function baselineRun(client: KafkaClient, topic: string, ends: Map<number, string>, floor?: FloorSandboxes) {
  const groupId = `bench-base-${rand()}`;
  const consumer = client.kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  let batches = 0;
  let commits = 0;
  let firstBatchAt: number | undefined;
  const t0 = now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async (payload) => {
      firstBatchAt ??= now();
      batches++;
      if (floor !== undefined) await floorSeries(floor, payload.batch.partition, payload.batch.messages);
      for (const m of payload.batch.messages) payload.resolveOffset(m.offset);
      commits++;
      await payload.commitOffsetsIfNecessary();
    },
  });
  await client.waitCommitted(groupId, topic, ends);
  const t1 = now();
  await consumer.disconnect();
  return { seconds: (t1 - t0) / 1000, joinMs: (firstBatchAt ?? t1) - t0, batches, commits };
}

let fnSeq = 0;
async function oursRun(rt: BenchRuntime, client: KafkaClient, probes: Map<string, Probe>, topic: string, ends: Map<number, string>, batchMode: boolean) {
  const name = `bench-topic-${++fnSeq}-${rand()}`;
  const group = `bench-ours-${rand()}`;
  const trigger = { type: 'topic', topic, group, start: 'earliest', ...(batchMode ? { mode: 'batch', batchSize: 100 } : {}) };
  await deploy(rt, name, HANDLER, { triggers: [trigger], scaling: { maxInstances: PARTITIONS } });
  await client.waitCommitted(group, topic, ends);
  const t1 = now();
  const probe = probes.get(group);
  if (!probe) throw new Error(`the runtime never subscribed group ${group}`);
  const total = [...ends.values()].reduce((a, e) => a + Number(e), 0);
  const ok = await counter(rt, 'faas_trigger_events_total', { function: name, outcome: 'success' });
  if (ok !== total && !batchMode) throw new Error(`${name}: ${ok} successful trigger events, expected ${total}`);
  await undeploy(rt, name);
  return { seconds: (t1 - probe.subscribeAt) / 1000, joinMs: (probe.firstBatchAt ?? t1) - probe.subscribeAt, batches: probe.batches, commits: probe.commits };
}

// ---------------------------------------------------------------------------------------------
// 2. Latency

async function latencyRun(rt: BenchRuntime, client: KafkaClient, seconds: number) {
  const topic = `bench-latency-${rand()}`;
  await client.createTopic(topic, PARTITIONS);
  const total = Math.round(LATENCY.rate * seconds);
  const producedAt = new Map<number, number>(); // i → epoch ms
  const base = new Map<number, number>();
  const ours = new Map<number, number>();
  const record = (into: Map<number, number>, value: unknown) => {
    const v = value as { i?: unknown } | null;
    if (v && typeof v.i === 'number' && !into.has(v.i)) into.set(v.i, epochMs());
  };

  // Ours: the trigger's invocations, seen as they return to the host: one by one, or a series of
  // the records a fetch brought at once (their data is JSON text, parsed here).
  const name = `bench-latency-${rand()}`;
  const invoker = rt.invoker;
  const invoke = invoker.invoke.bind(invoker);
  const invokeSeries = invoker.invokeSeries.bind(invoker);
  const dataOf = (input: InvokeInput) => (input.data instanceof JsonText ? input.data.parse() : input.data);
  invoker.invoke = async (fn: string, input: InvokeInput, id?: string) => {
    const r = await invoke(fn, input, id);
    if (fn === name) record(ours, dataOf(input));
    return r;
  };
  invoker.invokeSeries = async (fn: string, items: InvokeInput[] | RecordRun) => {
    const r = await invokeSeries(fn, items);
    if (fn === name) for (const input of seriesInputs(items, r.done)) record(ours, dataOf(input));
    return r;
  };
  // Baseline: eachBatch holding the record.
  const consumer = client.kafka.consumer({ groupId: `bench-lat-base-${rand()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async (payload) => {
      for (const m of payload.batch.messages) {
        record(base, JSON.parse(m.value?.toString() ?? 'null'));
        payload.resolveOffset(m.offset);
      }
      await payload.commitOffsetsIfNecessary();
    },
  });
  await deploy(rt, name, HANDLER, { triggers: [{ type: 'topic', topic, start: 'earliest' }], scaling: { maxInstances: PARTITIONS } });
  try {
    // Warm-up (negative i, not reported): rounds of one record per partition until both consumers
    // have every partition and see a whole round within 500 ms.
    const producer = client.kafka.producer();
    await producer.connect();
    for (let round = 0, id = -1; ; round++) {
      if (round > 200) throw new Error('latency warm-up: the consumers never caught up');
      const ids = Array.from({ length: PARTITIONS }, () => id--);
      await producer.send({ topic, messages: ids.map((i, p) => ({ value: JSON.stringify({ i, t: epochMs() }), partition: p })) });
      const seenBy = now() + 500;
      while (now() < seenBy && !ids.every((i) => base.has(i) && ours.has(i))) await sleep(5);
      if (round >= 10 && ids.every((i) => base.has(i) && ours.has(i))) break;
    }
    await sleep(500);
    const t0 = epochMs();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / LATENCY.rate;
      const wait = due - epochMs();
      if (wait > 1) await sleep(wait);
      const t = epochMs();
      producedAt.set(i, t);
      await producer.send({ topic, messages: [{ value: JSON.stringify({ i, t }), partition: i % PARTITIONS }] });
    }
    const achieved = total / ((epochMs() - t0) / 1000);
    await producer.disconnect();
    const until = now() + 15_000;
    while (now() < until && [...producedAt.keys()].some((i) => !base.has(i) || !ours.has(i))) await sleep(50);
    const lat = (m: Map<number, number>) => [...producedAt.entries()].filter(([i]) => m.has(i)).map(([i, t]) => (m.get(i) as number) - t);
    const b = summarize(lat(base));
    const u = summarize(lat(ours));
    console.log(`\n2. latency produce → done, ms: ${total} records produced one at a time at ${fmt(achieved)}/s (target ${LATENCY.rate}/s), both consumers on the same stream at once`);
    console.log(table(['consumer', 'n', 'p50', 'p90', 'p99', 'max'], [
      ['baseline: bare kafkajs eachBatch (record in hand)', String(b.n), fmt(b.p50), fmt(b.p90), fmt(b.p99), fmt(b.max)],
      ['ours: topic trigger (invocation returned to the host)', String(u.n), fmt(u.p50), fmt(u.p90), fmt(u.p99), fmt(u.max)],
      ['difference (ours − baseline)', '', fmt(u.p50 - b.p50), fmt(u.p90 - b.p90), fmt(u.p99 - b.p99), ''],
    ]));
    return { records: total, ratePerS: achieved, baselineMs: ms(b), oursMs: ms(u) };
  } finally {
    invoker.invoke = invoke;
    invoker.invokeSeries = invokeSeries;
    await consumer.disconnect();
    await undeploy(rt, name);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Embedded log (information, no bar)

async function embeddedRun(records: number) {
  const rt = await startBenchRuntime();
  try {
    const probes = installProbes(rt.eventLog);
    const log = rt.eventLog;
    const rows: { path: string; recordsPerS: number; seconds: number }[] = [];
    for (let r = 0; r < 2; r++) {
      const topic = `bench-embedded-${rand()}`;
      await log.ensureTopic(topic, PARTITIONS);
      for (let i = 0; i < records; i += 1000) {
        await log.produce(topic, Array.from({ length: Math.min(1000, records - i) }, (_, k) => ({ value: value(i + k), partition: (i + k) % PARTITIONS })));
      }
      const committed = async (group: string) => {
        for (;;) {
          if ((await log.offsets(group, topic)).every((p) => (p.committed ?? p.start) === p.end)) return now();
          await sleep(POLL_MS);
        }
      };
      // bare subscriber on the same log: commit per batch
      const bg = `bench-emb-base-${rand()}`;
      let t0 = now();
      const sub = await log.subscribe({
        groupId: bg, topic, start: 'earliest', partitionsConcurrently: PARTITIONS,
        onBatch: async (b, c) => c.commit(String(BigInt((b.records.at(-1) as { offset: string }).offset) + 1n)),
      });
      let t1 = await committed(bg);
      await sub.stop();
      if (r > 0) rows.push({ path: 'bare subscriber on the embedded log (commit per batch)', recordsPerS: records / ((t1 - t0) / 1000), seconds: (t1 - t0) / 1000 });
      const name = `bench-embedded-${rand()}`;
      const group = `bench-emb-ours-${rand()}`;
      await deploy(rt, name, HANDLER, { triggers: [{ type: 'topic', topic, group, start: 'earliest' }], scaling: { maxInstances: PARTITIONS } });
      t1 = await committed(group);
      t0 = (probes.get(group) as Probe).subscribeAt;
      await undeploy(rt, name);
      if (r > 0) rows.push({ path: 'ours: topic trigger, record mode', recordsPerS: records / ((t1 - t0) / 1000), seconds: (t1 - t0) / 1000 });
    }
    console.log(`\n3. embedded event log, ${records} records, ${PARTITIONS} partitions (information, no bar; second of two runs)`);
    console.log(table(['path', 'records/s', 's'], rows.map((x) => [x.path, fmt(x.recordsPerS), fmt(x.seconds)])));
    return rows;
  } finally {
    await rt.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka client of the benchmark: topics, pre-production, committed offsets.

class KafkaClient {
  readonly kafka: Kafka;
  readonly brokers: string[];
  private readonly admin: Admin;
  private readonly producer: Producer;

  private constructor(kafka: Kafka, brokers: string[], admin: Admin, producer: Producer) {
    this.kafka = kafka;
    this.brokers = brokers;
    this.admin = admin;
    this.producer = producer;
  }

  static async connect(brokers: string): Promise<KafkaClient> {
    const kafka = new Kafka({ clientId: 'bench', brokers: brokers.split(','), logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    return new KafkaClient(kafka, brokers.split(','), admin, producer);
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  }

  async fill(topic: string, n: number): Promise<void> {
    for (let i = 0; i < n; i += 1000) {
      const messages = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ value: value(i + k), partition: (i + k) % PARTITIONS }));
      await this.producer.send({ topic, messages });
    }
  }

  async ends(topic: string): Promise<Map<number, string>> {
    return new Map((await this.admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
  }

  async waitCommitted(groupId: string, topic: string, ends: Map<number, string>, timeoutMs = 180_000): Promise<void> {
    const until = now() + timeoutMs;
    for (;;) {
      const got = await this.admin.fetchOffsets({ groupId, topics: [topic] });
      const parts = got[0]?.partitions ?? [];
      if ([...ends].every(([p, end]) => end === '0' || parts.find((x) => x.partition === p)?.offset === end)) return;
      if (now() > until) throw new Error(`group ${groupId} did not commit ${topic} to the end within ${timeoutMs} ms: ${JSON.stringify(parts)}`);
      await sleep(POLL_MS);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.admin.disconnect(), this.producer.disconnect()]);
  }
}

function value(i: number): string {
  return JSON.stringify({ i, kind: 'bench', at: 1_700_000_000_000 + i });
}

function rand(): string {
  return randomBytes(4).toString('hex');
}

function ms(s: Summary) {
  return { p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, n: s.n };
}

