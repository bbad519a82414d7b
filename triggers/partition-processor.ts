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
import type { RecordRun } from '../scheduler/record-run.ts';
import type { TriggerDeps } from '../scheduler/trigger-source.ts';
import { backoffDelay, holdOnOutage, retry, sleep, type AttemptResult, type RetryPolicy } from './retry.ts';
import { batchEvent, batchSeriesInput, checkedInfo, deadLetterRecord, decodeValue, decodeValueDeferred, recordEvent, recordRun } from './topic-records.ts';

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

/**
 * Records `records[from, from + count)` are now done (handled, dead-lettered or dropped); `flush`:
 * commit soon (after a series).
 */
type MarkDone = (records: readonly LogRecord[], from: number, count: number, flush?: boolean) => void;

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
  /**
   * Counts for status views. `held`: tries of inputs held by an outage; `holding`: inputs held
   * right now; `lastOutage`: the latest outage met (ErrorSpec.outage).
   */
  readonly stats = { processed: 0, retried: 0, deadLettered: 0, dropped: 0, held: 0, holding: 0, lastOutage: null as { code: string; message: string; at: string } | null };
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
    const all = batch.records;
    /** Records done past the prefix (keys that finished ahead of an earlier one). */
    const done = new Set<LogRecord>();
    let prefix = 0; // records [0, prefix) are done
    let committed = -1n;
    let lastCommitAt = this.o.deps.clock.now();
    let chain = Promise.resolve();
    /** force: true = now; 'soon' = now unless a commit went out in the last SERIES_COMMIT_MS. */
    const commitPrefix = (force: boolean | 'soon'): Promise<void> => {
      while (prefix < all.length && done.delete(all[prefix] as LogRecord)) prefix++;
      if (prefix === 0) return chain;
      const age = this.o.deps.clock.now() - lastCommitAt;
      if ((!force && age < INTERIM_COMMIT_MS) || (force === 'soon' && age < SERIES_COMMIT_MS)) return chain;
      const next = BigInt((all[prefix - 1] as LogRecord).offset) + 1n;
      if (next <= committed) return chain;
      committed = next;
      lastCommitAt = this.o.deps.clock.now();
      chain = chain.then(() => control.commit(String(next)));
      return chain;
    };
    /** `flush`: after a series, commit the done prefix soon rather than at the next interim tick. */
    const markDone: MarkDone = (records, from, count, flush = false) => {
      let k = from;
      // Records that are the next of the batch extend the prefix at once (always so without keyConcurrency).
      while (k < from + count && records[k] === all[prefix]) {
        k++;
        prefix++;
      }
      for (; k < from + count; k++) done.add(records[k] as LogRecord);
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

  /**
   * Batch mode: invocations of up to batchSize records, in order. Runs of batches whose records all
   * decode go to the sandbox as one series (one round trip; the guest parses the values and builds
   * each batch's event). The batch that fails in a series, a batch with a record that does not
   * decode here, and the first batch of a lost series take the single path (oneBatch); series
   * resume after it (smaller after a timeout).
   */
  private async batches(records: LogRecord[], control: BatchControl, markDone: MarkDone): Promise<void> {
    const size = this.o.spec.batchSize;
    let i = 0;
    while (i < records.length) {
      this.ensureActive(control);
      // As many batches as fit seriesMax records (at the handler's observed pace), at least one,
      // up to the first with a record that does not decode (oneBatch dead-letters that record).
      const run = this.o.toEvent === undefined ? recordRun(records, i, { max: this.seriesMax, encoding: this.o.spec.encoding, batchSize: size }, (from, count) => this.fencedBatch(batchSeriesInput(records.slice(from, from + count), this.o.spec.encoding) as InvokeInput)) : undefined;
      if (run === undefined || run.length <= 1) {
        const chunk = records.slice(i, i + size);
        await this.oneBatch(chunk, control);
        markDone(records, i, chunk.length);
        i += chunk.length;
        continue;
      }
      const series = await this.seriesOf(run);
      const ran = (run.batches as number[]).slice(0, series.done).reduce((n, count) => n + count, 0); // records of the batches that succeeded
      if (series.done > 0) {
        markDone(records, i, ran, true);
        this.stats.processed += ran;
        this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success', ran);
      }
      this.seriesMax = series.lost?.code === 'FAAS_TIMEOUT' ? Math.max(1, this.seriesMax >> 1) : nextSeriesSize(this.seriesMax, ran + (series.failure ? size : 0), series.durationMs);
      i += ran;
      if (series.done === run.length) continue;
      const chunk = records.slice(i, i + size);
      this.ensureActive(control);
      await this.oneBatch(chunk, control, series.failure);
      markDone(records, i, chunk.length);
      i += chunk.length;
    }
  }

  /**
   * One batch on the single path: records that do not decode go to the dead-letter topic alone,
   * the others are invoked as one batch with retries, then dead-lettered together. `failedOnce`: the
   * batch already failed one attempt (in a series); it counts unless a record did not decode here
   * (that was the failure).
   */
  private async oneBatch(chunk: LogRecord[], control: BatchControl, failedOnce?: FaasError): Promise<void> {
    const good: { record: LogRecord; value: unknown }[] = [];
    for (const record of chunk) {
      const decoded = decodeValue(record, this.o.spec.encoding);
      if (!decoded.ok) {
        await this.deadLetter([record], decoded.error, 0);
        continue;
      }
      try {
        checkedInfo(record);
        good.push({ record, value: decoded.value });
      } catch (err) {
        await this.deadLetter([record], err instanceof FaasError ? err : new FaasError('FAAS_RECORD_UNDECODABLE', String(err)), 0);
      }
    }
    if (good.length === 0) return;
    const event = this.fencedBatch(batchEvent(good));
    // An attempt that met an outage does not count (invokeWithRetry holds the batch instead).
    const prior = failedOnce !== undefined && !failedOnce.outage && good.length === chunk.length ? 1 : 0;
    const records = good.map((g) => g.record);
    if (prior === 1 && (!(failedOnce as FaasError).retriable || this.o.retry.maxAttempts <= 1)) {
      this.stats.processed += good.length;
      await this.deadLetter(records, failedOnce as FaasError, 1);
      return;
    }
    if (prior === 1) {
      this.stats.retried++;
      this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'retry');
      if (!(await sleep(this.o.deps.clock, backoffDelay(this.o.retry, 1), this.o.signal))) throw new Stopped();
    }
    const started = performance.now();
    const outcome = await this.invokeWithRetry(event, control, prior);
    if (!outcome.ok) await this.deadLetter(records, outcome.error, prior + outcome.attempts);
    else this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success', good.length);
    this.stats.processed += good.length;
    // The pace, for the size of the next series (batches go in series once two fit in one).
    if (outcome.ok && outcome.attempts === 1) this.seriesMax = nextSeriesSize(this.seriesMax, good.length, performance.now() - started);
  }

  /** Effectively-once state for a batch: its first and last record fence its state writes. */
  private fencedBatch(event: InvokeInput): InvokeInput {
    if (this.o.group === undefined) return event;
    const kafka = (event.extensions as { kafka: { topic: string; partition: number; firstOffset: string; lastOffset: string } }).kafka;
    event.fence = `${this.o.group}/${kafka.topic}/${kafka.partition}/${kafka.firstOffset}-${kafka.lastOffset}`;
    return event;
  }

  /** A series through the invoker; the function gone or the node stopping stops the batch. */
  private async seriesOf(inputs: InvokeInput[] | RecordRun): Promise<SeriesOutcome> {
    try {
      return await this.o.deps.invoker.invokeSeries(this.o.fn, inputs);
    } catch (err) {
      if (err instanceof FaasError && (err.code === 'FAAS_FUNCTION_NOT_FOUND' || err.code === 'FAAS_SHUTTING_DOWN')) throw new Stopped();
      throw err;
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
      // Records [i, i + items.length), up to the first that does not decode (the single path
      // dead-letters it): with the default envelope a run built from the records themselves.
      const items = this.o.toEvent === undefined ? recordRun(records, i, { max: this.seriesMax, encoding: this.o.spec.encoding }, (j) => this.eventOf(records[j] as LogRecord) as InvokeInput) : this.eventsOf(records, i);
      if (items.length <= 1) {
        await this.one(records[i] as LogRecord, control);
        markDone(records, i, 1);
        i++;
        continue;
      }
      const series = await this.seriesOf(items);
      const { done } = series;
      if (done > 0) {
        markDone(records, i, done, true);
        this.stats.processed += done;
        this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success', done);
      }
      this.seriesMax = series.lost?.code === 'FAAS_TIMEOUT' ? Math.max(1, this.seriesMax >> 1) : nextSeriesSize(this.seriesMax, done + (series.failure ? 1 : 0), series.durationMs);
      i += done;
      if (done === items.length) continue;
      // The record that failed in the series (or the first of a lost one) takes the single path.
      const record = records[i] as LogRecord;
      this.ensureActive(control);
      await this.one(record, control, series.failure);
      markDone(records, i, 1);
      i++;
    }
  }

  /** The events of records[from, …) up to seriesMax, ending before the first that does not decode. */
  private eventsOf(records: readonly LogRecord[], from: number): InvokeInput[] {
    const events: InvokeInput[] = [];
    for (let j = from; j < records.length && events.length < this.seriesMax; j++) {
      const event = this.eventOf(records[j] as LogRecord);
      if (event === undefined) break;
      events.push(event);
    }
    return events;
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
  private async one(record: LogRecord, control: BatchControl, failedOnce?: FaasError): Promise<void> {
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
    // An attempt that met an outage does not count (invokeWithRetry holds the record instead).
    const counted = failedOnce !== undefined && !failedOnce.outage ? failedOnce : undefined;
    const prior = counted === undefined ? 0 : 1;
    if (counted !== undefined && (!counted.retriable || this.o.retry.maxAttempts <= 1)) {
      this.stats.processed++;
      await this.deadLetter([record], counted, 1);
      return;
    }
    if (counted !== undefined) {
      this.stats.retried++;
      this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'retry');
      if (!(await sleep(this.o.deps.clock, backoffDelay(this.o.retry, 1), this.o.signal))) throw new Stopped();
    }
    const outcome = await this.invokeWithRetry(event, control, prior);
    this.stats.processed++;
    if (outcome.ok) this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'success');
    else await this.deadLetter([record], outcome.error, prior + outcome.attempts);
  }

  private async invokeWithRetry(event: InvokeInput, control: BatchControl, priorAttempts = 0): Promise<{ ok: true; attempts: number } | { ok: false; error: FaasError; attempts: number }> {
    const policy = { ...this.o.retry, maxAttempts: Math.max(1, this.o.retry.maxAttempts - priorAttempts) };
    let holding = false;
    const onHeld = (error: unknown, held: number): void => {
      if (!holding) this.stats.holding++;
      holding = true;
      this.held(error as FaasError, held);
    };
    const outcome = await retry(
      // An outage (Redis or Kafka did not answer) is not the input's fault: it is held, tried again
      // without counting an attempt and with nothing committed past it, until the service answers
      // or the partition stops. Dead-lettering it would lose its state writes and, without a
      // dead-letter topic, the record itself.
      () =>
        holdOnOutage(
          async (): Promise<AttemptResult<undefined>> => {
            const result = await this.o.deps.invoker.invoke(this.o.fn, event);
            return result.error ? { ok: false, error: result.error, retriable: result.error.retriable } : { ok: true, value: undefined };
          },
          { policy: this.o.retry, clock: this.o.deps.clock, signal: this.o.signal, active: () => control.isActive(), onHeld },
        ),
      policy,
      {
        clock: this.o.deps.clock,
        signal: this.o.signal,
        onRetry: () => {
          this.stats.retried++;
          this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'retry');
        },
      },
    ).finally(() => {
      if (holding) this.stats.holding--;
    });
    if (outcome.ok) return { ok: true, attempts: outcome.attempts };
    const error = outcome.error instanceof FaasError ? outcome.error : new FaasError('FAAS_INTERNAL', String(outcome.error));
    // The function went away, the node is stopping, or the partition stopped while the input was
    // held: not the record's fault; leave it uncommitted.
    if (outcome.aborted || error.code === 'FAAS_FUNCTION_NOT_FOUND' || error.code === 'FAAS_SHUTTING_DOWN' || (error.outage && (this.o.signal.aborted || !control.isActive()))) throw new Stopped();
    return { ok: false, error, attempts: outcome.attempts };
  }

  /** An input held by an outage: counted each time, logged on the first hold and every tenth. */
  private held(error: FaasError, held: number): void {
    this.stats.held++;
    this.stats.lastOutage = { code: error.code, message: error.message, at: new Date(this.o.deps.clock.now()).toISOString() };
    this.o.deps.metrics.triggerEvent(this.o.fn, this.type(), 'held');
    if (held === 1 || held % 10 === 0) this.o.deps.log.warn({ fn: this.o.fn, error: { code: error.code, message: error.message }, held }, 'a dependency is unavailable: the input is held and tried again (no attempt counted)');
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
