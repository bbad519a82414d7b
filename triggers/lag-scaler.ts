/**
 * The control loop of one lag trigger on one node: every `pollMs` it reads the lag (LagWatcher),
 * decides the instance count (scale-policy.ts) and applies it.
 *
 * - 0 → n (wake): the group's consumer joins (one member per node) with a gate of n; the sandbox
 *   keeps n × keyConcurrency instances loaded.
 * - n → m: the gate is resized. Every owned partition is already fetched and waiting at the gate,
 *   so a new instance starts on the next partition at once, with no rebalance.
 * - n → 0: the consumer stops (in-flight batches finish and commit, then it leaves the group) and
 *   the sandbox releases the function's idle instances.
 * - A read that fails (broker not answering, topic missing) changes nothing: the last decision holds
 *   and the view reports unhealthy until a read succeeds.
 * - A change runs beside the polls, not in them: joining or leaving the group takes as long as the
 *   broker takes to answer, and meanwhile the lag is still read and the view's health kept current.
 */
import type { Manifest } from '../core/manifest.ts';
import type { LagTrigger } from '../core/trigger-specs.ts';
import type { RunningTrigger, TriggerDeps } from '../scheduler/trigger-source.ts';
import type { ScaleDecisionRecord, ScaleStatus } from '../scheduler/scale-registry.ts';
import { ConcurrencyGate } from './concurrency-gate.ts';
import { LagWatcher, type LagSample } from './lag-watcher.ts';
import { decide, DEFAULT_LAG_PER_INSTANCE, ScaleHistory, type ScalePolicy } from './scale-policy.ts';
import { startConsumer, startOf, type RunningConsumer } from './topic.ts';

const DECISIONS_KEPT = 20;

export interface LagScalerOptions {
  fn: string;
  manifest: Readonly<Manifest>;
  spec: LagTrigger;
  groupId: string;
  deps: TriggerDeps;
}

export class LagScaler implements RunningTrigger {
  private readonly o: LagScalerOptions;
  private readonly policy: ScalePolicy;
  private readonly watcher: LagWatcher;
  private readonly history = new ScaleHistory();
  private readonly gate = new ConcurrencyGate(0);
  private readonly decisions: ScaleDecisionRecord[] = [];
  private consumer: RunningConsumer | undefined;
  private sample: LagSample | undefined;
  private reason = 'starting';
  private error: string | undefined;
  private lastLagAt: number | undefined;
  private ratePerInstance: number | undefined;
  private timer: { cancel(): void } | undefined;
  private ticking: Promise<void> = Promise.resolve();
  /** The change of instance count in progress, if any: no new decision until it is done. */
  private applying: Promise<void> | undefined;
  private pinning: Promise<void> | undefined;
  private lastPinAt = -Infinity;
  private stopped = false;
  private unregister: () => void = () => undefined;

  constructor(options: LagScalerOptions) {
    this.o = options;
    const { spec, manifest } = options;
    this.policy = { ...spec, maxInstances: spec.maxInstances ?? manifest.scaling.maxInstances };
    this.watcher = new LagWatcher({
      eventLog: options.deps.eventLog,
      groupId: options.groupId,
      topic: spec.topic,
      start: startOf(spec),
      stuckAfterMs: spec.stuckAfterMs,
      timeoutMs: Math.min(5000, Math.max(1000, spec.pollMs * 4)),
      clock: options.deps.clock,
    });
  }

  /** Pin the group's start, publish the view, take the first decision, and poll from then on. */
  async start(): Promise<void> {
    const { deps, spec, groupId } = this.o;
    await deps.eventLog.ensureTopic(spec.topic);
    // A group created now starts here even if its first consumer joins much later (a function
    // deployed at zero must not skip the records that wake it, as "latest" at join time would).
    await deps.eventLog.pinStart(groupId, spec.topic, startOf(spec));
    this.unregister = deps.scales.register(this.o.fn, () => this.view());
    await this.tick();
    await this.applying;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.unregister();
    await this.ticking;
    await this.applying;
    await this.pinning;
    await this.sleep();
  }

  status(): Record<string, unknown> {
    return this.view() as unknown as Record<string, unknown>;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.deps.clock.setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule());
    }, this.o.spec.pollMs);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { deps, fn } = this.o;
    let sample: LagSample;
    try {
      sample = await this.watcher.read(this.consumer?.assignment(), this.consumer !== undefined);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.error === undefined) deps.log.warn({ fn, topic: this.o.spec.topic, err }, 'lag unreadable; keeping the last scaling decision');
      this.error = message;
      return;
    }
    if (this.error !== undefined) deps.log.info({ fn, topic: this.o.spec.topic }, 'lag readable again');
    this.error = undefined;
    this.sample = sample;
    const current = this.gate.limit;
    if (sample.owned > 0) this.lastLagAt = sample.at;
    if (current > 0 && sample.rates.processed > 0) this.ratePerInstance = sample.rates.processed / current;
    if (current === 0 && this.applying === undefined) this.repin(sample);
    // Still joining or leaving the group (a broker that hangs can make that take minutes), or pinning
    // (kafkajs pins through a consumer in the group): the lag was read and reported; the next
    // decision waits until that is done.
    if (this.applying !== undefined || this.pinning !== undefined) return;
    const d = decide(
      this.policy,
      {
        now: sample.at,
        current,
        lag: sample.scaling,
        stuck: sample.stuckOwned,
        partitions: sample.ownedCount,
        ratePerInstance: this.ratePerInstance,
        lastLagAt: this.lastLagAt,
      },
      this.history,
    );
    this.reason = d.reason;
    if (d.instances === current || this.stopped) return;
    const applying = this.apply(current, d.instances, d.reason)
      .catch((err: unknown) => deps.log.warn({ fn, err }, 'lag trigger could not apply its scaling decision'))
      .finally(() => {
        if (this.applying === applying) this.applying = undefined;
      });
    this.applying = applying;
  }

  /**
   * At zero, partitions without a committed offset are pinned to the start again, as at deploy. A
   * commit vanishes when the topic is deleted and re-created, or when Kafka expires the offsets of a
   * group that stayed empty for offsets.retention.minutes (7 days by default): with start "latest"
   * the position would then follow the end, the lag read 0 for ever, and new records would never
   * wake the function (found by test/integration/lag-broker.test.ts). At most every 5 s, one at a time.
   */
  private repin(sample: LagSample): void {
    if (this.pinning !== undefined || this.stopped || sample.at - this.lastPinAt < 5000) return;
    if (!sample.partitions.some((p) => p.position === 'start-policy')) return;
    this.lastPinAt = sample.at;
    const { deps, fn, spec, groupId } = this.o;
    this.pinning = deps.eventLog
      .pinStart(groupId, spec.topic, startOf(spec))
      .then((pinned) => {
        if (pinned.length > 0) deps.log.info({ fn, topic: spec.topic, partitions: pinned }, 'lag trigger pinned the start of partitions without a committed offset');
      })
      .catch((err: unknown) => deps.log.warn({ fn, topic: spec.topic, err }, 'lag trigger could not pin the start of its group'))
      .finally(() => {
        this.pinning = undefined;
      });
  }

  private async apply(from: number, to: number, reason: string): Promise<void> {
    const { deps, fn, spec } = this.o;
    if (from === 0) {
      this.gate.resize(to);
      deps.sandbox.reserve(fn, to * spec.keyConcurrency);
      try {
        this.consumer = await startConsumer({
          fn,
          manifest: this.o.manifest,
          topic: spec.topic,
          groupId: this.o.groupId,
          start: startOf(spec),
          spec,
          deps,
          triggerType: 'lag',
          gate: this.gate,
        });
      } catch (err) {
        this.gate.resize(0);
        deps.sandbox.reserve(fn, 0);
        this.reason = `wake failed: ${err instanceof Error ? err.message : String(err)}`;
        deps.log.warn({ fn, err }, 'lag trigger could not start its consumer; trying again at the next poll');
        return;
      }
      this.watcher.resetMotion();
    } else if (to === 0) {
      await this.sleep();
    } else {
      this.gate.resize(to);
      // New slots that what is already fetched cannot fill: end the current fetch's batches at their
      // next series so kafkajs fetches again (it does only once every batch of a fetch returned).
      if (to > from && this.gate.active < to) this.gate.refetch();
      deps.sandbox.reserve(fn, to * spec.keyConcurrency);
    }
    const direction = from === 0 ? 'wake' : to === 0 ? 'zero' : to > from ? 'up' : 'down';
    deps.metrics.scaleDecision(fn, direction);
    this.decisions.push({ at: new Date(deps.clock.now()).toISOString(), from, to, reason });
    if (this.decisions.length > DECISIONS_KEPT) this.decisions.shift();
    deps.log.info({ fn, from, to, reason }, 'lag trigger scaled');
  }

  /** Consumer out of the group (in-flight work committed), sandbox instances released. */
  private async sleep(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    this.gate.resize(0);
    if (consumer !== undefined) await consumer.stop();
    this.watcher.resetMotion();
    this.o.deps.sandbox.reserve(this.o.fn, 0);
  }

  private view(): ScaleStatus {
    const s = this.sample;
    const { spec } = this.o;
    return {
      function: this.o.fn,
      topic: spec.topic,
      group: this.o.groupId,
      healthy: this.error === undefined && s !== undefined,
      ...(this.error !== undefined ? { error: this.error } : {}),
      ...(s !== undefined ? { readAt: new Date(s.at).toISOString() } : {}),
      lag: { total: s?.total ?? 0, owned: s?.owned ?? 0, partitions: s?.partitions ?? [] },
      rates: s?.rates ?? { produced: 0, processed: 0, lagChange: 0, drainSeconds: null },
      instances: { current: this.gate.limit, active: this.gate.active, min: spec.minInstances, max: this.policy.maxInstances, partitions: s?.ownedCount ?? 0 },
      target: {
        activationLag: spec.activationLag,
        ...(spec.targetDrainSeconds !== undefined ? { targetDrainSeconds: spec.targetDrainSeconds } : { lagPerInstance: spec.lagPerInstance ?? DEFAULT_LAG_PER_INSTANCE }),
      },
      reason: this.reason,
      decisions: [...this.decisions],
    };
  }
}
