/**
 * Issue 4: the overhead of one direct-call hop (caller → callee → caller, all warm) next to a single
 * function doing both steps, in the same run, on the production path (IsolateRunner: sandbox
 * processes over IPC; the in-memory stores, so no network is measured).
 *
 * - single:  one function computes step A and step B itself.
 * - chained: the caller computes step A, `await ctx.invoke(callee, …)` computes step B, and the
 *            caller returns the callee's answer.
 * Both do the same JSON work. Each sample is one sequential invocation through `Invoker.invoke`
 * (what the gateway and triggers call); calls alternate single/chained so drift hits both, after a
 * warm-up that makes every instance warm. Reported: p50/p99 of each, the p50 of paired differences
 * (chained − single: the hop's overhead), and the ratio of medians. No bar is set by the brief.
 * For information, the same with a chain of 4 (depth 4: three hops).
 */
import type { Runtime } from '../runtime/create-runtime.ts';
import { deploy, startBenchRuntime } from './lib/runtime.ts';
import { fmt, summarize, table } from './lib/stats.ts';

export const description = 'direct-call hop (caller → callee → caller, warm) vs a single function doing both steps (issue 4)';

const STEP = `const step = (x) => ({ n: x.n + 1, tag: 'step' + x.n, items: [x.n, x.n * 2, x.n * 3] });`;
const SINGLE = `${STEP}\nexport default async (e) => step(step(e.data));`;
const caller = (callee: string) => `${STEP}\nexport default async (e, ctx) => ctx.invoke('${callee}', step(e.data));`;
const CALLEE = `${STEP}\nexport default async (e) => step(e.data);`;

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const iterations = quick ? 500 : 4000;
  const warmup = quick ? 100 : 500;
  const rt = await startBenchRuntime({ FAAS_SANDBOX_PROCESSES: '1' });
  try {
    await deploy(rt, 'bench-single', SINGLE);
    await deploy(rt, 'bench-callee', CALLEE);
    await deploy(rt, 'bench-caller', caller('bench-callee'));
    // A chain of 4: c1 → c2 → c3 → c4 (c4 does only step B; c2 and c3 pass through).
    await deploy(rt, 'bench-c4', CALLEE);
    await deploy(rt, 'bench-c3', `export default async (e, ctx) => ctx.invoke('bench-c4', e.data);`);
    await deploy(rt, 'bench-c2', `export default async (e, ctx) => ctx.invoke('bench-c3', e.data);`);
    await deploy(rt, 'bench-c1', caller('bench-c2'));

    const once = async (name: string): Promise<number> => {
      const t0 = performance.now();
      const r = await rt.invoker.invoke(name, { data: { n: 1 } });
      const ms = performance.now() - t0;
      if (r.error) throw r.error;
      if (r.resultJson !== '{"n":3,"tag":"step2","items":[2,4,6]}') throw new Error(`${name} answered ${r.resultJson}`);
      return ms;
    };
    for (let i = 0; i < warmup; i++) for (const n of ['bench-single', 'bench-caller', 'bench-c1']) await once(n);

    const single: number[] = [];
    const chained: number[] = [];
    const chain4: number[] = [];
    const diffs: number[] = [];
    const diffs4: number[] = [];
    for (let i = 0; i < iterations; i++) {
      // Rotate the order so neither path always runs right after the other.
      const order = i % 2 === 0 ? (['s', 'c', 'd'] as const) : (['d', 'c', 's'] as const);
      const t: Record<string, number> = {};
      for (const k of order) t[k] = await once(k === 's' ? 'bench-single' : k === 'c' ? 'bench-caller' : 'bench-c1');
      single.push(t.s as number);
      chained.push(t.c as number);
      chain4.push(t.d as number);
      diffs.push((t.c as number) - (t.s as number));
      diffs4.push((t.d as number) - (t.s as number));
    }
    report(rt, { single, chained, chain4, diffs, diffs4 });
  } finally {
    await rt.stop();
  }
}

function report(rt: Runtime, r: Record<'single' | 'chained' | 'chain4' | 'diffs' | 'diffs4', number[]>): void {
  const us = (ms: number) => fmt(ms * 1000);
  const s = summarize(r.single);
  const c = summarize(r.chained);
  const d = summarize(r.chain4);
  const hop = summarize(r.diffs);
  const hop4 = summarize(r.diffs4);
  console.log(`direct-call: node ${process.version}, ${navigator.hardwareConcurrency} cores, ${rt.config.FAAS_SANDBOX_PROCESSES} sandbox process, ${s.n} paired samples\n`);
  console.log(table(['path', 'p50 µs', 'p99 µs', 'mean µs'], [
    ['single function, both steps (baseline)', us(s.p50), us(s.p99), us(s.mean)],
    ['caller → callee → caller (1 hop)', us(c.p50), us(c.p99), us(c.mean)],
    ['chain of 4 functions (3 hops)', us(d.p50), us(d.p99), us(d.mean)],
  ]));
  console.log('');
  console.log(`hop overhead, p50 of paired differences: ${us(hop.p50)} µs (p99 ${us(hop.p99)} µs); chained/single p50 ratio ${fmt(c.p50 / s.p50)}×`);
  console.log(`chain of 4, per hop: ${us(hop4.p50 / 3)} µs (p50 of paired differences / 3)`);
  console.log(JSON.stringify({ bench: 'direct-call', singleP50Us: s.p50 * 1000, chainedP50Us: c.p50 * 1000, hopOverheadP50Us: hop.p50 * 1000, ratio: c.p50 / s.p50, perHopChain4Us: (hop4.p50 / 3) * 1000 }));
}
