/** In-memory FenceStore: the embedded default (one process). state/redis-fence.ts is the cluster one. */
import type { Clock, FenceStore } from './ports.ts';
import { systemClock } from './ports.ts';

export class MemoryFenceStore implements FenceStore {
  private readonly claims = new Map<string, number>();
  private readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    if (this.claims.size > 10_000) for (const [k, exp] of this.claims) if (exp <= now) this.claims.delete(k);
    const expires = this.claims.get(key);
    if (expires !== undefined && expires > now) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }
}
