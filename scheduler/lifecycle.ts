/** Explicit node lifecycle: starting → running → draining → stopped. Shutdown drains. */
export type LifecycleState = 'starting' | 'running' | 'draining' | 'stopped';

const NEXT: Record<LifecycleState, LifecycleState[]> = {
  starting: ['running', 'draining', 'stopped'],
  running: ['draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

export class Lifecycle {
  private current: LifecycleState = 'starting';
  get state(): LifecycleState {
    return this.current;
  }
  /** Moves forward only; returns false when the move is not allowed (e.g. a second SIGTERM). */
  to(next: LifecycleState): boolean {
    if (!NEXT[this.current].includes(next)) return false;
    this.current = next;
    return true;
  }
  get acceptingWork(): boolean {
    return this.current === 'running';
  }
}
