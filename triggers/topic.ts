/**
 * The topic trigger: a consumer group per function trigger (default `faas.<function>`) whose
 * partition batches go through the PartitionProcessor (commit after success, retries, dead letter,
 * key-ordered parallelism). Each invocation resolves the function's current version, so a redeploy
 * does not restart the consumer.
 */
import { FaasError } from '../core/errors.ts';
import type { Manifest } from '../core/manifest.ts';
import type { TopicTrigger } from '../core/trigger-specs.ts';
import type { BatchControl, LogRecord, StartFrom } from '../scheduler/event-log.ts';
import type { InvokeInput } from '../scheduler/invoker.ts';
import type { RunningTrigger, TriggerDeps, TriggerPlugin } from '../scheduler/trigger-source.ts';
import type { ConcurrencyGate } from './concurrency-gate.ts';
import { PartitionProcessor } from './partition-processor.ts';

/**
 * The consumer group of a topic trigger: `group` when given; else `faas.<fn>` for the function's
 * first topic trigger and `faas.<fn>.<index>` for later ones. Two triggers must never share a group:
 * Kafka spreads a group's partitions over all its members, whatever topic each subscribed to.
 */
export function groupOf(fn: string, spec: Pick<TopicTrigger, 'group'>, index = 0, manifest?: Readonly<Manifest>): string {
  if (spec.group !== undefined) return spec.group;
  const first = manifest?.triggers.findIndex((t) => t.type === 'topic' || t.type === 'lag') ?? index;
  return index === first ? `faas.${fn}` : `faas.${fn}.${index}`;
}

export function deadLetterTopicOf(fn: string, manifest: Readonly<Manifest>): string | undefined {
  return manifest.deadLetter.enabled ? (manifest.deadLetter.topic ?? `faas.${fn}.dlq`) : undefined;
}

export function startOf(spec: Pick<TopicTrigger, 'start'>): StartFrom {
  const s = spec.start;
  if (typeof s === 'string') return s;
  return { timestamp: typeof s.timestamp === 'number' ? s.timestamp : Date.parse(s.timestamp) };
}

export interface ConsumerOptions {
  fn: string;
  manifest: Readonly<Manifest>;
  topic: string;
  groupId: string;
  start: StartFrom;
  spec: Pick<TopicTrigger, 'mode' | 'batchSize' | 'batchWaitMs' | 'encoding' | 'keyConcurrency'>;
  deps: TriggerDeps;
  toEvent?: (record: LogRecord, value: unknown) => InvokeInput;
  triggerType?: 'topic' | 'webhook' | 'lag';
  /** Partition batches processed at once on this node (a lag trigger's instances); default scaling.maxInstances. */
  gate?: ConcurrencyGate;
}

export interface RunningConsumer extends RunningTrigger {
  /** The partitions this node's member owns; undefined until it joined the group. */
  assignment(): readonly number[] | undefined;
}

/** Records of a fetched batch handed to the processor at once; committed at the end of each. */
const CHUNK = 2048;

/**
 * The chunk size: CHUNK, in whole batches in batch mode. With batchWaitMs a chunk is one batch, so
 * a short one can wait for the log to deliver it again, fuller (PartitionProcessor.deferForBatchWait).
 */
function chunkSize(spec: ConsumerOptions['spec']): number {
  if (spec.mode !== 'batch') return CHUNK;
  if (spec.batchWaitMs > 0) return Math.max(spec.batchSize, 100);
  return Math.max(spec.batchSize, CHUNK - (CHUNK % spec.batchSize));
}

/**
 * Instances for the partitions with records waiting, loaded while the consumer joins its group: a
 * cold start takes milliseconds per partition, the join tens of them, and the first batches then
 * meet warm instances (docs/BENCHMARKS.md). A node does not know its share of the partitions
 * before the join, so each asks for all of them; those it does not use go after scaling.idleMs.
 */
async function prewarm(o: ConsumerOptions): Promise<void> {
  const partitions = await o.deps.eventLog.offsets(o.groupId, o.topic);
  const waiting = partitions.filter((p) => (p.committed === null ? o.start !== 'latest' && p.end !== p.start : p.committed !== p.end)).length;
  // Record mode runs up to keyConcurrency invocations of a partition at once.
  const perPartition = o.spec.mode === 'batch' ? 1 : Math.max(1, o.spec.keyConcurrency);
  if (waiting > 0) o.deps.sandbox.prewarm(o.fn, waiting * perPartition);
}

/** A running consumer of one topic for one function (used by the topic and webhook-ingest triggers). */
export async function startConsumer(o: ConsumerOptions): Promise<RunningConsumer> {
  const abort = new AbortController();
  const processor = new PartitionProcessor({
    fn: o.fn,
    spec: o.spec,
    retry: o.manifest.retry,
    deadLetterTopic: deadLetterTopicOf(o.fn, o.manifest),
    deps: o.deps,
    signal: abort.signal,
    triggerType: o.triggerType ?? 'topic',
    group: o.groupId,
    ...(o.toEvent ? { toEvent: o.toEvent } : {}),
  });
  await o.deps.eventLog.ensureTopic(o.topic);
  // A lag trigger's instances follow its scaler (reserve); the others are warmed for the backlog.
  if (o.gate === undefined) {
    prewarm(o).catch((err: unknown) => o.deps.log.warn({ fn: o.fn, topic: o.topic, err }, 'could not read the backlog to pre-warm instances'));
  }
  const subscription = await o.deps.eventLog.subscribe({
    groupId: o.groupId,
    topic: o.topic,
    start: o.start,
    // Partitions of one topic run side by side, bounded by the function's instances on this node.
    // With a gate, every owned partition is fetched and handed over at once, and the gate decides
    // how many are processed: resizing it takes effect within the current fetch, with no rebalance.
    partitionsConcurrently: o.gate ? 64 : Math.max(1, Math.min(o.manifest.scaling.maxInstances, 16)),
    maxBatchRecords: chunkSize(o.spec),
    onBatch: o.gate
      ? async (batch, control) => {
          const gate = o.gate as ConcurrencyGate;
          const epoch = gate.epoch;
          const c: BatchControl = { ...control, isActive: () => control.isActive() && gate.epoch === epoch };
          await gate.run(() => c.isActive() && !abort.signal.aborted, () => processor.process(batch, c));
        }
      : (batch, control) => processor.process(batch, control),
    onError: (err) => o.deps.log.warn({ fn: o.fn, topic: o.topic, group: o.groupId, err }, 'topic batch failed; it will be redelivered'),
  });
  return {
    assignment: () => subscription.assignment(),
    async stop() {
      abort.abort();
      o.gate?.releaseAll(); // waiting batches see isActive() false and return uncommitted
      await subscription.stop();
    },
    status: () => ({ topic: o.topic, group: o.groupId, ...processor.stats }),
  };
}

export const topicTrigger: TriggerPlugin<'topic'> = {
  type: 'topic',
  consumerGroups: (ctx) => [groupOf(ctx.fn, ctx.spec, ctx.index, ctx.manifest)],
  validate(spec, where) {
    if (typeof spec.start === 'object' && typeof spec.start.timestamp === 'string' && Number.isNaN(Date.parse(spec.start.timestamp))) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}.start.timestamp: not a date`);
    }
    if (spec.mode === 'record' && spec.batchWaitMs > 0) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}.batchWaitMs: only applies with mode "batch"`);
    }
  },
  start: (ctx) =>
    startConsumer({
      fn: ctx.fn,
      manifest: ctx.manifest,
      topic: ctx.spec.topic,
      groupId: groupOf(ctx.fn, ctx.spec, ctx.index, ctx.manifest),
      start: startOf(ctx.spec),
      spec: ctx.spec,
      deps: ctx.deps,
    }),
};
