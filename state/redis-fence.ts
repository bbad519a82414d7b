/** FenceStore in Redis: SET key NX PX ttl, so exactly one node of a cluster wins each claim. */
import type { Redis } from 'ioredis';
import type { FenceStore } from '../scheduler/ports.ts';

export class RedisFenceStore implements FenceStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, options: { prefix: string }) {
    this.redis = redis;
    this.prefix = `${options.prefix}fence:`;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.prefix + key, '1', 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }
}
