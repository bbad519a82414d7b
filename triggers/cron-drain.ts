/**
 * A cron trigger's scheduled drain (triggers/cron.ts): what accumulated on a topic since the last
 * tick, collected by a consumer group whose batches are held until the tick is decided, committed
 * only after the invocation succeeded.
 */
import { FaasError } from '../core/errors.ts';
import type { CronTrigger } from '../core/trigger-specs.ts';
import type { BatchControl, EventLog, LogRecord } from '../scheduler/event-log.ts';
import type { Clock } from '../scheduler/ports.ts';

const HEARTBEAT_MS = 3000;

/** A drained record as the handler sees it in `data.records`. */
export interface DrainRecord {
  key: string | null;
  value: unknown;
  partition: number;
  offset: string;
  timestamp: string;
  headers: Record<string, string>;
  decodeError?: string;
}

export function decodeRecord(r: LogRecord, encoding: CronTrigger['encoding']): DrainRecord {
  const out: DrainRecord = {
    key: r.key === null ? null : r.key.toString('utf8'),
    value: null,
    partition: r.partition,
    offset: r.offset,
    timestamp: new Date(Number(r.timestamp)).toISOString(),
    headers: r.headers,
  };
  if (r.value === null) return out;
  if (encoding === 'bytes') out.value = r.value.toString('base64');
  else if (encoding === 'string') out.value = r.value.toString('utf8');
  else {
    const text = r.value.toString('utf8');
    try {
      out.value = JSON.parse(text) as unknown;
    } catch {
      out.value = text;
      out.decodeError = 'the value is not valid JSON; passed as a string';
    }
  }
  return out;
}

export interface Drained {
  records: LogRecord[];
  /** True when maxRecords stopped the drain before the end offsets read at tick start. */
  more: boolean;
  /** Commit every partition drained; resolves to the partitions that could not be committed. */
  commit(): Promise<number[]>;
  /** Let the held batches go and leave the group. */
  release(): Promise<void>;
}

export interface DrainOptions {
  topic: string;
  group: string;
  maxRecords: number;
  clock: Clock;
  timeoutMs: number;
  signal: AbortSignal;
  onError: (err: unknown) => void;
}

/**
 * Collect the records between the group's committed offsets and the end offsets read now, at most
 * maxRecords. Each partition's batch is held (its onBatch does not return) until the tick is
 * decided: commits must come from an active batch, and a returned batch would be fetched again.
 * So one batch per partition is taken; a partition with more than one batch of backlog finishes
 * on later ticks.
 */
export async function collectDrain(eventLog: EventLog, o: DrainOptions): Promise<Drained> {
  const lags = await eventLog.offsets(o.group, o.topic);
  const ends = new Map<number, bigint>();
  for (const l of lags) if (BigInt(l.committed ?? l.start) < BigInt(l.end)) ends.set(l.partition, BigInt(l.end));
  if (ends.size === 0) return { records: [], more: false, commit: async () => [], release: async () => undefined };

  const held = new Map<number, { control: BatchControl; records: LogRecord[] }>();
  let budget = o.maxRecords;
  let decided = false;
  let letGo: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (letGo = resolve));
  let collected: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (collected = resolve));
  const check = () => {
    if (budget <= 0 || [...ends.keys()].every((p) => held.has(p))) collected();
  };

  const subscription = await eventLog.subscribe({
    groupId: o.group,
    topic: o.topic,
    start: 'earliest',
    partitionsConcurrently: Math.max(1, lags.length),
    maxBatchRecords: o.maxRecords,
    onError: o.onError,
    onBatch: async (batch, control) => {
      if (decided || held.has(batch.partition)) return;
      const end = ends.get(batch.partition);
      const take = end === undefined ? [] : batch.records.filter((r) => BigInt(r.offset) < end).slice(0, Math.max(0, budget));
      budget -= take.length;
      held.set(batch.partition, { control, records: take });
      check();
      await released;
    },
  });
  const heartbeat = setInterval(o.clock, HEARTBEAT_MS, () => {
    for (const h of held.values()) if (h.control.isActive()) h.control.heartbeat().catch(o.onError);
  });
  const timeout = o.clock.setTimeout(collected, o.timeoutMs);
  const onAbort = () => collected();
  o.signal.addEventListener('abort', onAbort, { once: true });
  await done;
  timeout.cancel();
  o.signal.removeEventListener('abort', onAbort);
  decided = true;
  if (o.signal.aborted) {
    heartbeat.cancel();
    letGo();
    await subscription.stop();
    throw new FaasError('FAAS_SHUTTING_DOWN', 'the cron trigger stopped during a drain');
  }

  const taken = [...held.entries()].filter(([, h]) => h.records.length > 0).sort(([a], [b]) => a - b);
  const records = taken.flatMap(([, h]) => h.records);
  const more = [...ends.entries()].some(([p, end]) => {
    const last = held.get(p)?.records.at(-1);
    return last === undefined || BigInt(last.offset) + 1n < end;
  });
  return {
    records,
    more,
    commit: async () => {
      const failed: number[] = [];
      for (const [partition, h] of taken) {
        const next = String(BigInt((h.records.at(-1) as LogRecord).offset) + 1n);
        if (h.control.isActive()) await h.control.commit(next);
        else failed.push(partition);
      }
      return failed;
    },
    release: async () => {
      heartbeat.cancel();
      letGo();
      await subscription.stop();
    },
  };
}

/** A repeating timer on the injected clock. */
function setInterval(clock: Clock, ms: number, fn: () => void): { cancel(): void } {
  let timer: { cancel(): void };
  let cancelled = false;
  const tick = () => {
    if (cancelled) return;
    fn();
    timer = clock.setTimeout(tick, ms);
  };
  timer = clock.setTimeout(tick, ms);
  return {
    cancel: () => {
      cancelled = true;
      timer.cancel();
    },
  };
}
