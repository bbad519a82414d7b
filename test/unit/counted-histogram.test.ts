/**
 * CountedHistogram.observeCounted(labels, v, n) exposes exactly what n observe(labels, v) calls do
 * (buckets, count, and sum up to rounding), also past the last bucket and beside other label sets. It reaches into
 * prom-client's histogram entries: this fails if a prom-client upgrade changes them.
 */
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CountedHistogram } from '../../scheduler/counted-histogram.ts';

const config = { name: 'h_seconds', help: 'h', labelNames: ['function', 'start'] as const, buckets: [0.001, 0.01, 0.1] };
const samples: [Record<'function' | 'start', string>, number, number][] = [
  [{ function: 'a', start: 'warm' }, 0.0004, 1000],
  [{ function: 'a', start: 'warm' }, 0.05, 7],
  [{ function: 'a', start: 'cold' }, 0.01, 1], // on a bound
  [{ function: 'b', start: 'warm' }, 3, 250], // past the last bucket: +Inf only
  [{ function: 'b', start: 'warm' }, 0.002, 0], // nothing
];

async function exposition(observe: (h: CountedHistogram<'function' | 'start'>) => void): Promise<string> {
  const registry = new client.Registry();
  const h = new CountedHistogram({ ...config, registers: [registry] });
  observe(h);
  return registry.metrics();
}

describe('CountedHistogram', () => {
  it('observeCounted(v, n) exposes what n observe(v) do', async () => {
    const counted = await exposition((h) => {
      for (const [labels, v, n] of samples) h.observeCounted(labels, v, n);
    });
    const repeated = await exposition((h) => {
      for (const [labels, v, n] of samples) for (let i = 0; i < n; i++) h.observe(labels, v);
    });
    // Sums compared to 12 significant digits: n additions of v drift from v × n in the last bits.
    const rounded = (text: string) => text.replace(/(_sum\{[^}]*\} )(\S+)/g, (_, k: string, v: string) => `${k}${Number(Number(v).toPrecision(12))}`);
    expect(rounded(counted)).toBe(rounded(repeated));
    expect(counted).toContain('h_seconds_count{function="a",start="warm"} 1007');
    expect(counted).toContain('h_seconds_bucket{le="0.1",function="b",start="warm"} 0');
    expect(counted).toContain('h_seconds_bucket{le="+Inf",function="b",start="warm"} 250');
  });

  it('rejects what observe() rejects, and then counts nothing', async () => {
    const registry = new client.Registry();
    const h = new CountedHistogram({ ...config, registers: [registry] });
    expect(() => h.observeCounted({ function: 'a', start: 'warm' }, Number.NaN, 5)).toThrow(/not a valid number/);
    expect(() => h.observeCounted({ function: 'a', nope: 'x' } as never, 1, 5)).toThrow(/label/);
    expect(await registry.metrics()).not.toContain('h_seconds_count');
  });
});
