/**
 * The cron trigger on a fake clock: no real sleeps; every tick, retry delay and clock jump is driven
 * by `FakeClock.advance` / `jump`.
 */
import { describe, expect, it } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import { parseManifest } from '../../core/manifest.ts';
import { cronTriggerSchema, type CronTrigger } from '../../core/trigger-specs.ts';
import { MemoryFenceStore } from '../../scheduler/fence-memory.ts';
import type { InvocationResult, Invoker, InvokeInput } from '../../scheduler/invoker.ts';
import type { Clock, FenceStore } from '../../scheduler/ports.ts';
import type { RunningTrigger, TriggerDeps } from '../../scheduler/trigger-source.ts';
import { CronSchedule } from '../../triggers/cron-schedule.ts';
import { createCronTrigger, cronTrigger } from '../../triggers/cron.ts';
import { backoffDelay, retry } from '../../triggers/retry.ts';
import { FakeClock, settle } from '../support/fake-clock.ts';
import { triggerDeps } from '../support/trigger-deps.ts';

/** Let pending promise chains (fence claims, invocations) run. */


const ok = (name: string): InvocationResult => ({ invocationId: 'i', correlationId: 'c', function: name, version: 1, start: 'warm', durationMs: 1, resultJson: 'null' });

class FakeInvoker {
  readonly calls: { name: string; input: InvokeInput; at: number }[] = [];
  /** Answer per call (0-based); default success. */
  behaviour: (n: number, input: InvokeInput) => Promise<InvocationResult> | InvocationResult = (_n, _i) => ok('job');
  private readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  async invoke(name: string, input: InvokeInput): Promise<InvocationResult> {
    this.calls.push({ name, input, at: this.clock.now() });
    return this.behaviour(this.calls.length - 1, input);
  }

  scheduled(): string[] {
    return this.calls.map((c) => c.input.time as string);
  }
}

interface Harness {
  clock: FakeClock;
  invoker: FakeInvoker;
  fences: FenceStore;
  events: { outcome: string; count: number }[];
  logs: { level: string; obj: object; msg: string }[];
  trigger: RunningTrigger;
  count(outcome: string): number;
}

async function startCron(
  spec: Partial<CronTrigger> & { schedule: string },
  opts: { start: string; clock?: FakeClock; fences?: FenceStore; retry?: object; invoker?: FakeInvoker } = { start: '2025-01-01T00:00:00Z' },
): Promise<Harness> {
  const clock = opts.clock ?? new FakeClock(opts.start);
  const invoker = opts.invoker ?? new FakeInvoker(clock);
  const fences = opts.fences ?? new MemoryFenceStore(clock);
  const events: Harness['events'] = [];
  const logs: Harness['logs'] = [];
  const parsed = cronTriggerSchema.parse({ type: 'cron', ...spec });
  const manifest = parseManifest({ name: 'job', triggers: [parsed], retry: opts.retry ?? { maxAttempts: 1 } });
  const deps: TriggerDeps = triggerDeps({
    invoker: invoker as unknown as Invoker,
    fences,
    clock,
    log: {
      info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
      error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
    },
    metrics: { triggerEvent: (_fn, _type, outcome, count = 1) => events.push({ outcome, count }), scaleDecision: () => undefined },
  });
  const plugin = createCronTrigger({ random: () => 0.5 });
  const trigger = await plugin.start({ fn: 'job', manifest, index: 0, spec: parsed, deps });
  await settle();
  const count = (outcome: string) => events.filter((e) => e.outcome === outcome).reduce((n, e) => n + e.count, 0);
  return { clock, invoker, fences, events, logs, trigger, count };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('cron trigger: validation at deploy', () => {
  const spec = (schedule: string, timezone = 'UTC') => cronTriggerSchema.parse({ type: 'cron', schedule, timezone });

  it('accepts 5- and 6-field expressions, names and nicknames', () => {
    for (const s of ['*/5 * * * *', '0 30 2 * * *', '0 0 9 * * MON-FRI', '@daily', '0 0 L * *']) {
      expect(() => cronTrigger.validate(spec(s, 'Europe/Berlin'), 'triggers[0]')).not.toThrow();
    }
  });

  it.each([['61 * * * *'], ['* * *'], ['not a cron'], ['* * * * * * *']])('refuses the expression %j naming the schedule field', (s) => {
    let err: unknown;
    try {
      cronTrigger.validate(spec(s), 'triggers[2]');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FaasError);
    expect((err as FaasError).code).toBe('FAAS_MANIFEST_INVALID');
    expect((err as FaasError).message).toMatch(/^triggers\[2\]\.schedule: /);
  });

  it('refuses an unknown time zone naming the timezone field', () => {
    expect(() => cronTrigger.validate(spec('* * * * *', 'Europe/Atlantis'), 'triggers[0]')).toThrow(/^triggers\[0\]\.timezone: "Europe\/Atlantis" is not an IANA time zone/);
  });
});

describe('cron trigger: ticks on a fake clock', () => {
  it('fires at the scheduled instants in a non-UTC zone across spring-forward, with the tick in the event', async () => {
    const h = await startCron({ schedule: '0 30 2 * * *', timezone: 'Europe/Berlin' }, { start: '2025-03-28T12:00:00Z' });
    await h.clock.advance(4 * DAY);
    // 02:30 does not exist on 30 March: it fires shifted by the gap, at 03:30 CEST (01:30Z).
    expect(h.invoker.scheduled()).toEqual(['2025-03-29T01:30:00.000Z', '2025-03-30T01:30:00.000Z', '2025-03-31T00:30:00.000Z', '2025-04-01T00:30:00.000Z']);
    for (const c of h.invoker.calls) expect(c.at).toBe(Date.parse(c.input.time as string)); // no drift
    const first = h.invoker.calls[0]!;
    const tick = Date.parse('2025-03-29T01:30:00Z');
    expect(first.name).toBe('job');
    expect(first.input).toMatchObject({
      type: 'faas.cron.tick',
      source: 'cron://job/0',
      eventId: `cron:job:0:${tick}`,
      data: { scheduledTime: '2025-03-29T01:30:00.000Z', localTime: '2025-03-29T02:30:00+01:00', firedAt: '2025-03-29T01:30:00.000Z' },
      extensions: { schedule: { expression: '0 30 2 * * *', timezone: 'Europe/Berlin', scheduledTime: '2025-03-29T01:30:00.000Z' } },
    });
    expect(h.count('success')).toBe(4);
    await h.trigger.stop();
  });

  it('at fall-back runs a fixed-hour job once and an hourly job on both 02:00s', async () => {
    const fixed = await startCron({ schedule: '0 30 2 * * *', timezone: 'Europe/Berlin' }, { start: '2025-10-25T12:00:00Z' });
    await fixed.clock.advance(2 * DAY);
    expect(fixed.invoker.scheduled()).toEqual(['2025-10-26T00:30:00.000Z', '2025-10-27T01:30:00.000Z']);
    await fixed.trigger.stop();

    const hourly = await startCron({ schedule: '0 * * * *', timezone: 'Europe/Berlin' }, { start: '2025-10-25T22:30:00Z' });
    await hourly.clock.advance(4 * HOUR);
    expect(hourly.invoker.scheduled()).toEqual(['2025-10-25T23:00:00.000Z', '2025-10-26T00:00:00.000Z', '2025-10-26T01:00:00.000Z', '2025-10-26T02:00:00.000Z']);
    expect(hourly.invoker.calls.map((c) => (c.input.data as { localTime: string }).localTime)).toEqual([
      '2025-10-26T01:00:00+02:00',
      '2025-10-26T02:00:00+02:00',
      '2025-10-26T02:00:00+01:00',
      '2025-10-26T03:00:00+01:00',
    ]);
    await hourly.trigger.stop();
  });

  it('runs a 6-field seconds schedule on the second, without drift over an hour', async () => {
    const h = await startCron({ schedule: '*/10 * * * * *', timezone: 'Asia/Tokyo' }, { start: '2025-01-01T00:00:03Z' });
    await h.clock.advance(35_000);
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:00:10.000Z', '2025-01-01T00:00:20.000Z', '2025-01-01T00:00:30.000Z']);
    await h.clock.advance(HOUR);
    expect(h.invoker.calls).toHaveLength(3 + 360);
    for (const c of h.invoker.calls) expect(c.at).toBe(Date.parse(c.input.time as string));
    expect(h.trigger.status()).toMatchObject({ missed: 0, skipped: 0, lastRun: { scheduledTime: '2025-01-01T01:00:30.000Z', outcome: 'success' } });
    await h.trigger.stop();
  });

  it('status lists the next three runs in the zone, and a stopped trigger fires no more', async () => {
    const h = await startCron({ schedule: '0 9 * * MON', timezone: 'America/New_York' }, { start: '2025-01-01T00:00:00Z' });
    expect(h.trigger.status().nextRuns).toEqual(['2025-01-06T09:00:00-05:00', '2025-01-13T09:00:00-05:00', '2025-01-20T09:00:00-05:00']);
    await h.trigger.stop();
    await h.clock.advance(30 * DAY);
    expect(h.invoker.calls).toHaveLength(0);
  });
});

describe('cron trigger: overlap', () => {
  function hanging(h: { invoker: FakeInvoker }): () => void {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    h.invoker.behaviour = async () => {
      await gate;
      return ok('job');
    };
    return () => release();
  }

  it('skip (default): a tick while the previous run is going is skipped and counted', async () => {
    const h = await startCron({ schedule: '* * * * * *' }, { start: '2025-01-01T00:00:00.500Z' });
    const release = hanging(h);
    await h.clock.advance(1000); // 00:00:01 starts and hangs
    await h.clock.advance(2000); // 00:00:02 and :03 skipped
    expect(h.invoker.calls).toHaveLength(1);
    expect(h.count('skipped')).toBe(2);
    expect(h.trigger.status()).toMatchObject({ skipped: 2, running: 1 });
    release();
    await h.clock.advance(1000);
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:00:01.000Z', '2025-01-01T00:00:04.000Z']);
    await h.trigger.stop();
  });

  it('allow: ticks run concurrently', async () => {
    const h = await startCron({ schedule: '* * * * * *', overlap: 'allow' }, { start: '2025-01-01T00:00:00.500Z' });
    const release = hanging(h);
    await h.clock.advance(3000);
    expect(h.invoker.calls).toHaveLength(3);
    expect(h.count('skipped')).toBe(0);
    expect(h.trigger.status()).toMatchObject({ running: 3 });
    release();
    await settle();
    expect(h.count('success')).toBe(3);
    await h.trigger.stop();
  });
});

describe('cron trigger: missed ticks and catch-up', () => {
  it('counts and logs the ticks skipped over when the timer fires late, and runs the current one', async () => {
    const h = await startCron({ schedule: '* * * * *' }, { start: '2025-01-01T00:00:30Z' });
    await h.clock.advance(60_000);
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:01:00.000Z']);
    h.clock.jump(5 * 60_000); // 00:06:30: ticks 00:02 … 00:06 are due at once
    await h.clock.advance(0);
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:01:00.000Z', '2025-01-01T00:06:00.000Z']);
    expect(h.count('missed')).toBe(4);
    expect(h.trigger.status()).toMatchObject({ missed: 4 });
    const warn = h.logs.find((l) => l.level === 'warn' && /missed/.test(l.msg));
    expect(warn?.obj).toMatchObject({ missed: 4, first: '2025-01-01T00:02:00.000Z', last: '2025-01-01T00:05:00.000Z' });
    await h.clock.advance(60_000);
    expect(h.invoker.scheduled().at(-1)).toBe('2025-01-01T00:07:00.000Z');
    await h.trigger.stop();
  });

  it('a tick later than the tolerance is missed with catchUp none, run with catchUp latest', async () => {
    const none = await startCron({ schedule: '0 0 3 * * *' }, { start: '2025-01-01T00:00:00Z' });
    none.clock.jump(5 * HOUR); // suspended over 03:00
    await none.clock.advance(0);
    expect(none.invoker.calls).toHaveLength(0);
    expect(none.count('missed')).toBe(1);
    await none.trigger.stop();

    // Yesterday's tick ran (its fence is taken), so the start itself has nothing to catch up.
    const clock = new FakeClock('2025-01-01T00:00:00Z');
    const fences = new MemoryFenceStore(clock);
    await fences.claim(`cron:job:0:${Date.parse('2024-12-31T03:00:00Z')}`, DAY * 2);
    const latest = await startCron({ schedule: '0 0 3 * * *', catchUp: 'latest' }, { start: '', clock, fences });
    latest.clock.jump(5 * HOUR);
    await latest.clock.advance(0);
    expect(latest.invoker.calls.map((c) => [c.input.time, c.at])).toEqual([['2025-01-01T03:00:00.000Z', Date.parse('2025-01-01T05:00:00Z')]]);
    expect(latest.count('missed')).toBe(0);
    expect(latest.count('caught-up')).toBe(1);
    await latest.trigger.stop();
  });

  it('catchUp latest runs the most recent tick on start unless another node already ran it', async () => {
    const clock = new FakeClock('2025-01-01T10:20:00Z');
    const fences = new MemoryFenceStore(clock);
    const a = await startCron({ schedule: '0 0 * * * *', catchUp: 'latest' }, { start: '', clock, fences });
    expect(a.invoker.calls.map((c) => [c.input.time, (c.input.data as { firedAt: string }).firedAt])).toEqual([['2025-01-01T10:00:00.000Z', '2025-01-01T10:20:00.000Z']]);
    expect(a.trigger.status()).toMatchObject({ caughtUp: 1, lastRun: { scheduledTime: '2025-01-01T10:00:00.000Z', outcome: 'success' } });
    await a.trigger.stop();

    // A restart of the same node (or a second node) finds the tick's fence taken: nothing runs twice.
    const b = await startCron({ schedule: '0 0 * * * *', catchUp: 'latest' }, { start: '', clock, fences });
    expect(b.invoker.calls).toHaveLength(0);
    await b.trigger.stop();

    const none = await startCron({ schedule: '0 0 * * * *' }, { start: '2025-01-01T10:20:00Z' });
    expect(none.invoker.calls).toHaveLength(0);
    await none.trigger.stop();
  });

  it('one tick, two nodes on one fence store: it runs once', async () => {
    const clock = new FakeClock('2025-01-01T00:00:00.500Z');
    const fences = new MemoryFenceStore(clock);
    const invoker = new FakeInvoker(clock);
    const a = await startCron({ schedule: '* * * * * *' }, { start: '', clock, fences, invoker });
    const b = await startCron({ schedule: '* * * * * *' }, { start: '', clock, fences, invoker });
    await clock.advance(5000);
    expect(invoker.scheduled()).toEqual([1, 2, 3, 4, 5].map((s) => `2025-01-01T00:00:0${s}.000Z`));
    await Promise.all([a.trigger.stop(), b.trigger.stop()]);
  });
});

describe('cron trigger: retries', () => {
  const fail = (code: 'FAAS_HANDLER_ERROR' | 'FAAS_MEMORY_LIMIT'): InvocationResult => ({ ...ok('job'), resultJson: undefined, error: new FaasError(code, 'boom') });

  it('retries a failed invocation per manifest.retry with doubling, jittered backoff', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry: { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 1000 } });
    h.invoker.behaviour = (n) => (n < 2 ? fail('FAAS_HANDLER_ERROR') : ok('job'));
    await h.clock.advance(31_000);
    const t = Date.parse('2025-01-01T00:01:00Z');
    // Equal jitter with random 0.5: 100 → 75 ms, 200 → 150 ms.
    expect(h.invoker.calls.map((c) => c.at - t)).toEqual([0, 75, 225]);
    expect(new Set(h.invoker.calls.map((c) => c.input.eventId)).size).toBe(1);
    expect(h.count('retry')).toBe(2);
    expect(h.trigger.status()).toMatchObject({ lastRun: { outcome: 'success' }, failed: 0 });
    await h.trigger.stop();
  });

  it('gives up after maxAttempts, logs and counts the failure, and keeps the schedule', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry: { maxAttempts: 2, backoffMs: 100, maxBackoffMs: 1000 } });
    h.invoker.behaviour = (n) => (n < 2 ? fail('FAAS_HANDLER_ERROR') : ok('job'));
    await h.clock.advance(31_000);
    expect(h.invoker.calls).toHaveLength(2);
    expect(h.count('failed')).toBe(1);
    expect(h.logs.some((l) => l.level === 'error' && /invocation failed/.test(l.msg))).toBe(true);
    await h.clock.advance(60_000);
    expect(h.invoker.calls).toHaveLength(3);
    expect(h.trigger.status()).toMatchObject({ lastRun: { scheduledTime: '2025-01-01T00:02:00.000Z', outcome: 'success' }, failed: 1 });
    await h.trigger.stop();
  });

  it('does not retry an error that cannot succeed unchanged', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry: { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 1000 } });
    h.invoker.behaviour = () => fail('FAAS_MEMORY_LIMIT');
    await h.clock.advance(31_000);
    expect(h.invoker.calls).toHaveLength(1);
    expect(h.count('failed')).toBe(1);
    await h.trigger.stop();
  });

  it('stop() ends a retry wait at once', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry: { maxAttempts: 5, backoffMs: 60_000, maxBackoffMs: 60_000 } });
    h.invoker.behaviour = () => fail('FAAS_HANDLER_ERROR');
    await h.clock.advance(30_000);
    expect(h.invoker.calls).toHaveLength(1);
    await h.trigger.stop(); // resolves without the clock moving
    expect(h.trigger.status()).toMatchObject({ lastRun: { outcome: 'failed' } });
  });
});

/** A fence store that does not answer while `down` (as Redis behind it was killed). */
class DownFences implements FenceStore {
  down = true;
  tries = 0;
  private readonly inner: MemoryFenceStore;

  constructor(clock: Clock) {
    this.inner = new MemoryFenceStore(clock);
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    this.tries++;
    return this.down ? Promise.reject(new Error('Connection is closed.')) : this.inner.claim(key, ttlMs);
  }

  release(key: string): Promise<void> {
    return this.down ? Promise.reject(new Error('Connection is closed.')) : this.inner.release(key);
  }
}

describe('cron trigger: outages', () => {
  const tick = Date.parse('2025-01-01T00:01:00Z');
  const retry = { maxAttempts: 1, backoffMs: 100, maxBackoffMs: 1000 };

  it('a tick whose fence store does not answer is held and runs late, once, when the store is back', async () => {
    const clock = new FakeClock('2025-01-01T00:00:30Z');
    const fences = new DownFences(clock);
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '', clock, fences, retry });
    await h.clock.advance(30_000 + 10_000); // the tick, then 10 s of outage
    expect(h.invoker.calls).toHaveLength(0);
    expect(fences.tries).toBeGreaterThan(5);
    expect(h.trigger.status()).toMatchObject({ missed: 0, runs: 0, holding: 1, lastOutage: { code: 'FAAS_STATE_UNAVAILABLE' } });
    fences.down = false;
    await h.clock.advance(2_000); // the next try (at most maxBackoffMs later)
    expect(h.invoker.calls.map((c) => c.input.time)).toEqual(['2025-01-01T00:01:00.000Z']);
    expect(h.invoker.calls[0]?.at).toBeGreaterThan(tick + 10_000);
    expect(h.trigger.status()).toMatchObject({ missed: 0, runs: 1, failed: 0, holding: 0 });
    expect((h.trigger.status() as { held: number }).held).toBeGreaterThan(5);
    expect(h.count('held')).toBe((h.trigger.status() as { held: number }).held);
    expect(h.logs.filter((l) => /tick held/.test(l.msg))).toHaveLength(1); // logged once per tick, not per try
    await h.clock.advance(60_000); // the schedule goes on
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:01:00.000Z', '2025-01-01T00:02:00.000Z']);
    await h.trigger.stop();
  });

  it('a fence store down past the tick\'s tolerance: the tick is missed, never run late, and the next one runs', async () => {
    const clock = new FakeClock('2025-01-01T00:01:30Z');
    const fences = new DownFences(clock);
    const h = await startCron({ schedule: '0 */2 * * * *' }, { start: '', clock, fences, retry });
    await h.clock.advance(30_000 + 65_000); // 00:03:05: past the 60 s tolerance of 00:02:00's tick
    fences.down = false;
    await h.clock.advance(30_000);
    expect(h.invoker.calls).toHaveLength(0);
    expect(h.trigger.status()).toMatchObject({ missed: 1, runs: 0 });
    expect(h.logs.some((l) => l.level === 'error' && /past the tick's tolerance/.test(l.msg))).toBe(true);
    await h.clock.advance(60_000); // 00:04:35
    expect(h.invoker.scheduled()).toEqual(['2025-01-01T00:04:00.000Z']);
    await h.trigger.stop();
  });

  it('an invocation that fails on an outage is held without using an attempt, then succeeds', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry });
    const down = new FaasError('FAAS_STATE_UNAVAILABLE', 'state store (Redis) failed: Connection is closed.');
    h.invoker.behaviour = (n) => (n < 4 ? { ...ok('job'), resultJson: undefined, error: down } : ok('job'));
    await h.clock.advance(30_000 + 20_000);
    expect(h.invoker.calls).toHaveLength(5); // maxAttempts 1: the four held tries used none
    expect(h.trigger.status()).toMatchObject({ lastRun: { outcome: 'success' }, failed: 0, held: 4 });
    expect(h.count('retry')).toBe(0);
    await h.trigger.stop();
  });

  it('the tolerance bounds the whole tick: a retry that meets an outage late is held only until 60 s past the tick', async () => {
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '2025-01-01T00:00:30Z', retry: { maxAttempts: 3, backoffMs: 30_000, maxBackoffMs: 30_000 } });
    const down = new FaasError('FAAS_STATE_UNAVAILABLE', 'state store (Redis) failed: Connection is closed.');
    h.invoker.behaviour = (n) => ({ ...ok('job'), resultJson: undefined, error: n === 0 ? new FaasError('FAAS_HANDLER_ERROR', 'boom') : down });
    await h.clock.advance(30_000 + 120_000);
    const last = h.invoker.calls.filter((c) => c.input.time === '2025-01-01T00:01:00.000Z').at(-1);
    expect(last?.at).toBeLessThanOrEqual(tick + 60_000); // the first retry came 22.5 s after the tick
    await h.clock.advance(90_000); // 00:04:30
    // Each held run lasts until the next tick, which overlap "skip" then skips: 01 and 03 ran and failed.
    expect(h.trigger.status()).toMatchObject({ runs: 2, failed: 2, skipped: 2, holding: 0, missed: 0 });
    await h.trigger.stop();
  });

  it('stop() ends a hold at once, counting nothing missed', async () => {
    const clock = new FakeClock('2025-01-01T00:00:30Z');
    const fences = new DownFences(clock);
    const h = await startCron({ schedule: '0 * * * * *' }, { start: '', clock, fences, retry });
    await h.clock.advance(31_000);
    await h.trigger.stop(); // resolves without the clock moving
    expect(h.trigger.status()).toMatchObject({ missed: 0, runs: 0 });
    expect(h.invoker.calls).toHaveLength(0);
  });
});

describe('retry helper', () => {
  const clock = new FakeClock('2025-01-01T00:00:00Z');

  it('doubles the delay up to maxBackoffMs, jittered within its upper half', () => {
    const policy = { maxAttempts: 10, backoffMs: 100, maxBackoffMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n, () => 0.999999))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('treats a throw as a failed attempt and a non-retriable one as final', async () => {
    let n = 0;
    const out = await retry(
      async () => {
        n++;
        throw new FaasError('FAAS_INIT_FAILED', 'no handler');
      },
      { maxAttempts: 3, backoffMs: 0, maxBackoffMs: 0 },
      { clock },
    );
    expect(n).toBe(1);
    expect(out).toMatchObject({ ok: false, attempts: 1, aborted: false });
  });

  it('an aborted signal makes no further attempt', async () => {
    const controller = new AbortController();
    const pending = retry(async () => ({ ok: false as const, error: 'x' }), { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 1000 }, { clock, signal: controller.signal });
    await settle();
    controller.abort();
    await expect(pending).resolves.toMatchObject({ ok: false, attempts: 1, aborted: true });
  });
});

describe('cron schedule', () => {
  it('finds the previous tick within a lookback', () => {
    const s = new CronSchedule('0 30 2 * * *', 'Europe/Berlin');
    expect(s.previous(Date.parse('2025-01-02T00:00:00Z'), DAY)).toBe(Date.parse('2025-01-01T01:30:00Z'));
    expect(s.previous(Date.parse('2025-01-01T01:00:00Z'), HOUR)).toBeUndefined();
  });

  it('estimates rather than walks an enormous span of missed ticks', () => {
    const s = new CronSchedule('* * * * * *', 'UTC');
    const from = Date.parse('2025-01-01T00:00:00Z');
    const { ticks, more } = s.between(from, from + 7 * DAY, 1000);
    expect(ticks).toHaveLength(1000);
    expect(ticks.at(-1)).toBe(from + 7 * DAY);
    expect(more + ticks.length).toBe(7 * 86_400);
  });
});
