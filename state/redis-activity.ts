/**
 * Activity store in Redis, so `faas logs` and async invocation results are the same on every
 * node: `logs:<fn>` a capped list of JSON entries; `inv:<id>` a JSON record with a TTL;
 * `trace:<correlation id>` a capped list of hops whose TTL restarts with each hop.
 */
import type { Redis } from 'ioredis';
import { selectLogs, TRACE_LIMITS } from '../scheduler/activity-memory.ts';
import type { ActivityStore, InvocationRecord, LogEntry, TraceHop } from '../scheduler/ports.ts';

export class RedisActivityStore implements ActivityStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly retention: number;
  private readonly ttlS: number;

  constructor(redis: Redis, options: { prefix: string; retention: number; invocationTtlS: number }) {
    this.redis = redis;
    this.prefix = options.prefix;
    this.retention = options.retention;
    this.ttlS = options.invocationTtlS;
  }

  async appendLogs(fn: string, entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const key = `${this.prefix}logs:${fn}`;
    await this.redis.multi().rpush(key, ...entries.map((e) => JSON.stringify(e))).ltrim(key, -this.retention, -1).exec();
  }

  async readLogs(fn: string, opts: { sinceTs?: number; limit: number; invocationId?: string }): Promise<LogEntry[]> {
    const raw = await this.redis.lrange(`${this.prefix}logs:${fn}`, 0, -1);
    return selectLogs(raw.map((r) => JSON.parse(r) as LogEntry), opts);
  }

  async appendHops(hops: TraceHop[]): Promise<void> {
    if (hops.length === 0) return;
    const byTrace = new Map<string, string[]>();
    for (const h of hops) byTrace.set(h.correlationId, [...(byTrace.get(h.correlationId) ?? []), JSON.stringify(h)]);
    const tx = this.redis.multi();
    for (const [id, list] of byTrace) {
      const key = `${this.prefix}trace:${id}`;
      tx.rpush(key, ...list).ltrim(key, -TRACE_LIMITS.hops, -1).expire(key, this.ttlS);
    }
    await tx.exec();
  }

  async readTrace(correlationId: string): Promise<TraceHop[]> {
    const raw = await this.redis.lrange(`${this.prefix}trace:${correlationId}`, 0, -1);
    return raw.map((r) => JSON.parse(r) as TraceHop).sort((a, b) => a.ts - b.ts);
  }

  async putInvocation(rec: InvocationRecord): Promise<void> {
    await this.redis.set(`${this.prefix}inv:${rec.id}`, JSON.stringify(rec), 'EX', this.ttlS);
  }

  async getInvocation(id: string): Promise<InvocationRecord | undefined> {
    const raw = await this.redis.get(`${this.prefix}inv:${id}`);
    return raw === null ? undefined : (JSON.parse(raw) as InvocationRecord);
  }

  async deleteFunction(fn: string): Promise<void> {
    await this.redis.del(`${this.prefix}logs:${fn}`);
  }

  async close(): Promise<void> {}
}
