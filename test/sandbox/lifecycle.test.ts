/**
 * Instance lifecycle in the IsolateRunner: concurrency bounds and queueing, redeploys, pre-warming
 * and idle eviction. Waits on outcomes (bounded polling of stats), never on fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IsolateRunner } from '../../sandbox/runner.ts';
import { deploy, failureOf, instanceCount, invoke, loadedCount, resultOf, startRunner, waitFor, type HealthyResult } from './helpers.ts';

let runner: IsolateRunner;

beforeAll(async () => {
  // A fast sweep so idle eviction is observable within a test.
  runner = await startRunner({ processes: 2, sweepMs: 50 });
});
afterAll(() => runner.close(2000));

describe('concurrency bounds', () => {
  it('maxInstances 2, maxQueue 1: of four concurrent invocations 2 run, 1 waits and runs, 1 is refused', async () => {
    const fn = await deploy('bounded', { fixture: 'healthy', manifest: { scaling: { maxInstances: 2, maxQueue: 1 } } });

    const outs = await Promise.all([1, 2, 3, 4].map(() => invoke(runner, fn, { ms: 300 }, 5000)));

    const [a, b, c, d] = outs;
    const ra = resultOf<HealthyResult>(a!);
    const rb = resultOf<HealthyResult>(b!);
    const rc = resultOf<HealthyResult>(c!);
    failureOf(d!, 'FAAS_OVERLOADED');
    expect(d!.elapsedMs).toBeLessThan(250); // refused at once, not after waiting
    expect([a!.start, b!.start, c!.start]).toEqual(['cold', 'cold', 'warm']);
    expect(ra.instance).not.toBe(rb.instance);
    expect([ra.instance, rb.instance]).toContain(rc.instance); // the waiter was handed a freed instance
    expect(rc.n).toBe(2);
    expect(c!.elapsedMs).toBeGreaterThanOrEqual(550); // it waited for one to finish
    expect(instanceCount(runner, 'bounded')).toBe(2);
  });
});

describe('redeploy', () => {
  it('v1 finishes on v1 while v2 activates; new invocations get v2; v1\'s instance is never reused', async () => {
    const v1 = await deploy('redeploy', { fixture: 'healthy', version: 1 });
    const v2 = await deploy('redeploy', { fixture: 'healthy', version: 2 });
    const first = resultOf<HealthyResult>(await invoke(runner, v1));

    const slow = invoke(runner, v1, { ms: 600 }, 5000);
    expect(runner.stats().instances['redeploy']?.busy).toBe(1);
    await runner.activate(v2);
    const during = await invoke(runner, v2);
    const old = await slow;

    const rOld = resultOf<HealthyResult>(old);
    expect(rOld).toEqual({ n: 2, instance: first.instance, version: 1 });
    expect(old.start).toBe('warm');
    const rDuring = resultOf<HealthyResult>(during);
    expect(rDuring.version).toBe(2);
    expect(rDuring.instance).not.toBe(first.instance);

    // v1's instance was destroyed when it was released: only v2 instances remain.
    expect(runner.stats().instances['redeploy']).toEqual({ idle: 1, busy: 0, version: 2 });
    const later = await Promise.all([invoke(runner, v2, { ms: 100 }), invoke(runner, v2, { ms: 100 })]);
    for (const out of later) {
      const r = resultOf<HealthyResult>(out);
      expect(r.version).toBe(2);
      expect(r.instance).not.toBe(first.instance);
    }
  });
});

describe('pre-warming and idle eviction', () => {
  it('minWarm 2: two instances are loaded after activation and the first invocation is warm', async () => {
    const fn = await deploy('prewarmed', { fixture: 'healthy', manifest: { scaling: { minWarm: 2 } } });

    await runner.activate(fn);
    await waitFor(() => instanceCount(runner, 'prewarmed'), (n) => n === 2, { what: '2 instances in stats' });
    await waitFor(() => loadedCount(runner, 'prewarmed'), (n) => n === 2, { what: '2 loaded instances' });

    const out = await invoke(runner, fn);
    expect(resultOf<HealthyResult>(out).n).toBe(1);
    expect(out.start).toBe('warm');
    expect(instanceCount(runner, 'prewarmed')).toBe(2);
  });

  it('prewarm(3) with maxInstances 2: two instances load, the first invocation is warm, and unused they go after idleMs', async () => {
    const fn = await deploy('prewarm-asked', { fixture: 'healthy', manifest: { scaling: { maxInstances: 2, idleMs: 100 } } });
    await runner.activate(fn);
    expect(instanceCount(runner, 'prewarm-asked')).toBe(0);

    runner.prewarm('prewarm-asked', 3);
    expect(instanceCount(runner, 'prewarm-asked')).toBe(2);
    await waitFor(() => loadedCount(runner, 'prewarm-asked'), (n) => n === 2, { what: '2 loaded instances' });
    const out = await invoke(runner, fn);
    resultOf(out);
    expect(out.start).toBe('warm');

    // Nothing is reserved: idle, they are evicted like any other.
    await waitFor(() => instanceCount(runner, 'prewarm-asked'), (n) => n === 0, { what: 'eviction of the pre-warmed instances' });
    runner.prewarm('never-deployed', 2);
    expect(instanceCount(runner, 'never-deployed')).toBe(0);
  });

  it('idleMs 100: idle instances above minWarm are evicted; minWarm ones stay', async () => {
    const fn = await deploy('evicted', { fixture: 'healthy', manifest: { scaling: { minWarm: 1, idleMs: 100, maxInstances: 3 } } });
    await runner.activate(fn);

    const outs = await Promise.all([1, 2, 3].map(() => invoke(runner, fn, { ms: 150 })));
    for (const out of outs) resultOf(out);
    expect(instanceCount(runner, 'evicted')).toBe(3);

    await waitFor(() => instanceCount(runner, 'evicted'), (n) => n === 1, { what: 'eviction down to minWarm' });
    // Several more sweeps (50 ms each) must not evict below minWarm: a bounded look, not a wait for an event.
    await new Promise((r) => setTimeout(r, 300));
    expect(instanceCount(runner, 'evicted')).toBe(1);
    const again = await invoke(runner, fn);
    resultOf(again);
    expect(again.start).toBe('warm');
  });

  it('idleMs 100 with minWarm 0: every idle instance goes', async () => {
    const fn = await deploy('evicted-all', { fixture: 'healthy', manifest: { scaling: { idleMs: 100 } } });

    resultOf(await invoke(runner, fn));
    expect(instanceCount(runner, 'evicted-all')).toBe(1);

    await waitFor(() => instanceCount(runner, 'evicted-all'), (n) => n === 0, { what: 'eviction of the idle instance' });
    const again = await invoke(runner, fn);
    expect(resultOf<HealthyResult>(again).n).toBe(1);
    expect(again.start).toBe('cold');
  });
});
