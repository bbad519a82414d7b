/**
 * The consumer-lag trigger on real Kafka (KAFKA_BROKERS), baselines in the same run:
 *
 * 1. Reaction time (bar < 1 s; baseline: KEDA's default pollingInterval, 30 s, a documented constant).
 *    a. Wake from zero: activationLag 5; 5 records are produced (it must stay at zero), then one
 *       more; time from that produce to the handler starting the first record.
 *    b. Scale-out at 1 instance (lagPerInstance 500): the instance works through a 400-record backlog
 *       on p0; 500 records produced on another partition need a second instance; time from that
 *       produce to the handler starting a record on a partition other than the first instance's.
 *       "new lag": the 500 go to p1, which had nothing when p0's batch was fetched. "fetched": p1
 *       already held 200 records waiting at the gate when the 500 were produced on p2.
 *    Handler times are its own Date.now() (logged on marked records); produce times are taken before
 *    the produce call (acks all). 7 repetitions each, back at zero in between. The bar applies to
 *    a and to b "new lag" (the literal case); b "fetched" isolates the scaler's own part.
 * 2. Drain of a burst of 2400 records over 8 partitions, 5 ms of waiting per record: a lag trigger
 *    woken from zero (lagPerInstance 25, maxInstances 8) vs one always-running topic consumer
 *    (scaling.maxInstances 1: one partition at a time) on an identical topic. Produce → the handler
 *    finishing the last record of every partition. Rounds alternate the order.
 * 3. Idle cost at zero: 10-second windows rotating the drained lag function at zero, the same
 *    runtime with no function deployed (baseline), and, for information, the idle topic trigger of 2:
 *    CPU of this process (the runtime), of the sandbox processes and of a local broker; requests of
 *    the runtime's Kafka admin client (the lag watcher's reads); memory.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import type { ScaleStatus } from '../scheduler/scale-registry.ts';
import { cpuBetween, cpuSample, deploy, localBrokerPid, startBenchRuntime, undeploy, type BenchRuntime } from './lib/runtime.ts';
import { bar, collect, fmt, formatBar, median, sleep, summarize, table, type Bar, type Summary } from './lib/stats.ts';

export const description = 'lag trigger: wake / scale-out reaction vs KEDA 30 s polling, burst drain vs one fixed consumer, idle cost at zero (real Kafka)';

const POLL_MS = 200;
const KEDA_POLL_S = 30; // KEDA's default ScaledObject pollingInterval: documented, not measured here
const FAST = { pollMs: POLL_MS, cooldownMs: 1000, scaleDownStabilizationMs: 500 };
const DRAIN = { partitions: 8, records: 2400, rounds: 2 };

/** Logs its start time on records marked `m`, its end time on records marked `last`. */
const HANDLER = `
export default async (event) => {
  const t = Date.now();
  const d = event.data;
  if (d.m !== undefined) console.log(JSON.stringify({ m: d.m, t, p: event.kafka.partition }));
  await new Promise((r) => setTimeout(r, 5));
  if (d.last !== undefined) console.log(JSON.stringify({ last: d.last, t: Date.now(), p: event.kafka.partition }));
  return null;
};`;

interface Mark { m?: string; last?: string; t: number; p: number }
interface Rec { p: number; v: Record<string, unknown> }
interface Sub { group: string; at: number; batches: { p: number; at: number }[] }
/** ms after the produce: handler started a record / decision (subscribe call, or the up decision) / batch delivered / in-flight batch done. */
interface Reaction { ms: number; decisionMs: number; deliveredMs: number; busyUntilMs?: number; held: boolean }

export async function run(args: string[]): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  if (brokers === undefined || brokers === '') throw new Error('bench lag needs a Kafka broker: set KAFKA_BROKERS=host:port (for a local one: scripts/services)');
  const quick = args.includes('--quick');
  const reps = quick ? 2 : 7;
  const idleS = quick ? 3 : 10;
  const started = performance.now();
  const rt = await startBenchRuntime({ KAFKA_BROKERS: brokers, FAAS_LOG_RETENTION: '100000' });
  try {
    const subs: Sub[] = [];
    const subscribe = rt.eventLog.subscribe.bind(rt.eventLog);
    rt.eventLog.subscribe = (o) => {
      const s: Sub = { group: o.groupId, at: Date.now(), batches: [] };
      subs.push(s);
      const onBatch: typeof o.onBatch = (b, c) => {
        s.batches.push({ p: b.partition, at: Date.now() });
        return o.onBatch(b, c);
      };
      return subscribe({ ...o, onBatch });
    };
    console.log(`lag: node ${process.version}, ${navigator.hardwareConcurrency} cores, Kafka ${brokers}, ${rt.runner.stats().processes.length} sandbox processes, pollMs ${POLL_MS}\n`);

    const wakes = await wake(rt, subs, reps);
    const fresh = await scaleOut(rt, subs, 'new', reps);
    const fetched = await scaleOut(rt, subs, 'fetched', reps);
    const w = summarize(wakes.map((x) => x.ms));
    const f = summarize(fresh.map((x) => x.ms));
    const g = summarize(fetched.map((x) => x.ms));
    const p50 = (xs: Reaction[], k: 'decisionMs' | 'deliveredMs' | 'busyUntilMs') => (xs.some((x) => x[k] !== undefined) ? fmt(median(xs.map((x) => x[k] ?? Number.NaN))) : '-');
    console.log(`1. reaction, ms (${reps} repetitions each; handler start − produce; KEDA ${KEDA_POLL_S} s = its default polling interval, a documented constant)`);
    const row = (label: string, s: Summary, xs: Reaction[]) => [label, fmt(s.p50), fmt(s.max), p50(xs, 'decisionMs'), p50(xs, 'deliveredMs'), p50(xs, 'busyUntilMs'), `${fmt(s.p50 / (KEDA_POLL_S * 1000), 3)} / ${fmt(s.max / (KEDA_POLL_S * 1000), 3)}`, xs.every((x) => x.held) ? 'yes' : 'NO'];
    console.log(table(['path', 'p50', 'max', 'p50: decided', 'batch delivered', 'in-flight batch done', 'p50 / max ÷ 30 s', 'held at 0 / 1 before'], [
      row('a. wake from zero (lag 5 → 6, activationLag 5)', w, wakes),
      row('b. scale-out 1 → 2, new lag on p1 while p0 batch in flight', f, fresh),
      row('b. scale-out 1 → 2, lag already fetched, waiting at the gate', g, fetched),
    ]));

    const d = await drain(rt, quick ? 800 : DRAIN.records, quick ? 1 : DRAIN.rounds);
    const idle = await idleCost(rt, d.lag, d.fixed, idleS, brokers);

    const bars: Bar[] = [
      bar('wake from zero, produce → first record processed (p50)', w.p50 / 1000, 'max', 1, 's'),
      bar('wake from zero (max)', w.max / 1000, 'max', 1, 's'),
      bar('scale-out 1 → 2, new lag on another partition (p50)', f.p50 / 1000, 'max', 1, 's'),
      bar('scale-out 1 → 2, new lag on another partition (max)', f.max / 1000, 'max', 1, 's'),
    ];
    console.log('\nbars (DESIGN.md: lag crosses threshold → extra consumer running < 1 s; KEDA polls every 30 s)');
    for (const b of bars) console.log(`  ${formatBar(b)}`);
    console.log(`  information: scale-out 1 → 2 with the lag already fetched: p50 ${fmt(g.p50 / 1000)} s, max ${fmt(g.max / 1000)} s`);
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    console.log(JSON.stringify({ bench: 'lag', node: process.version, cores: navigator.hardwareConcurrency, pollMs: POLL_MS, seconds, wake: { ms: w, runs: wakes }, scaleOutNewLag: { ms: f, runs: fresh }, scaleOutFetched: { ms: g, runs: fetched }, drain: d.result, idle, bars }));
  } finally {
    await rt.stop().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Reaction

async function wake(rt: BenchRuntime, subs: Sub[], reps: number): Promise<Reaction[]> {
  const { name, topic } = await deployLag(rt, 'wake', 4, { activationLag: 5 });
  const out: Reaction[] = [];
  for (let r = 0; r < reps; r++) {
    await atZero(rt, name);
    const m = `w${r}`;
    await produce(rt, topic, Array.from({ length: 5 }, (_, i) => ({ p: i % 4, v: { m } })));
    await sleep(3 * POLL_MS + 100); // three polls: lag 5 is not above activationLag 5
    const held = (await scale(rt, name)).instances.current === 0;
    const t0 = Date.now();
    await produce(rt, topic, [{ p: 1, v: { m } }]);
    const first = await until(`wake ${m}`, async () => {
      const ms = (await marks(rt, name)).filter((x) => x.m === m);
      return ms.length === 6 ? Math.min(...ms.map((x) => x.t)) : undefined;
    });
    const sub = subs.find((s) => s.group === `faas.${name}` && s.at >= t0);
    out.push({ ms: first - t0, decisionMs: (sub?.at ?? Number.NaN) - t0, deliveredMs: (sub?.batches[0]?.at ?? Number.NaN) - t0, held });
  }
  await undeploy(rt, name);
  return out;
}

async function scaleOut(rt: BenchRuntime, subs: Sub[], variant: 'new' | 'fetched', reps: number): Promise<Reaction[]> {
  const { name, topic } = await deployLag(rt, `out-${variant}`, 4, { lagPerInstance: 500, maxInstances: 4 });
  const out: Reaction[] = [];
  for (let r = 0; r < reps; r++) {
    await atZero(rt, name);
    const m = `o${r}`;
    const backlog = (p: number, n: number): Rec[] => Array.from({ length: n }, (_, i) => ({ p, v: { ...(i === 0 ? { m } : {}), ...(i === n - 1 ? { last: m } : {}) } }));
    // At zero: a backlog that wakes it at 1 (p0 400, or p0 + p1 200 each: below lagPerInstance).
    await produce(rt, topic, variant === 'new' ? backlog(0, 400) : [...backlog(0, 200), ...backlog(1, 200)]);
    const running = await until(`first instance ${m}`, async () => (await marks(rt, name)).filter((x) => x.m === m).sort((a, b) => a.t - b.t)[0]?.p);
    await sleep(300);
    const held = (await scale(rt, name)).instances.current === 1;
    const t0 = Date.now();
    await produce(rt, topic, backlog(variant === 'new' ? 1 : 2, 500));
    const expected = variant === 'new' ? 2 : 3;
    const first = await until(`scale-out ${m}`, async () => {
      const ms = (await marks(rt, name)).filter((x) => x.m === m);
      return ms.length === expected ? ms.filter((x) => x.p !== running).sort((a, b) => a.t - b.t)[0] : undefined;
    });
    const up = (await scale(rt, name)).decisions.find((x) => x.from === 1 && x.to >= 2 && Date.parse(x.at) >= t0);
    const sub = subs.filter((s) => s.group === `faas.${name}`).at(-1);
    const delivered = sub?.batches.filter((b) => b.p === first.p && b.at <= first.t).at(-1)?.at;
    const busyUntil = (await until(`in-flight batch ${m}`, async () => (await marks(rt, name)).find((x) => x.last === m && x.p === running))).t;
    out.push({ ms: first.t - t0, decisionMs: up === undefined ? Number.NaN : Date.parse(up.at) - t0, deliveredMs: (delivered ?? Number.NaN) - t0, busyUntilMs: busyUntil - t0, held });
  }
  await atZero(rt, name);
  await undeploy(rt, name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 2. Drain of a burst

async function drain(rt: BenchRuntime, records: number, rounds: number) {
  const lagSpec = { lagPerInstance: 25, maxInstances: 8, pollMs: POLL_MS, cooldownMs: 2000, scaleDownStabilizationMs: 1000 };
  const lag = await deployLag(rt, 'drain', DRAIN.partitions, lagSpec);
  const fixed = { name: `bench-lag-fixed-${rand()}`, topic: `bench-lag-fixed-${rand()}` };
  await rt.eventLog.ensureTopic(fixed.topic, DRAIN.partitions);
  await deploy(rt, fixed.name, HANDLER, { triggers: [{ type: 'topic', topic: fixed.topic }], scaling: { maxInstances: 1 } });
  const burst = async (name: string, topic: string, tag: string, n: number) => {
    const t0 = Date.now();
    await produce(rt, topic, Array.from({ length: n }, (_, i) => ({ p: i % DRAIN.partitions, v: i >= n - DRAIN.partitions ? { last: tag } : {} })));
    const end = await until(`drain ${tag} of ${name}`, async () => {
      const ms = (await marks(rt, name)).filter((x) => x.last === tag);
      return ms.length === DRAIN.partitions ? Math.max(...ms.map((x) => x.t)) : undefined;
    }, 180_000, 50);
    return { t0, seconds: (end - t0) / 1000 };
  };
  // Warm-up (not reported): the fixed consumer has joined and both have run a record per partition.
  await burst(fixed.name, fixed.topic, 'warm', DRAIN.partitions);
  await burst(lag.name, lag.topic, 'warm', DRAIN.partitions);
  const runs: { path: 'lag' | 'fixed'; seconds: number; peak: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const path of r % 2 === 0 ? (['fixed', 'lag'] as const) : (['lag', 'fixed'] as const)) {
      if (path === 'lag') await atZero(rt, lag.name, 60_000);
      const x = path === 'lag' ? lag : fixed;
      const { t0, seconds } = await burst(x.name, x.topic, `d${r}`, records);
      const peak = path === 'lag' ? Math.max(0, ...(await scale(rt, lag.name)).decisions.filter((d) => Date.parse(d.at) >= t0).map((d) => d.to)) : 1;
      runs.push({ path, seconds, peak });
      console.error(`  drain round ${r + 1} ${path}: ${fmt(seconds)} s (peak ${peak} instances)`);
    }
  }
  await atZero(rt, lag.name, 60_000);
  const fixedS = median(runs.filter((x) => x.path === 'fixed').map((x) => x.seconds));
  const lagS = median(runs.filter((x) => x.path === 'lag').map((x) => x.seconds));
  const peak = Math.max(...runs.filter((x) => x.path === 'lag').map((x) => x.peak));
  console.log(`\n2. drain of a ${records}-record burst over ${DRAIN.partitions} partitions, 5 ms await per record, produce → last record done (${rounds} alternated rounds, median)`);
  console.log(table(['path', 'drain s (runs)', 'median', 'records/s', 'most instances'], [
    ['baseline: topic trigger, scaling.maxInstances 1, always running', runs.filter((x) => x.path === 'fixed').map((x) => fmt(x.seconds)).join(', '), fmt(fixedS), fmt(records / fixedS), '1'],
    ['lag trigger from zero, lagPerInstance 25, maxInstances 8', runs.filter((x) => x.path === 'lag').map((x) => fmt(x.seconds)).join(', '), fmt(lagS), fmt(records / lagS), String(peak)],
  ]));
  console.log(`   speed-up ${fmt(fixedS / lagS)}× (wake included)`);
  return { lag: { ...lag, spec: lagSpec }, fixed, result: { records, partitions: DRAIN.partitions, fixedS, lagS, speedup: fixedS / lagS, peak, runs } };
}

// ---------------------------------------------------------------------------------------------
// 3. Idle cost at zero

async function idleCost(rt: BenchRuntime, lag: { name: string; topic: string; spec: Record<string, unknown> }, fixed: { name: string; topic: string }, seconds: number, brokers: string) {
  const admin = (rt.eventLog as unknown as { topics?: { admin: Admin } }).topics?.admin;
  const byApi = new Map<string, number>();
  let requests = 0;
  admin?.on(admin.events.REQUEST, (e) => {
    requests++;
    byApi.set(e.payload.apiName, (byApi.get(e.payload.apiName) ?? 0) + 1);
  });
  const broker = localBrokerPid(brokers.split(',')[0] ?? '');
  type Kind = 'lag' | 'none' | 'topic';
  const windows: { what: Kind; hostMsPerS: number; sandboxMsPerS: number; brokerMsPerS: number; requestsPerS: number; instances: number; rssMb: number; heapMb: number; sandboxRssMb: number }[] = [];
  const deployed = new Set<string>([lag.name, fixed.name]);
  for (const what of ['lag', 'none', 'topic', 'lag', 'none', 'topic'] as const) {
    const want = what === 'lag' ? lag.name : what === 'topic' ? fixed.name : undefined;
    for (const n of [...deployed].filter((x) => x !== want)) await undeploy(rt, n).then(() => deployed.delete(n));
    if (want === lag.name && !deployed.has(want)) await deploy(rt, want, HANDLER, { triggers: [{ type: 'lag', topic: lag.topic, ...lag.spec }], scaling: { maxInstances: 8 } });
    if (want === fixed.name && !deployed.has(want)) await deploy(rt, want, HANDLER, { triggers: [{ type: 'topic', topic: fixed.topic }], scaling: { maxInstances: 1 } });
    if (want !== undefined) deployed.add(want);
    if (what === 'lag') await atZero(rt, lag.name);
    await sleep(1000);
    collect();
    const pids = { sandbox: rt.runner.stats().processes.map((p) => p.pid), broker: broker === undefined ? [] : [broker] };
    const a = cpuSample(pids);
    const r0 = requests;
    if (what === 'lag') byApi.clear();
    await sleep(seconds * 1000);
    const c = cpuBetween(a, cpuSample(pids));
    if (what === 'lag') console.error(`  idle at zero: admin requests ${JSON.stringify(Object.fromEntries(byApi))} in ${seconds} s`);
    collect();
    const mem = process.memoryUsage();
    const perS = (x: number) => (x * 1000) / seconds;
    windows.push({
      what,
      hostMsPerS: perS(c.hostS),
      sandboxMsPerS: perS(c.groupsS['sandbox'] ?? 0),
      brokerMsPerS: broker === undefined ? Number.NaN : perS(c.groupsS['broker'] ?? 0),
      requestsPerS: (requests - r0) / seconds,
      instances: want === undefined ? 0 : instancesOf(rt, want),
      rssMb: mem.rss / 2 ** 20,
      heapMb: mem.heapUsed / 2 ** 20,
      sandboxRssMb: pids.sandbox.map(vmRssMb).reduce((x, y) => x + y, 0),
    });
  }
  const cols = ['hostMsPerS', 'sandboxMsPerS', 'brokerMsPerS', 'requestsPerS', 'instances', 'rssMb', 'heapMb', 'sandboxRssMb'] as const;
  const mean = (what: Kind, k: (typeof cols)[number]) => median(windows.filter((x) => x.what === what).map((x) => x[k]));
  console.log(`\n3. idle cost: ${seconds} s windows, rotating (lag function at zero, nothing deployed, idle topic trigger), mean of 2 each`);
  console.log(table(['runtime', 'host CPU ms/s', 'sandboxes ms/s', 'broker ms/s', 'admin requests/s', 'fn instances', 'host RSS MB', 'heap used MB', 'sandbox RSS MB'], [
    ['baseline: nothing deployed', ...cols.map((k) => fmt(mean('none', k)))],
    [`one lag function at zero (pollMs ${POLL_MS})`, ...cols.map((k) => fmt(mean('lag', k)))],
    ['difference: cost of the lag function at zero', ...cols.map((k) => fmt(mean('lag', k) - mean('none', k)))],
    ['information: the idle topic trigger of section 2 (1 consumer)', ...cols.map((k) => fmt(mean('topic', k)))],
  ]));
  const diff = (what: Kind) => Object.fromEntries(cols.map((k) => [k, mean(what, k) - mean('none', k)]));
  return { seconds, windows, lagAtZero: diff('lag'), idleTopic: diff('topic'), requestsByApi: Object.fromEntries(byApi) };
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function deployLag(rt: BenchRuntime, kind: string, partitions: number, spec: Record<string, unknown>) {
  const name = `bench-lag-${kind}-${rand()}`;
  const topic = `bench-lag-${kind}-${rand()}`;
  await rt.eventLog.ensureTopic(topic, partitions);
  await deploy(rt, name, HANDLER, { triggers: [{ type: 'lag', topic, ...FAST, ...spec }], scaling: { maxInstances: 8 } });
  return { name, topic };
}

async function produce(rt: BenchRuntime, topic: string, records: Rec[]): Promise<void> {
  for (let i = 0; i < records.length; i += 1000) {
    await rt.eventLog.produce(topic, records.slice(i, i + 1000).map((r) => ({ value: JSON.stringify(r.v), partition: r.p })));
  }
}

async function scale(rt: BenchRuntime, name: string): Promise<ScaleStatus> {
  const res = await rt.gateway.inject({ method: 'GET', url: `/v1/scale/${name}` });
  if (res.statusCode !== 200) throw new Error(`GET /v1/scale/${name}: ${res.statusCode} ${res.body}`);
  return res.json<ScaleStatus>();
}

async function marks(rt: BenchRuntime, name: string): Promise<Mark[]> {
  const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` });
  return res.json<{ entries: { message: string }[] }>().entries.filter((e) => e.message.startsWith('{')).map((e) => JSON.parse(e.message) as Mark);
}

function instancesOf(rt: BenchRuntime, name: string): number {
  const s = rt.runner.stats().instances[name];
  return (s?.idle ?? 0) + (s?.busy ?? 0);
}

/** Back at zero: no instance in the scaler, none in the sandbox. */
async function atZero(rt: BenchRuntime, name: string, timeoutMs = 30_000): Promise<void> {
  await until(`${name} at zero`, async () => ((await scale(rt, name)).instances.current === 0 && instancesOf(rt, name) === 0 ? true : undefined), timeoutMs, 50);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function vmRssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

function rand(): string {
  return randomBytes(4).toString('hex');
}
