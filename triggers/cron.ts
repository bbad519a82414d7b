/**
 * The cron trigger: runs a function on a schedule (5 or 6 fields, in an IANA time zone), once per
 * tick across every node that shares the fence store, and optionally drains what accumulated on a
 * topic since the last tick.
 *
 * Timing: our own loop on the injected Clock (never node-cron's timers, which read the wall clock):
 * each wake-up reads the clock and recomputes the next tick from the schedule, so lateness never
 * accumulates; sleeps are capped so a clock jump is noticed within MAX_SLEEP_MS.
 *
 * Once per tick: a fence `cron:<fn>:<index>:<scheduled epoch ms>` claimed before anything else and
 * kept for fenceTtlMs (48 h), far beyond any lateness at which a node would still act on the tick,
 * so a paused node cannot run it again when it wakes (a lease could have expired by then). The
 * claimer alone decides the tick's fate: run, skip (overlap), or count as missed.
 *
 * Missed ticks: when a wake-up finds several ticks due (a blocked event loop, a suspended VM), all but
 * the newest are missed, and the newest too when it is later than lateToleranceMs (unless catchUp is
 * "latest"); each missed tick whose fence is still free (no node ran it) is counted and logged. On
 * start, catchUp "latest" claims the most recent tick of the last 24 h and runs it if no node did.
 *
 * Outages: a tick whose fence the store cannot claim (Redis down), or whose invocation fails on an
 * outage (ErrorSpec.outage: state or Kafka did not answer), is held and tried again without using an
 * attempt, for up to lateToleranceMs past its scheduled time (or past now, for a catch-up); it then
 * runs late, once, as the fence still decides. Past that it counts as missed (no fence) or failed.
 */
import { FaasError, toFaasError } from '../core/errors.ts';
import type { CronTrigger } from '../core/trigger-specs.ts';
import type { InvocationResult } from '../scheduler/invoker.ts';
import type { Clock } from '../scheduler/ports.ts';
import type { RunningTrigger, TriggerContext, TriggerPlugin } from '../scheduler/trigger-source.ts';
import { collectDrain, decodeRecord } from './cron-drain.ts';
import { CronSchedule, CronScheduleError } from './cron-schedule.ts';
import { holdOnOutage, retry, type AttemptResult, type HoldOptions } from './retry.ts';

export interface CronTriggerOptions {
  /** How long a tick's fence is kept. Default 48 h. */
  fenceTtlMs?: number;
  /** A due tick later than this counts as missed (unless catchUp is "latest"). Default 60 000 ms. */
  lateToleranceMs?: number;
  /** How far back catchUp "latest" looks on start. Default 24 h. */
  catchUpLookbackMs?: number;
  /** Longest wait for a drain's records to arrive before running with what came. Default 30 000 ms. */
  drainTimeoutMs?: number;
  /** Jitter source for retry delays. Default Math.random. */
  random?: () => number;
}

const MAX_SLEEP_MS = 60_000;
/** Missed ticks checked against their fences one by one; older ones are counted unchecked. */
const MAX_MISSED_CHECKED = 1000;

export type TickOutcome = 'success' | 'failed' | 'skipped';

export function createCronTrigger(options: CronTriggerOptions = {}): TriggerPlugin<'cron'> {
  const settings = {
    fenceTtlMs: options.fenceTtlMs ?? 48 * 3_600_000,
    lateToleranceMs: options.lateToleranceMs ?? 60_000,
    catchUpLookbackMs: options.catchUpLookbackMs ?? 24 * 3_600_000,
    drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
    random: options.random ?? Math.random,
  };
  return {
    type: 'cron',
    consumerGroups: (ctx) => (ctx.spec.topic !== undefined ? [ctx.spec.group ?? `faas.${ctx.fn}.cron`] : []),
    validate(spec, where) {
      compile(spec, where);
    },
    async start(ctx) {
      const running = new CronRunner(ctx, compile(ctx.spec, `${ctx.fn}: triggers[${ctx.index}]`), settings);
      await running.start();
      return running;
    },
  };
}

export const cronTrigger: TriggerPlugin<'cron'> = createCronTrigger();

function compile(spec: CronTrigger, where: string): CronSchedule {
  try {
    return new CronSchedule(spec.schedule, spec.timezone);
  } catch (err) {
    if (!(err instanceof CronScheduleError)) throw err;
    throw new FaasError('FAAS_MANIFEST_INVALID', `${where}.${err.field}: ${err.message}`, {
      details: [{ path: `${where}.${err.field}`, message: err.message }],
    });
  }
}

class CronRunner implements RunningTrigger {
  private readonly ctx: TriggerContext<CronTrigger>;
  private readonly schedule: CronSchedule;
  private readonly settings: Required<CronTriggerOptions>;
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  /** Ticks at or before this instant have been dealt with. */
  private cursor = 0;
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  /** `held`: tries of a tick's fence claim or invocation held by an outage. */
  private counts = { runs: 0, failed: 0, missed: 0, skipped: 0, caughtUp: 0, held: 0 };
  /** Ticks held by an outage right now, and the latest outage met (shown by `faas status`). */
  private holding = 0;
  private lastOutage: { code: string; message: string; at: string } | null = null;
  private lastRun: { scheduledTime: string; outcome: TickOutcome } | undefined;
  private drainTopicReady = false;

  constructor(ctx: TriggerContext<CronTrigger>, schedule: CronSchedule, settings: Required<CronTriggerOptions>) {
    this.ctx = ctx;
    this.schedule = schedule;
    this.settings = settings;
    this.clock = ctx.deps.clock;
  }

  async start(): Promise<void> {
    const now = this.clock.now();
    this.cursor = now - 1; // a tick exactly at start is due
    if (this.ctx.spec.catchUp === 'latest') {
      const latest = this.schedule.previous(this.cursor, this.settings.catchUpLookbackMs);
      if (latest !== undefined) await this.fire(latest, 'catch-up');
    }
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.abort.abort(new FaasError('FAAS_SHUTTING_DOWN', 'the cron trigger is stopping'));
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  status(): Record<string, unknown> {
    return {
      schedule: this.ctx.spec.schedule,
      timezone: this.ctx.spec.timezone,
      nextRuns: this.stopped ? [] : this.schedule.nextRuns(this.clock.now(), 3).map((t) => this.schedule.format(t)),
      ...(this.lastRun ? { lastRun: this.lastRun } : {}),
      running: this.inFlight.size,
      ...this.counts,
      holding: this.holding,
      lastOutage: this.lastOutage,
    };
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.schedule.next(this.cursor);
    const delay = Math.min(Math.max(0, next - this.clock.now()), MAX_SLEEP_MS);
    this.timer = this.clock.setTimeout(() => {
      this.wake().catch((err: unknown) => this.ctx.deps.log.error({ fn: this.ctx.fn, trigger: this.ctx.index, err }, 'cron: tick handling failed'));
    }, delay);
  }

  private async wake(): Promise<void> {
    if (this.stopped) return;
    try {
      const now = this.clock.now();
      const { ticks, more } = this.schedule.between(this.cursor, now, MAX_MISSED_CHECKED);
      const latest = ticks.at(-1);
      if (latest === undefined) return;
      this.cursor = latest;
      const runnable = this.ctx.spec.catchUp === 'latest' || now - latest <= this.settings.lateToleranceMs;
      await this.missed(runnable ? ticks.slice(0, -1) : ticks, more, now);
      if (runnable) await this.fire(latest, now - latest > this.settings.lateToleranceMs ? 'catch-up' : 'on-time');
    } finally {
      this.arm();
    }
  }

  /** Ticks this node did not run in time: counted once cluster-wide (by whoever claims the fence). */
  private async missed(ticks: number[], unchecked: number, now: number): Promise<void> {
    if (ticks.length === 0 && unchecked === 0) return;
    const claims = await Promise.all(ticks.map((t) => this.ctx.deps.fences.claim(this.fenceKey(t), this.settings.fenceTtlMs).catch(() => true)));
    const missed = ticks.filter((_, i) => claims[i]);
    const count = missed.length + unchecked;
    if (count === 0) return;
    this.counts.missed += count;
    this.ctx.deps.metrics.triggerEvent(this.ctx.fn, 'cron', 'missed', count);
    this.ctx.deps.log.warn(
      {
        fn: this.ctx.fn,
        trigger: this.ctx.index,
        missed: count,
        first: missed[0] === undefined ? undefined : new Date(missed[0]).toISOString(),
        last: missed.at(-1) === undefined ? undefined : new Date(missed.at(-1) as number).toISOString(),
        ...(unchecked > 0 ? { olderUnchecked: unchecked } : {}),
        lateMs: now - (ticks.at(-1) ?? now),
      },
      'cron: ticks missed (the node was down, suspended or its event loop blocked)',
    );
  }

  /** Claim the tick; the winner runs it, or skips it when the previous run is still going. */
  private async fire(tick: number, why: 'on-time' | 'catch-up'): Promise<void> {
    const { fn, index, deps, spec } = this.ctx;
    // The fence store's one failure is not answering: held through it, up to the tick's tolerance.
    const claim = async (): Promise<AttemptResult<boolean>> => {
      try {
        return { ok: true, value: await deps.fences.claim(this.fenceKey(tick), this.settings.fenceTtlMs) };
      } catch (err) {
        return { ok: false, error: new FaasError('FAAS_STATE_UNAVAILABLE', `the fence store did not answer: ${(err as Error).message}`, { cause: err }) };
      }
    };
    // Held through an outage until lateToleranceMs past the tick (or past now, for a catch-up): the
    // claim and every attempt of the invocation, together.
    const until = Math.max(tick, this.clock.now()) + this.settings.lateToleranceMs;
    const claimed = await this.held(tick, until, (options) => holdOnOutage(claim, options));
    if (!claimed.ok) {
      if (this.stopped) return;
      // Without the fence no node can know it is alone: better a missed tick than a double run.
      this.counts.missed++;
      deps.metrics.triggerEvent(fn, 'cron', 'missed');
      deps.log.error({ fn, trigger: index, scheduledTime: new Date(tick).toISOString(), error: describe(claimed.error) }, 'cron: tick fence unavailable past the tick\'s tolerance; tick not run');
      return;
    }
    if (!claimed.value || this.stopped) return;
    const exclusive = spec.overlap === 'skip' || spec.topic !== undefined; // two drains of one group on one node would split it
    if (exclusive && this.inFlight.size > 0) {
      this.counts.skipped++;
      deps.metrics.triggerEvent(fn, 'cron', 'skipped');
      deps.log.warn({ fn, trigger: index, scheduledTime: new Date(tick).toISOString() }, 'cron: tick skipped, the previous run is still going');
      return;
    }
    if (why === 'catch-up') {
      this.counts.caughtUp++;
      deps.metrics.triggerEvent(fn, 'cron', 'caught-up');
      deps.log.info({ fn, trigger: index, scheduledTime: new Date(tick).toISOString() }, 'cron: running the most recent missed tick (catchUp: latest)');
    }
    const run = this.run(tick, until).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private async run(tick: number, until: number): Promise<void> {
    const { fn, index, deps, spec } = this.ctx;
    const scheduledTime = new Date(tick).toISOString();
    const base = { scheduledTime, localTime: this.schedule.format(tick), firedAt: new Date(this.clock.now()).toISOString() };
    let outcome: TickOutcome = 'failed';
    try {
      if (spec.topic === undefined) {
        outcome = (await this.invoke(tick, until, base)) ? 'success' : 'failed';
      } else {
        outcome = await this.drain(tick, until, base, spec.topic);
      }
    } catch (err) {
      deps.log.error({ fn, trigger: index, scheduledTime, err }, 'cron: tick failed');
    }
    this.counts.runs++;
    if (outcome === 'failed') this.counts.failed++;
    this.lastRun = { scheduledTime, outcome };
    deps.metrics.triggerEvent(fn, 'cron', outcome);
  }

  /** Invoke with the manifest's retry policy; resolves true on success. Failures are logged here. */
  private async invoke(tick: number, until: number, data: Record<string, unknown>): Promise<boolean> {
    const { fn, index, deps, spec, manifest } = this.ctx;
    const scheduledTime = new Date(tick).toISOString();
    const input = {
      data,
      type: 'faas.cron.tick',
      source: `cron://${fn}/${index}`,
      eventId: this.fenceKey(tick),
      time: scheduledTime,
      extensions: { schedule: { expression: spec.schedule, timezone: spec.timezone, scheduledTime, localTime: this.schedule.format(tick) } },
    };
    const outcome = await retry<InvocationResult>(
      () =>
        this.held(tick, until, (options) =>
          holdOnOutage(async () => {
            const result = await deps.invoker.invoke(fn, input);
            return result.error === undefined ? { ok: true, value: result } : { ok: false, error: result.error, retriable: result.error.retriable };
          }, options),
        ),
      manifest.retry,
      {
        clock: this.clock,
        signal: this.abort.signal,
        random: this.settings.random,
        onRetry: ({ attempt, delayMs, error }) => {
          deps.metrics.triggerEvent(fn, 'cron', 'retry');
          deps.log.warn({ fn, trigger: index, scheduledTime, attempt, delayMs, error: describe(error) }, 'cron: invocation failed, retrying');
        },
      },
    );
    if (outcome.ok) return true;
    deps.log.error(
      { fn, trigger: index, scheduledTime, attempts: outcome.attempts, aborted: outcome.aborted, error: describe(outcome.error) },
      'cron: invocation failed; the schedule goes on',
    );
    return false;
  }

  /** A scheduled drain: collect what accumulated, invoke once, commit only after success. */
  private async drain(tick: number, until: number, base: Record<string, unknown>, topic: string): Promise<TickOutcome> {
    const { fn, index, deps, spec } = this.ctx;
    const group = spec.group ?? `faas.${fn}.cron`;
    if (!this.drainTopicReady) {
      await deps.eventLog.ensureTopic(topic); // a drain of a topic nobody produced to yet is an empty drain, not an error
      this.drainTopicReady = true;
    }
    const drained = await collectDrain(deps.eventLog, {
      topic,
      group,
      maxRecords: spec.maxRecords,
      clock: this.clock,
      timeoutMs: this.settings.drainTimeoutMs,
      signal: this.abort.signal,
      onError: (err) => deps.log.warn({ fn, trigger: index, topic, group, err }, 'cron: drain consumer error'),
    });
    try {
      const records = drained.records.map((r) => decodeRecord(r, spec.encoding));
      const ok = await this.invoke(tick, until, { ...base, topic, group, records, more: drained.more });
      if (!ok) return 'failed';
      const uncommitted = await drained.commit();
      if (uncommitted.length > 0) {
        deps.log.warn({ fn, trigger: index, topic, group, partitions: uncommitted }, 'cron: drain partitions revoked before commit; their records come again next tick');
      }
      return 'success';
    } finally {
      await drained.release();
    }
  }

  /**
   * Runs `hold` (retry.ts holdOnOutage) with the tick's options: held until `until` or the stop;
   * counted in the status while it holds.
   */
  private async held<T>(tick: number, until: number, hold: (options: HoldOptions) => Promise<T>): Promise<T> {
    const { fn, index, deps, manifest } = this.ctx;
    let holding = false;
    try {
      return await hold({
        policy: manifest.retry,
        clock: this.clock,
        signal: this.abort.signal,
        active: () => !this.stopped && this.clock.now() < until,
        onHeld: (error) => {
          const { code, message } = toFaasError(error);
          this.counts.held++;
          this.lastOutage = { code, message, at: new Date(this.clock.now()).toISOString() };
          deps.metrics.triggerEvent(fn, 'cron', 'held');
          if (holding) return;
          holding = true;
          this.holding++;
          deps.log.warn({ fn, trigger: index, scheduledTime: new Date(tick).toISOString(), error: { code, message } }, 'cron: tick held, a service it needs did not answer');
        },
      });
    } finally {
      if (holding) this.holding--;
    }
  }

  private fenceKey(tick: number): string {
    return `cron:${this.ctx.fn}:${this.ctx.index}:${tick}`;
  }
}

function describe(err: unknown): Record<string, unknown> {
  const e = toFaasError(err);
  return { code: e.code, message: e.message };
}
