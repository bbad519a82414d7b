/**
 * Registry conformance: the same behaviour from the in-memory registry and the Redis one
 * (a real Redis, a random key prefix per test).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import type { FunctionRegistry, RegistryChange } from '../../scheduler/ports.ts';
import { MemoryRegistry } from '../../scheduler/registry-memory.ts';
import { connectRedis } from '../../state/redis-connection.ts';
import { RedisRegistry } from '../../state/redis-registry.ts';
import { testRedisUrl } from '../support/env.ts';
import { eventually } from '../support/runtime.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function fnDoc(name: string, code = 'x') {
  return { name, digest: `d-${code}`, manifest: parseManifest({ name }), code, files: { 'index.ts': code } };
}

type Factory = () => Promise<FunctionRegistry>;

function redisFactory(prefix = `faas-test-${randomBytes(4).toString('hex')}:`): Factory {
  return async () => {
    const redis: Redis = connectRedis({ url: testRedisUrl() });
    const reg = new RedisRegistry(redis, { prefix, resyncMs: 200 });
    await reg.ready();
    cleanups.push(async () => {
      await reg.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    return reg;
  };
}

const factories: [string, Factory][] = [
  ['memory', async () => new MemoryRegistry()],
  ['redis', redisFactory()],
];

describe.each(factories)('registry conformance: %s', (_kind, make) => {
  it('assigns increasing versions, lists by name and returns the current version', async () => {
    const reg = await make();
    const v1 = await reg.put(fnDoc('beta', 'one'));
    const v2 = await reg.put(fnDoc('beta', 'two'));
    await reg.put(fnDoc('alpha'));
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect((await reg.get('beta'))?.code).toBe('two');
    expect(reg.cached('beta')?.version).toBe(2);
    expect((await reg.list()).map((f) => f.name)).toEqual(['alpha', 'beta']);
  });

  it('deletes, and says whether there was anything to delete', async () => {
    const reg = await make();
    await reg.put(fnDoc('gone'));
    expect(await reg.delete('gone')).toBe(true);
    expect(await reg.delete('gone')).toBe(false);
    expect(await reg.get('gone')).toBeUndefined();
    expect(reg.cached('gone')).toBeUndefined();
  });

  it('tells watchers about deploys and deletes', async () => {
    const reg = await make();
    const seen: RegistryChange[] = [];
    const stop = reg.watch((c) => seen.push(c));
    await reg.put(fnDoc('w'));
    await reg.delete('w');
    stop();
    await reg.put(fnDoc('w'));
    await eventually(() => seen.length >= 2);
    expect(seen.map((c) => c.kind)).toEqual(['deployed', 'deleted']);
  });
});

describe('redis registry across nodes', () => {
  it('a deploy on one node is visible on another within a second, without a restart', async () => {
    const prefix = `faas-test-${randomBytes(4).toString('hex')}:`;
    const a = await redisFactory(prefix)();
    const b = await redisFactory(prefix)();
    const changes: RegistryChange[] = [];
    b.watch((c) => changes.push(c));
    const t0 = Date.now();
    await a.put(fnDoc('shared', 'v1'));
    await eventually(() => b.cached('shared'), 1000, 5);
    expect(Date.now() - t0).toBeLessThan(1000);
    await a.put(fnDoc('shared', 'v2'));
    await eventually(() => b.cached('shared')?.version === 2, 1000, 5);
    await a.delete('shared');
    await eventually(() => b.cached('shared') === undefined, 1000, 5);
    expect(changes.map((c) => c.kind)).toEqual(['deployed', 'deployed', 'deleted']);
  });

  it('racing deploys of one name settle on the highest version everywhere', async () => {
    const prefix = `faas-test-${randomBytes(4).toString('hex')}:`;
    const nodes = await Promise.all([redisFactory(prefix)(), redisFactory(prefix)(), redisFactory(prefix)()]);
    const results = await Promise.all(nodes.flatMap((n, i) => [n.put(fnDoc('race', `a${i}`)), n.put(fnDoc('race', `b${i}`))]));
    const top = Math.max(...results.map((r) => r.version));
    for (const n of nodes) {
      expect((await n.get('race'))?.version).toBe(top);
      await eventually(() => n.cached('race')?.version === top, 2000);
    }
  });
});
