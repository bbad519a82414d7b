/**
 * The embedded event log: Kafka's semantics inside one process, for `npm start` without Kafka.
 * Topics have partitions; records get offsets; consumer groups hold committed offsets and spread
 * partitions over their members (rebalancing when one joins or leaves); lag is observable.
 *
 * Delivery follows the kafkajs contract the topic trigger relies on: a member fetches from its
 * group's committed offset, so a batch whose records were not committed is delivered again; a
 * partition revoked by a rebalance makes its in-flight batch inactive, and a commit from it is
 * ignored (a stopping member still commits what it completed: it leaves the group only after its
 * batches returned). Nothing is persisted: the embedded log is for one process only.
 */
import { EventEmitter } from 'node:events';
import type { BatchControl, EventLog, LogRecord, PartitionLag, ProducedRecord, StartFrom, SubscribeOptions, Subscription } from '../scheduler/event-log.ts';
import { partitionForKey } from './partitioner.ts';

interface Topic {
  partitions: LogRecord[][];
  roundRobin: number;
}

interface Member {
  id: number;
  topic: string;
  options: SubscribeOptions;
  assigned: Set<number>;
  /** Fetch positions resolved from `start` where the group has no commit (never written to the group). */
  resolved: Map<number, bigint>;
  running: boolean;
  /** Bumped on every rebalance that touches this member. */
  generation: number;
  wake: () => void;
  done: Promise<void>;
}

interface Group {
  committed: Map<string, bigint>;
  members: Member[];
}

export interface EmbeddedEventLogOptions {
  /** Partitions of a topic created implicitly (by produce or subscribe). Default 1, as Kafka's broker default. */
  defaultPartitions?: number;
  /** Pause before redelivering a batch whose handler threw. Default 1000 ms. */
  retryDelayMs?: number;
  /** Pause before redelivering a batch that returned without committing (Kafka's refetch). Default 50 ms. */
  refetchDelayMs?: number;
}

export class EmbeddedEventLog implements EventLog {
  readonly kind = 'embedded' as const;
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly appended = new EventEmitter();
  private readonly defaultPartitions: number;
  private readonly retryDelayMs: number;
  private readonly refetchDelayMs: number;
  private nextMember = 1;
  private closed = false;

  constructor(options: EmbeddedEventLogOptions = {}) {
    this.defaultPartitions = options.defaultPartitions ?? 1;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.refetchDelayMs = options.refetchDelayMs ?? 50;
    this.appended.setMaxListeners(0);
  }

  async ready(): Promise<void> {}

  async ensureTopic(topic: string, partitions = this.defaultPartitions): Promise<void> {
    this.topic(topic, partitions);
  }

  async produce(topicName: string, records: ProducedRecord[]): Promise<{ partition: number; offset: string }[]> {
    const topic = this.topic(topicName);
    const n = topic.partitions.length;
    const out: { partition: number; offset: string }[] = [];
    for (const r of records) {
      const partition = r.partition ?? (r.key != null ? partitionForKey(Buffer.from(r.key), n) : topic.roundRobin++ % n);
      if (partition < 0 || partition >= n) throw new Error(`topic ${topicName} has no partition ${partition}`);
      const log = topic.partitions[partition] as LogRecord[];
      const offset = String(log.length);
      log.push({
        topic: topicName,
        partition,
        offset,
        key: r.key == null ? null : Buffer.from(r.key),
        value: r.value == null ? null : Buffer.from(r.value),
        headers: { ...r.headers },
        timestamp: String(Date.now()),
      });
      out.push({ partition, offset });
    }
    this.appended.emit(topicName);
    return out;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.closed) throw new Error('the embedded event log is closed');
    this.topic(options.topic);
    const group = this.group(options.groupId);
    let wake: () => void = () => undefined;
    const member: Member = {
      id: this.nextMember++,
      topic: options.topic,
      options,
      assigned: new Set(),
      resolved: new Map(),
      running: true,
      generation: 0,
      wake: () => wake(),
      done: Promise.resolve(),
    };
    member.wake = () => wake();
    const setWake = (fn: () => void) => {
      wake = fn;
    };
    group.members.push(member);
    this.rebalance(options.groupId, options.topic);
    member.done = this.run(group, member, setWake);
    return {
      groupId: options.groupId,
      assignment: () => (member.running ? [...member.assigned].sort((a, b) => a - b) : undefined),
      stop: async () => {
        if (!member.running) return member.done;
        member.running = false;
        member.wake();
        await member.done;
        group.members.splice(group.members.indexOf(member), 1);
        this.rebalance(options.groupId, options.topic);
      },
    };
  }

  async offsets(groupId: string, topicName: string): Promise<PartitionLag[]> {
    const topic = this.topics.get(topicName);
    if (topic === undefined) return [];
    const committed = this.groups.get(groupId)?.committed;
    return topic.partitions.map((log, partition) => {
      const c = committed?.get(`${topicName}:${partition}`);
      return { partition, committed: c === undefined ? null : String(c), start: '0', end: String(log.length) };
    });
  }

  async pinStart(groupId: string, topicName: string, start: StartFrom): Promise<number[]> {
    const group = this.group(groupId);
    if (group.members.some((m) => m.running)) return [];
    const pinned: number[] = [];
    this.topic(topicName).partitions.forEach((log, partition) => {
      const key = `${topicName}:${partition}`;
      if (group.committed.has(key)) return;
      group.committed.set(key, startPosition(log, start));
      pinned.push(partition);
    });
    return pinned;
  }

  async close(): Promise<void> {
    this.closed = true;
    const members = [...this.groups.values()].flatMap((g) => g.members);
    for (const m of members) {
      m.running = false;
      m.wake();
    }
    await Promise.all(members.map((m) => m.done));
  }

  private topic(name: string, partitions = this.defaultPartitions): Topic {
    let t = this.topics.get(name);
    if (t === undefined) {
      t = { partitions: Array.from({ length: Math.max(1, partitions) }, () => []), roundRobin: 0 };
      this.topics.set(name, t);
    }
    return t;
  }

  private group(id: string): Group {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { committed: new Map(), members: [] };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Range assignment over the members subscribed to `topic`, in join order. */
  private rebalance(groupId: string, topicName: string): void {
    const group = this.group(groupId);
    const members = group.members.filter((m) => m.topic === topicName && m.running);
    const n = this.topic(topicName).partitions.length;
    for (const m of members) {
      m.assigned = new Set();
      m.generation++;
    }
    for (let p = 0; p < n && members.length > 0; p++) (members[p % members.length] as Member).assigned.add(p);
    for (const m of members) m.wake();
  }

  /**
   * The fetch position of a partition: the committed offset, else the start position, resolved
   * once per member and kept by the member (as Kafka's auto.offset.reset: resolving is no commit).
   */
  private position(group: Group, member: Member, partition: number): bigint {
    const key = `${member.topic}:${partition}`;
    const committed = group.committed.get(key);
    if (committed !== undefined) return committed;
    const known = member.resolved.get(partition);
    if (known !== undefined) return known;
    const pos = startPosition(this.topic(member.topic).partitions[partition] as LogRecord[], member.options.start);
    member.resolved.set(partition, pos);
    return pos;
  }

  private async run(group: Group, member: Member, setWake: (fn: () => void) => void): Promise<void> {
    const topic = this.topic(member.topic);
    const maxRecords = member.options.maxBatchRecords ?? 500;
    const concurrency = Math.max(1, member.options.partitionsConcurrently ?? 1);
    const inFlight = new Set<number>();
    const backoffUntil = new Map<number, number>();
    while (member.running) {
      const now = Date.now();
      const ready = [...member.assigned].filter((p) => {
        if (inFlight.has(p) || (backoffUntil.get(p) ?? 0) > now) return false;
        return this.position(group, member, p) < BigInt((topic.partitions[p] as LogRecord[]).length);
      });
      let onAppend: () => void = () => undefined;
      let timer: NodeJS.Timeout | undefined;
      const wakeUp = new Promise<void>((resolve) => {
        onAppend = resolve;
        setWake(resolve);
        this.appended.once(member.topic, onAppend);
        const next = Math.min(...[...backoffUntil.values()].filter((t) => t > now));
        if (Number.isFinite(next)) timer = setTimeout(resolve, next - now);
      });
      for (const p of ready.slice(0, Math.max(0, concurrency - inFlight.size))) {
        inFlight.add(p);
        void this.deliver(group, member, p, maxRecords).then((outcome) => {
          inFlight.delete(p);
          // A failed batch waits retryDelayMs; one returned without progress waits a fetch's worth,
          // so an uncommitted partition is redelivered at a pace, never in a hot loop.
          if (outcome === 'failed') backoffUntil.set(p, Date.now() + this.retryDelayMs);
          else if (outcome === 'no-progress') backoffUntil.set(p, Date.now() + this.refetchDelayMs);
          else backoffUntil.delete(p);
          member.wake();
        });
      }
      await wakeUp;
      this.appended.off(member.topic, onAppend);
      clearTimeout(timer);
      await new Promise((r) => setImmediate(r)); // let timers and I/O run between rounds
    }
    while (inFlight.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** One batch of one partition. */
  private async deliver(group: Group, member: Member, partition: number, maxRecords: number): Promise<'progress' | 'no-progress' | 'failed'> {
    const generation = member.generation;
    const key = `${member.topic}:${partition}`;
    const log = this.topic(member.topic).partitions[partition] as LogRecord[];
    const from = Number(this.position(group, member, partition));
    const records = log.slice(from, from + maxRecords);
    const owned = () => member.generation === generation && member.assigned.has(partition);
    const control: BatchControl = {
      isActive: () => member.running && owned(),
      heartbeat: async () => undefined,
      commit: async (nextOffset) => {
        if (!owned()) return; // a revoked partition commits nothing
        const next = BigInt(nextOffset);
        const current = group.committed.get(key) ?? -1n;
        if (next > current && next <= BigInt(log.length)) group.committed.set(key, next);
      },
    };
    try {
      await member.options.onBatch({ topic: member.topic, partition, records }, control);
      return (group.committed.get(key) ?? -1n) > BigInt(from) ? 'progress' : 'no-progress';
    } catch (err) {
      member.options.onError?.(err);
      return 'failed';
    }
  }
}

/** Where a group without a commit starts reading one partition. */
function startPosition(log: readonly LogRecord[], start: StartFrom): bigint {
  if (start === 'earliest') return 0n;
  if (start === 'latest') return BigInt(log.length);
  const i = log.findIndex((r) => Number(r.timestamp) >= start.timestamp);
  return BigInt(i < 0 ? log.length : i);
}
