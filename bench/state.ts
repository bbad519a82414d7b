/**
 * Issue 4: ctx.state operations per second per function, real Redis, next to raw ioredis calls from
 * the host in the same run (redis-benchmark style: one connection, small values). No bar: DESIGN.md
 * "Performance bars" names none for state, so the benchmark prints figures and ratios only.
 *
 * One function, deployed once (its own state namespace, `scaling.maxInstances` 8), runs one mode per
 * invocation, chosen by `event.data.mode`; every mode does K = 10 operations on K keys holding a
 * 5-byte JSON string (`"xxx"`, redis-benchmark's 3-byte value as JSON):
 * - get-seq: K sequential `await ctx.state.get(k)` (each one guest → host → Redis → back).
 * - get-all: K `ctx.state.get` at once under `Promise.all` (one guest turn: the bridge carries the K
 *   calls in one IPC message and the host issues K GETs without waiting for replies).
 * - set-seq / set-all: K `ctx.state.set` awaited one by one / under `Promise.all` (buffered on the
 *   host, applied at success in one Lua script: one Redis round trip per invocation).
 * - incr-seq: K sequential `ctx.state.incr` on K counters (each reads the counter from Redis to
 *   answer the new value; the increments apply at success in one Lua script).
 * - noop: no state operation (information: the invocation rate without state).
 * Invocations go straight to the runtime's invoker (no HTTP), C = 1 and 8 in flight (closed loop).
 *
 * Baseline, raw ioredis from this process on ONE connection shared by the C loops, unit = K commands
 * on K keys with the same stored text:
 * - get-seq: K sequential `await redis.get` (unpipelined).                       ↔ ours get-seq
 * - get-all: `Promise.all` of K `redis.get`, no auto-pipelining (the runtime's   ↔ ours get-all
 *   connection settings, state/redis-connection.ts).
 * - get-pipeline: `redis.pipeline()` of K GETs; get-auto: `Promise.all` on a client with
 *   `enableAutoPipelining` (information: the best one connection does).
 * - set-multi: `redis.multi()` of K SETs (K writes, one atomic round trip).    ↔ ours set-seq, set-all
 * - set-seq: K sequential SETs (information: redis-benchmark's SET).
 * - incr-seq: K sequential INCRBY, each answering the new value.              ↔ ours incr-seq
 * ops/s = K × units / elapsed; each cell (one path, one concurrency) runs SECONDS after an unreported
 * warm-up of WARMUP_SECONDS; cells alternate raw and ours (each ours mode right after the raw mode it
 * is compared with) and the order is reversed every other round; ops/s is the median of ROUNDS
 * rounds, and "ours / raw" divides the medians of matching modes at the same concurrency. Per cell,
 * Redis's own counters (INFO stats deltas, all clients) give commands and socket reads per unit: K
 * commands that reach Redis together cost it one read, K sent one by one cost K reads. CPU per unit
 * is from /proc (this process, the sandbox processes, and redis-server when it runs locally).
 */
import { Redis } from 'ioredis';
import { connectRedis } from '../state/redis-connection.ts';
import { provisionServices } from '../scripts/services/provision.ts';
import { cpuBetween, cpuSample, deploy, startBenchRuntime, undeploy, type BenchRuntime, type CpuUse } from './lib/runtime.ts';
import { fmt, median, summarize, table, type Summary } from './lib/stats.ts';

export const description = 'ctx.state ops/s (sequential, Promise.all, buffered writes) vs raw ioredis on one connection, real Redis (issue 4)';

const K = 10;
const CONCURRENCY = [1, 8] as const;
const SECONDS = 2;
const WARMUP_SECONDS = 0.3;
const ROUNDS = 2;
const VALUE = JSON.stringify('xxx');
const FN = 'bench-state';

const HANDLER = `
const K = ${K};
const KEYS = Array.from({ length: K }, (_, i) => 'k' + i);
const CTRS = Array.from({ length: K }, (_, i) => 'c' + i);
export default async (event, ctx) => {
  const s = ctx.state;
  switch (event.data.mode) {
    case 'noop': return 0;
    case 'get-seq': { let n = 0; for (const k of KEYS) if ((await s.get(k)) !== null) n++; return n; }
    case 'get-all': return (await Promise.all(KEYS.map((k) => s.get(k)))).filter((v) => v !== null).length;
    case 'set-seq': for (const k of KEYS) await s.set(k, 'xxx'); return K;
    case 'set-all': await Promise.all(KEYS.map((k) => s.set(k, 'xxx'))); return K;
    case 'incr-seq': { let n = 0; for (const c of CTRS) if ((await s.incr(c)) > 0) n++; return n; }
    case 'clear': for (const k of [...KEYS, ...CTRS]) await s.delete(k); return 0;
    default: throw new Error('unknown mode ' + event.data.mode);
  }
};`;

type OursMode = 'get-seq' | 'get-all' | 'set-seq' | 'set-all' | 'incr-seq' | 'noop';
type RawMode = 'get-seq' | 'get-all' | 'get-pipeline' | 'get-auto' | 'set-seq' | 'set-multi' | 'incr-seq';

interface Cell {
  side: 'ours' | 'raw';
  mode: OursMode | RawMode;
}

/** Run order within a round: each ours mode right after the raw mode it is compared with. */
const CELLS: Cell[] = [
  { side: 'raw', mode: 'get-seq' },
  { side: 'ours', mode: 'get-seq' },
  { side: 'raw', mode: 'get-all' },
  { side: 'ours', mode: 'get-all' },
  { side: 'raw', mode: 'get-pipeline' },
  { side: 'raw', mode: 'get-auto' },
  { side: 'raw', mode: 'set-multi' },
  { side: 'ours', mode: 'set-seq' },
  { side: 'ours', mode: 'set-all' },
  { side: 'raw', mode: 'set-seq' },
  { side: 'raw', mode: 'incr-seq' },
  { side: 'ours', mode: 'incr-seq' },
  { side: 'ours', mode: 'noop' },
];

/** ours mode → the raw mode it is compared with (same operations, same round-trip structure). */
const MATCH: Record<OursMode, RawMode | undefined> = {
  'get-seq': 'get-seq',
  'get-all': 'get-all',
  'set-seq': 'set-multi',
  'set-all': 'set-multi',
  'incr-seq': 'incr-seq',
  noop: undefined,
};

const LABEL: Record<string, string> = {
  'ours get-seq': `ours: K sequential await ctx.state.get`,
  'ours get-all': `ours: Promise.all of K ctx.state.get`,
  'ours set-seq': `ours: K sequential await ctx.state.set (1 Lua apply)`,
  'ours set-all': `ours: Promise.all of K ctx.state.set (1 Lua apply)`,
  'ours incr-seq': `ours: K sequential await ctx.state.incr`,
  'ours noop': 'ours: invocation without state (info)',
  'raw get-seq': 'raw: K sequential await redis.get',
  'raw get-all': 'raw: Promise.all of K redis.get (no auto-pipelining)',
  'raw get-pipeline': 'raw: redis.pipeline() of K GET (info)',
  'raw get-auto': 'raw: Promise.all of K get, enableAutoPipelining (info)',
  'raw set-multi': 'raw: redis.multi() of K SET',
  'raw set-seq': 'raw: K sequential await redis.set (info)',
  'raw incr-seq': 'raw: K sequential await redis.incrby',
};

const now = () => performance.now();
/** State operations per unit; an empty invocation counts as one (its row reads invocations/s). */
const opsPerUnit = (cell: Cell) => (cell.mode === 'noop' ? 1 : K);

interface RedisCounters {
  commands: number;
  reads: number;
  writes: number;
}

interface Measured {
  cell: Cell;
  concurrency: number;
  round: number;
  units: number;
  seconds: number;
  opsPerS: number;
  unitMs: Summary;
  /** Redis commands per unit (one invocation, or K raw commands), server side, all clients. */
  commandsPerUnit: number;
  /** Socket reads Redis made per unit: 1 when the unit's commands arrive together. */
  readsPerUnit: number;
  cpu: CpuUse;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const seconds = quick ? 0.5 : SECONDS;
  const rounds = quick ? 1 : ROUNDS;
  const started = now();
  const services = await provisionServices({ kafka: false, redis: true });
  let rt: BenchRuntime | undefined;
  const clients: Redis[] = [];
  try {
    const url = services.redisUrl as string;
    rt = await startBenchRuntime({ REDIS_URL: url });
    const plain = connectRedis({ url, name: 'bench-raw' });
    const auto = new Redis(url, { connectionName: 'bench-raw-auto', enableAutoPipelining: true, commandTimeout: 2000, maxRetriesPerRequest: 1 });
    const info = connectRedis({ url, name: 'bench-info' });
    clients.push(plain, auto, info);
    const redisPid = services.how.redis === 'local' ? Number(/process_id:(\d+)/.exec(await info.info('server'))?.[1]) : undefined;
    const sandboxes = rt.runner.stats().processes.map((p) => p.pid);
    const pids = { sandbox: sandboxes, redis: redisPid === undefined || !Number.isFinite(redisPid) ? [] : [redisPid] };
    console.log(`state: node ${process.version}, ${navigator.hardwareConcurrency} cores, Redis ${services.how.redis} (${url}), ${sandboxes.length} sandbox processes, K = ${K} operations per unit, ${seconds} s per cell, ${rounds} round(s)\n`);

    await deploy(rt, FN, HANDLER, { scaling: { maxInstances: Math.max(...CONCURRENCY) } });
    const invoke = async (mode: string): Promise<number> => {
      const r = await (rt as BenchRuntime).invoker.invoke(FN, { data: { mode } });
      if (r.error) throw new Error(`${FN} ${mode}: ${r.error.code} ${r.error.message}`);
      return JSON.parse(r.resultJson ?? 'null') as number;
    };
    // Fill the function's keys (through ctx.state) and the raw keys; check both read back K values.
    await invoke('set-seq');
    const rawKeys = Array.from({ length: K }, (_, i) => `bench:state:raw:k${i}`);
    const rawCtrs = Array.from({ length: K }, (_, i) => `bench:state:raw:c${i}`);
    await plain.mset(...rawKeys.flatMap((k) => [k, VALUE]));
    if ((await invoke('get-all')) !== K) throw new Error(`${FN}: get-all did not read back ${K} values`);
    if ((await plain.mget(...rawKeys)).filter((v) => v === VALUE).length !== K) throw new Error('raw keys did not read back');

    const units: Record<string, () => Promise<unknown>> = {
      'raw get-seq': async () => {
        for (const k of rawKeys) await plain.get(k);
      },
      'raw get-all': () => Promise.all(rawKeys.map((k) => plain.get(k))),
      'raw get-pipeline': () => plain.pipeline(rawKeys.map((k) => ['get', k])).exec(),
      'raw get-auto': () => Promise.all(rawKeys.map((k) => auto.get(k))),
      'raw set-multi': () => plain.multi(rawKeys.map((k) => ['set', k, VALUE])).exec(),
      'raw set-seq': async () => {
        for (const k of rawKeys) await plain.set(k, VALUE);
      },
      'raw incr-seq': async () => {
        for (const c of rawCtrs) await plain.incrby(c, 1);
      },
    };
    for (const mode of ['get-seq', 'get-all', 'set-seq', 'set-all', 'incr-seq', 'noop'] as const) {
      units[`ours ${mode}`] = async () => {
        const n = await invoke(mode);
        if (mode !== 'noop' && n !== K) throw new Error(`${FN} ${mode}: answered ${n}, expected ${K}`);
      };
    }

    const counters = async (): Promise<RedisCounters> => {
      const text = await info.info('stats');
      const num = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(text)?.[1] ?? Number.NaN);
      return { commands: num('total_commands_processed'), reads: num('total_reads_processed'), writes: num('total_writes_processed') };
    };

    const results: Measured[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? CELLS : [...CELLS].reverse();
      for (const concurrency of CONCURRENCY) {
        for (const cell of order) {
          const unit = units[`${cell.side} ${cell.mode}`] as () => Promise<unknown>;
          await drive(concurrency, WARMUP_SECONDS, unit);
          const c0 = await counters();
          const before = cpuSample(pids);
          const d = await drive(concurrency, seconds, unit);
          const cpu = cpuBetween(before, cpuSample(pids));
          const c1 = await counters();
          // The first INFO is itself one command and one read, counted in c1.
          const commands = c1.commands - c0.commands - 1;
          const reads = c1.reads - c0.reads - 1;
          const ops = d.units * opsPerUnit(cell);
          results.push({
            cell, concurrency, round, units: d.units, seconds: d.seconds, opsPerS: ops / d.seconds, unitMs: d.unitMs,
            commandsPerUnit: commands / d.units, readsPerUnit: reads / d.units, cpu,
          });
          console.error(`  round ${round + 1} c=${concurrency} ${cell.side} ${cell.mode}: ${fmt(ops / d.seconds)} ops/s`);
        }
      }
    }
    await invoke('clear');
    await plain.del(...rawKeys, ...rawCtrs);
    await undeploy(rt, FN);

    const summary = report(results, rounds, seconds, pids.redis.length > 0);
    const total = (now() - started) / 1000;
    console.log(`\ntotal ${total.toFixed(1)} s`);
    console.log(JSON.stringify({
      bench: 'state', node: process.version, cores: navigator.hardwareConcurrency, redis: services.how.redis, k: K, seconds: total, secondsPerCell: seconds, rounds,
      summary,
      runs: results.map((r) => ({ side: r.cell.side, mode: r.cell.mode, concurrency: r.concurrency, round: r.round, opsPerS: r.opsPerS, unitMs: { p50: r.unitMs.p50, p99: r.unitMs.p99 }, commandsPerUnit: r.commandsPerUnit, readsPerUnit: r.readsPerUnit })),
    }));
  } finally {
    for (const c of clients) await c.quit().catch(() => c.disconnect());
    await rt?.stop().catch(() => undefined);
    await services.stop();
  }
}

/** C closed loops, each running `unit` until `seconds` have passed; the last units finish. */
async function drive(concurrency: number, seconds: number, unit: () => Promise<unknown>) {
  const lat: number[] = [];
  let units = 0;
  const t0 = now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < end) {
        const s = now();
        await unit();
        lat.push(now() - s);
        units++;
      }
    }),
  );
  return { units, seconds: (now() - t0) / 1000, unitMs: summarize(lat) };
}

function report(results: Measured[], rounds: number, seconds: number, redisCpu: boolean) {
  const of = (cell: Cell, c: number) => results.filter((r) => r.cell.side === cell.side && r.cell.mode === cell.mode && r.concurrency === c);
  const med = (cell: Cell, c: number, f: (r: Measured) => number) => median(of(cell, c).map(f));
  const summary: Record<string, unknown>[] = [];
  for (const c of CONCURRENCY) {
    console.log(`\n${c} in flight: ops/s (K = ${K} per unit; median of ${rounds} round(s) of ${seconds} s), latency of a unit, Redis counters and CPU per unit`);
    const noopP50 = med({ side: 'ours', mode: 'noop' }, c, (r) => r.unitMs.p50);
    const rows = CELLS.map((cell) => {
      const ops = med(cell, c, (r) => r.opsPerS);
      const match = cell.side === 'ours' ? MATCH[cell.mode as OursMode] : undefined;
      const ratio = match === undefined ? Number.NaN : ops / med({ side: 'raw', mode: match }, c, (r) => r.opsPerS);
      const p50 = med(cell, c, (r) => r.unitMs.p50);
      // µs per operation at one in flight: the unit's p50 over K (ours: beyond an empty invocation).
      const perOpUs = c !== 1 || cell.mode === 'noop' ? Number.NaN : ((cell.side === 'ours' ? p50 - noopP50 : p50) * 1000) / K;
      const cpuUs = (f: (u: CpuUse) => number) => med(cell, c, (r) => (f(r.cpu) * 1e6) / r.units);
      const row = {
        side: cell.side, mode: cell.mode, concurrency: c, opsPerS: ops, ...(cell.side === 'ours' ? { invocationsPerS: ops / opsPerUnit(cell) } : {}),
        ratio, matchedWith: match, unitP50Ms: p50, unitP99Ms: med(cell, c, (r) => r.unitMs.p99), perOpUs,
        redisCommandsPerUnit: med(cell, c, (r) => r.commandsPerUnit), redisReadsPerUnit: med(cell, c, (r) => r.readsPerUnit),
        cpuUsPerUnit: { host: cpuUs((u) => u.hostS), sandbox: cpuUs((u) => u.groupsS['sandbox'] ?? 0), redis: redisCpu ? cpuUs((u) => u.groupsS['redis'] ?? 0) : Number.NaN },
      };
      summary.push(row);
      return [
        LABEL[`${cell.side} ${cell.mode}`] ?? cell.mode,
        cell.mode === 'noop' ? `${fmt(ops)} inv/s` : fmt(ops),
        match === undefined ? '' : `${fmt(ratio, 3)}× raw ${match}`,
        fmt(p50, 3),
        fmt(row.unitP99Ms, 3),
        c === 1 && cell.mode !== 'noop' ? fmt(perOpUs) : '',
        fmt(row.redisCommandsPerUnit, 1),
        fmt(row.redisReadsPerUnit, 1),
        fmt(row.cpuUsPerUnit.host),
        fmt(row.cpuUsPerUnit.sandbox),
        redisCpu ? fmt(row.cpuUsPerUnit.redis) : '-',
      ];
    });
    console.log(table(
      ['path', 'ops/s', 'ours / raw (matching)', 'unit p50 ms', 'p99 ms', 'µs/op (c=1)', 'Redis cmds/unit', 'reads/unit', 'CPU µs/unit: host', 'sandboxes', 'redis'],
      rows,
    ));
  }
  console.log(`\nunit: one invocation (ours) or K commands (raw). µs/op (c=1): unit p50 / K; for ours (unit p50 − empty invocation p50) / K.`);
  console.log('Redis cmds/unit and reads/unit: INFO stats deltas over the cell (commands inside Lua and MULTI count; reads = socket reads,');
  console.log('1 per unit when its commands arrive together). CPU: /proc, this process (host), the sandbox processes, a local redis-server.');
  return summary;
}
