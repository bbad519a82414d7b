/**
 * The commit rule of a partition batch under keyConcurrency: keys of one partition run in parallel,
 * and only the contiguous prefix of completed records is committed, so a key that finishes ahead
 * of an earlier record commits nothing past it. And a record that meets an outage (a dependency
 * unavailable) is held, not dead-lettered. The invoker is the seam: each key's series waits
 * until the test releases it; the clock is manual, so interim commits are allowed at will.
 */
import { describe, expect, it } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import type { LogRecord } from '../../scheduler/event-log.ts';
import { MemoryFenceStore } from '../../scheduler/fence-memory.ts';
import type { RecordRun } from '../../scheduler/record-run.ts';
import type { Invoker, InvokeInput, SeriesOutcome } from '../../scheduler/invoker.ts';
import { PartitionProcessor } from '../../triggers/partition-processor.ts';
import { triggerDeps } from '../support/trigger-deps.ts';

const record = (offset: number, key: string): LogRecord => ({ topic: 't', partition: 0, offset: String(offset), key: Buffer.from(key), value: Buffer.from(String(offset)), headers: {}, timestamp: '1767225600000' });

/** Runs one batch; each key's series (or single record) waits for release(key). */
function harness(records: LogRecord[]) {
  let now = 1_000_000;
  const commits: string[] = [];
  const gates = new Map<string, () => void>();
  const started = new Map<string, Promise<void>>();
  const startedResolve = new Map<string, () => void>();
  for (const key of new Set(records.map((r) => r.key?.toString() ?? ''))) {
    started.set(key, new Promise((resolve) => startedResolve.set(key, resolve)));
  }
  const wait = (items: InvokeInput[] | RecordRun) => {
    const key = (Array.isArray(items) ? items[0] : items.input(0))?.record?.key ?? '';
    startedResolve.get(key)?.();
    return new Promise<void>((resolve) => gates.set(key, resolve));
  };
  const invoker = {
    invokeSeries: async (_fn: string, inputs: InvokeInput[] | RecordRun): Promise<SeriesOutcome> => {
      await wait(inputs);
      return { done: inputs.length, durationMs: 1 };
    },
    invoke: async (_fn: string, input: InvokeInput) => {
      await wait([input]);
      return { invocationId: 'x', correlationId: 'x', function: 'f', version: 1, start: 'warm', durationMs: 1 };
    },
  } as unknown as Invoker;
  const deps = triggerDeps({ invoker, fences: new MemoryFenceStore(), clock: { now: () => now, setTimeout: () => ({ cancel: () => undefined }) } });
  const processor = new PartitionProcessor({
    fn: 'f',
    spec: { mode: 'record', batchSize: 1, batchWaitMs: 0, encoding: 'json', keyConcurrency: 2 },
    retry: { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 },
    deadLetterTopic: undefined,
    deps,
    signal: new AbortController().signal,
  });
  const control = {
    commit: (next: string) => {
      commits.push(next);
      return Promise.resolve();
    },
    heartbeat: () => Promise.resolve(),
    isActive: () => true,
  };
  const run = processor.process({ topic: 't', partition: 0, records }, control);
  return {
    run,
    commits,
    started: (key: string) => started.get(key) as Promise<void>,
    /** Lets the key's pending invocation finish, with the clock past the interim commit delay. */
    async release(key: string) {
      now += 5_000;
      gates.get(key)?.();
      gates.delete(key);
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('PartitionProcessor under keyConcurrency', () => {
  it('a key that finishes first commits nothing past an earlier record still running', async () => {
    // Key a: offsets 0 and 4; key b: 1, 2, 3, 5.
    const h = harness([record(0, 'a'), record(1, 'b'), record(2, 'b'), record(3, 'b'), record(4, 'a'), record(5, 'b')]);
    await Promise.all([h.started('a'), h.started('b')]);
    await h.release('b');
    expect(h.commits).toEqual([]); // b is done, but offset 0 (key a) is not
    await h.release('a');
    await h.run;
    expect(h.commits).toEqual(['6']);
  });

  it('commits the prefix as soon as the earlier key completes, and the rest once all is done', async () => {
    // Key a: offset 0 alone; key b: 1, 2, 3.
    const h = harness([record(0, 'a'), record(1, 'b'), record(2, 'b'), record(3, 'b')]);
    await Promise.all([h.started('a'), h.started('b')]);
    await h.release('a');
    expect(h.commits).toEqual(['1']);
    await h.release('b');
    await h.run;
    expect(h.commits).toEqual(['1', '4']);
  });
});

describe('PartitionProcessor on an outage', () => {
  /** One record through a processor whose invoker answers `answers` in turn (then succeeds). */
  async function oneRecord(answers: FaasError[], retry = { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 }) {
    const events: string[] = [];
    const deadLetters: unknown[] = [];
    let calls = 0;
    const invoker = {
      invoke: async () => {
        const error = answers[calls++];
        return { invocationId: 'x', correlationId: 'x', function: 'f', version: 1, start: 'warm', durationMs: 1, ...(error ? { error } : {}) };
      },
    } as unknown as Invoker;
    const clock = { now: () => 0, setTimeout: (fn: () => void) => (setImmediate(fn), { cancel: () => undefined }) };
    const deps = triggerDeps({
      invoker,
      fences: new MemoryFenceStore(),
      clock,
      eventLog: { produce: async (_topic: string, records: unknown[]) => void deadLetters.push(...records) } as never,
      metrics: { triggerEvent: (_fn: string, _type: string, outcome: string) => void events.push(outcome), scaleDecision: () => undefined },
    });
    const processor = new PartitionProcessor({ fn: 'f', spec: { mode: 'record', batchSize: 1, batchWaitMs: 0, encoding: 'json', keyConcurrency: 1 }, retry, deadLetterTopic: 'dlq', deps, signal: new AbortController().signal });
    const commits: string[] = [];
    await processor.process({ topic: 't', partition: 0, records: [record(0, 'a')] }, { commit: async (n: string) => void commits.push(n), heartbeat: async () => undefined, isActive: () => true });
    return { calls, events, deadLetters, commits, stats: processor.stats };
  }

  it('holds a record while a dependency is unavailable, without counting attempts, then processes it', async () => {
    const outage = Array.from({ length: 5 }, () => new FaasError('FAAS_STATE_UNAVAILABLE', 'redis did not answer'));
    const out = await oneRecord(outage); // maxAttempts 1: a counted failure would dead-letter at once
    expect(out).toMatchObject({ calls: 6, deadLetters: [], commits: ['1'] });
    expect(out.events).toEqual(['held', 'held', 'held', 'held', 'held', 'success']);
    expect(out.stats).toMatchObject({ held: 5, holding: 0, lastOutage: { code: 'FAAS_STATE_UNAVAILABLE' } }); // no longer held
  });

  it('still dead-letters a record whose handler fails, outage or not before it', async () => {
    const out = await oneRecord([new FaasError('FAAS_EMIT_UNAVAILABLE', 'kafka down'), new FaasError('FAAS_HANDLER_ERROR', 'boom'), new FaasError('FAAS_HANDLER_ERROR', 'boom')], { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 1 });
    expect(out).toMatchObject({ calls: 3, commits: ['1'] });
    expect(out.deadLetters).toHaveLength(1);
    expect(out.events).toEqual(['held', 'retry', 'dead-letter']);
  });
});
