/**
 * The lag watcher of one lag trigger: reads the group's committed offsets against the log's ends
 * (EventLog.offsets: admin reads only, it never writes an offset) and derives what the scaler needs.
 *
 * - Per partition: the lag from the group's position. With no commit the position follows the
 *   start policy (earliest: the log start; latest: the end); a commit outside the log (retention
 *   deleted records, or the topic was deleted and re-created) resets as the consumer will.
 * - Rates (exponential averages, half-life 1 s): records produced, processed, the lag's change;
 *   time to drain.
 * - Stuck partitions: lag that has not moved for `stuckAfterMs` while a consumer ran on it.
 * - Health: a read that fails or takes longer than `timeoutMs` throws; the caller keeps its last
 *   decision. A read still hanging (a broker that stopped answering) is not doubled up.
 */
import type { EventLog, PartitionLag, StartFrom } from '../scheduler/event-log.ts';
import type { Clock } from '../scheduler/ports.ts';
import type { PartitionScale } from '../scheduler/scale-registry.ts';

export interface LagSample {
  at: number;
  partitions: PartitionScale[];
  total: number;
  owned: number;
  /** Lag of owned partitions that are not stuck: what drives the instance count. */
  scaling: number;
  stuckOwned: number;
  ownedCount: number;
  rates: { produced: number; processed: number; lagChange: number; drainSeconds: number | null };
}

export interface LagWatcherOptions {
  eventLog: Pick<EventLog, 'offsets'>;
  groupId: string;
  topic: string;
  start: StartFrom;
  stuckAfterMs: number;
  timeoutMs: number;
  clock: Pick<Clock, 'now'>;
}

/**
 * Half-life of the rate averages, in seconds: a measurement's weight halves every second whatever
 * pollMs is (a per-poll weight made the rates forget within one 100 ms poll).
 */
const RATE_HALF_LIFE_S = 1;

export class LagWatcher {
  private readonly o: LagWatcherOptions;
  private pending: Promise<PartitionLag[]> | undefined;
  private last: { at: number; positions: Map<number, bigint>; ends: Map<number, bigint> } | undefined;
  private readonly unmoved = new Map<number, { position: bigint; since: number }>();
  private rates = { produced: 0, processed: 0 };

  constructor(options: LagWatcherOptions) {
    this.o = options;
  }

  /**
   * One read. `owned`: the partitions this node's consumer owns (undefined = all of them, as while
   * at zero or joining); `consuming`: a consumer runs, so unmoved lag can be stuck.
   */
  async read(owned: readonly number[] | undefined, consuming: boolean): Promise<LagSample> {
    const offsets = await this.fetch();
    const now = this.o.clock.now();
    if (offsets.length === 0) throw new Error(`topic "${this.o.topic}" does not exist (deleted?)`);
    const mine = owned === undefined ? undefined : new Set(owned);
    const positions = new Map<number, bigint>();
    const ends = new Map<number, bigint>();
    const partitions: PartitionScale[] = offsets.map((p) => {
      const { position, note } = this.position(p);
      const lag = Number(BigInt(p.end) - position);
      positions.set(p.partition, position);
      ends.set(p.partition, BigInt(p.end));
      const isOwned = mine === undefined || mine.has(p.partition);
      const stuck = this.stuck(p.partition, position, lag, now, consuming && isOwned);
      return { partition: p.partition, committed: p.committed, start: p.start, end: p.end, lag, owned: isOwned, stuck, ...(note ? { position: note } : {}) };
    });
    this.updateRates(now, positions, ends);
    const total = partitions.reduce((s, p) => s + p.lag, 0);
    const ownedParts = partitions.filter((p) => p.owned);
    const owned_ = ownedParts.reduce((s, p) => s + p.lag, 0);
    const stuckOwned = ownedParts.filter((p) => p.stuck).length;
    const scaling = ownedParts.filter((p) => !p.stuck).reduce((s, p) => s + p.lag, 0);
    const net = this.rates.processed - this.rates.produced;
    const drainSeconds = total === 0 ? 0 : net > 0.01 ? total / net : null;
    return {
      at: now,
      partitions,
      total,
      owned: owned_,
      scaling,
      stuckOwned,
      ownedCount: ownedParts.length,
      rates: { produced: round(this.rates.produced), processed: round(this.rates.processed), lagChange: round(this.rates.produced - this.rates.processed), drainSeconds: drainSeconds === null ? null : round(drainSeconds) },
    };
  }

  /** Forget rate and stuck history (after the consumer started or stopped). */
  resetMotion(): void {
    this.unmoved.clear();
  }

  private async fetch(): Promise<PartitionLag[]> {
    // A read still hanging (a paused broker answers nothing until its sockets time out) is awaited
    // again rather than doubled: the caller sees the same timeout every poll until it answers.
    this.pending ??= this.o.eventLog.offsets(this.o.groupId, this.o.topic).finally(() => {
      this.pending = undefined;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`lag read of ${this.o.topic} got no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    });
    try {
      return await Promise.race([this.pending, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private position(p: PartitionLag): { position: bigint; note?: PartitionScale['position'] } {
    const start = BigInt(p.start);
    const end = BigInt(p.end);
    const reset = this.o.start === 'latest' ? end : start; // a timestamp start counts from the log start: an upper bound
    if (p.committed === null) return { position: reset, note: 'start-policy' };
    const committed = BigInt(p.committed);
    if (committed < start) return { position: reset, note: 'behind-log' };
    if (committed > end) return { position: reset, note: 'ahead-of-log' };
    return { position: committed };
  }

  private stuck(partition: number, position: bigint, lag: number, now: number, watching: boolean): boolean {
    // Time counts only while a consumer runs on it: an unwatched read must not start the clock, or
    // a partition that becomes owned (a wake, a rebalance) would carry the time it sat unconsumed.
    if (!watching) {
      this.unmoved.delete(partition);
      return false;
    }
    const seen = this.unmoved.get(partition);
    if (lag <= 0 || seen === undefined || seen.position !== position) {
      this.unmoved.set(partition, { position, since: now });
      return false;
    }
    return now - seen.since >= this.o.stuckAfterMs;
  }

  private updateRates(now: number, positions: Map<number, bigint>, ends: Map<number, bigint>): void {
    const last = this.last;
    this.last = { at: now, positions, ends };
    if (last === undefined || now <= last.at) return;
    const seconds = (now - last.at) / 1000;
    let produced = 0n;
    let processed = 0n;
    for (const [p, end] of ends) {
      const before = last.ends.get(p);
      if (before !== undefined && end >= before) produced += end - before;
      const pos = positions.get(p) as bigint;
      const posBefore = last.positions.get(p);
      if (posBefore !== undefined && pos >= posBefore) processed += pos - posBefore;
    }
    const w = 1 - 0.5 ** (seconds / RATE_HALF_LIFE_S);
    this.rates.produced = w * (Number(produced) / seconds) + (1 - w) * this.rates.produced;
    this.rates.processed = w * (Number(processed) / seconds) + (1 - w) * this.rates.processed;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
