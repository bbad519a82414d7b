/**
 * The event log on Kafka (kafkajs 2.2.4). One consumer per subscription (its own group member), a
 * shared idempotent producer, and an admin client for topics and offsets (both kept usable when
 * topics are deleted: kafka-producer.ts, kafka-admin.ts).
 *
 * Commit discipline: eachBatch runs with autoCommit and auto-resolve off. A commit resolves the
 * offset before it and commits it at once (through the batch payload, so it works while the
 * consumer stops), so what the trigger reports done is what the group holds; records not committed are fetched again (kafkajs refetches from the last resolved
 * offset). `isActive()` is false once the consumer stops or the batch is stale after a rebalance;
 * a stale batch's commit is skipped (a revoked partition is never committed), a stopping
 * consumer's is not (kafkajs leaves the group only after the running batch returned).
 */
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import type { EventLog, LogRecord, PartitionLag, ProducedRecord, StartFrom, SubscribeOptions, Subscription } from '../scheduler/event-log.ts';
import { TopicAdmin, TopicMissingError } from './kafka-admin.ts';
import { setEmptyGroupOffsets } from './kafka-group-offsets.ts';
import { TopicProducer } from './kafka-producer.ts';
import { partitionForKey } from './partitioner.ts';

export interface KafkaEventLogOptions {
  brokers: string[];
  clientId?: string;
  /** Partitions of topics this log creates. Default 1. */
  defaultPartitions?: number;
  /** Consumer session timeout. Default 10 000 ms (a dead member's partitions move after this). */
  sessionTimeoutMs?: number;
  /** How long a fetch waits for data. Default 100 ms (latency over throughput for triggers). */
  maxWaitMs?: number;
  onLog?: (level: 'warn' | 'error', message: string) => void;
}

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  /** kafkajs' idempotent producer, replaced when a topic it sent to is deleted (kafka-producer.ts). */
  private readonly producer: TopicProducer;
  /** kafkajs' admin client, replaced when a topic it was asked about is deleted (kafka-admin.ts). */
  private readonly topics: TopicAdmin;
  private readonly options: KafkaEventLogOptions;
  private readonly consumers = new Set<Consumer>();
  private readonly partitionCounts = new Map<string, { n: number; at: number }>();
  private roundRobin = 0;
  private connected: Promise<void> | undefined;

  constructor(options: KafkaEventLogOptions) {
    this.options = options;
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'faas-runtime',
      brokers: options.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => {
        const level = entry.level === logLevel.ERROR ? 'error' : 'warn';
        options.onLog?.(level, `${entry.namespace}: ${entry.log.message}`);
      },
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.topics = new TopicAdmin(this.kafka, options.onLog);
    this.producer = new TopicProducer(this.kafka, this.topics, options.onLog);
  }

  ready(): Promise<void> {
    this.connected ??= Promise.all([this.producer.connect(), this.topics.connect()]).then(() => undefined);
    return this.connected;
  }

  async ensureTopic(topic: string, partitions = this.options.defaultPartitions ?? 1): Promise<void> {
    await this.ready();
    if ((await this.topics.admin.listTopics()).includes(topic)) return;
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        const created = await this.topics.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
        this.topics.created(topic);
        if (created) return; // false: it existed (created meanwhile elsewhere); its leaders are waited for below
      } catch (err) {
        const type = (err as { type?: unknown }).type;
        if (/already exists/i.test((err as Error).message)) return;
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
        // Two causes give this answer. (1) kafkajs refreshes the metadata of every topic the client
        // ever named before it creates one, and a topic deleted since fails that refresh: nothing
        // was created. The client is replaced without it and the creation tried again (CI found a
        // topic left deleted failing every creation for 10 s; pinned in event-log.test.ts). (2) The
        // topic was created, and kafkajs waits for leaders only while the broker answers
        // LEADER_NOT_AVAILABLE: a broker whose metadata has not caught up answers this instead and
        // kafkajs gives up (about 1 creation in 100 here; tulios/kafkajs#1222): its leaders are
        // waited for here. A topic not listed yet may be either: created again, which is harmless.
        if (!(await this.topics.admin.listTopics()).includes(topic)) {
          await this.topics.dropDeletedTargets();
          if (Date.now() > until) throw err;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        this.topics.created(topic);
      }
      await this.waitForLeaders(topic);
      return;
    }
  }

  private async waitForLeaders(topic: string, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const parts = await this.topics.describe(topic, 0);
        if (parts.length > 0 && parts.every((p) => p.leader >= 0)) return;
      } catch (err) {
        const type = (err as { type?: unknown }).type;
        if (!(err instanceof TopicMissingError) && type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw err;
      }
      if (Date.now() > until) throw new Error(`topic ${topic}: no partition leaders within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Partitions are chosen here (murmur2 of the key, as Kafka's default partitioner; round-robin for
   * null keys) and sent explicitly, so the answer names each record's exact partition and offset.
   */
  async produce(topic: string, records: ProducedRecord[]): Promise<{ partition: number; offset: string }[]> {
    try {
      return await this.produceOnce(topic, records);
    } catch (err) {
      if (!(err instanceof TopicMissingError)) throw err;
      // Deleted since its partitions were counted: created again, as for any topic not there yet.
      this.partitionCounts.delete(topic);
      return await this.produceOnce(topic, records);
    }
  }

  private async produceOnce(topic: string, records: ProducedRecord[]): Promise<{ partition: number; offset: string }[]> {
    await this.ready();
    const n = await this.partitionCount(topic);
    const partitions = records.map((r) => r.partition ?? (r.key != null ? partitionForKey(Buffer.from(r.key), n) : this.roundRobin++ % n));
    const meta = await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r, i) => ({ key: r.key ?? null, value: r.value, headers: r.headers ?? {}, partition: partitions[i] as number })),
    });
    // kafkajs reports a base offset per partition; records of one partition keep their send order.
    const next = new Map(meta.map((m) => [m.partition, BigInt(m.baseOffset ?? '0')]));
    return partitions.map((partition) => {
      const offset = next.get(partition) ?? 0n;
      next.set(partition, offset + 1n);
      return { partition, offset: String(offset) };
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    await this.ready();
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: Math.max(500, Math.floor((this.options.sessionTimeoutMs ?? 10_000) / 5)),
      maxWaitTimeInMs: this.options.maxWaitMs ?? 100,
      allowAutoTopicCreation: true,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.consumers.add(consumer);
    if (typeof options.start === 'object') await this.pinStart(options.groupId, options.topic, options.start);
    let assignment: number[] | undefined;
    /** Highest offset this member committed per partition (a control-record commit never goes back). */
    const highest = new Map<number, bigint>();
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignment = [...(e.payload.memberAssignment[options.topic] ?? [])].sort((a, b) => a - b);
    });
    consumer.on(consumer.events.CRASH, (e) => options.onError?.(e.payload.error));
    // A fetch that held only transaction markers (or aborted records) never reaches eachBatch:
    // kafkajs resolves past it but, with autoCommit off, commits nothing, so the group's committed
    // offset stays on the marker and the partition shows a lag of 1 for ever (a lag trigger would
    // never scale to zero). Commit past it here; markers fetched with records are committed past in
    // eachBatch. Pinned in test/integration/lag-trigger.test.ts.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { topic, partition, batchSize, lastOffset } = e.payload;
      if (batchSize !== 0 || topic !== options.topic) return;
      const next = BigInt(lastOffset) + 1n;
      if (next <= (highest.get(partition) ?? -1n)) return;
      highest.set(partition, next);
      consumer.commitOffsets([{ topic, partition, offset: String(next) }]).catch((err: unknown) => {
        if (!isRevocation(err)) options.onError?.(err);
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: options.start === 'earliest' });
    const maxRecords = options.maxBatchRecords ?? 500;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, options.partitionsConcurrently ?? 1),
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        if (batch.isEmpty()) return;
        const isActive = () => payload.isRunning() && !payload.isStale();
        let committed = -1n;
        const commit = async (nextOffset: string) => {
          if (payload.isStale()) return; // revoked: the new owner redelivers from the last commit
          payload.resolveOffset(String(BigInt(nextOffset) - 1n));
          // Not consumer.commitOffsets(): kafkajs makes that a silent no-op once the consumer is
          // stopping, so work completed during shutdown was never committed (pinned in
          // test/integration/event-log.test.ts). The payload's commit goes to the group
          // directly, with its generation: the broker fences a member that lost the partition.
          try {
            await payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: nextOffset }] }] });
            if (BigInt(nextOffset) > committed) committed = BigInt(nextOffset);
            if (BigInt(nextOffset) > (highest.get(batch.partition) ?? -1n)) highest.set(batch.partition, BigInt(nextOffset));
          } catch (err) {
            if (isRevocation(err)) return;
            throw err;
          }
        };
        // The whole fetched batch, in chunks: slicing it and returning would make kafkajs fetch the
        // rest again (measured: most of the broker's CPU). The next chunk only after the previous
        // one was fully committed, so a chunk left pending never lets later records overtake it.
        for (let from = 0; from < batch.messages.length && isActive(); from += maxRecords) {
          const records: LogRecord[] = batch.messages.slice(from, from + maxRecords).map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ?? null,
            value: m.value ?? null,
            headers: decodeHeaders(m.headers),
            timestamp: m.timestamp,
          }));
          try {
            await options.onBatch({ topic: batch.topic, partition: batch.partition, records }, { isActive, heartbeat: () => payload.heartbeat(), commit });
          } catch (err) {
            options.onError?.(err);
            throw err; // kafkajs retries the batch (it was not resolved) with its backoff
          }
          const last = records[records.length - 1] as LogRecord;
          if (committed <= BigInt(last.offset)) break;
        }
        // A batch can end with records the handler never sees (a transaction's commit marker,
        // aborted records). Once every record it delivered is committed, commit past those too,
        // or the group would sit one offset short of the end for ever (a lag that never reaches 0).
        const lastData = BigInt((batch.messages[batch.messages.length - 1] as { offset: string }).offset);
        const lastRaw = BigInt(batch.lastOffset());
        if (lastRaw > lastData && committed === lastData + 1n && isActive()) await commit(String(lastRaw + 1n));
      },
    });
    return {
      groupId: options.groupId,
      assignment: () => assignment,
      stop: async () => {
        assignment = undefined;
        this.consumers.delete(consumer);
        await consumer.disconnect(); // waits for the running batch, then leaves the group
      },
    };
  }

  /** A topic that does not exist answers no partitions (as in the embedded log), at once. */
  async offsets(groupId: string, topic: string): Promise<PartitionLag[]> {
    await this.ready();
    if (!(await this.topics.mayExist(topic))) return [];
    let answer: [Awaited<ReturnType<Admin['fetchOffsets']>>, Awaited<ReturnType<Admin['fetchTopicOffsets']>>];
    try {
      answer = await this.topics.call(topic, (admin) => Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]));
    } catch (err) {
      if (err instanceof TopicMissingError) return [];
      throw err;
    }
    const [committed, ends] = answer;
    const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
    return ends
      .map((e) => {
        const c = byPartition.get(e.partition);
        return { partition: e.partition, committed: c === undefined || c === '-1' ? null : c, start: e.low, end: e.high };
      })
      .sort((a, b) => a.partition - b.partition);
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.disconnect().catch(() => undefined)));
    this.consumers.clear();
    await Promise.all([this.producer.close(), this.topics.close()]);
  }

  async pinStart(groupId: string, topic: string, start: StartFrom): Promise<number[]> {
    await this.ready();
    const current = await this.topics.call(topic, (admin) => admin.fetchOffsets({ groupId, topics: [topic] }));
    const fresh = new Set((current[0]?.partitions ?? []).filter((p) => p.offset === '-1').map((p) => p.partition));
    if (fresh.size === 0) return [];
    const positions =
      typeof start === 'object'
        ? await this.topics.call(topic, (admin) => admin.fetchTopicOffsetsByTimestamp(topic, start.timestamp))
        : (await this.topics.call(topic, (admin) => admin.fetchTopicOffsets(topic))).map((p) => ({ partition: p.partition, offset: start === 'earliest' ? p.low : p.high }));
    const partitions = positions.filter((p) => fresh.has(p.partition)).map((p) => ({ partition: p.partition, offset: p.offset }));
    // Nothing is written while the group has members: they hold positions.
    if (!(await setEmptyGroupOffsets(this.kafka, groupId, topic, partitions))) return [];
    return partitions.map((p) => p.partition).sort((a, b) => a - b);
  }

  /** Partition count of a topic (created on first use), cached for a few seconds. */
  private async partitionCount(topic: string): Promise<number> {
    const cached = this.partitionCounts.get(topic);
    if (cached !== undefined && Date.now() - cached.at < 5000) return cached.n;
    await this.ensureTopic(topic);
    const n = Math.max(1, (await this.topics.describe(topic)).length);
    this.partitionCounts.set(topic, { n, at: Date.now() });
    return n;
  }
}

/** The broker refused a commit because this member no longer owns the partition's generation. */
function isRevocation(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'ILLEGAL_GENERATION' || type === 'UNKNOWN_MEMBER_ID' || type === 'FENCED_INSTANCE_ID';
}

function decodeHeaders(headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = (Array.isArray(v) ? v[v.length - 1] : v)?.toString() ?? '';
  }
  return out;
}
