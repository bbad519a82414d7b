/**
 * kafkajs' producer, kept usable when topics are deleted. Like its admin client (kafka-admin.ts),
 * the producer keeps every topic it sent to in its metadata targets and refreshes them together.
 * Once one of them is deleted, every refresh fails with UNKNOWN_TOPIC_OR_PARTITION, so every send,
 * to any topic, failed after the client's retries (about 20 s) until the deleted topic existed
 * again; a producer allowed to create topics re-created it instead, with the broker's defaults,
 * where the broker auto-creates. This producer creates no topic (the event log creates them
 * explicitly: KafkaEventLog.ensureTopic), and a producer whose targets hold a deleted topic is
 * replaced by a fresh one: before a send that adds a target (which makes kafkajs refresh them all)
 * or once the admin client found the topic deleted; else after a send failed that way, and the send
 * is tried once more. Pinned in test/integration/event-log.test.ts.
 */
import type { Kafka, Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { TopicMissingError, type TopicAdmin } from './kafka-admin.ts';

export class TopicProducer {
  private producer: Producer;
  private readonly kafka: Kafka;
  private readonly topics: TopicAdmin;
  private readonly onLog: ((level: 'warn' | 'error', message: string) => void) | undefined;
  /** Topics named to `producer`: kafkajs keeps each in its metadata targets for the producer's life. */
  private readonly targets = new Set<string>();
  /** TopicAdmin.deletions when the targets were last checked against what it found deleted. */
  private checked = 0;
  private replacing: Promise<void> | undefined;
  private readonly retired = new Set<Producer>();

  constructor(kafka: Kafka, topics: TopicAdmin, onLog?: (level: 'warn' | 'error', message: string) => void) {
    this.kafka = kafka;
    this.topics = topics;
    this.onLog = onLog;
    this.producer = this.create();
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  /** Throws TopicMissingError when the record's topic itself was deleted (after replacing the producer). */
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    // kafkajs refreshes the targets when one is added, and when its metadata is 5 minutes old: a
    // new topic is checked for here (one listing, on a topic's first send), the rest after a failure.
    if (!this.targets.has(record.topic)) {
      const gone = await this.topics.missing([...this.targets, record.topic]);
      if (gone.some((t) => t !== record.topic)) await this.replace(gone);
      if (gone.includes(record.topic)) throw new TopicMissingError(record.topic, undefined);
    } else if (this.checked !== this.topics.deletions) {
      this.checked = this.topics.deletions;
      const known = [...this.targets].filter((t) => this.topics.isDeleted(t));
      if (known.length > 0) await this.replace(known);
    }
    this.targets.add(record.topic);
    try {
      return await this.producer.send(record);
    } catch (err) {
      if (!unknownTopic(err)) throw err;
      const gone = await this.topics.missing(this.targets);
      if (gone.length === 0) throw err;
      await this.replace(gone);
      if (gone.includes(record.topic)) throw new TopicMissingError(record.topic, err);
      this.targets.add(record.topic);
      return await this.producer.send(record);
    }
  }

  async close(): Promise<void> {
    const producers = [this.producer, ...this.retired];
    this.retired.clear();
    await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
  }

  private create(): Producer {
    // Partitions are chosen by the event log and sent explicitly; naming the partitioner also stops
    // kafkajs warning about its v2 default at construction.
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  }

  private replace(gone: string[]): Promise<void> {
    this.replacing ??= (async () => {
      const fresh = this.create();
      await fresh.connect();
      const old = this.producer;
      this.producer = fresh;
      this.targets.clear();
      // Sends in flight on the old producer finish, or fail into their callers' retries, before it closes.
      this.retired.add(old);
      setTimeout(() => {
        if (this.retired.delete(old)) void old.disconnect().catch(() => undefined);
      }, 30_000).unref();
      this.onLog?.('warn', `producer: topic(s) ${gone.join(', ')} deleted; producer replaced`);
    })().finally(() => {
      this.replacing = undefined;
    });
    return this.replacing;
  }
}

/** kafkajs' answer for a topic that does not exist, possibly after its retries. */
function unknownTopic(err: unknown): boolean {
  const e = err as { type?: unknown; cause?: { type?: unknown } } | null;
  return e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e?.cause?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}
