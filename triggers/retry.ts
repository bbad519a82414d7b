/**
 * Retry with exponential backoff and jitter on an injected clock, shared by the triggers (cron
 * ticks, topic records). The attempt reports its outcome as data; a thrown value counts as a failed
 * attempt, retriable unless it says otherwise (`retriable: false`, as FaasError carries).
 */
import type { Clock } from '../scheduler/ports.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included (≥ 1). */
  maxAttempts: number;
  /** Delay before the first retry; doubles per retry. */
  backoffMs: number;
  /** Upper bound of one delay. */
  maxBackoffMs: number;
}

export type AttemptResult<T> = { ok: true; value: T } | { ok: false; error: unknown; /** Default true. */ retriable?: boolean };

export type RetryOutcome<T> =
  | { ok: true; value: T; attempts: number }
  | { ok: false; error: unknown; attempts: number; /** True when the signal ended the retries. */ aborted: boolean };

export interface RetryOptions {
  clock: Clock;
  /** Aborting stops waiting at once and makes no further attempt (the running one is not interrupted). */
  signal?: AbortSignal;
  /** Called before each wait, with the attempt that failed (1-based) and the delay chosen. */
  onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void;
  /** Source of jitter in [0, 1); default Math.random. */
  random?: () => number;
}

/**
 * Delay before retry number `retry` (1 = after the first failure): backoffMs·2^(retry−1), capped at
 * maxBackoffMs, then "equal jitter": a random point in its upper half, so retries of many failing
 * nodes spread out but never come sooner than half the nominal delay.
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const nominal = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, retry - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

export async function retry<T>(attempt: (n: number) => Promise<AttemptResult<T>>, policy: RetryPolicy, opts: RetryOptions): Promise<RetryOutcome<T>> {
  const maxAttempts = Math.max(1, Math.floor(policy.maxAttempts));
  let last: unknown;
  for (let n = 1; n <= maxAttempts; n++) {
    if (opts.signal?.aborted) return { ok: false, error: last ?? opts.signal.reason, attempts: n - 1, aborted: true };
    let result: AttemptResult<T>;
    try {
      result = await attempt(n);
    } catch (err) {
      const retriable = (err as { retriable?: unknown } | null)?.retriable;
      result = { ok: false, error: err, retriable: retriable !== false };
    }
    if (result.ok) return { ok: true, value: result.value, attempts: n };
    last = result.error;
    if (result.retriable === false || n === maxAttempts) return { ok: false, error: last, attempts: n, aborted: false };
    const delayMs = backoffDelay(policy, n, opts.random);
    opts.onRetry?.({ attempt: n, delayMs, error: last });
    if (!(await sleep(opts.clock, delayMs, opts.signal))) return { ok: false, error: last, attempts: n, aborted: true };
  }
  return { ok: false, error: last, attempts: maxAttempts, aborted: false };
}

/** Wait on the clock; resolves false when the signal aborted the wait. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Longest wait between two tries of work held by an outage. */
export const HOLD_MAX_MS = 5000;

export interface HoldOptions {
  /** The work's retry policy: held tries wait from its backoffMs, doubling, up to its maxBackoffMs but never past HOLD_MAX_MS (and at least 50 ms). */
  policy: RetryPolicy;
  clock: Clock;
  /** Aborting ends the hold (the work is left to come back). */
  signal?: AbortSignal;
  /** Checked before and after each wait: false ends the hold (e.g. a partition revoked). */
  active?: () => boolean;
  /** Told of each wait, with the outage and how many tries it held so far (1-based). */
  onHeld?(error: unknown, held: number): void;
}

/**
 * One attempt that sits out outages: while it fails with an error marked `outage` (a service the
 * runtime depends on did not answer: ErrorSpec.outage in core/errors.ts), it is tried again after a
 * wait, and those tries are not attempts, since the work is not at fault. Answers the first result
 * that is not an outage; or the outage, `retriable: false`, when the hold was cut short (signal,
 * `active`), for the caller to leave the work to come back.
 */
export async function holdOnOutage<T>(attempt: () => Promise<AttemptResult<T>>, o: HoldOptions): Promise<AttemptResult<T>> {
  const policy = { maxAttempts: 1, backoffMs: Math.max(50, o.policy.backoffMs), maxBackoffMs: Math.min(HOLD_MAX_MS, Math.max(50, o.policy.maxBackoffMs)) };
  for (let held = 1; ; held++) {
    let result: AttemptResult<T>;
    try {
      result = await attempt();
    } catch (err) {
      if (!isOutage(err)) throw err;
      result = { ok: false, error: err };
    }
    if (result.ok || !isOutage(result.error)) return result;
    o.onHeld?.(result.error, held);
    const inactive = () => o.active !== undefined && !o.active();
    // Checked after the wait too: no try is made for work that stopped being ours meanwhile.
    if (inactive() || !(await sleep(o.clock, backoffDelay(policy, held), o.signal)) || inactive()) return { ok: false, error: result.error, retriable: false };
  }
}

/** Whether an error says a dependency did not answer (FaasError.outage). */
export function isOutage(err: unknown): boolean {
  return (err as { outage?: unknown } | null)?.outage === true;
}
