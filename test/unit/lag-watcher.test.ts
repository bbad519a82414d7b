/**
 * The lag watcher (triggers/lag-watcher.ts) over a fake `EventLog.offsets` (the port is the
 * project's own seam) and a fake clock: lag per partition and where the position comes from,
 * ownership, stuck partitions, rates, and reads that fail or hang.
 */
import { describe, expect, it } from 'vitest';
import type { PartitionLag, StartFrom } from '../../scheduler/event-log.ts';
import { LagWatcher } from '../../triggers/lag-watcher.ts';

/** One partition's offsets, as numbers for brevity; `committed` null = never committed. */
type Offsets = { committed: number | null; start?: number; end: number };

class FakeOffsets {
  calls = 0;
  /** What the next reads answer; a function for reads that hang or fail. */
  answer: () => Promise<PartitionLag[]> = () => Promise.resolve([]);

  set(parts: Offsets[]): void {
    const lags = parts.map((p, partition) => ({ partition, committed: p.committed === null ? null : String(p.committed), start: String(p.start ?? 0), end: String(p.end) }));
    this.answer = () => Promise.resolve(lags);
  }

  offsets = (groupId: string, topic: string): Promise<PartitionLag[]> => {
    expect([groupId, topic]).toEqual(['faas.fn', 'orders']);
    this.calls++;
    return this.answer();
  };
}

function watcher(options: { start?: StartFrom; stuckAfterMs?: number; timeoutMs?: number } = {}) {
  const log = new FakeOffsets();
  const clock = { t: 1_000_000, now(): number { return this.t; } };
  const w = new LagWatcher({
    eventLog: { offsets: log.offsets },
    groupId: 'faas.fn',
    topic: 'orders',
    start: options.start ?? 'earliest',
    stuckAfterMs: options.stuckAfterMs ?? 5000,
    timeoutMs: options.timeoutMs ?? 1000,
    clock,
  });
  return { w, log, clock };
}

describe('LagWatcher: lag per partition', () => {
  it('is the end minus the committed offset, summed into the totals', async () => {
    const { w, log, clock } = watcher();
    log.set([
      { committed: 10, end: 25 },
      { committed: 40, end: 40 },
      { committed: 0, start: 0, end: 7 },
    ]);
    const s = await w.read(undefined, false);
    expect(s.at).toBe(clock.t);
    expect(s.partitions).toEqual([
      { partition: 0, committed: '10', start: '0', end: '25', lag: 15, owned: true, stuck: false },
      { partition: 1, committed: '40', start: '0', end: '40', lag: 0, owned: true, stuck: false },
      { partition: 2, committed: '0', start: '0', end: '7', lag: 7, owned: true, stuck: false },
    ]);
    expect([s.total, s.owned, s.scaling, s.stuckOwned, s.ownedCount]).toEqual([22, 22, 22, 0, 3]);
  });

  it('handles 64-bit offsets exactly', async () => {
    const { w, log } = watcher();
    const big = 2n ** 62n;
    log.answer = () => Promise.resolve([{ partition: 0, committed: String(big), start: String(big - 5n), end: String(big + 3n) }]);
    expect((await w.read(undefined, false)).partitions[0]).toMatchObject({ lag: 3 });
  });

  it('no commit yet, start earliest: the position is the log start (the whole log is lag)', async () => {
    const { w, log } = watcher({ start: 'earliest' });
    log.set([{ committed: null, start: 4, end: 30 }]);
    const s = await w.read(undefined, false);
    expect(s.partitions[0]).toMatchObject({ committed: null, lag: 26, position: 'start-policy' });
  });

  it('no commit yet, start latest: the position is the end (no lag)', async () => {
    const { w, log } = watcher({ start: 'latest' });
    log.set([{ committed: null, start: 4, end: 30 }]);
    const s = await w.read(undefined, false);
    expect(s.partitions[0]).toMatchObject({ committed: null, lag: 0, position: 'start-policy' });
    expect(s.total).toBe(0);
  });

  it('no commit yet, start at a timestamp: counts from the log start (an upper bound)', async () => {
    const { w, log } = watcher({ start: { timestamp: 1 } });
    log.set([{ committed: null, start: 4, end: 30 }]);
    expect((await w.read(undefined, false)).partitions[0]).toMatchObject({ lag: 26, position: 'start-policy' });
  });

  it('a commit below the log start (retention deleted records) resets per the start policy: behind-log', async () => {
    const early = watcher({ start: 'earliest' });
    early.log.set([{ committed: 5, start: 100, end: 150 }]);
    expect((await early.w.read(undefined, false)).partitions[0]).toMatchObject({ committed: '5', lag: 50, position: 'behind-log' });
    const late = watcher({ start: 'latest' });
    late.log.set([{ committed: 5, start: 100, end: 150 }]);
    expect((await late.w.read(undefined, false)).partitions[0]).toMatchObject({ committed: '5', lag: 0, position: 'behind-log' });
  });

  it('a commit above the end (the topic was deleted and re-created) resets per the start policy: ahead-of-log', async () => {
    const early = watcher({ start: 'earliest' });
    early.log.set([{ committed: 500, start: 0, end: 12 }]);
    const s = await early.w.read(undefined, false);
    expect(s.partitions[0]).toMatchObject({ committed: '500', lag: 12, position: 'ahead-of-log' });
    expect(s.total).toBe(12); // never a negative lag
    const late = watcher({ start: 'latest' });
    late.log.set([{ committed: 500, start: 0, end: 12 }]);
    expect((await late.w.read(undefined, false)).partitions[0]).toMatchObject({ lag: 0, position: 'ahead-of-log' });
  });

  it('a commit at either edge of the log is a plain position', async () => {
    const { w, log } = watcher();
    log.set([
      { committed: 100, start: 100, end: 150 },
      { committed: 150, start: 100, end: 150 },
    ]);
    const s = await w.read(undefined, false);
    expect(s.partitions.map((p) => [p.lag, 'position' in p])).toEqual([
      [50, false],
      [0, false],
    ]);
  });
});

describe('LagWatcher: ownership', () => {
  it('counts only the owned partitions for the node, and the whole group in total', async () => {
    const { w, log } = watcher();
    log.set([
      { committed: 0, end: 10 },
      { committed: 0, end: 20 },
      { committed: 0, end: 30 },
      { committed: 0, end: 40 },
    ]);
    const s = await w.read([1, 3], true);
    expect(s.partitions.map((p) => p.owned)).toEqual([false, true, false, true]);
    expect([s.total, s.owned, s.scaling, s.ownedCount]).toEqual([100, 60, 60, 2]);
  });

  it('an empty assignment (this member got no partition) owns none; undefined (at zero, joining) watches all', async () => {
    const { w, log } = watcher();
    log.set([
      { committed: 0, end: 10 },
      { committed: 0, end: 20 },
    ]);
    const none = await w.read([], true);
    expect([none.total, none.owned, none.ownedCount]).toEqual([30, 0, 0]);
    const all = await w.read(undefined, false);
    expect([all.total, all.owned, all.ownedCount]).toEqual([30, 30, 2]);
  });
});

describe('LagWatcher: stuck partitions', () => {
  it('a partition with lag whose position does not move for stuckAfterMs while consumed is stuck', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 5000 });
    log.set([
      { committed: 3, end: 10 }, // never moves
      { committed: 0, end: 50 },
    ]);
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
    clock.t += 4999;
    log.set([
      { committed: 3, end: 10 },
      { committed: 20, end: 50 },
    ]);
    expect((await w.read(undefined, true)).partitions.map((p) => p.stuck)).toEqual([false, false]);
    clock.t += 1;
    log.set([
      { committed: 3, end: 12 }, // more records arrive: the position still did not move
      { committed: 30, end: 50 },
    ]);
    const s = await w.read(undefined, true);
    expect(s.partitions.map((p) => p.stuck)).toEqual([true, false]);
    expect(s.stuckOwned).toBe(1);
    // Its lag is reported, but does not drive the count.
    expect([s.total, s.owned, s.scaling]).toEqual([29, 29, 20]);
  });

  it('is not stuck when it moves: the clock starts again from the new position', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 5000 });
    log.set([{ committed: 3, end: 10 }]);
    await w.read(undefined, true);
    clock.t += 4000;
    log.set([{ committed: 4, end: 10 }]);
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
    clock.t += 4000; // 8 s since the first read, 4 s since it moved
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
    clock.t += 1000;
    expect((await w.read(undefined, true)).stuckOwned).toBe(1);
  });

  it('is never stuck without lag', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 1000 });
    log.set([{ committed: 10, end: 10 }]);
    for (let i = 0; i < 5; i++) {
      expect((await w.read(undefined, true)).stuckOwned).toBe(0);
      clock.t += 1000;
    }
  });

  it('is never stuck while no consumer runs (at zero, lag waits below activationLag)', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 1000 });
    log.set([{ committed: 3, end: 10 }]);
    for (let i = 0; i < 5; i++) {
      expect((await w.read(undefined, false)).stuckOwned).toBe(0);
      clock.t += 1000;
    }
    // The consumer starts: the stuck clock starts with it, not with the first read.
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
    clock.t += 999;
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
    clock.t += 1;
    expect((await w.read(undefined, true)).stuckOwned).toBe(1);
  });

  it('is only stuck on owned partitions; another node may be slow on its own', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 1000 });
    log.set([
      { committed: 3, end: 10 },
      { committed: 3, end: 10 },
    ]);
    await w.read([1], true);
    clock.t += 2000;
    const s = await w.read([1], true);
    expect(s.partitions.map((p) => p.stuck)).toEqual([false, true]);
    expect(s.stuckOwned).toBe(1);
    // A rebalance gives it partition 0 too: its clock starts now, not when it was first seen.
    clock.t += 2000;
    expect((await w.read([0, 1], true)).partitions.map((p) => p.stuck)).toEqual([false, true]);
    clock.t += 999;
    expect((await w.read([0, 1], true)).partitions.map((p) => p.stuck)).toEqual([false, true]);
    clock.t += 1;
    expect((await w.read([0, 1], true)).stuckOwned).toBe(2);
  });

  it('resetMotion() forgets how long positions stood still (the consumer restarted)', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 1000 });
    log.set([{ committed: 3, end: 10 }]);
    await w.read(undefined, true);
    clock.t += 2000;
    expect((await w.read(undefined, true)).stuckOwned).toBe(1);
    w.resetMotion();
    expect((await w.read(undefined, true)).stuckOwned).toBe(0);
  });
});

describe('LagWatcher: rates', () => {
  it('measures records produced and processed per second (EWMA), the lag change, and the time to drain', async () => {
    const { w, log, clock } = watcher();
    log.set([
      { committed: 0, end: 100 },
      { committed: 0, end: 0 },
    ]);
    const first = await w.read(undefined, true);
    expect(first.rates).toEqual({ produced: 0, processed: 0, lagChange: 0, drainSeconds: null }); // nothing to compare with
    clock.t += 1000;
    log.set([
      { committed: 50, end: 150 },
      { committed: 0, end: 50 },
    ]);
    // +100 produced, +50 processed in 1 s; after one half-life (1 s) the new rate weighs 0.5.
    const second = await w.read(undefined, true);
    expect(second.rates).toEqual({ produced: 50, processed: 25, lagChange: 25, drainSeconds: null }); // growing: no drain estimate
    clock.t += 2000;
    log.set([
      { committed: 150, end: 150 },
      { committed: 30, end: 50 },
    ]);
    // +0 produced, +130 processed in 2 s = 65/s; two half-lives: weight 0.75. Produced 0.25 × 50 =
    // 12.5, processed 0.75 × 65 + 0.25 × 25 = 55: lag 20 shrinking at 42.5/s drains in 0.47 s.
    const third = await w.read(undefined, true);
    expect(third.total).toBe(20);
    expect(third.rates).toEqual({ produced: 12.5, processed: 55, lagChange: -42.5, drainSeconds: 0.47 });
    clock.t += 1000;
    log.set([
      { committed: 150, end: 150 },
      { committed: 50, end: 50 },
    ]);
    const drained = await w.read(undefined, true);
    expect(drained.total).toBe(0);
    expect(drained.rates.drainSeconds).toBe(0);
  });

  it('a position that goes back (a reset) or an end that goes back (a re-created topic) counts no negative rate', async () => {
    const { w, log, clock } = watcher();
    log.set([{ committed: 80, end: 100 }]);
    await w.read(undefined, true);
    clock.t += 1000;
    log.set([{ committed: 500, end: 10 }]); // re-created: end went back; the commit is ahead of the log
    const s = await w.read(undefined, true);
    expect(s.partitions[0]).toMatchObject({ lag: 10, position: 'ahead-of-log' });
    expect(s.rates.produced).toBe(0);
    expect(s.rates.processed).toBe(0);
  });

  it('two reads at the same instant do not divide by zero', async () => {
    const { w, log } = watcher();
    log.set([{ committed: 0, end: 10 }]);
    await w.read(undefined, true);
    log.set([{ committed: 5, end: 20 }]);
    const s = await w.read(undefined, true);
    expect(Number.isFinite(s.rates.produced) && Number.isFinite(s.rates.processed)).toBe(true);
    expect(s.rates).toEqual({ produced: 0, processed: 0, lagChange: 0, drainSeconds: null });
  });
});

describe('LagWatcher: reads that fail', () => {
  it('a read that never answers throws the timeout error; a read meanwhile does not call offsets again', async () => {
    const { w, log } = watcher({ timeoutMs: 50 });
    let answer: (v: PartitionLag[]) => void = () => undefined;
    log.answer = () => new Promise<PartitionLag[]>((resolve) => (answer = resolve));
    const t0 = Date.now();
    await expect(w.read(undefined, true)).rejects.toThrow('lag read of orders got no answer within 50 ms');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(log.calls).toBe(1);
    // The first read still hangs: the next polls wait on it (and time out) instead of piling up reads.
    await expect(w.read(undefined, true)).rejects.toThrow(/no answer within 50 ms/);
    await expect(w.read(undefined, true)).rejects.toThrow(/no answer within 50 ms/);
    expect(log.calls).toBe(1);
    // Two polls at once share the read too.
    const both = await Promise.allSettled([w.read(undefined, true), w.read(undefined, true)]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(log.calls).toBe(1);
    // It answers at last: a read in flight gets that answer; the one after reads afresh.
    const waiting = w.read(undefined, true);
    answer([{ partition: 0, committed: '1', start: '0', end: '4' }]);
    expect((await waiting).total).toBe(3);
    expect(log.calls).toBe(1);
    log.set([{ committed: 2, end: 4 }]);
    expect((await w.read(undefined, true)).total).toBe(2);
    expect(log.calls).toBe(2);
  });

  it('a read that fails throws its error, and the next read tries again', async () => {
    const { w, log } = watcher();
    log.answer = () => Promise.reject(new Error('There is no leader for this topic-partition'));
    await expect(w.read(undefined, true)).rejects.toThrow('There is no leader for this topic-partition');
    log.set([{ committed: 0, end: 1 }]);
    expect((await w.read(undefined, true)).total).toBe(1);
    expect(log.calls).toBe(2);
  });

  it('an empty partition list (the topic is missing) throws a clear error', async () => {
    const { w, log } = watcher();
    log.answer = () => Promise.resolve([]);
    await expect(w.read(undefined, true)).rejects.toThrow('topic "orders" does not exist (deleted?)');
  });

  it('a failed read leaves the rates and stuck clocks as they were', async () => {
    const { w, log, clock } = watcher({ stuckAfterMs: 1000 });
    log.set([{ committed: 3, end: 10 }]);
    await w.read(undefined, true);
    const good = log.answer;
    log.answer = () => Promise.reject(new Error('broker down'));
    clock.t += 600;
    await expect(w.read(undefined, true)).rejects.toThrow('broker down');
    log.answer = good;
    clock.t += 600;
    expect((await w.read(undefined, true)).stuckOwned).toBe(1); // 1200 ms since the first good read
  });
});
