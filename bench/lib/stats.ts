/**
 * Helpers shared by benchmarks: percentiles on sorted samples, bars with PASS/FAIL, a plain text
 * table. No dependencies: every benchmark prints readable rows and one final JSON line.
 */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.length > 0 ? sum / s.length : Number.NaN,
  };
}

export interface Bar {
  name: string;
  measured: number;
  limit: number;
  unit: string;
  /** 'max': measured must be ≤ limit; 'min': measured must be ≥ limit. */
  kind: 'max' | 'min';
  pass: boolean;
}

export function bar(name: string, measured: number, kind: Bar['kind'], limit: number, unit: string): Bar {
  const pass = Number.isFinite(measured) && (kind === 'max' ? measured <= limit : measured >= limit);
  return { name, measured, limit, unit, kind, pass };
}

export function formatBar(b: Bar): string {
  const op = b.kind === 'max' ? '≤' : '≥';
  return `${b.pass ? 'PASS' : 'FAIL'}  ${b.name}: ${fmt(b.measured)} ${b.unit} (bar ${op} ${b.limit} ${b.unit})`;
}

/** A fixed number of significant-ish decimals for table cells. */
export function fmt(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return String(n);
  const d = digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toFixed(d);
}

/** Left-aligned first column, right-aligned others. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Forces a full collection when node runs with --expose-gc (npm run bench does). */
export function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The median, averaging the two middle values of an even count (for a handful of run totals). */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
