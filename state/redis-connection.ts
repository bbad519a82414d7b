/**
 * Redis connections with fail-fast settings: commands time out quickly and nothing waits in an
 * unbounded offline queue, so a Redis outage becomes a retriable error, not a hang.
 */
import { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** Per-command timeout. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Name shown in CLIENT LIST. */
  name?: string;
}

export function connectRedis(options: RedisOptions): Redis {
  return new Redis(options.url, {
    connectionName: options.name ?? 'faas-runtime',
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    // Offline commands wait at most commandTimeout, then fail: bounded, never an unbounded backlog.
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(1000, 50 * 2 ** Math.min(times, 5)),
    lazyConnect: false,
  });
}

/** Resolves once connected; rejects after timeoutMs with the last error. */
export async function waitReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError: unknown;
    const onError = (err: unknown) => {
      lastError = err;
    };
    const timer = setTimeout(() => {
      redis.off('error', onError);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms: ${lastError instanceof Error ? lastError.message : 'no connection'}`));
    }, timeoutMs);
    redis.on('error', onError);
    redis.once('ready', () => {
      clearTimeout(timer);
      redis.off('error', onError);
      resolve();
    });
  });
}
