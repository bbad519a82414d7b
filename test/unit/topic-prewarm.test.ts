/**
 * A topic trigger asks the sandbox for instances for its backlog when it starts (triggers/topic.ts
 * prewarm): one per partition with records waiting (keyConcurrency per partition in record mode),
 * so the first batches meet warm instances; nothing for a topic at rest. The sandbox is the seam
 * (a recorder); the log is the embedded one, with real partitions and committed offsets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { topicTriggerSchema } from '../../core/trigger-specs.ts';
import { EmbeddedEventLog } from '../../eventlog/embedded.ts';
import { MemoryFenceStore } from '../../scheduler/fence-memory.ts';
import type { Invoker, SeriesOutcome } from '../../scheduler/invoker.ts';
import { systemClock } from '../../scheduler/ports.ts';
import type { RunningTrigger } from '../../scheduler/trigger-source.ts';
import { topicTrigger } from '../../triggers/topic.ts';
import { triggerDeps } from '../support/trigger-deps.ts';

/** Succeeds every record at once. */
const invoker = {
  invokeSeries: (_name: string, items: { length: number }): Promise<SeriesOutcome> => Promise.resolve({ done: items.length, durationMs: 0 }),
  invoke: () => Promise.reject(new Error('not used')),
} as unknown as Invoker;

let running: RunningTrigger | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Starts a topic trigger on `log`; answers the prewarm requests it made once its first read settled. */
async function start(log: EmbeddedEventLog, spec: Record<string, unknown>, maxInstances = 8): Promise<[string, number][]> {
  const asked: [string, number][] = [];
  const deps = triggerDeps({
    invoker,
    fences: new MemoryFenceStore(),
    clock: systemClock,
    eventLog: log,
    sandbox: { reserve: () => undefined, prewarm: (fn, n) => asked.push([fn, n]) },
  });
  // The backlog is read alongside the subscription, not awaited by start(): wait for that read, then
  // for the microtasks after it to drain (a macrotask boundary).
  const offsets = log.offsets.bind(log);
  const read = new Promise<void>((resolve) => {
    log.offsets = async (group, topic) => {
      const answer = await offsets(group, topic);
      log.offsets = offsets;
      resolve();
      return answer;
    };
  });
  const parsed = topicTriggerSchema.parse({ type: 'topic', ...spec });
  running = await topicTrigger.start({ fn: 'warmed', manifest: parseManifest({ name: 'warmed', scaling: { maxInstances } }), index: 0, spec: parsed, deps });
  await read;
  await new Promise((r) => setImmediate(r));
  return asked;
}

async function topicWith(log: EmbeddedEventLog, topic: string, perPartition: number[]): Promise<void> {
  await log.ensureTopic(topic, perPartition.length);
  for (const [partition, n] of perPartition.entries()) {
    if (n > 0) await log.produce(topic, Array.from({ length: n }, (_, i) => ({ value: JSON.stringify({ i }), partition })));
  }
}

describe('topic trigger pre-warming', () => {
  it('asks for one instance per partition with records waiting', async () => {
    const log = new EmbeddedEventLog();
    await topicWith(log, 'backlog', [5, 0, 3, 1]);
    expect(await start(log, { topic: 'backlog', start: 'earliest' })).toEqual([['warmed', 3]]);
  });

  it('asks for keyConcurrency instances per partition in record mode, one in batch mode', async () => {
    const log = new EmbeddedEventLog();
    await topicWith(log, 'keyed', [2, 2]);
    expect(await start(log, { topic: 'keyed', start: 'earliest', keyConcurrency: 3 })).toEqual([['warmed', 6]]);
    await running?.stop();
    expect(await start(log, { topic: 'keyed', group: 'batches', start: 'earliest', mode: 'batch', batchSize: 10 })).toEqual([['warmed', 2]]);
  });

  it('asks for nothing when no record waits: a topic at rest, a new group starting at the latest offset, a group at the end', async () => {
    const log = new EmbeddedEventLog();
    await topicWith(log, 'quiet', [0, 0]);
    expect(await start(log, { topic: 'quiet', start: 'earliest' })).toEqual([]);
    await running?.stop();

    await topicWith(log, 'busy', [4, 4]);
    expect(await start(log, { topic: 'busy', group: 'from-now', start: 'latest' })).toEqual([]);
    await running?.stop();

    // A group that consumed everything: its second start finds no backlog.
    expect(await start(log, { topic: 'busy', group: 'caught-up', start: 'earliest' })).toEqual([['warmed', 2]]);
    await expect.poll(async () => (await log.offsets('caught-up', 'busy')).every((p) => p.committed === p.end)).toBe(true);
    await running?.stop();
    expect(await start(log, { topic: 'busy', group: 'caught-up', start: 'earliest' })).toEqual([]);
  });
});
