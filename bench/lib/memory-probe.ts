/**
 * Child process for the in-process memory breakdown of bench/cold-warm.ts: one configuration per
 * fresh process, so pages freed by an earlier configuration cannot hide the next one's RSS.
 * argv: <raw|instance> <memoryMb> <n>. Replies with one IPC message and exits.
 */
import ivm from 'isolated-vm';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { CodeCache } from '../../sandbox/code-cache.ts';
import { IsolateInstance } from '../../sandbox/isolate-instance.ts';
import { collect, sleep } from './stats.ts';

export interface ProbeResult {
  rssMb: number;
  usedMb: number;
  totalMb: number;
  physicalMb: number;
  externalMb: number;
}

const [kind = 'instance', memoryArg = '64', countArg = '50', handler = 'export default async (e) => e'] = process.argv.slice(2);
const memoryMb = Number(memoryArg);
const n = Number(countArg);
const base = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': handler }, maxBytes: 1_000_000 });
const cache = new CodeCache();

async function one(i: number): Promise<{ isolate: ivm.Isolate; dispose(): void }> {
  const tag = `\n// ${i}`;
  if (kind === 'raw') {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    const context = await isolate.createContext();
    const script = await isolate.compileScript(`${base.code}.default${tag}`);
    const fn = (await script.run(context, { reference: true })) as ivm.Reference<(e: unknown) => Promise<unknown>>;
    await fn.apply(undefined, [{ n: 1 }], { arguments: { copy: true }, result: { promise: true, copy: true } });
    return { isolate, dispose: () => isolate.dispose() };
  }
  const inst = await IsolateInstance.create({ name: 'probe', version: 1, digest: String(i), code: base.code + tag, memoryMb, env: {}, initTimeoutMs: 5000 }, cache);
  const out = await inst.invoke({ invocationId: `p${i}`, correlationId: 'p', eventJson: '{"n":1}', deadline: Date.now() + 5000, maxResultBytes: 1 << 20, maxLogBytes: 65_536 });
  if (!out.ok) throw new Error(`probe invoke failed: ${out.error.code}`);
  // The isolate is private to IsolateInstance; read here only for its heap statistics.
  return { isolate: (inst as unknown as { isolate: ivm.Isolate }).isolate, dispose: () => inst.dispose() };
}

// One throw-away instance first: one-time costs (bootstrap transpile, isolated-vm threads).
(await one(-1)).dispose();
collect();
await sleep(100);
const before = process.memoryUsage.rss();
const live: { isolate: ivm.Isolate; dispose(): void }[] = [];
for (let i = 0; i < n; i++) live.push(await one(i));
collect();
await sleep(100);
const after = process.memoryUsage.rss();
const sum = { used: 0, total: 0, physical: 0, external: 0 };
for (const { isolate } of live) {
  const h = isolate.getHeapStatisticsSync();
  sum.used += h.used_heap_size;
  sum.total += h.total_heap_size;
  sum.physical += h.total_physical_size;
  sum.external += h.externally_allocated_size;
}
for (const l of live) l.dispose();
const per = (b: number) => b / 2 ** 20 / n;
const result: ProbeResult = { rssMb: per(after - before), usedMb: per(sum.used), totalMb: per(sum.total), physicalMb: per(sum.physical), externalMb: per(sum.external) };
process.send?.(result, () => process.exit(0));
