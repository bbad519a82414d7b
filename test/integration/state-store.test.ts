/**
 * State-store conformance: the in-memory store and the Redis one (real Redis, random prefix) behave
 * the same: operations, TTLs, atomic write sets, the effectively-once fence, namespace isolation
 * against hostile keys, limits, and a Redis that does not answer.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import { MemoryStateStore } from '../../scheduler/state-memory.ts';
import { functionNamespace, sharedNamespace, STATE_LIMITS, type StateStore } from '../../scheduler/state-store.ts';
import { connectRedis } from '../../state/redis-connection.ts';
import { RedisStateStore } from '../../state/redis-state.ts';
import { testRedisUrl } from '../support/env.ts';
import { eventually } from '../support/runtime.ts';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

function redisStore(): StateStore {
  const prefix = `faas-state-${randomBytes(4).toString('hex')}:`;
  const redis = connectRedis({ url: testRedisUrl(), name: 'state-test' });
  closers.push(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return new RedisStateStore(redis, { prefix });
}

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'no error', (e: unknown) => (e instanceof FaasError ? e.code : `not a FaasError: ${String(e)}`));
}

const A = functionNamespace('orders');
const B = functionNamespace('payments');

describe.each([
  ['memory', () => new MemoryStateStore()],
  ['redis', redisStore],
] as const)('state store conformance: %s', (_kind, make) => {
  it('sets, gets, deletes and expires JSON values', async () => {
    const s = make();
    expect(await s.apply(A, [{ op: 'set', key: 'order:1', value: '{"total":42}' }, { op: 'set', key: 'tmp', value: '"x"', ttlMs: 50 }])).toBe(true);
    expect(await s.get(A, 'order:1')).toBe('{"total":42}');
    await eventually(async () => (await s.get(A, 'tmp')) === null, 2000, 20);
    await s.apply(A, [{ op: 'delete', key: 'order:1' }]);
    expect(await s.get(A, 'order:1')).toBeNull();
  });

  it('increments and decrements integers, and keeps maps', async () => {
    const s = make();
    await s.apply(A, [{ op: 'incr', key: 'count', by: 5 }, { op: 'incr', key: 'count', by: -2 }, { op: 'hset', key: 'status', field: 'o-1', value: '"paid"' }, { op: 'hset', key: 'status', field: 'o-2', value: '"new"' }]);
    expect(await s.get(A, 'count')).toBe('3');
    expect(await s.hget(A, 'status', 'o-1')).toBe('"paid"');
    await s.apply(A, [{ op: 'hdel', key: 'status', field: 'o-2' }]);
    expect(await s.hgetall(A, 'status')).toEqual({ 'o-1': '"paid"' });
  });

  it('applies a write set all or nothing: a type error leaves everything as it was', async () => {
    const s = make();
    await s.apply(A, [{ op: 'set', key: 'name', value: '"ada"' }]);
    const failed = s.apply(A, [{ op: 'set', key: 'before', value: '1' }, { op: 'incr', key: 'name', by: 1 }]);
    expect(await code(failed)).toBe('FAAS_STATE_INVALID');
    expect(await s.get(A, 'before')).toBeNull();
    expect(await code(s.apply(A, [{ op: 'set', key: 'n', value: '"text"' }, { op: 'incr', key: 'n', by: 1 }]))).toBe('FAAS_STATE_INVALID');
    expect(await s.get(A, 'n')).toBeNull();
    expect(await code(s.apply(A, [{ op: 'hset', key: 'name', field: 'f', value: '1' }]))).toBe('FAAS_STATE_INVALID');
  });

  it('applies a fenced write set at most once (a redelivered record changes nothing)', async () => {
    const s = make();
    const fence = { key: `faas.fn/orders/0/${randomBytes(3).toString('hex')}`, ttlMs: 60_000 };
    expect(await s.apply(A, [{ op: 'incr', key: 'processed', by: 1 }], fence)).toBe(true);
    expect(await s.apply(A, [{ op: 'incr', key: 'processed', by: 1 }], fence)).toBe(false);
    expect(await s.apply(A, [{ op: 'incr', key: 'processed', by: 1 }], { ...fence, key: `${fence.key}-next` })).toBe(true);
    expect(await s.get(A, 'processed')).toBe('2');
  });

  it('keeps namespaces apart whatever a key contains', async () => {
    const s = make();
    await s.apply(B, [{ op: 'set', key: 'secret', value: '"b-only"' }]);
    const hostile = ['secret', '*', '../payments:secret', 'fn:payments:secret', ':secret', 'payments:secret', '%2e%2e/secret', 'ｓｅｃｒｅｔ', 'secret\u0000', '\u202esecret'];
    for (const key of hostile) expect(await s.get(A, key), key).toBeNull();
    for (const key of hostile) await s.apply(A, [{ op: 'set', key, value: '"a"' }]);
    expect(await s.get(B, 'secret')).toBe('"b-only"');
    expect(await s.get(sharedNamespace('checkout'), 'secret')).toBeNull();
  });

  it('applies writes to a function\'s namespace and a shared store in one atomic step', async () => {
    const s = make();
    const shared = sharedNamespace(`ctx-${randomBytes(3).toString('hex')}`);
    await s.apply(shared, [{ op: 'set', key: 'label', value: '"text"' }]);
    // The shared write fails its type check: the function's own write is not applied either.
    expect(await code(s.apply(A, [{ op: 'incr', key: 'own', by: 1 }, { op: 'incr', key: 'label', by: 1, ns: shared }]))).toBe('FAAS_STATE_INVALID');
    expect(await s.get(A, 'own')).toBeNull();
    expect(await s.apply(A, [{ op: 'incr', key: 'own', by: 1 }, { op: 'hset', key: 'orders', field: 'o-1', value: '"new"', ns: shared }])).toBe(true);
    expect([await s.get(A, 'own'), await s.hget(shared, 'orders', 'o-1'), await s.hget(A, 'orders', 'o-1')]).toEqual(['1', '"new"', null]);
  });

  it('refuses keys and values beyond the limits, and malformed Unicode', async () => {
    const s = make();
    expect(await code(s.apply(A, [{ op: 'set', key: 'k'.repeat(STATE_LIMITS.keyBytes + 1), value: '1' }]))).toBe('FAAS_STATE_INVALID');
    expect(await code(s.apply(A, [{ op: 'set', key: 'big', value: `"${'x'.repeat(STATE_LIMITS.valueBytes)}"` }]))).toBe('FAAS_STATE_INVALID');
    expect(await code(s.apply(A, [{ op: 'set', key: '\ud800', value: '1' }]))).toBe('FAAS_STATE_INVALID');
    expect(await code(s.apply(A, [{ op: 'incr', key: 'n', by: 1.5 }]))).toBe('FAAS_STATE_INVALID');
    expect(await code(s.get(A, ''))).toBe('FAAS_STATE_INVALID');
    expect(() => sharedNamespace('a:b')).toThrow(FaasError);
  });
});

describe('redis state store when Redis does not answer', () => {
  it('fails fast with a retriable FAAS_STATE_UNAVAILABLE, and nothing is applied', async () => {
    const redis = connectRedis({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 300, name: 'state-down' });
    redis.on('error', () => undefined);
    const s = new RedisStateStore(redis, { prefix: 'faas-down:' });
    const t0 = Date.now();
    const err = await s.apply(A, [{ op: 'set', key: 'k', value: '1' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FaasError);
    expect((err as FaasError).code).toBe('FAAS_STATE_UNAVAILABLE');
    expect((err as FaasError).retriable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
    redis.disconnect();
  });
});
