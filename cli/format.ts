/**
 * Terminal formatting for the CLI: borderless tables, sizes, durations, relative times, and the
 * parsing of human time inputs (`--since 5m`). Pure functions, so they are tested without a process.
 */
import Table from 'cli-table3';

/** A kubectl-style table: no borders, no colours (output is often piped), two spaces between columns. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const t = new Table({
    head: [...head],
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  for (const row of rows) t.push([...row]);
  return t.toString().split('\n').map((line) => line.trimEnd()).join('\n');
}

/**
 * Label/value lines with the values in one column (as `kubectl describe` prints them): the labels
 * padded to the longest, two spaces after it. A value of several lines keeps them under the column.
 */
export function fields(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows
    .map(([label, value]) => `${label.padEnd(width)}  ${value.replace(/\n/g, `\n${' '.repeat(width + 2)}`)}`.trimEnd())
    .join('\n');
}

/** A rate in records/s, precise for small rates: "0", "0.15", "12.3", "1480". */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '?';
  const abs = Math.abs(perSecond);
  if (abs === 0) return '0';
  if (abs < 1) return perSecond.toFixed(2);
  if (abs < 100) return perSecond.toFixed(1);
  return String(Math.round(perSecond));
}

/** 2100 → "2.1 kB" (SI units, as `ls -h --si` and npm print them). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Milliseconds as "0.42 ms", "12.3 ms", "1.52 s", "2m 05s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
}

/** A timestamp (epoch ms or ISO string) as epoch ms, or NaN. */
export function toEpochMs(value: string | number | undefined): number {
  if (value === undefined) return Number.NaN;
  if (typeof value === 'number') return value;
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}

/** "just now", "42s ago", "5m ago", "3h ago", "2d ago"; dates in the future say "in …". */
export function relativeTime(value: string | number | undefined, now: number = Date.now()): string {
  const at = toEpochMs(value);
  if (Number.isNaN(at)) return '-';
  const diff = now - at;
  const abs = Math.abs(diff);
  if (abs < 1000) return 'just now';
  const text = abs < 60_000 ? `${Math.floor(abs / 1000)}s`
    : abs < 3_600_000 ? `${Math.floor(abs / 60_000)}m`
    : abs < 86_400_000 ? `${Math.floor(abs / 3_600_000)}h`
    : `${Math.floor(abs / 86_400_000)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** ISO 8601 for a timestamp, or the raw value when it is not one. */
export function isoTime(value: string | number): string {
  const at = toEpochMs(value);
  return Number.isNaN(at) ? String(value) : new Date(at).toISOString();
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` input as epoch ms: an epoch-ms integer as the API takes it, a duration back from now
 * ("90s", "5m", "1h30m", "2d"), or an ISO date. Throws a message fit for a usage error.
 */
export function parseSince(input: string, now: number = Date.now()): number {
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
    let total = 0;
    for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(n) * (UNIT_MS[unit ?? 'ms'] ?? 1);
    return Math.round(now - total);
  }
  const date = Date.parse(text);
  if (!Number.isNaN(date) && /\d{4}-\d{2}-\d{2}/.test(text)) return date;
  throw new Error(`expected epoch milliseconds, a duration such as 30s, 5m, 2h or 1d, or an ISO date; got "${input}"`);
}

/** First 8 characters of an id, enough to tell invocations apart in a log. */
export function shortId(id: string | undefined): string {
  if (id === undefined || id === '') return '-'.padEnd(8);
  return id.length <= 8 ? id.padEnd(8) : id.slice(0, 8);
}

/** Pretty JSON for stdout; `undefined` (empty answer) prints as nothing. */
export function prettyJson(value: unknown): string {
  return value === undefined ? '' : `${JSON.stringify(value, null, 2)}\n`;
}
