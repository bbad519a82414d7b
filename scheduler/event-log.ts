/**
 * The event-log port: topics with partitions, consumer groups with committed offsets, and lag.
 * Implemented by eventlog/kafka.ts (kafkajs, production) and eventlog/embedded.ts (in process,
 * for `npm start` without Kafka); test/integration/event-log.test.ts runs one conformance suite
 * against both.
 */

export interface ProducedRecord {
  key?: string | null;
  value: string | Buffer | null;
  headers?: Record<string, string>;
  /** Explicit partition; else by key hash (null key: round-robin). */
  partition?: number;
}

export interface LogRecord {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Epoch ms, as a decimal string (Kafka's convention). */
  timestamp: string;
}

export type StartFrom = 'earliest' | 'latest' | { timestamp: number };

export interface PartitionBatch {
  topic: string;
  partition: number;
  /** In offset order; never empty. */
  records: LogRecord[];
}

export interface BatchControl {
  /**
   * Commit `nextOffset` (the offset after the last processed record) for this batch's partition.
   * Allowed while the subscription stops (so completed work is committed on shutdown); ignored once
   * the partition was revoked by a rebalance (another member owns it and redelivers from the last
   * commit).
   */
  commit(nextOffset: string): Promise<void>;
  heartbeat(): Promise<void>;
  /** False once the subscription is stopping or the partition was revoked: take no new record. */
  isActive(): boolean;
}

export interface SubscribeOptions {
  groupId: string;
  topic: string;
  /** Where a group with no committed offset starts. */
  start: StartFrom;
  /** Called per partition batch; partitions run concurrently up to `partitionsConcurrently`. */
  onBatch(batch: PartitionBatch, control: BatchControl): Promise<void>;
  /** A batch handler failure or a consumer crash (the subscription restarts itself). */
  onError?(err: unknown): void;
  /** Default 1 (kafkajs' default). */
  partitionsConcurrently?: number;
  /** Upper bound on records per delivered batch. Default 500. */
  maxBatchRecords?: number;
}

export interface Subscription {
  readonly groupId: string;
  /**
   * The partitions this member owns since the group's last rebalance; undefined until it joined.
   * A lag trigger scales on these only: each node scales the partitions it owns.
   */
  assignment(): readonly number[] | undefined;
  /** Leave the group cleanly: in-flight batches see isActive() false; resolves when they returned. */
  stop(): Promise<void>;
}

export interface PartitionLag {
  partition: number;
  /** Committed offset of the group, or null when the group never committed on this partition. */
  committed: string | null;
  /** Log end offset (the offset the next record will get). */
  end: string;
  /** The first offset still in the log. */
  start: string;
}

export interface EventLog {
  readonly kind: 'embedded' | 'kafka';
  /** Create the topic if missing (partitions only applies on creation). */
  ensureTopic(topic: string, partitions?: number): Promise<void>;
  produce(topic: string, records: ProducedRecord[]): Promise<{ partition: number; offset: string }[]>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Per partition: the group's committed offset and the log's start and end. Read-only. */
  offsets(groupId: string, topic: string): Promise<PartitionLag[]>;
  /**
   * Give a group that has no committed offset on a partition of `topic` its start position there as
   * a committed offset, so a consumer that joins later (a lag trigger waking from zero) starts where
   * the group was created, not where it joined. Partitions the group committed are left alone, and
   * a group that has members is left alone entirely (they hold positions). Answers the partitions set.
   */
  pinStart(groupId: string, topic: string, start: StartFrom): Promise<number[]>;
  ready(): Promise<void>;
  close(): Promise<void>;
}
