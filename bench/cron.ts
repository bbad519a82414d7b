/**
 * Issue 3: cron firing delay on a 1-second schedule, with the runtime's event loop under load and,
 * as the baseline in the same run, without. No bar in DESIGN.md: the figures are reported.
 *
 * One function with a `* * * * * *` cron trigger; its handler logs `{ s: scheduledTime, f: firedAt,
 * h: Date.now() }` (the sandbox's Date.now() is this machine's clock). Blocks of BLOCK_S seconds
 * alternate: quiet, loaded, quiet, loaded, ... Under load a timer in the runtime's process spins the
 * main thread for BUSY_MS, on average every PERIOD_MS at a random phase (a stand-in for CPU-heavy
 * requests or long GC pauses): the main thread is busy BUSY_MS/PERIOD_MS of the time. A tick
 * belongs to the block its scheduledTime falls in.
 * - firedAt − scheduledTime: when the trigger handed the tick to the invoker (timer lateness + fence).
 * - handler − scheduledTime: when the handler ran in the sandbox (adds the invocation's way in).
 * Both on the same clock, whole milliseconds (ISO timestamps and Date.now()).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { deploy, startBenchRuntime, type BenchRuntime } from './lib/runtime.ts';
import { fmt, sleep, summarize, table, type Summary } from './lib/stats.ts';

export const description = 'cron firing delay p50/p99 on a 1 s schedule, event loop busy vs quiet (issue 3)';

const BLOCK_S = 20;
const BLOCKS = 6; // alternating, quiet first: 3 quiet + 3 loaded ≈ 60 ticks each
const BUSY_MS = 30;
const PERIOD_MS = 100;
const HANDLER = `export default async (event) => {
  console.log(JSON.stringify({ s: event.data.scheduledTime, f: event.data.firedAt, h: Date.now() }));
  return null;
};`;

type Condition = 'quiet' | 'loaded';

interface Block {
  condition: Condition;
  start: number;
  end: number;
  loopDelayMs: { p50: number; p99: number; max: number };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const blockS = quick ? 6 : BLOCK_S;
  const blocks = quick ? 2 : BLOCKS;
  const started = performance.now();
  let rt: BenchRuntime | undefined;
  try {
    rt = await startBenchRuntime();
    const name = 'bench-cron';
    console.log(`cron: node ${process.version}, ${navigator.hardwareConcurrency} cores, schedule "* * * * * *", ${blocks} alternating blocks of ${blockS} s, load = ${BUSY_MS} ms busy loop on average every ${PERIOD_MS} ms (random phase) on the runtime's thread\n`);
    await deploy(rt, name, HANDLER, { triggers: [{ type: 'cron', schedule: '* * * * * *' }] });
    await sleep(2500); // the first ticks warm the function's instance; not counted

    const done: Block[] = [];
    for (let b = 0; b < blocks; b++) {
      const condition: Condition = b % 2 === 0 ? 'quiet' : 'loaded';
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      const stopLoad = condition === 'loaded' ? busyLoop(BUSY_MS, PERIOD_MS) : () => undefined;
      const start = Date.now();
      await sleep(blockS * 1000);
      const end = Date.now();
      stopLoad();
      loop.disable();
      done.push({ condition, start, end, loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } });
      console.error(`  block ${b + 1}/${blocks} ${condition} done`);
    }
    await sleep(1500); // let the last tick's invocation finish and its log land

    const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` });
    const ticks = res
      .json<{ entries: { level: string; message: string }[] }>()
      .entries.filter((e) => e.level === 'info' && e.message.startsWith('{'))
      .map((e) => JSON.parse(e.message) as { s: string; f: string; h: number })
      .map((t) => ({ scheduled: Date.parse(t.s), fired: Date.parse(t.f) - Date.parse(t.s), handler: t.h - Date.parse(t.s) }));
    const status = (await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}` })).json<Record<string, unknown>>();

    const rows: string[][] = [];
    const result: Record<string, unknown> = {};
    const expectedPerCondition = done.filter((b) => b.condition === 'quiet').reduce((a, b) => a + Math.round((b.end - b.start) / 1000), 0);
    for (const condition of ['quiet', 'loaded'] as const) {
      const bs = done.filter((b) => b.condition === condition);
      const mine = ticks.filter((t) => bs.some((b) => t.scheduled >= b.start && t.scheduled < b.end));
      const fired = summarize(mine.map((t) => t.fired));
      const handler = summarize(mine.map((t) => t.handler));
      const loopP99 = summarize(bs.map((b) => b.loopDelayMs.p99)).p50;
      const loopMax = Math.max(...bs.map((b) => b.loopDelayMs.max));
      const label = condition === 'quiet' ? 'baseline: event loop quiet' : `event loop busy ${BUSY_MS} ms per ${PERIOD_MS} ms`;
      rows.push([`${label}: firedAt − scheduled`, String(fired.n), fmt(fired.p50), fmt(fired.p90), fmt(fired.p99), fmt(fired.max), fmt(loopP99), fmt(loopMax)]);
      rows.push([`${label}: handler − scheduled`, String(handler.n), fmt(handler.p50), fmt(handler.p90), fmt(handler.p99), fmt(handler.max), '', '']);
      result[condition] = { ticks: mine.length, firedMs: sum4(fired), handlerMs: sum4(handler), loopDelayMs: { p99MedianOfBlocks: loopP99, max: loopMax } };
    }
    console.log(`cron delay, ms (whole ms), ticks by the block their scheduled time fell in (~${expectedPerCondition} per condition)`);
    console.log(table(['condition: delay', 'ticks', 'p50', 'p90', 'p99', 'max', 'loop delay p99', 'loop max'], rows));
    const triggerStatus = status['triggerStatus'];
    const missed = JSON.stringify(triggerStatus ?? {}).match(/"missed":(\d+)/)?.[1];
    console.log(`   missed ticks (trigger status): ${missed ?? 'n/a'}`);
    console.log('\nbars\n  (none in DESIGN.md for cron: reported only)');
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    console.log(JSON.stringify({ bench: 'cron', node: process.version, cores: navigator.hardwareConcurrency, seconds, busyMs: BUSY_MS, periodMs: PERIOD_MS, blockS, blocks: done, ...result, missed: missed === undefined ? null : Number(missed), bars: [] }));
  } finally {
    await rt?.stop();
  }
}

/**
 * Spins the main thread for busyMs, then yields for a random gap averaging periodMs − busyMs (so
 * bursts start every periodMs on average). The gap is random so the bursts do not lock onto the
 * 1-second tick phase: with a fixed 100 ms interval every tick would meet the same phase of it.
 */
function busyLoop(busyMs: number, periodMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const burst = () => {
    const until = performance.now() + busyMs;
    while (performance.now() < until) {
      // hog the event loop
    }
    timer = setTimeout(burst, (periodMs - busyMs) * 2 * Math.random());
  };
  timer = setTimeout(burst, Math.random() * periodMs);
  return () => clearTimeout(timer);
}

function sum4(s: Summary) {
  return { p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, n: s.n };
}
