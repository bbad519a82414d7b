/**
 * Two runtime nodes (two cron trigger instances, each with its own Redis connection and
 * RedisFenceStore under one random prefix) running the same function's schedule: every tick fires
 * exactly once in total, whether the nodes tick in lockstep, one lags far behind, or real time runs.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { cronTriggerSchema } from '../../core/trigger-specs.ts';
import type { InvocationResult, Invoker, InvokeInput } from '../../scheduler/invoker.ts';
import { systemClock, type Clock, type FenceStore } from '../../scheduler/ports.ts';
import type { RunningTrigger } from '../../scheduler/trigger-source.ts';
import { connectRedis, waitReady } from '../../state/redis-connection.ts';
import { RedisFenceStore } from '../../state/redis-fence.ts';
import { cronTrigger } from '../../triggers/cron.ts';
import { testRedisUrl } from '../support/env.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { triggerDeps } from '../support/trigger-deps.ts';


/** Records every invocation, by node, across both nodes. */
class CountingInvoker {
  readonly calls: { node: string; time: string }[] = [];
  private readonly node: string;

  constructor(node: string, calls: { node: string; time: string }[]) {
    this.node = node;
    this.calls = calls;
  }

  async invoke(name: string, input: InvokeInput): Promise<InvocationResult> {
    this.calls.push({ node: this.node, time: input.time as string });
    return { invocationId: 'i', correlationId: 'c', function: name, version: 1, start: 'warm', durationMs: 1, resultJson: 'null' };
  }
}

/** Counts answered claims per key, so a test can wait until both nodes have decided a tick. */
class WatchedFences implements FenceStore {
  readonly answered = new Map<string, boolean[]>();
  private readonly inner: FenceStore;

  constructor(inner: FenceStore) {
    this.inner = inner;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const won = await this.inner.claim(key, ttlMs);
    this.answered.set(key, [...(this.answered.get(key) ?? []), won]);
    return won;
  }

  release(key: string): Promise<void> {
    return this.inner.release(key);
  }
}

const redises: Redis[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const r = connectRedis({ url: testRedisUrl(), name: `cron-cluster-${i}` });
    await waitReady(r);
    redises.push(r);
  }
});

afterAll(async () => {
  await Promise.all(redises.map((r) => r.quit()));
});

interface Node {
  trigger: RunningTrigger;
  fences: WatchedFences;
}

async function startNode(name: string, clock: Clock, redis: Redis, prefix: string, calls: { node: string; time: string }[], schedule: string): Promise<Node> {
  const spec = cronTriggerSchema.parse({ type: 'cron', schedule, timezone: 'Europe/Berlin' });
  const manifest = parseManifest({ name: 'ticker', triggers: [spec], retry: { maxAttempts: 1 } });
  const fences = new WatchedFences(new RedisFenceStore(redis, { prefix }));
  const trigger = await cronTrigger.start({
    fn: 'ticker',
    manifest,
    index: 0,
    spec,
    deps: triggerDeps({ invoker: new CountingInvoker(name, calls) as unknown as Invoker, fences, clock }),
  });
  return { trigger, fences };
}

const prefix = () => `faas-test-${randomBytes(4).toString('hex')}:`;
const key = (ms: number) => `cron:ticker:0:${ms}`;

describe('cron across two nodes sharing one Redis', () => {
  it('fake clocks in lockstep: each tick fires exactly once in total', async () => {
    const calls: { node: string; time: string }[] = [];
    const start = '2025-06-01T12:00:00.500Z';
    const [clockA, clockB] = [new FakeClock(start), new FakeClock(start)];
    const p = prefix();
    const a = await startNode('a', clockA, redises[0]!, p, calls, '* * * * * *');
    const b = await startNode('b', clockB, redises[1]!, p, calls, '* * * * * *');
    const ticks = [1, 2, 3, 4, 5].map((s) => Date.parse(`2025-06-01T12:00:0${s}.000Z`));
    for (const t of ticks) {
      clockA.advanceTo(t);
      clockB.advanceTo(t);
      await vi.waitFor(() => expect(a.fences.answered.get(key(t))?.length === 1 && b.fences.answered.get(key(t))?.length === 1).toBe(true));
      expect([...(a.fences.answered.get(key(t)) ?? []), ...(b.fences.answered.get(key(t)) ?? [])].sort()).toEqual([false, true]);
    }
    await Promise.all([a.trigger.stop(), b.trigger.stop()]);
    expect(calls.map((c) => c.time).sort()).toEqual(ticks.map((t) => new Date(t).toISOString()));
  });

  it('a node that lags behind (paused) cannot run a tick again', async () => {
    const calls: { node: string; time: string }[] = [];
    const start = '2025-06-01T12:00:00.500Z';
    const [clockA, clockB] = [new FakeClock(start), new FakeClock(start)];
    const p = prefix();
    const a = await startNode('a', clockA, redises[0]!, p, calls, '*/2 * * * * *');
    const b = await startNode('b', clockB, redises[1]!, p, calls, '*/2 * * * * *');
    const ticks = [2, 4, 6, 8].map((s) => Date.parse(`2025-06-01T12:00:0${s}.000Z`));
    for (const t of ticks) {
      clockA.advanceTo(t);
      await vi.waitFor(() => expect(a.fences.answered.get(key(t))).toEqual([true]));
    }
    // B wakes up now, 8 s behind, and walks through the same ticks (within the late tolerance).
    for (const t of ticks) {
      clockB.advanceTo(t);
      await vi.waitFor(() => expect(b.fences.answered.get(key(t))).toEqual([false]));
    }
    await Promise.all([a.trigger.stop(), b.trigger.stop()]);
    expect(calls.map((c) => c.node)).toEqual(['a', 'a', 'a', 'a']);
    expect(calls.map((c) => c.time)).toEqual(ticks.map((t) => new Date(t).toISOString()));
  });

  it('real time, a 1-second 6-field schedule for ~3 ticks: once per tick, no gaps', async () => {
    const calls: { node: string; time: string }[] = [];
    const p = prefix();
    const startedAt = Date.now();
    const a = await startNode('a', systemClock, redises[0]!, p, calls, '* * * * * *');
    const b = await startNode('b', systemClock, redises[1]!, p, calls, '* * * * * *');
    await vi.waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(3), { timeout: 6000, interval: 50 });
    await Promise.all([a.trigger.stop(), b.trigger.stop()]);
    const stoppedAt = Date.now();
    const times = calls.map((c) => Date.parse(c.time)).sort((x, y) => x - y);
    expect(new Set(times).size).toBe(times.length); // no tick twice
    // Exactly the whole seconds between start and the last tick seen: none missing in between.
    const first = times[0]!;
    expect(first).toBeGreaterThanOrEqual(startedAt - 1);
    expect(times).toEqual(times.map((_, i) => first + i * 1000));
    expect(times.at(-1)!).toBeLessThanOrEqual(stoppedAt);
  });
});
