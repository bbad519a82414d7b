/**
 * Issue 3: webhook → function → response, requests/s next to a bare fastify route answering the same
 * JSON in the same run (DESIGN.md "Performance bars": ≥ 0.7× its req/s).
 *
 * Both servers live in this process, on loopback; the load client (autocannon, closed loop,
 * CONNECTIONS connections, POST of a small JSON body) runs in a child process. Runs alternate
 * (baseline, ours, baseline, ours), each after an unreported warm-up of that target.
 * - baseline: `fastify()` with one POST route returning `{ ok: true }`.
 * - floor: a bare fastify route that runs the same handler in an isolate in a sandbox process
 *   (bench/lib/floor.ts: one process hop and one isolate call per request, nothing else), lanes
 *   round-robin over FLOOR_LANES isolates.
 * - ours: the runtime's gateway, a function with a sync webhook trigger whose handler returns
 *   `{ ok: true }` (no signature, no delivery-id header: the replay store is not touched).
 * - `--layers` adds two rows between the floor and ours, for where ours spends its time: a bare
 *   fastify route calling the runtime's sandbox runner directly (IsolateRunner.invoke with a
 *   minimal event), and one calling its invoker (Invoker.invoke: ids, scopes, envelope, metrics).
 */
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';
import { FloorSandboxes } from './lib/floor.ts';
import { httpLoad, type LoadResult } from './lib/load.ts';
import { cpuBetween, cpuSample, deploy, startBenchRuntime, type BenchRuntime, type CpuUse } from './lib/runtime.ts';
import { bar, fmt, formatBar, median, table, type Bar } from './lib/stats.ts';

export const description = 'webhook req/s and latency vs a bare fastify route, autocannon on loopback (issue 3)';

const CONNECTIONS = 50;
const SECONDS = 10;
const WARMUP_SECONDS = 2;
const ROUNDS = 2;
const PATH = 'bench/echo';
const HANDLER = 'export default async () => ({ ok: true });';
const BODY = JSON.stringify({ n: 1, kind: 'bench' });

const FLOOR_LANES = 4;

interface Run extends LoadResult {
  path: 'baseline' | 'floor' | 'runner' | 'invoker' | 'ours';
  cpu: CpuUse;
}
const LABEL: Record<Run['path'], string> = {
  baseline: 'baseline: bare fastify route',
  floor: 'floor: fastify + IPC + isolate, no runtime',
  runner: 'info: fastify → our sandbox runner',
  invoker: 'info: fastify → our invoker',
  ours: 'ours: sync webhook → function',
};

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const paths: Run['path'][] = args.includes('--layers') ? ['baseline', 'floor', 'runner', 'invoker', 'ours'] : ['baseline', 'floor', 'ours'];
  const seconds = quick ? 3 : SECONDS;
  const rounds = quick ? 1 : ROUNDS;
  const started = performance.now();
  let rt: BenchRuntime | undefined;
  const bare = Fastify();
  bare.post(`/hooks/${PATH}`, async () => ({ ok: true }));
  let floor: FloorSandboxes | undefined;
  const floorRoute = Fastify();
  const layers = Fastify();
  let lane = 0;
  floorRoute.post(`/hooks/${PATH}`, async (req, reply) => {
    const results = await (floor as FloorSandboxes).call(lane++ % FLOOR_LANES, `[${JSON.stringify(req.body)}]`);
    return reply.type('application/json').send(results.slice(1, -1));
  });
  try {
    rt = await startBenchRuntime();
    floor = await FloorSandboxes.start(rt.runner.stats().processes.length);
    await deploy(rt, 'bench-webhook', HANDLER, { triggers: [{ type: 'webhook', path: PATH, mode: 'sync' }] });
    const runtime = rt;
    const fn = await runtime.invoker.resolve('bench-webhook');
    layers.post(`/runner/${PATH}`, async (req, reply) => {
      const id = randomUUID();
      const out = await runtime.runner.invoke(fn, `{"id":"${id}","data":${JSON.stringify(req.body)}}`, { invocationId: id, correlationId: id, deadline: Date.now() + fn.manifest.limits.timeoutMs });
      return reply.type('application/json').send(out.ok ? out.resultJson : 'null');
    });
    layers.post(`/invoker/${PATH}`, async (req, reply) => {
      const result = await runtime.invoker.invoke('bench-webhook', { data: req.body });
      return reply.type('application/json').send(result.resultJson ?? 'null');
    });
    const oursUrl = `${rt.url}/hooks/${PATH}`;
    const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}/hooks/${PATH}`;
    const floorUrl = `${await floorRoute.listen({ host: '127.0.0.1', port: 0 })}/hooks/${PATH}`;
    const layersUrl = await layers.listen({ host: '127.0.0.1', port: 0 });
    const urls: Record<Run['path'], string> = { baseline: bareUrl, floor: floorUrl, runner: `${layersUrl}/runner/${PATH}`, invoker: `${layersUrl}/invoker/${PATH}`, ours: oursUrl };
    for (const path of paths) await check(urls[path]);
    const sandboxes = rt.runner.stats().processes.map((p) => p.pid);
    console.log(`webhook: node ${process.version}, ${navigator.hardwareConcurrency} cores, ${sandboxes.length} sandbox processes, autocannon ${CONNECTIONS} connections, ${seconds} s per run, POST ${BODY.length} B JSON\n`);

    const load = (url: string, s: number) => httpLoad({ url, connections: CONNECTIONS, seconds: s, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    const runs: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const path of paths) {
        const url = urls[path];
        const pids = { sandbox: path === 'floor' ? floor.pids : sandboxes };
        await load(url, WARMUP_SECONDS);
        const before = cpuSample(pids);
        const res = await load(url, seconds);
        runs.push({ ...res, path, cpu: cpuBetween(before, cpuSample(pids)) });
        console.error(`  round ${r + 1} ${path}: ${fmt(res.reqPerS)} req/s`);
      }
    }
    const of = (p: Run['path']) => runs.filter((x) => x.path === p);
    const medianOf = (p: Run['path']) => median(of(p).map((x) => x.reqPerS));
    const ratio = medianOf('ours') / medianOf('baseline');
    const roundRatios = (p: Run['path']) => Array.from({ length: rounds }, (_, i) => (runs[paths.length * i + paths.indexOf(p)] as Run).reqPerS / (runs[paths.length * i] as Run).reqPerS);
    const perRound = roundRatios('ours');
    const floorRatio = medianOf('floor') / medianOf('baseline');
    console.log(`requests/s and latency (ms, autocannon: whole ms), ${rounds} alternated runs each`);
    console.log(table(
      ['run', 'req/s', 'p50', 'p90', 'p99', 'max', 'non-2xx', 'errors', 'CPU µs/req: host', 'sandboxes', 'client'],
      runs.map((x, i) => [
        `${Math.floor(i / paths.length) + 1}. ${LABEL[x.path]}`,
        fmt(x.reqPerS),
        fmt(x.latencyMs.p50),
        fmt(x.latencyMs.p90),
        fmt(x.latencyMs.p99),
        fmt(x.latencyMs.max),
        String(x.non2xx),
        String(x.errors),
        fmt((x.cpu.hostS * 1e6) / x.requests),
        fmt(((x.cpu.groupsS['sandbox'] ?? 0) * 1e6) / x.requests),
        fmt((x.clientCpuS * 1e6) / x.requests),
      ]),
    ));
    console.log(`   median req/s: baseline ${fmt(medianOf('baseline'))}, ours ${fmt(medianOf('ours'))} → ${fmt(ratio)}× (per round: ${perRound.map((x) => fmt(x)).join(', ')})`);
    console.log(`   floor: ${fmt(medianOf('floor'))} req/s → ${fmt(floorRatio)}× baseline (per round: ${roundRatios('floor').map((x) => fmt(x)).join(', ')}): what an isolate in a supervised process costs per request with nothing else`);
    const failures = runs.reduce((a, x) => a + x.non2xx + x.errors, 0);
    if (failures > 0) console.log(`   WARNING: ${failures} non-2xx answers or errors`);

    const bars: Bar[] = [bar('webhook → function req/s / bare fastify route (median of runs)', ratio, 'min', 0.7, '×')];
    console.log('\nbars');
    for (const b of bars) console.log(`  ${formatBar(b)}`);
    const total = (performance.now() - started) / 1000;
    console.log(`\ntotal ${total.toFixed(1)} s`);
    const lat = (p: Run['path']) => ({ p50: median(of(p).map((x) => x.latencyMs.p50)), p99: median(of(p).map((x) => x.latencyMs.p99)) });
    console.log(JSON.stringify({
      bench: 'webhook', node: process.version, cores: navigator.hardwareConcurrency, connections: CONNECTIONS, seconds: total,
      baselineReqPerS: medianOf('baseline'), oursReqPerS: medianOf('ours'), ratio, ratioPerRound: perRound, floorReqPerS: medianOf('floor'), floorRatio,
      latencyMs: { baseline: lat('baseline'), ours: lat('ours') }, runs, bars,
    }));
  } finally {
    await bare.close();
    await floorRoute.close();
    await layers.close();
    floor?.stop();
    await rt?.stop();
  }
}

async function check(url: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  const text = await res.text();
  if (res.status !== 200 || JSON.stringify(JSON.parse(text)) !== '{"ok":true}') throw new Error(`${url} answered ${res.status} ${text}`);
}
