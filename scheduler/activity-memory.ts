/**
 * In-memory activity store (recent console output per function, async invocation records):
 * the embedded default. state/redis-activity.ts is the cluster-wide one.
 */
import type { ActivityStore, InvocationRecord, LogEntry } from './ports.ts';

export class MemoryActivityStore implements ActivityStore {
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly invocations = new Map<string, { rec: InvocationRecord; expires: number }>();
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
