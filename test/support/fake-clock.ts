/**
 * A Clock (scheduler/ports.ts) whose time moves only when a test says so: time-based triggers are
 * tested without sleeping. Timers fire in due order, each at its due time.
 */
import type { Clock } from '../../scheduler/ports.ts';

/** Let promise chains started by fired timers run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  constructor(start: string | number) {
    this.t = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => void (this.timers = this.timers.filter((x) => x !== timer)) };
  }

  /** Fire the timers due by `target`, in order, without waiting for what they start. */
  advanceTo(target: number): void {
    for (;;) {
      const due = this.next(target);
      if (due === undefined) break;
      this.fire(due);
    }
    this.t = Math.max(this.t, target);
  }

  /** advanceTo(now + ms). */
  advanceNow(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  /** Move time forward, firing each timer at its due time and letting its work settle in between. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await settle();
      const due = this.next(target);
      if (due === undefined) break;
      this.fire(due);
    }
    this.t = target;
    await settle();
  }

  /** Time passes while no timer can fire (a blocked event loop, a suspended VM); they fire late on the next advance. */
  jump(ms: number): void {
    this.t += ms;
  }

  private next(target: number) {
    return this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
  }

  private fire(timer: { at: number; fn: () => void }): void {
    this.timers = this.timers.filter((x) => x !== timer);
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }
}
