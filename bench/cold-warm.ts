/**
 * Issue 2: cold start, warm invoke and warm sandbox memory, each next to its baseline in the same
 * run (DESIGN.md "Performance bars").
 *
 * 1. Cold start of a never-run function vs raw isolated-vm (isolate + context + compile + run + one
 *    call), rounds interleaved with a rotating order so drift hits every path equally.
 * 2. Warm in-process invoke vs a raw `ref.applySync` of a function doing the guest's JSON work (the
 *    cheapest call into an isolate, as the runtime's sync-first path makes), alternating one call
 *    of each; the same work through an async `ref.apply` for information.
 * 3. For information: the production path (IsolateRunner, IPC to one sandbox process), cold and warm.
 * 4. Warm sandbox memory: RSS of one sandbox process before and after 50 warm instances; and an
 *    in-process breakdown (RSS and V8 heap per isolate, ours vs raw) at several memory limits.
 * 5. For information: cold start of a larger bundle (zod), by when its code cache was produced.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { parseManifest, type ManifestInput } from '../core/manifest.ts';
import type { FunctionVersion, InvocationMeta } from '../scheduler/ports.ts';
import { bundleFunction } from '../sandbox/bundler.ts';
import { CodeCache } from '../sandbox/code-cache.ts';
import { IsolateInstance, guestBootstrapSource, primeBootstrap, type InstanceSpec, type InvokeSpec } from '../sandbox/isolate-instance.ts';
import { IsolateRunner } from '../sandbox/runner.ts';
import type { ProbeResult } from './lib/memory-probe.ts';
import { bar, fmt, formatBar, sleep, summarize, table, type Bar, type Summary } from './lib/stats.ts';

export const description = 'cold start, warm invoke and warm sandbox memory vs raw isolated-vm (issue 2)';

const HANDLER = 'export default async (event) => ({ ok: true, n: event.n });';
const EVENT_JSON = '{"n":1}';
const MEMORY_MB = 64; // the manifest default

const COLD = { warmup: 20, rounds: 400 };
const WARM = { warmup: 500, iterations: 5000 };
const RUNNER = { coldRounds: 150, warmup: 200, warmIterations: 3000, leakCycles: 150 };
const MEM = { instances: 50, limits: [8, 16, 64] };

interface Options {
  quick: boolean;
}

export async function run(args: string[]): Promise<void> {
  const options: Options = { quick: args.includes('--quick') };
  const scale = options.quick ? 0.2 : 1;
  const started = performance.now();
  const base = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': HANDLER }, maxBytes: 1_000_000 });
  // A unique comment gives a never-seen digest with the same work as the original bundle.
  let uniq = 0;
  const fresh: Fresh = () => {
    const tag = `\n// ${process.pid}-${++uniq}`;
    const code = base.code + tag;
    // The bundle's completion value is its exports object whose `default` is a getter, which a
    // Reference cannot read: the raw baseline's script evaluates to the handler itself instead.
    return { code, digest: sha256(code), rawCode: `${base.code}.default${tag}` };
  };

  console.log(`cold-warm: node ${process.version}, ${navigator.hardwareConcurrency} cores, isolated-vm ${ivmVersion()}, memoryMb ${MEMORY_MB}\n`);

  const cold = await coldStart(base, fresh, Math.round(COLD.rounds * scale));
  const warm = await warmInvoke(base, Math.round(WARM.iterations * scale));
  const runner = await runnerPath(base, fresh, Math.round(RUNNER.coldRounds * scale), Math.round(RUNNER.warmIterations * scale), Math.round(RUNNER.leakCycles * scale));
  const memory = await warmMemory(fresh, options.quick ? 20 : MEM.instances);
  const large = await largeBundle(options.quick ? 10 : LARGE_ROUNDS);

  const bars: Bar[] = [
    bar('cold start, never-seen digest / raw isolated-vm (p50)', cold.ratioFresh, 'max', 1.5, '×'),
    bar('cold start, compiled digest / raw isolated-vm (p50)', cold.ratioCached, 'max', 1.5, '×'),
    bar('warm invoke overhead in process (p50 of paired differences)', warm.overheadUs, 'max', 50, 'µs'),
    bar(`warm sandbox memory, RSS per instance (${memory.instances} functions)`, memory.runnerMbPerInstance, 'max', 3, 'MB'),
  ];
  console.log('\nbars');
  for (const b of bars) console.log(`  ${formatBar(b)}`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`\ntotal ${seconds.toFixed(1)} s`);
  console.log(JSON.stringify({ bench: 'cold-warm', node: process.version, cores: navigator.hardwareConcurrency, seconds, cold, warm, runner, memory, large, bars }));
}

// ---------------------------------------------------------------------------------------------
// 1. Cold start

type Fresh = () => { code: string; digest: string; rawCode: string };

async function coldStart(base: { code: string; digest: string }, fresh: Fresh, rounds: number) {
  // One cache per path, as one sandbox process has, primed as a process primes it before it says
  // ready: the bootstrap's compiled code is shared by every function the process runs; only the
  // function's digest is new on the never-seen path.
  const compiled = new CodeCache();
  const perProcess = new CodeCache();
  await primeBootstrap(compiled);
  await primeBootstrap(perProcess);
  const paths: { name: string; once(): Promise<number> }[] = [
    { name: 'raw isolated-vm: isolate+context+compile+run+call', once: () => rawCold(fresh().rawCode) },
    { name: 'raw + guest bootstrap (info: no code cache)', once: () => rawCold(fresh().rawCode, true) },
    // A new function digest each round: never seen by this process, so V8 compiles it from source.
    { name: 'IsolateInstance, never-seen digest', once: () => instanceCold(spec(fresh()), perProcess) },
    // Scale-out or eviction refill: the process already holds this version's compiled code.
    { name: 'IsolateInstance, compiled digest', once: () => instanceCold(spec(base), compiled) },
  ];
  const samples = paths.map(() => [] as number[]);
  for (let r = -COLD.warmup; r < rounds; r++) {
    for (let k = 0; k < paths.length; k++) {
      const i = (k + r + COLD.warmup) % paths.length; // rotate the order every round
      const ms = await (paths[i] as (typeof paths)[number]).once();
      if (r >= 0) (samples[i] as number[]).push(ms);
    }
  }
  const s = samples.map(summarize) as [Summary, Summary, Summary, Summary];
  const [raw] = s;
  console.log(`1. cold start: create + first invoke, ms (${rounds} rounds each, interleaved, order rotated)`);
  console.log(table(['path', 'p50', 'p90', 'p99', '× raw p50'], paths.map((p, i) => {
    const x = s[i] as Summary;
    return [p.name, fmt(x.p50), fmt(x.p90), fmt(x.p99), fmt(x.p50 / raw.p50)];
  })));
  return {
    rounds,
    raw: ms3(raw),
    rawWithBootstrap: ms3(s[1]),
    fresh: ms3(s[2]),
    compiled: ms3(s[3]),
    ratioFresh: s[2].p50 / raw.p50,
    ratioCached: s[3].p50 / raw.p50,
  };
}

async function rawCold(code: string, withBootstrap = false): Promise<number> {
  const t0 = performance.now();
  const isolate = new ivm.Isolate({ memoryLimit: MEMORY_MB });
  try {
    const context = await isolate.createContext();
    if (withBootstrap) {
      const timerHost = new ivm.Callback(() => undefined, { ignored: true });
      await context.evalClosure(`return (${guestBootstrapSource()})($0);`, [timerHost], { result: { reference: true } });
    }
    const script = await isolate.compileScript(code);
    const handler = (await script.run(context, { reference: true })) as ivm.Reference<(e: unknown) => Promise<unknown>>;
    await handler.apply(undefined, [{ n: 1 }], { arguments: { copy: true }, result: { promise: true, copy: true } });
    return performance.now() - t0;
  } finally {
    isolate.dispose();
  }
}

async function instanceCold(s: InstanceSpec, cache: CodeCache): Promise<number> {
  const t0 = performance.now();
  const inst = await IsolateInstance.create(s, cache);
  try {
    const out = await inst.invoke(invokeSpec());
    if (!out.ok) throw new Error(`cold invoke failed: ${out.error.code} ${out.error.message}`);
    return performance.now() - t0;
  } finally {
    inst.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Warm invoke in process

async function warmInvoke(base: { code: string; digest: string }, iterations: number) {
  const cache = new CodeCache();
  await primeBootstrap(cache);
  const inst = await IsolateInstance.create(spec(base), cache);
  // The baseline runs on the SAME isolate as the subject, in a second context. Calls alternated
  // across two different isolates differ by up to ±50 µs for identical code (isolated-vm schedules
  // each isolate's work on its own; see the A/A line below), which would swamp a 50 µs bar.
  const isolate = (inst as unknown as { isolate: ivm.Isolate }).isolate;
  const context = await isolate.createContext();
  // The JSON work the guest bridge does around a trivial handler: parse in, stringify out. Called
  // the cheapest way isolated-vm allows, synchronously on this thread, as the runtime's sync-first
  // path does; an async call (a hop to isolated-vm's thread and back) is measured for information.
  const SOURCE = '(function (s) { const e = JSON.parse(s); return JSON.stringify({ ok: true, n: e.n }); })';
  const ASYNC_SOURCE = '(async function (s) { const e = JSON.parse(s); return JSON.stringify({ ok: true, n: e.n }); })';
  const rawRef = (await context.eval(SOURCE, { reference: true })) as ivm.Reference<(s: string) => string>;
  const asyncRef = (await context.eval(ASYNC_SOURCE, { reference: true })) as ivm.Reference<(s: string) => Promise<string>>;
  // A/A gauge: the same raw function on another isolate, paired against the baseline.
  const other = new ivm.Isolate({ memoryLimit: MEMORY_MB });
  const otherRef = (await (await other.createContext()).eval(SOURCE, { reference: true })) as ivm.Reference<(s: string) => string>;
  const aa: number[] = [];
  for (let i = 0; i < Math.min(2000, iterations); i++) {
    let t = performance.now();
    rawRef.applySync(undefined, [EVENT_JSON]);
    const a = performance.now() - t;
    t = performance.now();
    otherRef.applySync(undefined, [EVENT_JSON]);
    aa.push((performance.now() - t - a) * 1000);
  }
  other.dispose();
  const raw = async (): Promise<number> => {
    const t0 = performance.now();
    rawRef.applySync(undefined, [EVENT_JSON]);
    return performance.now() - t0;
  };
  const asyncUs: number[] = [];
  for (let i = -WARM.warmup; i < Math.min(2000, iterations); i++) {
    const t0 = performance.now();
    await asyncRef.apply(undefined, [EVENT_JSON], { result: { promise: true, copy: true } });
    if (i >= 0) asyncUs.push((performance.now() - t0) * 1000);
  }
  const ours = async (): Promise<number> => {
    const t0 = performance.now();
    const out = await inst.invoke(invokeSpec());
    const ms = performance.now() - t0;
    if (!out.ok) throw new Error(`warm invoke failed: ${out.error.code} ${out.error.message}`);
    return ms;
  };
  const rawUs: number[] = [];
  const oursUs: number[] = [];
  for (let i = -WARM.warmup; i < iterations; i++) {
    // Alternate one call of each, swapping which goes first every iteration.
    let r: number;
    let o: number;
    if (i % 2 === 0) {
      r = await raw();
      o = await ours();
    } else {
      o = await ours();
      r = await raw();
    }
    if (i >= 0) {
      rawUs.push(r * 1000);
      oursUs.push(o * 1000);
    }
  }
  inst.dispose();
  const r = summarize(rawUs);
  const o = summarize(oursUs);
  // The bar's estimator: the median of paired differences (each call of ours minus the baseline call
  // next to it). Both calls of a pair share the machine's state, so bursts of noise cancel out; a
  // difference of two separate p50s does not have that property.
  const paired = summarize(oursUs.map((us, i) => us - (rawUs[i] as number)));
  console.log(`\n2. warm invoke in process, µs (${iterations} calls each, alternating)`);
  console.log(table(['path', 'p50', 'p90', 'p99'], [
    ['raw ref.applySync (JSON.parse + JSON.stringify)', fmt(r.p50), fmt(r.p90), fmt(r.p99)],
    ['information: the same work through async ref.apply', fmt(summarize(asyncUs).p50), fmt(summarize(asyncUs).p90), fmt(summarize(asyncUs).p99)],
    ['IsolateInstance.invoke (same handler work)', fmt(o.p50), fmt(o.p90), fmt(o.p99)],
    ['overhead: difference of the two p50s', fmt(o.p50 - r.p50), '', ''],
    ['overhead: paired differences (the bar)', fmt(paired.p50), fmt(paired.p90), fmt(paired.p99)],
    ['A/A gauge: same raw function, other isolate − this one', fmt(summarize(aa).p50), '', ''],
  ]));
  return { iterations, rawUs: us3(r), rawAsyncUs: us3(summarize(asyncUs)), instanceUs: us3(o), overheadUs: paired.p50, overheadOfP50sUs: o.p50 - r.p50 };
}

// ---------------------------------------------------------------------------------------------
// 3. Production path through IsolateRunner (information)

async function runnerPath(base: { code: string; digest: string }, fresh: Fresh, coldRounds: number, warmIterations: number, cycles: number) {
  const runner = new IsolateRunner({ processes: 1, sweepMs: 60_000 });
  await runner.ready();
  const pid = runner.stats().processes[0]?.pid ?? -1;
  try {
    const warmFn = fnVersion('warm', base);
    for (let i = 0; i < RUNNER.warmup; i++) await invokeOk(runner, warmFn, 'warm', i > 0);

    // Cold: a never-run function each round, alternating never-seen and already-known digests;
    // removed afterwards so the pool stays small.
    const coldFresh: number[] = [];
    const coldKnown: number[] = [];
    for (let i = 0; i < coldRounds; i++) {
      const order = i % 2 === 0 ? ['fresh', 'known'] : ['known', 'fresh'];
      for (const kind of order) {
        const name = `cold-${kind}-${i}`;
        const fn = fnVersion(name, kind === 'fresh' ? fresh() : base);
        const ms = await invokeOk(runner, fn, 'cold', true);
        (kind === 'fresh' ? coldFresh : coldKnown).push(ms);
        runner.remove(name);
      }
    }
    const warmMs: number[] = [];
    for (let i = 0; i < warmIterations; i++) warmMs.push(await invokeOk(runner, warmFn, 'warm', true));

    const f = summarize(coldFresh);
    const k = summarize(coldKnown);
    const w = summarize(warmMs);
    console.log(`\n3. production path, IsolateRunner over IPC to 1 sandbox process, ms (information, no bar)`);
    console.log(table(['path', 'p50', 'p90', 'p99', 'n'], [
      ['cold, never-seen digest (code sent over IPC)', fmt(f.p50), fmt(f.p90), fmt(f.p99), String(f.n)],
      ['cold, digest already in the process', fmt(k.p50), fmt(k.p90), fmt(k.p99), String(k.n)],
      ['warm', fmt(w.p50, 3), fmt(w.p90, 3), fmt(w.p99, 3), String(w.n)],
    ]));

    // What a load+remove cycle leaves behind in the sandbox process: same digest vs a new one each time.
    const known = await retainedPerCycle(runner, pid, cycles, () => base);
    const fresher = await retainedPerCycle(runner, pid, cycles, fresh);
    console.log(`   sandbox RSS growth over ${cycles} load+remove cycles: same digest ${fmt(known.kb)} KB/cycle (${mb(known.before)} → ${mb(known.after)} MB), ` +
      `new digest each ${fmt(fresher.kb)} KB/cycle (${mb(fresher.before)} → ${mb(fresher.after)} MB)`);
    return { coldFresh: ms3(f), coldKnown: ms3(k), warm: ms3(w), retainedKbPerCycle: { sameDigest: known.kb, newDigest: fresher.kb, cycles } };
  } finally {
    await runner.close(1000);
  }
}

async function retainedPerCycle(runner: IsolateRunner, pid: number, cycles: number, code: () => { code: string; digest: string }) {
  const before = await settledRss(pid);
  for (let i = 0; i < cycles; i++) {
    const name = `cycle-${++cycleNames}`;
    await invokeOk(runner, fnVersion(name, code()), 'cold', true);
    runner.remove(name);
  }
  await sleep(300);
  const after = await settledRss(pid);
  return { before, after, kb: (after - before) / 1024 / cycles };
}
let cycleNames = 0;

let invocation = 0;
function meta(): InvocationMeta {
  return { invocationId: `bench-${++invocation}`, correlationId: 'bench', deadline: Date.now() + 10_000 };
}

async function invokeOk(runner: IsolateRunner, fn: FunctionVersion, expected: 'cold' | 'warm', check: boolean): Promise<number> {
  const t0 = performance.now();
  const out = await runner.invoke(fn, EVENT_JSON, meta());
  const ms = performance.now() - t0;
  if (!out.ok) throw new Error(`runner invoke of ${fn.name} failed: ${out.error.code} ${out.error.message}`);
  if (check && out.start !== expected) throw new Error(`runner invoke of ${fn.name} was ${out.start}, expected ${expected}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// 4. Warm sandbox memory

async function warmMemory(fresh: Fresh, n: number) {
  console.log(`\n4. warm sandbox memory: ${n} warm instances of a small function`);
  // (a) n distinct functions (distinct digests), one sandbox process.
  const distinct = await runnerMemory(n, fresh, 'distinct');
  // (b) one function kept warm n times (scaling.minWarm), one digest.
  const minWarm = await runnerMemory(n, fresh, 'minWarm');
  console.log(table(['sandbox process (IsolateRunner, 1 process)', 'RSS before MB', 'RSS after MB', 'Δ per instance MB'], [
    [`${n} functions, distinct digests, memoryMb ${MEMORY_MB}`, fmt(distinct.beforeMb), fmt(distinct.afterMb), fmt(distinct.perInstanceMb)],
    [`1 function, minWarm ${n}, memoryMb ${MEMORY_MB}`, fmt(minWarm.beforeMb), fmt(minWarm.afterMb), fmt(minWarm.perInstanceMb)],
  ]));

  // In process: where the memory goes, ours vs a raw isolate, at several memory limits.
  const rows: string[][] = [];
  const inProcess: Record<string, unknown>[] = [];
  for (const limit of MEM.limits) {
    for (const kind of ['raw', 'instance'] as const) {
      const m = await probeMemory(kind, limit, n);
      inProcess.push({ kind, memoryMb: limit, ...m });
      rows.push([`${kind === 'raw' ? 'raw isolate + context + bundle' : 'IsolateInstance (warm)'}, memoryMb ${limit}`, fmt(m.rssMb), fmt(m.usedMb), fmt(m.totalMb), fmt(m.physicalMb), fmt(m.externalMb)]);
    }
  }
  console.log(`\n   in process, per isolate (${n} alive at once, a fresh process per row; heap figures from getHeapStatistics)`);
  console.log(table(['isolate', 'RSS Δ MB', 'heap used', 'heap total', 'physical', 'external'], rows));
  return { instances: n, runnerMbPerInstance: distinct.perInstanceMb, distinct, minWarm, inProcess };
}

async function runnerMemory(n: number, fresh: Fresh, mode: 'distinct' | 'minWarm') {
  const runner = new IsolateRunner({ processes: 1, sweepMs: 60_000 });
  await runner.ready();
  const pid = runner.stats().processes[0]?.pid ?? -1;
  try {
    // A first instance pays the process's one-time costs (bootstrap transpile, isolated-vm threads).
    await invokeOk(runner, fnVersion('mem-warmup', fresh()), 'cold', true);
    const before = await settledRss(pid);
    if (mode === 'distinct') {
      for (let i = 0; i < n; i++) await invokeOk(runner, fnVersion(`mem-${i}`, fresh()), 'cold', true);
    } else {
      const fn = fnVersion('mem-pool', fresh(), { scaling: { minWarm: n, maxInstances: n } });
      await runner.activate(fn);
      // n concurrent invocations take the n pre-warmed instances, each once it has loaded.
      await Promise.all(Array.from({ length: n }, () => invokeOk(runner, fn, 'cold', false)));
      const pool = runner.stats().instances['mem-pool'];
      if ((pool?.idle ?? 0) !== n) throw new Error(`expected ${n} idle instances of mem-pool, saw ${JSON.stringify(pool)}`);
    }
    await sleep(300);
    const after = await settledRss(pid);
    return { beforeMb: before / 2 ** 20, afterMb: after / 2 ** 20, perInstanceMb: (after - before) / 2 ** 20 / n };
  } finally {
    await runner.close(1000);
  }
}

/** One configuration in a fresh child process (bench/lib/memory-probe.ts). */
function probeMemory(kind: 'raw' | 'instance', memoryMb: number, n: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./lib/memory-probe.ts', import.meta.url)), [kind, String(memoryMb), String(n), HANDLER], {
      execArgv: ['--no-node-snapshot', '--expose-gc', '--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ProbeResult | undefined;
    child.once('message', (m: ProbeResult) => {
      result = m;
    });
    child.once('error', reject);
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`memory probe ${kind} ${memoryMb} MB exited with ${code}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// helpers

// ---------------------------------------------------------------------------------------------
// 5. Information: cold start of a larger bundle, by when its code cache was produced

const LARGE_ROUNDS = 60;

/**
 * A function bundling zod (bench/fixtures/large-bundle, ~650 KB): create + first invoke in process,
 * from a code cache produced at compile time (the second create produces it) against one produced
 * again after an invocation settled (IsolateInstance.recacheCode, as a sandbox process does once a
 * version compiled twice runs such an invocation). Rounds alternate.
 */
async function largeBundle(rounds: number) {
  const pre = await bundleFunction({ entry: 'index.ts', dir: fileURLToPath(new URL('./fixtures/large-bundle/', import.meta.url)), maxBytes: 5 * 1024 * 1024 });
  const bundle = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': pre.code }, maxBytes: 5 * 1024 * 1024 });
  const atCompile = new CodeCache();
  const afterRun = new CodeCache();
  await primeBootstrap(atCompile);
  await primeBootstrap(afterRun);
  // Two creates each (the second produces the compile-time cache); then, for afterRun, an invocation.
  for (const cache of [atCompile, afterRun]) for (let i = 0; i < 2; i++) (await IsolateInstance.create(spec(bundle), cache)).dispose();
  const first = await IsolateInstance.create(spec(bundle), afterRun);
  const out = await first.invoke(invokeSpec());
  if (!out.ok) throw new Error(`large bundle failed: ${out.error.code} ${out.error.message}`);
  first.recacheCode();
  first.dispose();
  const paths = [
    { name: 'code cache produced at compile time', cache: atCompile, ms: [] as number[] },
    { name: 'code cache produced after an invocation (recacheCode)', cache: afterRun, ms: [] as number[] },
  ];
  for (let r = -5; r < rounds; r++) {
    for (const p of r % 2 === 0 ? paths : [...paths].reverse()) {
      const ms = await instanceCold(spec(bundle), p.cache);
      if (r >= 0) p.ms.push(ms);
    }
  }
  const [c, a] = paths.map((p) => summarize(p.ms)) as [Summary, Summary];
  console.log(`\n5. cold start of a larger bundle (zod, ${Math.round(bundle.code.length / 1024)} KB), create + first invoke in process, ms (${rounds} rounds each, alternating; information)`);
  console.log(table(['path', 'p50', 'p90', 'p99', 'cache KB'], [
    [paths[0]?.name ?? '', fmt(c.p50), fmt(c.p90), fmt(c.p99), fmt(atCompile.byteLength(bundle.digest) / 1024)],
    [paths[1]?.name ?? '', fmt(a.p50), fmt(a.p90), fmt(a.p99), fmt(afterRun.byteLength(bundle.digest) / 1024)],
  ]));
  return { bundleKb: bundle.code.length / 1024, atCompile: ms3(c), afterRun: ms3(a), ratio: a.p50 / c.p50 };
}

function spec(f: { code: string; digest: string }): InstanceSpec {
  return { name: 'bench', version: 1, digest: f.digest, code: f.code, memoryMb: MEMORY_MB, env: {}, initTimeoutMs: 5000 };
}

function invokeSpec(): InvokeSpec {
  return { invocationId: `bench-${++invocation}`, correlationId: 'bench', eventJson: EVENT_JSON, deadline: Date.now() + 10_000, maxResultBytes: 1 << 20, maxLogBytes: 65_536 };
}

function fnVersion(name: string, f: { code: string; digest: string }, manifest: Partial<ManifestInput> = {}): FunctionVersion {
  return { name, version: 1, digest: f.digest, code: f.code, manifest: parseManifest({ name, ...manifest }), files: {}, deployedAt: new Date(0).toISOString() };
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** VmRSS of a process from /proc: the median of three samples 50 ms apart. */
async function settledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(50);
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for pid ${pid}`);
    samples.push(Number(m[1]) * 1024);
  }
  return samples.sort((a, b) => a - b)[1] as number;
}

function ivmVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../node_modules/isolated-vm/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function ms3(s: Summary) {
  return { p50: s.p50, p90: s.p90, p99: s.p99, n: s.n };
}

function us3(s: Summary) {
  return { p50: s.p50, p90: s.p90, p99: s.p99, n: s.n };
}

function mb(bytes: number): string {
  return fmt(bytes / 2 ** 20);
}
