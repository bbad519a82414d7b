/**
 * Issue 4: event-driven hop latency through Kafka (ctx.emit → topic trigger), p50/p99, next to the
 * same two-hop path built with bare kafkajs in the same run, on real Kafka. No bar: DESIGN.md
 * "Performance bars" names none for this path.
 *
 * - ours: function A, triggered by topic IN_OURS (record mode), does `await ctx.emit(MID,
 *   event.data)`; function B, triggered by MID, returns null. `scaling.maxInstances` = PARTITIONS.
 * - baseline: a kafkajs relay consumer of IN_BASE (eachBatch, one `producer.send` per record to
 *   MID_BASE, partitions round-robin as the runtime does for keyless records, commit per batch) and
 *   a kafkajs consumer of MID_BASE (eachBatch). The relay's producer has the runtime's settings
 *   (idempotent, maxInFlightRequests 1, acks all); both consumers use the runtime's fetch wait
 *   (100 ms) and consume PARTITIONS partitions concurrently.
 * Each phase produces RATE records/s (`--rate=N` to change) one at a time, round-robin over the
 * PARTITIONS partitions, to one path's input topic for PHASE_S seconds, after an unreported lead-in of
 * LEAD_IN_S at the rate (3 × LEAD_IN_S in the first round); each value carries the record's index
 * and the producer's clock. Phases
 * alternate (baseline, ours) for ROUNDS rounds, and a phase starts once the previous one has
 * drained, so each path has the machine and the host's event loop to itself while measured (both run
 * in this process, like the runtime's own kafkajs clients). An unreported warm-up first sends rounds
 * of one record per partition to both paths until each delivers a round within 1 s.
 *
 * Every time is host-side, on one clock, with sub-ms precision (`performance.timeOrigin +
 * performance.now()`): guest `Date.now()` is whole milliseconds and would miss the way back. Ours is
 * observed by wrapping the runtime's `invoker.invoke` and `invoker.invokeSeries` (the topic trigger
 * uses both: runs of records go to the sandbox as one series) and `eventLog.produce`; no runtime code
 * changed.
 *   t0        the producer's clock just before `send` to the input topic (acks = all: the produce
 *             round trip is included, for both paths)
 *   start     A's invocation called by its trigger      | the relay's eachBatch holds the record
 *   emitted   A's invocation returned (handler ran, the | the relay's `send` to MID_BASE resolved
 *             emitted record published: the invoker
 *             publishes before it returns)
 *   done      B's invocation returned to the host       | the final consumer's eachBatch holds it
 * The hop is start → done (A's work, the emit's publish, Kafka, B's trigger and invocation); end to
 * end is t0 → done. A record that reached A or B inside a series gets the series' call and return
 * times (its own handler ran somewhere in between), so with series the split of the hop is rough.
 * A phase whose end-to-end p50 grows from its first to its last quarter is flagged (that path did
 * not keep up with the rate: its figures include queueing), and so is a phase whose producer fell
 * below 90 % of the rate (a saturated machine).
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import type { InvocationResult, InvokeInput } from '../scheduler/invoker.ts';
import type { RecordRun } from '../scheduler/record-run.ts';
import { JsonText } from '../scheduler/json-text.ts';
import { provisionServices } from '../scripts/services/provision.ts';
import { cpuBetween, cpuSample, deploy, localBrokerPid, seriesInputs, startBenchRuntime, undeploy, type BenchRuntime, type CpuUse } from './lib/runtime.ts';
import { fmt, median, sleep, summarize, table, type Summary } from './lib/stats.ts';

export const description = 'ctx.emit → topic-triggered function hop latency p50/p99 vs a bare kafkajs relay, real Kafka (issue 4)';

const PARTITIONS = 4;
const RATE = 200;
const PHASE_S = 10;
const ROUNDS = 2;
const LEAD_IN_S = 1;
const FETCH_WAIT_MS = 100; // the runtime's consumer fetch wait (eventlog/kafka.ts)
const DRAIN_MS = 20_000;

/** Epoch ms with sub-ms precision, comparable across this process. */
const epochMs = () => performance.timeOrigin + performance.now();
const now = () => performance.now();

type Marks = Map<number, number>;
type PathName = 'baseline' | 'ours';

interface PathMarks {
  start: Marks;
  emitted: Marks;
  done: Marks;
}

const marks = (): PathMarks => ({ start: new Map(), emitted: new Map(), done: new Map() });

function mark(into: Marks, value: unknown, at: number): void {
  // Series carry record values undecoded (scheduler/json-text.ts).
  const v = (value instanceof JsonText ? value.parse() : value) as { i?: unknown } | null;
  if (v && typeof v.i === 'number' && !into.has(v.i)) into.set(v.i, at);
}

interface Phase {
  path: PathName;
  round: number;
  /** Measured record indexes of the phase, produce time each. */
  producedAt: Marks;
  ratePerS: number;
  cpu: CpuUse;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const rateArg = args.find((a) => a.startsWith('--rate='));
  const rate = rateArg === undefined ? RATE : Number(rateArg.slice('--rate='.length));
  if (!(rate > 0)) throw new Error(`--rate= needs a positive number of records/s, got ${rateArg}`);
  const o = { rate, phaseS: quick ? 2 : PHASE_S, rounds: quick ? 1 : ROUNDS, leadInS: quick ? 0.5 : LEAD_IN_S };
  const started = now();
  const services = await provisionServices({ kafka: true, redis: false });
  let rt: BenchRuntime | undefined;
  let kafka: KafkaSide | undefined;
  try {
    const brokers = services.kafkaBrokers as string;
    rt = await startBenchRuntime({ KAFKA_BROKERS: brokers });
    kafka = await KafkaSide.connect(brokers);
    console.log(`event-hop: node ${process.version}, ${navigator.hardwareConcurrency} cores, Kafka ${services.how.kafka} (${brokers}), ${PARTITIONS} partitions per topic, ${rt.runner.stats().processes.length} sandbox processes, ${o.rate} records/s, ${o.rounds} × (baseline, ours) phases of ${o.phaseS} s\n`);
    const result = await hopRun(rt, kafka, o);
    const total = (now() - started) / 1000;
    console.log(`\ntotal ${total.toFixed(1)} s`);
    console.log(JSON.stringify({ bench: 'event-hop', node: process.version, cores: navigator.hardwareConcurrency, kafka: services.how.kafka, partitions: PARTITIONS, seconds: total, ...o, ...result }));
  } finally {
    await kafka?.close().catch(() => undefined);
    await rt?.stop().catch(() => undefined);
    await services.stop();
  }
}

async function hopRun(rt: BenchRuntime, kafka: KafkaSide, o: { rate: number; phaseS: number; rounds: number; leadInS: number }) {
  const id = rand();
  const topics = { inOurs: `bench-hop-in-${id}`, mid: `bench-hop-mid-${id}`, inBase: `bench-hop-in-base-${id}`, midBase: `bench-hop-mid-base-${id}` };
  for (const t of Object.values(topics)) await kafka.createTopic(t);
  const A = `bench-hop-a-${id}`;
  const B = `bench-hop-b-${id}`;
  const m: Record<PathName, PathMarks> = { baseline: marks(), ours: marks() };
  const via = { a: { single: 0, series: 0 }, b: { single: 0, series: 0 } };

  // Ours: the triggers' invocations of A and B, seen at the invoker.
  const invoker = rt.invoker;
  const invoke = invoker.invoke.bind(invoker);
  const invokeSeries = invoker.invokeSeries.bind(invoker);
  /** `results`: of single invocations (a failed one is not done); without it, every input is done. */
  const observe = (fn: string, inputs: InvokeInput[], at: 'start' | 'end', results?: InvocationResult[]) => {
    const t = epochMs();
    inputs.forEach((input, i) => {
      if (at === 'end' && results !== undefined && (results[i] === undefined || results[i].error !== undefined)) return;
      if (fn === A) mark(at === 'start' ? m.ours.start : m.ours.emitted, input.data, t);
      else if (fn === B && at === 'end') mark(m.ours.done, input.data, t);
    });
  };
  invoker.invoke = async (fn: string, input: InvokeInput, invocationId?: string) => {
    observe(fn, [input], 'start');
    const r = await invoke(fn, input, invocationId);
    observe(fn, [input], 'end', [r]);
    if (fn === A) via.a.single++;
    if (fn === B) via.b.single++;
    return r;
  };
  invoker.invokeSeries = async (fn: string, items: InvokeInput[] | RecordRun) => {
    const inputs = seriesInputs(items);
    observe(fn, inputs, 'start');
    const r = await invokeSeries(fn, items);
    observe(fn, inputs.slice(0, r.done), 'end');
    if (fn === A) via.a.series += inputs.length;
    if (fn === B) via.b.series += inputs.length;
    return r;
  };
  // The runtime's publishes of A's emits: how many requests, and their round trips.
  const log = rt.eventLog;
  const produce = log.produce.bind(log);
  const emits = { requests: 0, records: 0, ms: [] as number[] };
  log.produce = async (topic, records) => {
    if (topic !== topics.mid) return produce(topic, records);
    const t = now();
    const r = await produce(topic, records);
    emits.requests++;
    emits.records += records.length;
    emits.ms.push(now() - t);
    return r;
  };

  // Baseline: relay IN_BASE → MID_BASE, then a consumer of MID_BASE.
  const relayProducer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await relayProducer.connect();
  let rr = 0;
  const sends: number[] = [];
  const relay = await kafka.consume(`bench-hop-relay-${id}`, topics.inBase, async (values) => {
    for (const v of values) {
      mark(m.baseline.start, v.value, epochMs());
      const t = now();
      await relayProducer.send({ topic: topics.midBase, acks: -1, messages: [{ value: v.raw, partition: rr++ % PARTITIONS }] });
      sends.push(now() - t);
      mark(m.baseline.emitted, v.value, epochMs());
      v.resolve();
    }
  });
  const final = await kafka.consume(`bench-hop-final-${id}`, topics.midBase, async (values) => {
    const t = epochMs();
    for (const v of values) {
      mark(m.baseline.done, v.value, t);
      v.resolve();
    }
  });

  const scaling = { scaling: { maxInstances: PARTITIONS } };
  await deploy(rt, B, 'export default async () => null;', { ...scaling, triggers: [{ type: 'topic', topic: topics.mid, start: 'earliest' }] });
  await deploy(rt, A, `export default async (event, ctx) => { await ctx.emit(${JSON.stringify(topics.mid)}, event.data); return null; };`, {
    ...scaling,
    triggers: [{ type: 'topic', topic: topics.inOurs, start: 'earliest' }],
  });
  const producer = kafka.kafka.producer();
  await producer.connect();
  const input: Record<PathName, string> = { baseline: topics.inBase, ours: topics.inOurs };
  const broker = localBrokerPid(kafka.brokers[0] ?? '');
  const pids = { sandbox: rt.runner.stats().processes.map((p) => p.pid), broker: broker === undefined ? [] : [broker] };
  try {
    // Warm-up (negative i, not reported): rounds of one record per partition to both paths until
    // each delivers a whole round end to end within 1 s, at least 10 rounds.
    let next = -1;
    for (let round = 0; ; round++) {
      if (round > 200) throw new Error('warm-up: the paths never caught up');
      const ids = Array.from({ length: PARTITIONS }, () => next--);
      for (const path of ['baseline', 'ours'] as const) {
        await producer.send({ topic: input[path], messages: ids.map((i, p) => ({ value: JSON.stringify({ i, t: epochMs() }), partition: p })) });
      }
      const by = now() + 1000;
      const seen = () => ids.every((i) => m.baseline.done.has(i) && m.ours.done.has(i));
      while (now() < by && !seen()) await sleep(5);
      if (round >= 10 && seen()) break;
    }

    // Measured phases, alternated. Indexes: lead-in records negative, measured ones from `first`.
    const phases: Phase[] = [];
    let first = 0;
    for (let round = 0; round < o.rounds; round++) {
      for (const path of ['baseline', 'ours'] as const) {
        await sleep(300);
        const total = Math.round(o.rate * o.phaseS);
        // The first phase of each path gets a longer lead-in (a freshly started broker's JIT too).
        const lead = Math.round(o.rate * o.leadInS * (round === 0 ? 3 : 1));
        const producedAt: Marks = new Map();
        const leadIds: number[] = [];
        const start = epochMs();
        let t0 = start;
        let before = cpuSample(pids);
        for (let k = 0; k < lead + total; k++) {
          const wait = start + (k * 1000) / o.rate - epochMs();
          if (wait > 1) await sleep(wait);
          const i = k < lead ? next-- : first + k - lead;
          const t = epochMs();
          if (k === lead) {
            t0 = t;
            before = cpuSample(pids);
          }
          if (k < lead) leadIds.push(i);
          else producedAt.set(i, t);
          await producer.send({ topic: input[path], messages: [{ value: JSON.stringify({ i, t }), partition: k % PARTITIONS }] });
        }
        const ratePerS = total / ((epochMs() - t0) / 1000);
        const until = now() + DRAIN_MS;
        while (now() < until && [...producedAt.keys(), ...leadIds].some((i) => !m[path].done.has(i))) await sleep(20);
        const cpu = cpuBetween(before, cpuSample(pids));
        phases.push({ path, round, producedAt, ratePerS, cpu });
        first += total;
        const e2e = summarize(between(producedAt, producedAt, m[path].done));
        console.error(`  round ${round + 1} ${path}: end to end p50 ${fmt(e2e.p50)} ms, p99 ${fmt(e2e.p99)} ms (${e2e.n}/${total} records, ${fmt(ratePerS)}/s)`);
      }
    }
    return report(o.rate, phases, m, { via, emits, sends });
  } finally {
    invoker.invoke = invoke;
    invoker.invokeSeries = invokeSeries;
    log.produce = produce;
    await producer.disconnect().catch(() => undefined);
    await relay.disconnect().catch(() => undefined);
    await final.disconnect().catch(() => undefined);
    await relayProducer.disconnect().catch(() => undefined);
    await undeploy(rt, A).catch(() => undefined);
    await undeploy(rt, B).catch(() => undefined);
  }
}

/** Latencies `to − from` of the records of `ids` that have both marks. */
function between(ids: Marks, from: Marks, to: Marks): number[] {
  return [...ids.keys()].filter((i) => from.has(i) && to.has(i)).map((i) => (to.get(i) as number) - (from.get(i) as number));
}

function report(
  rateTarget: number,
  phases: Phase[],
  m: Record<PathName, PathMarks>,
  probes: { via: { a: { single: number; series: number }; b: { single: number; series: number } }; emits: { requests: number; records: number; ms: number[] }; sends: number[] },
) {
  const ofPath = (path: PathName) => phases.filter((p) => p.path === path);
  const stages = (path: PathName) => {
    const ids: Marks = new Map(ofPath(path).flatMap((p) => [...p.producedAt]));
    const x = m[path];
    return {
      n: ids.size,
      toStart: summarize(between(ids, ids, x.start)),
      startToEmitted: summarize(between(ids, x.start, x.emitted)),
      emittedToDone: summarize(between(ids, x.emitted, x.done)),
      hop: summarize(between(ids, x.start, x.done)),
      endToEnd: summarize(between(ids, ids, x.done)),
    };
  };
  const b = stages('baseline');
  const u = stages('ours');
  const rate = median(phases.map((p) => p.ratePerS));
  console.log(`latency, ms: ${b.n} + ${u.n} records, ${fmt(rate)} records/s produced one at a time (median of phases), all measured phases pooled per path`);
  const row = (label: string, s: Summary) => [label, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
  console.log(table(['stage', 'n', 'p50', 'p90', 'p99', 'max'], [
    row('baseline: produce IN → relay holds the record', b.toStart),
    row('baseline: relay holds → its send to MID resolved', b.startToEmitted),
    row('baseline: send resolved → final consumer holds it', b.emittedToDone),
    row('baseline: HOP, relay holds → final consumer holds', b.hop),
    row('baseline: END TO END, produce IN → final holds', b.endToEnd),
    row('ours: produce IN → A invoked by its trigger', u.toStart),
    row('ours: A invoked → A returned (ctx.emit published)', u.startToEmitted),
    row('ours: A returned → B returned to the host', u.emittedToDone),
    row('ours: HOP, A invoked → B returned', u.hop),
    row('ours: END TO END, produce IN → B returned', u.endToEnd),
  ]));

  const ratio = (x: Summary, y: Summary) => ({ p50: x.p50 / y.p50, p99: x.p99 / y.p99, p50DiffMs: x.p50 - y.p50, p99DiffMs: x.p99 - y.p99 });
  const hop = ratio(u.hop, b.hop);
  const endToEnd = ratio(u.endToEnd, b.endToEnd);
  const perRound = [...new Set(phases.map((p) => p.round))].map((r) => {
    const e2e = (path: PathName) => summarize(phases.filter((p) => p.round === r && p.path === path).flatMap((p) => between(p.producedAt, p.producedAt, m[path].done))).p50;
    return e2e('ours') / e2e('baseline');
  });
  console.log(table(['ours / baseline', 'p50', 'p99', 'p50 difference ms', 'p99 difference ms'], [
    ['hop (A invoked → B returned / relay holds → final holds)', `${fmt(hop.p50)}×`, `${fmt(hop.p99)}×`, fmt(hop.p50DiffMs), fmt(hop.p99DiffMs)],
    ['end to end (produce IN → B returned / final holds)', `${fmt(endToEnd.p50)}×`, `${fmt(endToEnd.p99)}×`, fmt(endToEnd.p50DiffMs), fmt(endToEnd.p99DiffMs)],
  ]));
  console.log(`   end-to-end p50 ratio per round: ${perRound.map((x) => `${fmt(x)}×`).join(', ')}`);

  const sendMs = summarize(probes.sends);
  const emitMs = summarize(probes.emits.ms);
  console.log(`   produce to the middle topic (warm-up and lead-ins included): baseline ${sendMs.n} requests for ${sendMs.n} records, p50 ${fmt(sendMs.p50)} ms, p99 ${fmt(sendMs.p99)} ms; ours ${probes.emits.requests} requests for ${probes.emits.records} records, p50 ${fmt(emitMs.p50)} ms, p99 ${fmt(emitMs.p99)} ms`);
  const { a, b: bb } = probes.via;
  console.log(`   records that reached a trigger inside a series (several per sandbox round trip; warm-up and lead-ins included): A ${a.series} of ${a.series + a.single}, B ${bb.series} of ${bb.series + bb.single}`);
  const cpuRows = phases.map((p) => {
    const n = p.producedAt.size;
    return [`${p.round + 1}. ${p.path}`, fmt(p.ratePerS), fmt((p.cpu.hostS * 1e6) / n), fmt(((p.cpu.groupsS['sandbox'] ?? 0) * 1e6) / n), p.cpu.groupsS['broker'] === undefined ? '-' : fmt((p.cpu.groupsS['broker'] * 1e6) / n), fmt(p.cpu.machineBusyFraction * 100)];
  });
  console.log(table(['phase', 'records/s', 'CPU µs/record: host', 'sandboxes', 'broker', 'machine busy %'], cpuRows));

  // Backlog check: a path that cannot keep up with the rate shows end-to-end latency growing.
  const backlog = phases.map((p) => {
    const ids = [...p.producedAt.keys()];
    const q = Math.max(1, Math.floor(ids.length / 4));
    const p50 = (part: number[]) => summarize(between(new Map(part.map((i) => [i, p.producedAt.get(i) as number])), p.producedAt, m[p.path].done)).p50;
    const r = { path: p.path, round: p.round, firstQuarterP50: p50(ids.slice(0, q)), lastQuarterP50: p50(ids.slice(-q)) };
    if (r.lastQuarterP50 > 2 * r.firstQuarterP50 + 20) {
      console.log(`WARNING: round ${p.round + 1} ${p.path} fell behind the rate (end-to-end p50 ${fmt(r.firstQuarterP50)} ms in the first quarter, ${fmt(r.lastQuarterP50)} ms in the last): its figures include queueing`);
    }
    return r;
  });
  for (const p of phases) {
    if (p.ratePerS < 0.9 * rateTarget) console.log(`WARNING: round ${p.round + 1} ${p.path}: the producer reached ${fmt(p.ratePerS)} of ${rateTarget} records/s; the machine is saturated and the figures are not comparable`);
  }
  const lost = { baseline: b.n - b.endToEnd.n, ours: u.n - u.endToEnd.n };
  if (lost.baseline > 0 || lost.ours > 0) console.log(`WARNING: records not seen end to end within ${DRAIN_MS / 1000} s: baseline ${lost.baseline}, ours ${lost.ours}`);

  const ms = (s: Summary) => ({ n: s.n, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max });
  const msAll = (x: ReturnType<typeof stages>) => ({ toStart: ms(x.toStart), startToEmitted: ms(x.startToEmitted), emittedToDone: ms(x.emittedToDone), hop: ms(x.hop), endToEnd: ms(x.endToEnd) });
  return {
    ratePerS: rate, baselineMs: msAll(b), oursMs: msAll(u), hopRatio: hop, endToEndRatio: endToEnd, endToEndP50RatioPerRound: perRound, lost, backlog,
    series: probes.via,
    produceToMid: { baseline: { requests: sendMs.n, p50: sendMs.p50, p99: sendMs.p99 }, ours: { requests: probes.emits.requests, records: probes.emits.records, p50: emitMs.p50, p99: emitMs.p99 } },
    cpu: phases.map((p) => ({ path: p.path, round: p.round, records: p.producedAt.size, ...p.cpu })),
  };
}

// ---------------------------------------------------------------------------------------------
// The benchmark's own Kafka clients: topics, and eachBatch consumers for the baseline.

interface Delivered {
  value: unknown;
  raw: string;
  /** Marks the record processed (resolveOffset). */
  resolve(): void;
}

class KafkaSide {
  readonly kafka: Kafka;
  readonly brokers: string[];
  private readonly admin: Admin;

  private constructor(kafka: Kafka, brokers: string[], admin: Admin) {
    this.kafka = kafka;
    this.brokers = brokers;
    this.admin = admin;
  }

  static async connect(brokers: string): Promise<KafkaSide> {
    const list = brokers.split(',');
    const kafka = new Kafka({ clientId: 'bench-hop', brokers: list, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    return new KafkaSide(kafka, list, admin);
  }

  async createTopic(topic: string): Promise<void> {
    await this.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  }

  /** An eachBatch consumer (fresh group, from the earliest offset) committing each batch. */
  async consume(groupId: string, topic: string, each: (values: Delivered[]) => Promise<void>): Promise<Consumer> {
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: FETCH_WAIT_MS });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async (payload) => {
        const values = payload.batch.messages.map((msg): Delivered => {
          const raw = msg.value?.toString() ?? 'null';
          return { value: JSON.parse(raw) as unknown, raw, resolve: () => payload.resolveOffset(msg.offset) };
        });
        await each(values);
        await payload.commitOffsetsIfNecessary();
      },
    });
    return consumer;
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

function rand(): string {
  return randomBytes(4).toString('hex');
}
