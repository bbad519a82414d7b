/**
 * A Redis server of a test file's own that the test can kill -9 and start again with its data, with
 * an append-only file synced on every write (what a production Redis that must not forget
 * acknowledged writes runs with), on a fixed port: a local `redis-server` in a temp dir, else a
 * Docker container (`docker kill`, then `docker start`). Neither: it throws, naming why, so the test
 * fails rather than skips.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../scripts/services/free-port.ts';
import { pingRedis } from '../../scripts/services/redis.ts';
import { guardTempDir, releaseTempDir, spawnSupervised, waitUntilAnswers, type Supervised } from '../../scripts/services/supervise.ts';

export interface DedicatedRedis {
  url: string;
  /** SIGKILL: the server dies with its clients' connections. */
  crash(): Promise<void>;
  /** Starts it again on the same port and data (the append-only file is replayed). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDedicatedRedis(): Promise<DedicatedRedis> {
  const binary = await promisify(execFile)('sh', ['-c', 'command -v redis-server']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  if (binary !== '') return startLocal(binary);
  try {
    return await startDocker();
  } catch (err) {
    throw new Error(`this test kills a Redis server of its own and starts it again: it needs redis-server on PATH or a Docker engine (${(err as Error).message})`, { cause: err });
  }
}

/** redis:7-alpine with the same settings; its host port is fixed, so the started-again container answers there. */
async function startDocker(): Promise<DedicatedRedis> {
  const { GenericContainer, getContainerRuntimeClient } = await import('testcontainers');
  const runtime = await getContainerRuntimeClient();
  const port = await freePort();
  const container = await new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
    .withExposedPorts({ container: 6379, host: port })
    .start();
  const url = `redis://${container.getHost()}:${port}`;
  await pingRedis(url, 10_000);
  const handle = runtime.container.getById(container.getId());
  return {
    url,
    crash: async () => {
      await handle.kill({ signal: 'SIGKILL' });
    },
    restart: async () => {
      await handle.start();
      await waitForPing(url);
    },
    stop: async () => {
      await container.stop();
    },
  };
}

async function waitForPing(url: string): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      return await pingRedis(url, 1000);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function startLocal(binary: string): Promise<DedicatedRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'faas-redis-crash-'));
  guardTempDir(dir);
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: Supervised | undefined;
  const start = async () => {
    proc = spawnSupervised('redis-server', binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    await waitUntilAnswers(proc, () => pingRedis(url, 1000), 15_000);
  };
  await start();
  return {
    url,
    crash: async () => {
      if (proc !== undefined && !proc.hasExited()) process.kill(proc.pid, 'SIGKILL');
      await proc?.stop(0);
    },
    restart: start,
    stop: async () => {
      await proc?.stop();
      await releaseTempDir(dir);
    },
  };
}
