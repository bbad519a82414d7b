/**
 * The resizable semaphore behind a lag trigger's instances (triggers/concurrency-gate.ts): work is
 * driven by deferred promises the test resolves, so every step is explicit.
 */
import { describe, expect, it } from 'vitest';
import { ConcurrencyGate } from '../../triggers/concurrency-gate.ts';

/** Let promise continuations run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Work items the test finishes by hand; records which started and the most ever running at once. */
class Jobs {
  readonly started: number[] = [];
  readonly finished: number[] = [];
  running = 0;
  most = 0;
  private readonly done = new Map<number, () => void>();

  /** Queues job `id` at the gate; answers the gate's result. */
  submit(gate: ConcurrencyGate, id: number, stillWanted: () => boolean = () => true): Promise<string | undefined> {
    return gate.run(stillWanted, async () => {
      this.started.push(id);
      this.running++;
      this.most = Math.max(this.most, this.running);
      await new Promise<void>((resolve) => this.done.set(id, resolve));
      this.running--;
      this.finished.push(id);
      return `job ${id}`;
    });
  }

  async finish(id: number): Promise<void> {
    const resolve = this.done.get(id);
    if (resolve === undefined) throw new Error(`job ${id} did not start`);
    resolve();
    await flush();
  }
}

describe('ConcurrencyGate', () => {
  it('runs at most `limit` at once, in arrival order', async () => {
    const gate = new ConcurrencyGate(2);
    const jobs = new Jobs();
    const results = [1, 2, 3, 4, 5].map((id) => jobs.submit(gate, id));
    await flush();
    expect(jobs.started).toEqual([1, 2]);
    expect([gate.active, gate.queued]).toEqual([2, 3]);
    await jobs.finish(1);
    expect(jobs.started).toEqual([1, 2, 3]);
    await jobs.finish(3);
    await jobs.finish(2);
    expect(jobs.started).toEqual([1, 2, 3, 4, 5]);
    await jobs.finish(4);
    await jobs.finish(5);
    expect(await Promise.all(results)).toEqual(['job 1', 'job 2', 'job 3', 'job 4', 'job 5']);
    expect(jobs.most).toBe(2);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
  });

  it('a limit of 0 starts nothing', async () => {
    const gate = new ConcurrencyGate(0);
    const jobs = new Jobs();
    void jobs.submit(gate, 1);
    await flush();
    expect(jobs.started).toEqual([]);
    expect(gate.queued).toBe(1);
    gate.resize(1);
    await flush();
    expect(jobs.started).toEqual([1]);
    await jobs.finish(1);
  });

  it('raising the limit starts waiting work at once, without waiting for running work', async () => {
    const gate = new ConcurrencyGate(1);
    const jobs = new Jobs();
    for (const id of [1, 2, 3, 4, 5]) void jobs.submit(gate, id);
    await flush();
    expect(jobs.started).toEqual([1]);
    gate.resize(4);
    await flush();
    expect(jobs.started).toEqual([1, 2, 3, 4]);
    expect([gate.limit, gate.active, gate.queued]).toEqual([4, 4, 1]);
    for (const id of [1, 2, 3, 4]) await jobs.finish(id);
    await jobs.finish(5);
    expect(jobs.most).toBe(4);
  });

  it('lowering the limit lets running work finish, and starts nothing new until the count is below it', async () => {
    const gate = new ConcurrencyGate(3);
    const jobs = new Jobs();
    for (const id of [1, 2, 3, 4, 5]) void jobs.submit(gate, id);
    await flush();
    expect(jobs.started).toEqual([1, 2, 3]);
    gate.resize(1);
    await flush();
    expect(jobs.finished).toEqual([]); // nothing is cut short
    expect(gate.active).toBe(3);
    await jobs.finish(1);
    expect(jobs.started).toEqual([1, 2, 3]); // 2 running, limit 1
    await jobs.finish(2);
    expect(jobs.started).toEqual([1, 2, 3]); // 1 running, limit 1: still full
    await jobs.finish(3);
    expect(jobs.started).toEqual([1, 2, 3, 4]); // 0 running: one starts
    expect([gate.active, gate.queued]).toEqual([1, 1]);
    await jobs.finish(4);
    expect(jobs.started).toEqual([1, 2, 3, 4, 5]);
    await jobs.finish(5);
    expect(jobs.running).toBe(0);
  });

  it('resizing to zero pauses; a negative size counts as zero', async () => {
    const gate = new ConcurrencyGate(2);
    const jobs = new Jobs();
    void jobs.submit(gate, 1);
    await flush();
    gate.resize(-3);
    expect(gate.limit).toBe(0);
    void jobs.submit(gate, 2);
    await jobs.finish(1);
    expect(jobs.started).toEqual([1]);
    gate.resize(1);
    await flush();
    expect(jobs.started).toEqual([1, 2]);
    await jobs.finish(2);
  });

  it('skips work no longer wanted when its turn comes (stillWanted() checked at start)', async () => {
    const gate = new ConcurrencyGate(1);
    const jobs = new Jobs();
    let wanted = true;
    const first = jobs.submit(gate, 1);
    const second = jobs.submit(gate, 2, () => wanted);
    await flush();
    wanted = false; // e.g. its partition was revoked while it waited
    await jobs.finish(1);
    expect(await first).toBe('job 1');
    expect(await second).toBeUndefined();
    expect(jobs.started).toEqual([1]);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
    // Not wanted from the start (a free slot): skipped too, and the slot is given back.
    expect(await jobs.submit(gate, 3, () => false)).toBeUndefined();
    expect(gate.active).toBe(0);
    const fourth = jobs.submit(gate, 4);
    await flush();
    expect(jobs.started).toEqual([1, 4]);
    await jobs.finish(4);
    expect(await fourth).toBe('job 4');
  });

  it('gives the slot back when the work throws', async () => {
    const gate = new ConcurrencyGate(1);
    await expect(gate.run(() => true, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.active).toBe(0);
    expect(await gate.run(() => true, () => Promise.resolve(7))).toBe(7);
  });

  it('releaseAll wakes every waiter at once (stopping): they see stillWanted() false and leave', async () => {
    const gate = new ConcurrencyGate(1);
    const jobs = new Jobs();
    let stopping = false;
    const wanted = () => !stopping;
    const running = jobs.submit(gate, 1, wanted);
    const waiting = [2, 3, 4].map((id) => jobs.submit(gate, id, wanted));
    await flush();
    expect(gate.queued).toBe(3);
    stopping = true;
    gate.releaseAll();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined, undefined]);
    expect(jobs.started).toEqual([1]); // the waiters never ran
    expect([gate.active, gate.queued]).toEqual([1, 0]); // only the running one holds a slot
    await jobs.finish(1);
    expect(await running).toBe('job 1'); // running work finishes
    expect(gate.active).toBe(0);
  });
});
