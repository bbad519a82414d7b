/**
 * The lag trigger's scaling decision (triggers/scale-policy.ts) as a pure function: `now` is a plain
 * number, so every window and cooldown is driven by the inputs, never by timers.
 */
import { describe, expect, it } from 'vitest';
import { decide, DEFAULT_LAG_PER_INSTANCE, ScaleHistory, target, type ScaleInput, type ScalePolicy } from '../../triggers/scale-policy.ts';

const POLICY: ScalePolicy = {
  activationLag: 0,
  lagPerInstance: 100,
  minInstances: 0,
  maxInstances: 8,
  scaleDownStabilizationMs: 1000,
  cooldownMs: 3000,
};

function policy(over: Partial<ScalePolicy> = {}): ScalePolicy {
  const p = { ...POLICY, ...over };
  // targetDrainSeconds and lagPerInstance are exclusive in a manifest (lag.ts validates it).
  if (over.targetDrainSeconds !== undefined && over.lagPerInstance === undefined) delete p.lagPerInstance;
  return p;
}

function input(over: Partial<ScaleInput> = {}): ScaleInput {
  return { now: 0, current: 0, lag: 0, stuck: 0, partitions: 8, ratePerInstance: undefined, lastLagAt: undefined, ...over };
}

/**
 * Feeds a sequence of polls to decide() as the scaler does: the count it answers becomes the next
 * poll's `current`, and `lastLagAt` follows the lag. Answers every decision.
 */
function run(p: ScalePolicy, polls: { now: number; lag: number; partitions?: number; stuck?: number }[], start: { current?: number; history?: ScaleHistory } = {}) {
  const history = start.history ?? new ScaleHistory();
  let current = start.current ?? 0;
  let lastLagAt: number | undefined;
  return polls.map((poll) => {
    if (poll.lag > 0 || (poll.stuck ?? 0) > 0) lastLagAt = poll.now;
    const d = decide(p, input({ now: poll.now, current, lag: poll.lag, stuck: poll.stuck ?? 0, partitions: poll.partitions ?? 8, lastLagAt }), history);
    current = d.instances;
    return d;
  });
}

describe('target: the count the lag alone asks for', () => {
  it('is ceil(lag / lagPerInstance)', () => {
    expect(target(policy(), input({ lag: 1 })).instances).toBe(1);
    expect(target(policy(), input({ lag: 100 })).instances).toBe(1);
    expect(target(policy(), input({ lag: 101 })).instances).toBe(2);
    const t = target(policy(), input({ lag: 250 }));
    expect(t).toEqual({ instances: 3, reason: 'lag 250 / lagPerInstance 100 = 3' });
    expect(target(policy(), input({ lag: 0 })).instances).toBe(0);
  });

  it('uses the default lagPerInstance when neither it nor targetDrainSeconds is given', () => {
    const p = policy();
    delete p.lagPerInstance;
    expect(target(p, input({ lag: DEFAULT_LAG_PER_INSTANCE * 3 + 1 }))).toMatchObject({ instances: 4, reason: expect.stringContaining(`lagPerInstance ${DEFAULT_LAG_PER_INSTANCE}`) });
  });

  it('is capped at the partitions this node may process, and the reason says so', () => {
    const t = target(policy(), input({ lag: 5000, partitions: 3 }));
    expect(t.instances).toBe(3);
    expect(t.reason).toMatch(/capped at 3 \(partitions\)$/);
  });

  it('is capped at maxInstances, and the reason says so', () => {
    const t = target(policy({ maxInstances: 2 }), input({ lag: 5000, partitions: 8 }));
    expect(t.instances).toBe(2);
    expect(t.reason).toMatch(/capped at 2 \(maxInstances\)$/);
  });

  it('with targetDrainSeconds and an observed rate: ceil(lag / (rate per instance × seconds))', () => {
    const p = policy({ targetDrainSeconds: 5 });
    // 50 records/s per instance drains 250 records in 5 s: 1000 records need 4 instances.
    const t = target(p, input({ lag: 1000, ratePerInstance: 50 }));
    expect(t.instances).toBe(4);
    expect(t.reason).toBe('lag 1000 at 50.0 records/s per instance drains in 5s with 4');
    expect(target(p, input({ lag: 1001, ratePerInstance: 50 })).instances).toBe(5);
    // A faster instance needs fewer.
    expect(target(p, input({ lag: 1000, ratePerInstance: 200 })).instances).toBe(1);
  });

  it('with targetDrainSeconds but no observed rate (yet), falls back to lagPerInstance', () => {
    const p = policy({ targetDrainSeconds: 5 });
    expect(p.lagPerInstance).toBeUndefined();
    for (const rate of [undefined, 0]) {
      const t = target(p, input({ lag: 350, ratePerInstance: rate }));
      expect(t).toEqual({ instances: 4, reason: `lag 350 / lagPerInstance ${DEFAULT_LAG_PER_INSTANCE} = 4` });
    }
  });

  it('counts a stuck partition as one instance, not by its lag', () => {
    // The stuck partitions' lag is not in `lag` (the watcher keeps it out); each adds one instance.
    const t = target(policy(), input({ lag: 150, stuck: 2 }));
    expect(t.instances).toBe(4);
    expect(t.reason).toBe('lag 150 / lagPerInstance 100 = 2 + 2 stuck partition(s)');
    expect(target(policy(), input({ lag: 0, stuck: 1 })).instances).toBe(1);
  });

  it('never goes below minInstances (within the cap), and says so', () => {
    const t = target(policy({ minInstances: 2 }), input({ lag: 0 }));
    expect(t).toMatchObject({ instances: 2, reason: expect.stringContaining('raised to 2 (minInstances)') });
    // Never more than the partitions, even for minInstances.
    expect(target(policy({ minInstances: 4 }), input({ lag: 0, partitions: 3 })).instances).toBe(3);
  });
});

describe('decide: waking from zero', () => {
  it('wakes only when the lag is above activationLag', () => {
    const p = policy({ activationLag: 50 });
    const h = new ScaleHistory();
    expect(decide(p, input({ lag: 0 }), h)).toEqual({ instances: 0, reason: 'idle: no lag' });
    expect(decide(p, input({ lag: 50 }), h)).toEqual({ instances: 0, reason: 'lag 50 not above activationLag 50' });
    const woke = decide(p, input({ lag: 51 }), h);
    expect(woke.instances).toBe(1);
    expect(woke.reason).toMatch(/^wake: lag 51 /);
  });

  it('activationLag 0 wakes on the first record, straight to the target', () => {
    expect(decide(policy(), input({ lag: 1 }), new ScaleHistory()).instances).toBe(1);
    const d = decide(policy(), input({ lag: 450 }), new ScaleHistory());
    expect(d).toMatchObject({ instances: 5, reason: 'wake: lag 450 / lagPerInstance 100 = 5' });
  });

  it('a wake is capped at the partitions too', () => {
    expect(decide(policy(), input({ lag: 10_000, partitions: 4 }), new ScaleHistory())).toMatchObject({ instances: 4, reason: expect.stringMatching(/^wake: .*capped at 4 \(partitions\)$/) });
  });

  it('with minInstances > 0, wakes at once even without lag', () => {
    const d = decide(policy({ minInstances: 2, activationLag: 1000 }), input({ lag: 0 }), new ScaleHistory());
    expect(d.instances).toBe(2);
    expect(d.reason).toMatch(/^wake: .*\(minInstances\)$/);
  });
});

describe('decide: up fast, down slowly', () => {
  it('scales up at the next poll', () => {
    const d = run(policy(), [
      { now: 0, lag: 150 },
      { now: 100, lag: 420 },
      { now: 200, lag: 790 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([2, 5, 8]);
    expect(d[1]?.reason).toMatch(/^up: lag 420 /);
  });

  it('scales down only to the highest target seen within scaleDownStabilizationMs', () => {
    // Window 1000 ms. 6 instances at t=0, then the lag falls to what needs 2.
    const d = run(policy(), [
      { now: 0, lag: 600 },
      { now: 500, lag: 200 },
      { now: 1000, lag: 200 }, // t=0's 6 is still in the window (it starts at 0)
      { now: 1001, lag: 200 }, // now it is out: the highest left is 2
      { now: 1500, lag: 200 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([6, 6, 6, 2, 2]);
    expect(d[1]?.reason).toMatch(/^holding 6: lag 200 .*a higher target was seen in the last 1000 ms$/);
    expect(d[3]?.reason).toMatch(/^down: lag 200 .*; stabilised at 2$/);
    expect(d[4]?.reason).toMatch(/^steady: /);
  });

  it('steps down through the targets still in the window', () => {
    const d = run(policy(), [
      { now: 0, lag: 800 },
      { now: 400, lag: 500 },
      { now: 800, lag: 300 },
      { now: 1200, lag: 100 }, // 8 (t=0) left the window; 5 (t=400) is the highest left
      { now: 1600, lag: 100 }, // 3 (t=800)
      { now: 2000, lag: 100 }, // window 1000..2000 holds only 1s
      { now: 2401, lag: 100 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([8, 8, 8, 5, 3, 1, 1]);
  });

  it('does not flap: a lag oscillating between high and low within the window keeps the count', () => {
    const polls = Array.from({ length: 40 }, (_, i) => ({ now: i * 100, lag: i % 2 === 0 ? 400 : 20 }));
    const d = run(policy(), polls);
    expect(new Set(d.map((x) => x.instances))).toEqual(new Set([4]));
    // Once the oscillation stops, the count comes down after one window.
    const after = run(policy(), [...polls, { now: 4000, lag: 20 }, { now: 4500, lag: 20 }, { now: 5000, lag: 20 }]);
    expect(after.slice(-3).map((x) => x.instances)).toEqual([4, 4, 1]);
  });

  it('with no window (scaleDownStabilizationMs 0), follows the target down at once', () => {
    const d = run(policy({ scaleDownStabilizationMs: 0 }), [
      { now: 0, lag: 600 },
      { now: 100, lag: 200 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([6, 2]);
  });
});

describe('decide: to zero', () => {
  it('only after cooldownMs without lag, keeping one instance while cooling down', () => {
    // Window 1000, cooldown 3000. Lag last seen at t=500.
    const d = run(policy(), [
      { now: 0, lag: 300 },
      { now: 500, lag: 100 },
      { now: 1000, lag: 0 },
      { now: 1600, lag: 0 }, // window clear of the 3 (t=0 < 600); the 1 of t=500 remains
      { now: 2000, lag: 0 },
      { now: 3499, lag: 0 },
      { now: 3500, lag: 0 }, // 3000 ms since the last lag, and the window holds only zeros
    ]);
    expect(d.map((x) => x.instances)).toEqual([3, 3, 3, 1, 1, 1, 0]);
    expect(d[2]?.reason).toBe('cooling down: no lag for 500 ms of 3000 ms');
    expect(d[3]?.reason).toBe('down: no lag, stabilised at 1 (highest target in 1000 ms)');
    expect(d[5]?.reason).toBe('cooling down: no lag for 2999 ms of 3000 ms');
    expect(d[6]?.reason).toBe('to zero: no lag for 3000 ms (cooldown 3000 ms)');
  });

  it('waits for the window to clear even after the cooldown', () => {
    // Window longer than the cooldown: the 4 seen at t=0 keeps instances until t=5000 has passed.
    const p = policy({ scaleDownStabilizationMs: 5000, cooldownMs: 1000 });
    const d = run(p, [
      { now: 0, lag: 400 },
      { now: 100, lag: 0 },
      { now: 2000, lag: 0 }, // no lag for 2000 ms > cooldown, but 4 is in the window
      { now: 5000, lag: 0 },
      { now: 5001, lag: 0 }, // t=0 left the window; t=100..5000 were all 0
    ]);
    expect(d.map((x) => x.instances)).toEqual([4, 4, 4, 4, 0]);
    expect(d[2]?.reason).toMatch(/^cooling down/);
    expect(d[4]?.reason).toMatch(/^to zero: /);
  });

  it('a lag that comes back during the cooldown starts it again', () => {
    const d = run(policy({ cooldownMs: 1000, scaleDownStabilizationMs: 0 }), [
      { now: 0, lag: 50 },
      { now: 500, lag: 0 },
      { now: 1200, lag: 10 }, // lag again at 1200
      { now: 1300, lag: 0 },
      { now: 2100, lag: 0 }, // 900 ms since: still cooling
      { now: 2200, lag: 0 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([1, 1, 1, 1, 1, 0]);
  });

  it('a node that never saw lag (lastLagAt undefined) goes to zero once the window is clear', () => {
    const h = new ScaleHistory();
    const p = policy({ scaleDownStabilizationMs: 0 });
    expect(decide(p, input({ now: 10, current: 2, lag: 0, lastLagAt: undefined }), h)).toMatchObject({ instances: 0, reason: expect.stringMatching(/^to zero: /) });
  });

  it('never goes to zero while minInstances > 0, however long without lag', () => {
    const p = policy({ minInstances: 2 });
    const d = run(p, [
      { now: 0, lag: 800 },
      ...Array.from({ length: 20 }, (_, i) => ({ now: 1000 + i * 10_000, lag: 0 })),
    ]);
    expect(d[0]?.instances).toBe(8);
    expect(d.at(-1)?.instances).toBe(2);
    expect(Math.min(...d.map((x) => x.instances))).toBe(2);
    expect(d.at(-1)?.reason).toMatch(/minInstances/);
  });
});

describe('decide: stuck partitions and rebalances', () => {
  it('a stuck partition holds one instance and does not pin the count at its lag', () => {
    // A partition with 10 000 records of lag that does not move: its lag is out of `lag`, so the count
    // is the other partitions' need plus one.
    const d = run(policy(), [
      { now: 0, lag: 600 },
      { now: 2000, lag: 0, stuck: 1 },
      { now: 10_000, lag: 0, stuck: 1 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([6, 1, 1]);
    expect(d[2]?.reason).toMatch(/\+ 1 stuck partition\(s\)/);
  });

  it('stuck partitions alone never let it reach zero', () => {
    const d = run(policy({ cooldownMs: 0, scaleDownStabilizationMs: 0 }), [
      { now: 0, lag: 100 },
      { now: 100_000, lag: 0, stuck: 2 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([1, 2]);
  });

  it('a rebalance that takes partitions caps the count at once, window or not', () => {
    const h = new ScaleHistory();
    const p = policy({ scaleDownStabilizationMs: 60_000 });
    const d = run(p, [
      { now: 0, lag: 800, partitions: 8 },
      { now: 100, lag: 800, partitions: 8 },
      { now: 200, lag: 400, partitions: 3 }, // another node joined and took 5 partitions
      { now: 300, lag: 400, partitions: 3 },
    ], { history: h });
    expect(d.map((x) => x.instances)).toEqual([8, 8, 3, 3]);
    expect(d[2]?.reason).toMatch(/^down: .*capped at 3 \(partitions\); stabilised at 3$/);
    // Partitions given back: up again at once.
    const more = run(p, [{ now: 400, lag: 800, partitions: 8 }], { history: h, current: 3 });
    expect(more[0]?.instances).toBe(8);
  });

  it('a rebalance to fewer partitions while cooling down caps too', () => {
    const d = run(policy({ scaleDownStabilizationMs: 60_000, cooldownMs: 60_000 }), [
      { now: 0, lag: 800, partitions: 8 },
      { now: 100, lag: 0, partitions: 8 },
      { now: 200, lag: 0, partitions: 2 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([8, 8, 2]);
  });

  it('a node left with no partitions keeps one instance (its group membership) until the cooldown, then goes to zero', () => {
    const d = run(policy({ scaleDownStabilizationMs: 60_000, cooldownMs: 1000 }), [
      { now: 0, lag: 400, partitions: 4 },
      { now: 100, lag: 0, partitions: 0 },
      { now: 2000, lag: 0, partitions: 0 },
    ]);
    expect(d.map((x) => x.instances)).toEqual([4, 1, 0]);
  });
});

describe('ScaleHistory', () => {
  it('answers the highest target within the window, window edges included', () => {
    const h = new ScaleHistory();
    expect(h.note(0, 5, 1000)).toBe(5);
    expect(h.note(500, 2, 1000)).toBe(5);
    expect(h.note(1000, 1, 1000)).toBe(5);
    expect(h.note(1001, 1, 1000)).toBe(2);
    expect(h.note(1501, 0, 1000)).toBe(1);
    h.clear();
    expect(h.note(1600, 0, 1000)).toBe(0);
  });
});
