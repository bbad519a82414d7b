import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { guardTempDir, releaseTempDir, spawnSupervised, waitUntilAnswers } from './supervise.ts';
import type { Log, StartedService } from './types.ts';

/** Connects once, sends PING, disconnects; rejects when the server does not answer PONG in time. */
export async function pingRedis(url: string, timeoutMs = 3000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects with a bare "Connection is closed."; the 'error' event says why (ECONNREFUSED…).
  let cause: Error | undefined;
  client.on('error', (err: Error) => {
    cause = err;
  });
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING reply ${String(pong)}`);
  } catch (err) {
    throw cause ?? err;
  } finally {
    client.disconnect();
  }
}

/** REDIS_URL given in env: verified, never stopped. */
export async function useRedisFromEnv(url: string, log: Log): Promise<StartedService> {
  try {
    await pingRedis(url);
  } catch (err) {
    throw new Error(`REDIS_URL=${url} does not answer PING: ${(err as Error).message}`, { cause: err });
  }
  log(`redis: REDIS_URL ${url}`);
  return { address: url, how: 'env', stop: async () => undefined };
}

export async function startRedisDocker(log: Log): Promise<StartedService> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  const url = container.getConnectionUrl();
  await pingRedis(url);
  log(`redis: docker redis:7-alpine on ${url}`);
  return {
    address: url,
    how: 'docker',
    stop: async () => {
      await container.stop();
    },
  };
}

/** `redis-server` on a free loopback port, no persistence, its working dir a temp dir. */
export async function startRedisLocal(binary: string, log: Log): Promise<StartedService> {
  const dir = await mkdtemp(join(tmpdir(), 'faas-redis-'));
  guardTempDir(dir);
  let lastError: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const port = await freePort();
    const proc = spawnSupervised('redis-server', binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ]);
    const url = `redis://127.0.0.1:${port}`;
    try {
      await waitUntilAnswers(proc, () => pingRedis(url, 1000), 15_000);
    } catch (err) {
      lastError = err;
      await proc.stop(0);
      // A port taken between freePort() and bind() is the one failure worth one retry.
      if (/in use/i.test(proc.output())) continue;
      break;
    }
    log(`redis: local redis-server on 127.0.0.1:${port}`);
    return {
      address: url,
      how: 'local',
      stop: async () => {
        await proc.stop();
        await releaseTempDir(dir);
      },
    };
  }
  await releaseTempDir(dir);
  throw new Error(`redis-server did not start: ${(lastError as Error).message}`, { cause: lastError });
}
