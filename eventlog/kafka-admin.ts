/**
 * kafkajs' admin client, kept usable when topics are deleted. kafkajs' admin keeps every topic it was
 * ever asked about in its metadata targets and refreshes them all at once; once one of them is
 * deleted every refresh fails with UNKNOWN_TOPIC_OR_PARTITION, so every read, pin, creation of and
 * produce to a topic the client had not seen yet failed until the deleted topic existed again (one
 * deleted topic broke the deploy of any new lag function; pinned in
 * test/integration/lag-broker.test.ts). Here, on that error the targets are checked, and when one is
 * gone a fresh client takes over without it.
 */
import type { Admin, Kafka, PartitionMetadata } from 'kafkajs';

/** The topic an admin call was about does not exist. */
export class TopicMissingError extends Error {
  constructor(topic: string, cause: unknown) {
    super(`topic "${topic}" does not exist`, { cause });
    this.name = 'TopicMissingError';
  }
}

/** Answers a broker gives for a while after a topic is created (or the broker started), as its metadata settles. */
function settling(type: unknown): boolean {
  return type === 'NOT_LEADER_FOR_PARTITION' || type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
}

export class TopicAdmin {
  /** The current client; replaced when a topic it targets is deleted. */
  admin: Admin;
  private readonly kafka: Kafka;
  private readonly onLog: ((level: 'warn' | 'error', message: string) => void) | undefined;
  /** Topics named to `admin`: kafkajs keeps each in its metadata targets for the client's life. */
  private readonly targets = new Set<string>();
  /** Topics found deleted: looked for with listTopics only, until they exist again. */
  private readonly deleted = new Set<string>();
  /** Counts the times topics were found deleted (the producer checks its own targets then: kafka-producer.ts). */
  deletions = 0;
  private replacing: Promise<string[]> | undefined;
  private readonly retired = new Set<Admin>();
  /** A client for describe() alone (see there); made on first use. */
  private describer: Promise<Admin> | undefined;

  constructor(kafka: Kafka, onLog?: (level: 'warn' | 'error', message: string) => void) {
    this.kafka = kafka;
    this.onLog = onLog;
    this.admin = kafka.admin();
  }

  connect(): Promise<void> {
    return this.admin.connect();
  }

  /**
   * A topic just created is no longer known deleted. It is not a target yet: kafkajs' createTopics
   * asks the broker for its leaders directly, without naming it to the client's metadata.
   */
  created(topic: string): void {
    this.deleted.delete(topic);
  }

  /**
   * Replaces the client if a topic it targets was deleted (kafkajs then fails every metadata refresh,
   * and so every call, see the top of this file); answers whether it did.
   */
  async dropDeletedTargets(): Promise<boolean> {
    return (await this.replaceIfTopicsDeleted()).length > 0;
  }

  /** False when the topic was found deleted and still is (checked without naming it to the client). */
  async mayExist(topic: string): Promise<boolean> {
    if (!this.deleted.has(topic)) return true;
    if (!(await this.admin.listTopics()).includes(topic)) return false;
    this.deleted.delete(topic);
    return true;
  }

  /** Whether the topic was found deleted (and not seen again since). */
  isDeleted(topic: string): boolean {
    return this.deleted.has(topic);
  }

  /** Which of `topics` do not exist, by listing the topics (without naming any to the client). */
  async missing(topics: Iterable<string>): Promise<string[]> {
    const listed = new Set(await this.admin.listTopics());
    return [...topics].filter((t) => !listed.has(t));
  }

  /**
   * An admin call about `topic`. Right after a topic is created (or the broker started), a broker
   * can still answer "not the leader", "unknown topic" or "leader not available" for a few hundred
   * ms while its metadata settles, and kafkajs' admin passes that through: the call is tried again
   * for up to `timeoutMs`. UNKNOWN_TOPIC_OR_PARTITION may also mean that another target was deleted
   * (see the top of this file): then the client is replaced and the call tried again; `topic` itself
   * gone: TopicMissingError.
   */
  async call<T>(topic: string, call: (admin: Admin) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.targets.add(topic);
      try {
        return await call(this.admin);
      } catch (err) {
        const type = (err as { type?: unknown }).type;
        if (type === 'UNKNOWN_TOPIC_OR_PARTITION' && (await this.replaceIfTopicsDeleted()).includes(topic)) throw new TopicMissingError(topic, err);
        if (!settling(type) || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * The partitions of `topic` (with their leaders), from a client kept for this call alone. kafkajs'
   * fetchTopicMetadata({ topics }) replaces its client's whole metadata cache with those topics'
   * (cluster.metadata → brokerPool.refreshMetadataIfNecessary(topics)); a fetchTopicOffsets of
   * another topic in flight on that client then finds its topic gone between its two reads and throws
   * "Cannot destructure property 'partitions' of 'low.pop(...)'" (tulios/kafkajs#461, open). Every
   * produce re-counts its topic's partitions every few seconds, so the lag watchers' offset reads
   * failed now and then (CI found it; pinned in test/integration/event-log.test.ts). This client names
   * no topic to its metadata targets, so deleted topics never break it. Settling answers are tried
   * again for up to `timeoutMs`; a topic still unknown then: TopicMissingError.
   */
  async describe(topic: string, timeoutMs = 5000): Promise<PartitionMetadata[]> {
    const until = Date.now() + timeoutMs;
    this.describer ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((err: unknown) => {
      this.describer = undefined;
      throw err;
    });
    const admin = await this.describer;
    for (;;) {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        return meta.topics.find((t) => t.name === topic)?.partitions ?? [];
      } catch (err) {
        const type = (err as { type?: unknown }).type;
        if (!settling(type)) throw err;
        if (Date.now() > until) throw type === 'UNKNOWN_TOPIC_OR_PARTITION' ? new TopicMissingError(topic, err) : err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Answers the topics named to the admin client that no longer exist; if any, replaces the client. */
  private replaceIfTopicsDeleted(): Promise<string[]> {
    this.replacing ??= (async () => {
      const listed = new Set(await this.admin.listTopics());
      const gone = [...this.targets].filter((t) => !listed.has(t));
      if (gone.length === 0) return [];
      for (const t of gone) {
        this.targets.delete(t);
        this.deleted.add(t);
      }
      this.deletions++;
      const fresh = this.kafka.admin();
      await fresh.connect();
      const old = this.admin;
      this.admin = fresh;
      // Calls in flight on the old client finish, or fail into their callers' retries, before it closes.
      this.retired.add(old);
      setTimeout(() => {
        if (this.retired.delete(old)) void old.disconnect().catch(() => undefined);
      }, 30_000).unref();
      this.onLog?.('warn', `admin: topic(s) ${gone.join(', ')} deleted; admin client replaced`);
      return gone;
    })().finally(() => {
      this.replacing = undefined;
    });
    return this.replacing;
  }

  async close(): Promise<void> {
    const describer = await this.describer?.catch(() => undefined);
    this.describer = undefined;
    const admins = [this.admin, ...this.retired, ...(describer ? [describer] : [])];
    this.retired.clear();
    await Promise.all(admins.map((a) => a.disconnect().catch(() => undefined)));
  }
}
