/**
 * The scaling decision of a lag trigger, as a pure function of what the lag watcher saw: how many
 * instances (partitions processed in parallel on this node) the function should run now, and why.
 *
 * - Up fast: a higher target applies at the next poll.
 * - Down slowly: the target is the highest one seen during `scaleDownStabilizationMs` (as the
 *   Kubernetes HPA's stabilisation window), so a lag that dips between two batches does not flap.
 * - To zero only after `cooldownMs` without lag; from zero only when the lag is above `activationLag`.
 * - Never more than the partitions this node owns (another instance would have nothing to read),
 *   nor than `maxInstances`; a stuck partition counts for one instance, not for its whole lag.
 */
import type { LagTrigger } from '../core/trigger-specs.ts';

export const DEFAULT_LAG_PER_INSTANCE = 100;

export type ScalePolicy = Pick<LagTrigger, 'activationLag' | 'lagPerInstance' | 'targetDrainSeconds' | 'minInstances' | 'scaleDownStabilizationMs' | 'cooldownMs'> & {
  /** Resolved: the trigger's maxInstances or the function's scaling.maxInstances. */
  maxInstances: number;
};

export interface ScaleInput {
  now: number;
  /** Instances running now. */
  current: number;
  /** Lag of the partitions that drive scaling (owned, not stuck). */
  lag: number;
  /** Owned partitions whose lag does not move (each keeps one instance at most). */
  stuck: number;
  /** Partitions this node may process: those it owns, or all of the topic while at zero. */
  partitions: number;
  /** Records/s one instance processes, when observed; used with targetDrainSeconds. */
  ratePerInstance: number | undefined;
  /** When the lag (stuck partitions included) was last above zero; undefined = never seen. */
  lastLagAt: number | undefined;
}

export interface ScaleDecision {
  instances: number;
  /** Why, in words, for `faas status` and the decision log. */
  reason: string;
}

/** Targets seen recently, for the scale-down window. */
export class ScaleHistory {
  private readonly seen: { at: number; target: number }[] = [];

  note(at: number, target: number, windowMs: number): number {
    this.seen.push({ at, target });
    while (this.seen.length > 0 && (this.seen[0] as { at: number }).at < at - windowMs) this.seen.shift();
    return Math.max(...this.seen.map((s) => s.target));
  }

  clear(): void {
    this.seen.length = 0;
  }
}

/** The instance count the lag alone asks for (before windows and cooldowns), with its reason. */
export function target(policy: ScalePolicy, input: ScaleInput): ScaleDecision {
  const cap = Math.min(policy.maxInstances, input.partitions);
  let wanted: number;
  let why: string;
  if (policy.targetDrainSeconds !== undefined && input.ratePerInstance !== undefined && input.ratePerInstance > 0) {
    wanted = Math.ceil(input.lag / (input.ratePerInstance * policy.targetDrainSeconds));
    why = `lag ${input.lag} at ${input.ratePerInstance.toFixed(1)} records/s per instance drains in ${policy.targetDrainSeconds}s with ${wanted}`;
  } else {
    const per = policy.lagPerInstance ?? DEFAULT_LAG_PER_INSTANCE;
    wanted = Math.ceil(input.lag / per);
    why = `lag ${input.lag} / lagPerInstance ${per} = ${wanted}`;
  }
  if (input.stuck > 0) {
    wanted += input.stuck;
    why += ` + ${input.stuck} stuck partition(s)`;
  }
  const floor = Math.min(cap, Math.max(policy.minInstances, input.lag > 0 || input.stuck > 0 ? 1 : 0));
  if (wanted > cap) return { instances: cap, reason: `${why}, capped at ${cap} (${cap === input.partitions ? 'partitions' : 'maxInstances'})` };
  if (wanted < floor) return { instances: floor, reason: `${why}, raised to ${floor}${policy.minInstances === floor ? ' (minInstances)' : ''}` };
  return { instances: wanted, reason: why };
}

/** The instance count to run now. `history` keeps the scale-down window between calls. */
export function decide(policy: ScalePolicy, input: ScaleInput, history: ScaleHistory): ScaleDecision {
  const t = target(policy, input);
  if (input.current === 0) {
    if (t.instances === 0) return { instances: 0, reason: 'idle: no lag' };
    if (policy.minInstances === 0 && input.lag + input.stuck <= policy.activationLag) {
      return { instances: 0, reason: `lag ${input.lag} not above activationLag ${policy.activationLag}` };
    }
    history.clear();
    history.note(input.now, t.instances, policy.scaleDownStabilizationMs);
    return { instances: t.instances, reason: `wake: ${t.reason}` };
  }
  // The window never holds instances above what this node may run now (a rebalance took partitions).
  const windowed = Math.min(history.note(input.now, t.instances, policy.scaleDownStabilizationMs), policy.maxInstances, input.partitions);
  if (t.instances >= input.current) return t.instances === input.current ? { instances: input.current, reason: `steady: ${t.reason}` } : { instances: t.instances, reason: `up: ${t.reason}` };
  if (t.instances === 0) {
    const idleFor = input.lastLagAt === undefined ? Infinity : input.now - input.lastLagAt;
    if (idleFor >= policy.cooldownMs && windowed === 0) return { instances: 0, reason: `to zero: no lag for ${Math.round(Math.min(idleFor, 1e9))} ms (cooldown ${policy.cooldownMs} ms)` };
    const keep = Math.max(1, Math.min(input.current, windowed));
    return keep < input.current
      ? { instances: keep, reason: `down: no lag, stabilised at ${keep} (highest target in ${policy.scaleDownStabilizationMs} ms)` }
      : { instances: input.current, reason: `cooling down: no lag for ${Math.round(idleFor)} ms of ${policy.cooldownMs} ms` };
  }
  const next = Math.min(input.current, Math.max(windowed, t.instances));
  if (next < input.current) return { instances: next, reason: `down: ${t.reason}; stabilised at ${next}` };
  return { instances: input.current, reason: `holding ${input.current}: ${t.reason}; a higher target was seen in the last ${policy.scaleDownStabilizationMs} ms` };
}
