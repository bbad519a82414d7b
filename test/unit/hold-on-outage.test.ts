/**
 * holdOnOutage (triggers/retry.ts): an attempt that fails with an outage (a dependency did not
 * answer) is tried again after growing waits, capped at HOLD_MAX_MS, and counts as one attempt;
 * other failures and successes pass through; a hold cut short answers the outage, not retriable.
 */
import { describe, expect, it } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import type { Clock } from '../../scheduler/ports.ts';
import { HOLD_MAX_MS, holdOnOutage, type AttemptResult } from '../../triggers/retry.ts';

/** A clock whose timers fire at once, recording the delays asked for. */
function instantClock(): Clock & { waits: number[] } {
  const waits: number[] = [];
  return { waits, now: () => 0, setTimeout: (fn, ms) => (waits.push(ms), setImmediate(fn), { cancel: () => undefined }) };
}

const outage = () => new FaasError('FAAS_STATE_UNAVAILABLE', 'redis did not answer');
const policy = { maxAttempts: 3, backoffMs: 200, maxBackoffMs: 30_000 };

function answers(list: (FaasError | 'ok' | 'throw-outage')[]): () => Promise<AttemptResult<string>> {
  let i = 0;
  return async () => {
    const a = list[i++] ?? 'ok';
    if (a === 'ok') return { ok: true, value: 'done' };
    if (a === 'throw-outage') throw outage();
    return { ok: false, error: a, retriable: a.retriable };
  };
}

describe('holdOnOutage', () => {
  it('tries again through outages (thrown or answered), waiting longer each time up to HOLD_MAX_MS, then answers the success', async () => {
    const clock = instantClock();
    const held: number[] = [];
    const r = await holdOnOutage(answers([...Array.from({ length: 8 }, outage), 'throw-outage', 'ok']), { policy, clock, onHeld: (_e, n) => held.push(n) });
    expect(r).toEqual({ ok: true, value: 'done' });
    expect(held).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(clock.waits[0]).toBeGreaterThanOrEqual(100); // backoffMs 200, equal jitter
    expect(Math.max(...clock.waits)).toBeLessThanOrEqual(HOLD_MAX_MS);
    expect(clock.waits.at(-1)).toBeGreaterThanOrEqual(HOLD_MAX_MS / 2);
  });

  it('passes other failures through at once', async () => {
    const boom = new FaasError('FAAS_HANDLER_ERROR', 'boom');
    expect(await holdOnOutage(answers([outage(), boom]), { policy, clock: instantClock() })).toEqual({ ok: false, error: boom, retriable: true });
  });

  it('a hold cut short (no longer active, before or during a wait, or aborted) answers the outage, not retriable', async () => {
    const cut = await holdOnOutage(answers([outage(), outage()]), { policy, clock: instantClock(), active: () => false });
    expect(cut).toMatchObject({ ok: false, retriable: false, error: { code: 'FAAS_STATE_UNAVAILABLE' } });
    // Ended during a wait (a partition revoked meanwhile): no further try.
    let active = true;
    let tries = 0;
    const clock = instantClock();
    const during = await holdOnOutage(
      async () => {
        tries++;
        return { ok: false, error: outage() };
      },
      { policy, clock: { ...clock, setTimeout: (fn, ms) => clock.setTimeout(() => ((active = false), fn()), ms) }, active: () => active },
    );
    expect(during).toMatchObject({ ok: false, retriable: false });
    expect(tries).toBe(1);
    const aborted = new AbortController();
    aborted.abort();
    expect(await holdOnOutage(answers([outage()]), { policy, clock: instantClock(), signal: aborted.signal })).toMatchObject({ ok: false, retriable: false });
  });
});
