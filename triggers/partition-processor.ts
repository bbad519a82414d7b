/**
 * Processing one partition batch for a topic-triggered function: the at-least-once core.
 *
 * - Offsets are committed only for records whose handler succeeded or that went to the dead-letter
 *   topic, and only as a contiguous prefix: with keyConcurrency > 1 keys of one partition run in
 *   parallel (each key in order), and a later key finishing first commits nothing past an earlier
 *   record still running.
 * - A failing record is retried (manifest.retry: exponential backoff with jitter), then copied to
 *   the dead-letter topic with its error, and the partition moves on: a poison record never stalls it.
 * - Stopping (SIGTERM, undeploy, revocation) takes no new record; the records that completed are
 *   committed, the rest are redelivered to whoever owns the partition next.
 * - A dead-letter write that fails fails the batch: nothing past it is committed, and the log
 *   redelivers it after a pause. Nothing acknowledged is ever dropped.
 */
import { FaasError } from '../core/errors.ts';
import type { TopicTrigger } from '../core/trigger-specs.ts';
import type { BatchControl, LogRecord, PartitionBatch } from '../scheduler/event-log.ts';
import type { InvokeInput, SeriesOutcome } from '../scheduler/invoker.ts';
import type { TriggerDeps } from '../scheduler/trigger-source.ts';
import { backoffDelay, retry, sleep, type RetryPolicy } from './retry.ts';
import { batchEvent, deadLetterRecord, decodeValue, decodeValueDeferred, recordEvent } from './topic-records.ts';

export interface ProcessorOptions {
  fn: string;
  spec: Pick<TopicTrigger, 'mode' | 'batchSize' | 'batchWaitMs' | 'encoding' | 'keyConcurrency'>;
  retry: RetryPolicy;
  /** Where failed records go after their retries; undefined = dropped (logged and counted). */
  deadLetterTopic: string | undefined;
  deps: Pick<TriggerDeps, 'invoker' | 'eventLog' | 'clock' | 'log' | 'metrics'>;
  /** Aborted when the trigger stops. */
  signal: AbortSignal;
  /** The event for a decoded record; default recordEvent (webhook ingest rebuilds the request). */
  toEvent?: (record: LogRecord, value: unknown) => InvokeInput;
  /** Metrics label. Default 'topic'. */
  triggerType?: 'topic' | 'webhook' | 'lag';
  /** Consumer group: with topic/partition/offset, the fence that makes a record's state writes apply once. */
  group?: string;
}

/** Thrown inside a batch to stop without committing the current record (stopping or revoked). */
class Stopped extends Error {}

/** Records now done (handled, dead-lettered or dropped); `flush`: commit soon (after a series). */
type MarkDone = (records: readonly LogRecord[], flush?: boolean) => void;

const HEARTBEAT_MS = 2000;
/** Most records sent to the sandbox in one series. */
export const SERIES_MAX = 1024;
/**
 * A series is sized to take about this long at the handler's observed pace, so a slow handler's
 * series stays far inside its deadline (the series shares one) and a lost series costs little.
 */
const SERIES_BUDGET_MS = 250;
/** The first series of a partition, before the handler's pace is known. */
const SERIES_START = 16;
const INTERIM_COMMIT_MS = 1000;
/** After a series, commit if the last commit is older than this (each commit costs the broker). */
const SERIES_COMMIT_MS = 100;

export class PartitionProcessor {
  readonly stats = { processed: 0, retried: 0, deadLettered: 0, dropped: 0 };
  private readonly o: ProcessorOptions;
  private readonly firstSeen = new Map<string, number>();
  /**
   * Current series size: SERIES_START, then what fits SERIES_BUDGET_MS at the observed time per
   * record (growing at most twofold per series) up to SERIES_MAX; halved after a series timed out.
   */
  private seriesMax = SERIES_START;

  constructor(options: ProcessorOptions) {
    this.o = options;
  }

  async process(batch: PartitionBatch, control: BatchControl): Promise<void> {
    if (this.deferForBatchWait(batch)) return;
    const offsets = batch.records.map((r) => r.offset);
    const done = new Set<string>();
    let prefix = 0; // records [0, prefix) are done
    let committed = -1n;
    let lastCommitAt = this.o.deps.clock.now();
    let chain = Promise.resolve();
    /** force: true = now; 'soon' = now unless a commit went out in the last SERIES_COMMIT_MS. */
    const commitPrefix = (force: boolean | 'soon'): Promise<void> => {
      while (prefix < offsets.length && done.has(offsets[prefix] as string)) prefix++;
      if (prefix === 0) return chain;
      const age = this.o.deps.clock.now() - lastCommitAt;
      if ((!force && age < INTERIM_COMMIT_MS) || (force === 'soon' && age < SERIES_COMMIT_MS)) return chain;
      const next = BigInt(offsets[prefix - 1] as string) + 1n;
      if (next <= committed) return chain;
      committed = next;
      lastCommitAt = this.o.deps.clock.now();
      chain = chain.then(() => control.commit(String(next)));
      return chain;
    };
    /** `flush`: after a series, commit the done prefix soon rather than at the next interim tick. */
    const markDone: MarkDone = (records, flush = false) => {
      for (const r of records) done.add(r.offset);
      void commitPrefix(flush ? 'soon' : false).catch(() => undefined);
    };
    const heartbeat = setInterval(() => void control.heartbeat().catch(() => undefined), HEARTBEAT_MS);
    try {
      if (this.o.spec.mode === 'batch') await this.batches(batch.records, control, markDone);
      else if (this.o.spec.keyConcurrency <= 1) await this.sequence(batch.records, control, markDone);
      else await this.lanes(batch.records, control, markDone);
    } catch (err) {
      if (!(err instanceof Stopped)) throw err;
    } finally {
      clearInterval(heartbeat);
      await commitPrefix(true);
    }
  }

  /** Keys in parallel, up to keyConcurrency at once; each key's records in offset order. */
  private async lanes(records: LogRecord[], control: BatchControl, markDone: MarkDone): Promise<void> {
    const lanes = new Map<string, LogRecord[]>();
    for (const r of records) {
      const k = r.key === null ? '\u0000' : r.key.toString('latin1');
      let lane = lanes.get(k);
      if (lane === undefined) lanes.set(k, (lane = []));
      lane.push(r);
    }
    const queue = [...lanes.values()];
    let failure: Error | undefined;
    const worker = async () => {
      while (queue.length > 0 && failure === undefined) {
        const lane = queue.shift() as LogRecord[];
        try {
          await this.sequence(lane, control, markDone, () => failure !== undefined);
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err));
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.spec.keyConcurrency, lanes.size) }, worker));
    if (failure !== undefined) throw failure;
  }

  /** Batch mode: invocations of up to batchSize decoded records; undecodable ones go to the DLQ alone. */
  private async batches(records: LogRecord[], control: BatchControl, markDone: MarkDone): Promise<void> {
    for (let i = 0; i < records.length; i += this.o.spec.batchSize) {
      this.ensureActive(control);
      const chunk = records.slice(i, i + this.o.spec.batchSize);
      const good: { record: LogRecord; value: unknown }[] = [];
      for (const record of chunk) {
        const decoded = decodeValue(record, this.o.spec.encoding);
        if (decoded.ok) good.push({ record, value: decoded.value });
        else await this.deadLetter([record], decoded.error, 0);
      }
      if (good.length > 0) {
        const first = (good[0] as { record: LogRecord }).record;
        const last = (good[good.length - 1] as { record: LogRecord }).record;
        const event = batchEvent(good);
        const outcome = await this.invokeWithRetry(this.o.group === undefined ? event : { ...event, fence: `${this.o.group}/${first.topic}/${first.partition}/${first.offset}-${last.offset}` });
        if (!outcome.ok) await this.deadLetter(good.map((g) => g.record), outcome.error, outcome.attempts);
        else this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success', good.length);
        this.stats.processed += good.length;
      }
      markDone(chunk);
    }
  }

  /**
   * Records in order. Runs of decodable records go to the sandbox as one series (one round trip,
   * one handler call per record); the first record that fails in a series continues on the
   * single-record path (retries, dead letter), then series resume after it. A lost series (deadline
   * or crash) tells nothing about its records: they are run one by one, so at-least-once holds.
   */
  private async sequence(records: LogRecord[], control: BatchControl, markDone: MarkDone, abandoned: () => boolean = () => false): Promise<void> {
    let i = 0;
    while (i < records.length) {
      if (abandoned()) return;
      this.ensureActive(control);
      const chunk: { record: LogRecord; event: InvokeInput }[] = [];
      for (let j = i; j < records.length && chunk.length < this.seriesMax; j++) {
        const record = records[j] as LogRecord;
        const event = this.eventOf(record);
        if (event === undefined) break; // undecodable: the single path dead-letters it
        chunk.push({ record, event });
      }
      if (chunk.length <= 1) {
        const record = records[i] as LogRecord;
        await this.one(record);
        markDone([record]);
        i++;
        continue;
      }
      let series: SeriesOutcome;
      try {
        series = await this.o.deps.invoker.invokeSeries(this.o.fn, chunk.map((c) => c.event));
      } catch (err) {
        if (err instanceof FaasError && (err.code === 'FAAS_FUNCTION_NOT_FOUND' || err.code === 'FAAS_SHUTTING_DOWN')) throw new Stopped();
        throw err;
      }
      const { done } = series;
      if (done > 0) {
        markDone(records.slice(i, i + done), true);
        this.stats.processed += done;
        this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success', done);
      }
      this.seriesMax = series.lost?.code === 'FAAS_TIMEOUT' ? Math.max(1, this.seriesMax >> 1) : nextSeriesSize(this.seriesMax, done + (series.failure ? 1 : 0), series.durationMs);
      i += done;
      if (done === chunk.length) continue;
      // The record that failed in the series (or the first of a lost one) takes the single path.
      const record = records[i] as LogRecord;
      this.ensureActive(control);
      await this.one(record, series.failure);
      markDone([record]);
      i++;
    }
  }

  /**
   * The event of a record in a series, or undefined when it does not decode (the single path
   * handles it). With the default envelope, a JSON value is left for the guest to parse.
   */
  private eventOf(record: LogRecord): InvokeInput | undefined {
    const decoded = this.o.toEvent === undefined ? decodeValueDeferred(record, this.o.spec.encoding) : decodeValue(record, this.o.spec.encoding);
    if (!decoded.ok) return undefined;
    try {
      return this.fenced(record, (this.o.toEvent ?? recordEvent)(record, decoded.value));
    } catch {
      return undefined;
    }
  }

  /** Effectively-once state: the record's coordinates fence its state writes. */
  private fenced(record: LogRecord, event: InvokeInput): InvokeInput {
    // The event was just built for this record: set the fence on it rather than copy it.
    if (this.o.group !== undefined) event.fence = `${this.o.group}/${record.topic}/${record.partition}/${record.offset}`;
    return event;
  }

  /**
   * One record: decode, invoke with retries, dead-letter when they are exhausted. `failedOnce`: it
   * already failed one attempt (in a series), which counts against retry.maxAttempts.
   */
  private async one(record: LogRecord, failedOnce?: FaasError): Promise<void> {
    const decoded = decodeValue(record, this.o.spec.encoding);
    if (!decoded.ok) {
      await this.deadLetter([record], decoded.error, 0);
      return;
    }
    let event: InvokeInput;
    try {
      event = this.fenced(record, (this.o.toEvent ?? recordEvent)(record, decoded.value));
    } catch (err) {
      // A record the trigger cannot turn into an event (e.g. a foreign record on a webhook's ingest
      // topic) is a failed record, not a reason to stall the partition.
      await this.deadLetter([record], err instanceof FaasError ? err : new FaasError('FAAS_RECORD_UNDECODABLE', String(err)), 0);
      return;
    }
    const prior = failedOnce === undefined ? 0 : 1;
    if (failedOnce !== undefined && (!failedOnce.retriable || this.o.retry.maxAttempts <= 1)) {
      this.stats.processed++;
      await this.deadLetter([record], failedOnce, 1);
      return;
    }
    if (failedOnce !== undefined) {
      this.stats.retried++;
      this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'retry');
      if (!(await sleep(this.o.deps.clock, backoffDelay(this.o.retry, 1), this.o.signal))) throw new Stopped();
    }
    const outcome = await this.invokeWithRetry(event, prior);
    this.stats.processed++;
    if (outcome.ok) this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success');
    else await this.deadLetter([record], outcome.error, prior + outcome.attempts);
  }

  private async invokeWithRetry(event: InvokeInput, priorAttempts = 0): Promise<{ ok: true } | { ok: false; error: FaasError; attempts: number }> {
    const policy = { ...this.o.retry, maxAttempts: Math.max(1, this.o.retry.maxAttempts - priorAttempts) };
    const outcome = await retry(
      async () => {
        const result = await this.o.deps.invoker.invoke(this.o.fn, event);
        return result.error ? { ok: false, error: result.error, retriable: result.error.retriable } : { ok: true, value: undefined };
      },
      policy,
      {
        clock: this.o.deps.clock,
        signal: this.o.signal,
        onRetry: () => {
          this.stats.retried++;
          this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'retry');
        },
      },
    );
    if (outcome.ok) return { ok: true };
    const error = outcome.error instanceof FaasError ? outcome.error : new FaasError('FAAS_INTERNAL', String(outcome.error));
    // The function went away or the node is stopping: not the record's fault; leave it uncommitted.
    if (outcome.aborted || error.code === 'FAAS_FUNCTION_NOT_FOUND' || error.code === 'FAAS_SHUTTING_DOWN') throw new Stopped();
    return { ok: false, error, attempts: outcome.attempts };
  }

  private async deadLetter(records: LogRecord[], error: FaasError, attempts: number): Promise<void> {
    const data = { code: error.code, message: error.message };
    if (this.o.deadLetterTopic === undefined) {
      this.stats.dropped += records.length;
      this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'dropped', records.length);
      this.o.deps.log.warn({ fn: this.o.fn, error: data, offsets: records.map((r) => `${r.partition}@${r.offset}`) }, 'records failed and dead-lettering is disabled: dropped');
      return;
    }
    await this.o.deps.eventLog.produce(this.o.deadLetterTopic, records.map((r) => deadLetterRecord(r, this.o.fn, data, attempts)));
    this.stats.deadLettered += records.length;
    this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'dead-letter', records.length);
    this.o.deps.log.warn({ fn: this.o.fn, error: data, attempts, topic: this.o.deadLetterTopic, offsets: records.map((r) => `${r.partition}@${r.offset}`) }, 'records sent to the dead-letter topic');
  }

  /**
   * batchWaitMs: a short batch is left uncommitted (so the log delivers it again, with whatever
   * arrived since) until it is full or its first record has waited batchWaitMs.
   */
  private deferForBatchWait(batch: PartitionBatch): boolean {
    const { mode, batchSize, batchWaitMs } = this.o.spec;
    if (mode !== 'batch' || batchWaitMs === 0) return false;
    const key = `${batch.partition}:${batch.records[0]?.offset}`;
    const now = this.o.deps.clock.now();
    const first = this.firstSeen.get(key) ?? now;
    this.firstSeen.set(key, first);
    if (batch.records.length < batchSize && now - first < batchWaitMs && !this.o.signal.aborted) return true;
    this.firstSeen.delete(key);
    return false;
  }

  private ensureActive(control: BatchControl): void {
    if (!control.isActive() || this.o.signal.aborted) throw new Stopped();
  }

  private type(): 'topic' | 'webhook' | 'lag' {
    return this.o.triggerType ?? 'topic';
  }
}

/** The next series size after a series that ran: see PartitionProcessor.seriesMax. */
export function nextSeriesSize(current: number, ran: number, durationMs: number): number {
  const fits = durationMs > 0 && ran > 0 ? Math.floor(SERIES_BUDGET_MS / (durationMs / ran)) : SERIES_MAX;
  return Math.max(1, Math.min(SERIES_MAX, current * 2, fits));
}
