/**
 * In-memory activity store (recent console output per function, async invocation records):
 * the embedded default. state/redis-activity.ts is the cluster-wide one.
 */
import type { ActivityStore, InvocationRecord, LogEntry, TraceHop } from './ports.ts';

/** Hops kept per correlation, and correlations kept in memory (the oldest go first). */
export const TRACE_LIMITS = { hops: 1000, traces: 10_000 } as const;

export class MemoryActivityStore implements ActivityStore {
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly invocations = new Map<string, { rec: InvocationRecord; expires: number }>();
  /** In order of last append: expired and surplus traces are swept from the front. */
  private readonly traces = new Map<string, { hops: TraceHop[]; expires: number }>();
  private readonly retention: number;
  private readonly ttlMs: number;

  constructor(options: { retention: number; invocationTtlMs: number }) {
    this.retention = options.retention;
    this.ttlMs = options.invocationTtlMs;
  }

  async appendLogs(fn: string, entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const list = this.logs.get(fn) ?? [];
    list.push(...entries);
    if (list.length > this.retention) list.splice(0, list.length - this.retention);
    this.logs.set(fn, list);
  }

  async readLogs(fn: string, opts: { sinceTs?: number; limit: number; invocationId?: string }): Promise<LogEntry[]> {
    return selectLogs(this.logs.get(fn) ?? [], opts);
  }

  async appendHops(hops: TraceHop[]): Promise<void> {
    const now = Date.now();
    for (const h of hops) {
      const t = this.traces.get(h.correlationId) ?? { hops: [], expires: 0 };
      this.traces.delete(h.correlationId);
      t.hops.push(h);
      if (t.hops.length > TRACE_LIMITS.hops) t.hops.splice(0, t.hops.length - TRACE_LIMITS.hops);
      t.expires = now + this.ttlMs;
      this.traces.set(h.correlationId, t);
    }
    for (const [id, t] of this.traces) {
      if (t.expires >= now && this.traces.size <= TRACE_LIMITS.traces) break;
      this.traces.delete(id);
    }
  }

  async readTrace(correlationId: string): Promise<TraceHop[]> {
    const t = this.traces.get(correlationId);
    return t && t.expires >= Date.now() ? [...t.hops].sort((a, b) => a.ts - b.ts) : [];
  }

  async putInvocation(rec: InvocationRecord): Promise<void> {
    const now = Date.now();
    for (const [id, v] of this.invocations) if (v.expires < now) this.invocations.delete(id);
    this.invocations.set(rec.id, { rec, expires: now + this.ttlMs });
  }

  async getInvocation(id: string): Promise<InvocationRecord | undefined> {
    const v = this.invocations.get(id);
    return v && v.expires >= Date.now() ? v.rec : undefined;
  }

  async deleteFunction(fn: string): Promise<void> {
    this.logs.delete(fn);
  }

  async close(): Promise<void> {}
}

/** Shared by both stores: entries after sinceTs, optionally of one invocation, the newest `limit`. */
export function selectLogs(all: readonly LogEntry[], opts: { sinceTs?: number; limit: number; invocationId?: string }): LogEntry[] {
  const since = opts.sinceTs ?? -Infinity;
  const hits = all.filter((e) => e.ts > since && (opts.invocationId === undefined || e.invocationId === opts.invocationId));
  return hits.slice(Math.max(0, hits.length - opts.limit));
}
