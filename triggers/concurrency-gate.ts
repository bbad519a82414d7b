/**
 * A semaphore whose size changes while it runs: a lag trigger's instances. Raising the limit lets
 * waiting work start at once (scale-out takes effect within the current fetch, no rebalance);
 * lowering it lets running work finish and starts nothing new until the count is below the limit.
 */
export class ConcurrencyGate {
  private limitNow: number;
  private running = 0;
  private readonly waiting: { start: () => void }[] = [];
  private fetchEpoch = 0;

  constructor(limit: number) {
    this.limitNow = limit;
  }

  get limit(): number {
    return this.limitNow;
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Changes when work holding or waiting for a slot should end early so the consumer fetches again. */
  get epoch(): number {
    return this.fetchEpoch;
  }

  /**
   * Scale-out: work admitted before ends at its next series (≤ 64 records) (committing what it did). The
   * consumer fetches only after every batch of its last fetch returned, so lag that arrived on other
   * partitions meanwhile would otherwise wait for the longest batch in flight.
   */
  refetch(): void {
    this.fetchEpoch++;
  }

  resize(limit: number): void {
    this.limitNow = Math.max(0, limit);
    this.pump();
  }

  /**
   * Run `work` once a slot is free. If `stillWanted()` is false by then (the partition was revoked,
   * the consumer is stopping), the work is skipped and `undefined` answered.
   */
  async run<T>(stillWanted: () => boolean, work: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.limitNow || this.waiting.length > 0) {
      await new Promise<void>((start) => {
        this.waiting.push({ start });
        this.pump();
      });
    } else {
      this.running++;
    }
    try {
      if (!stillWanted()) return undefined;
      return await work();
    } finally {
      this.running--;
      this.pump();
    }
  }

  /** Wake every waiter without a slot check (they see stillWanted() false and leave): stopping. */
  releaseAll(): void {
    for (const w of this.waiting.splice(0)) {
      this.running++;
      w.start();
    }
  }

  private pump(): void {
    while (this.running < this.limitNow && this.waiting.length > 0) {
      this.running++;
      (this.waiting.shift() as { start: () => void }).start();
    }
  }
}
