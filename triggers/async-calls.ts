/**
 * Queued invocations: `POST /v1/functions/:name/invoke?mode=async` and `ctx.invokeAsync` write the
 * call to the topic `faas.invocations` before they answer its id, and every node consumes that
 * topic in the group `faas.async-invoker` (`faas.<cluster>.…` with FAAS_CLUSTER, so runtime
 * clusters sharing one Kafka never run each other's calls). So an accepted call survives a crash of the node that
 * accepted it, and a spike is queued, not dropped.
 *
 * - Each call runs with the function's retry policy (retriable errors only) and its outcome is
 *   stored under its id (`faas invocation <id>`); the batch's offsets are committed after every
 *   call in it has an outcome. A call whose run was cut short (shutdown, rebalance) is delivered
 *   again: at-least-once, with state writes fenced by `async/<id>` so they apply once.
 * - Calls of one batch run side by side (up to `concurrency`): queued calls have no order.
 */
import { randomUUID } from 'node:crypto';
import { FaasError, toFaasError } from '../core/errors.ts';
import type { AsyncEnqueuer } from '../scheduler/direct-calls.ts';
import type { EventLog, LogRecord, PartitionBatch, BatchControl, Subscription } from '../scheduler/event-log.ts';
import type { InvocationResult, InvokeInput, Invoker } from '../scheduler/invoker.ts';
import type { ActivityStore, Clock, InvocationRecord } from '../scheduler/ports.ts';
import type { TriggerLogger } from '../scheduler/trigger-source.ts';
import { holdOnOutage, retry, type AttemptResult } from './retry.ts';

const PARTITIONS = 6;

/** The queue topic and its consumer group: one pair per runtime cluster sharing a Kafka. */
export function asyncCallsQueue(cluster?: string): { topic: string; group: string } {
  return cluster === undefined ? { topic: 'faas.invocations', group: 'faas.async-invoker' } : { topic: `faas.${cluster}.invocations`, group: `faas.${cluster}.async-invoker` };
}

/** What the queue topic carries: the call, with the input the invoker will get. */
interface QueuedCall {
  id: string;
  function: string;
  acceptedAt: string;
  input: InvokeInput;
}

export interface AsyncCallsDeps {
  eventLog: EventLog;
  invoker: Invoker;
  activity: ActivityStore;
  clock: Clock;
  log: TriggerLogger;
  /** Calls of one batch run at most this many at a time. Default 32. */
  concurrency?: number;
  /** FAAS_CLUSTER: which queue (see asyncCallsQueue). */
  cluster?: string;
}

export class AsyncCalls implements AsyncEnqueuer {
  private readonly deps: AsyncCallsDeps;
  private subscription: Subscription | undefined;
  private readonly abort = new AbortController();
  private topicReady: Promise<void> | undefined;
  private readonly topic: string;
  private readonly group: string;

  constructor(deps: AsyncCallsDeps) {
    this.deps = deps;
    ({ topic: this.topic, group: this.group } = asyncCallsQueue(deps.cluster));
  }

  /** Record the call as pending, then write it to the queue; answers once it is durable. */
  async enqueue(name: string, input: InvokeInput): Promise<{ invocationId: string }> {
    await this.deps.invoker.resolve(name);
    const id = randomUUID();
    const call: QueuedCall = { id, function: name, acceptedAt: new Date().toISOString(), input: { ...input, correlationId: input.correlationId ?? id } };
    const pending: InvocationRecord = { id, function: name, status: 'pending', acceptedAt: call.acceptedAt, correlationId: call.input.correlationId };
    try {
      await this.deps.activity.putInvocation(pending);
      await this.ensureTopic();
      await this.deps.eventLog.produce(this.topic, [{ key: id, value: JSON.stringify(call), headers: { 'faas-function': name } }]);
    } catch (err) {
      const message = `the call could not be queued: ${(err as Error).message}`;
      await this.deps.activity.putInvocation({ ...pending, status: 'failed', error: { code: 'FAAS_INGEST_UNAVAILABLE', message }, finishedAt: new Date().toISOString() }).catch(() => undefined);
      throw new FaasError('FAAS_INGEST_UNAVAILABLE', message, { cause: err });
    }
    return { invocationId: id };
  }

  async start(): Promise<void> {
    await this.ensureTopic();
    this.subscription = await this.deps.eventLog.subscribe({
      groupId: this.group,
      topic: this.topic,
      start: 'earliest',
      partitionsConcurrently: PARTITIONS,
      maxBatchRecords: 100,
      onBatch: (batch, control) => this.process(batch, control),
      onError: (err) => this.deps.log.warn({ topic: this.topic, err }, 'queued calls failed; they will be delivered again'),
    });
  }

  /** Stop taking calls; running ones finish, waits between retries end (those calls come back). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.subscription?.stop();
  }

  private ensureTopic(): Promise<void> {
    this.topicReady ??= this.deps.eventLog.ensureTopic(this.topic, PARTITIONS).catch((err: unknown) => {
      this.topicReady = undefined;
      throw err;
    });
    return this.topicReady;
  }

  private async process(batch: PartitionBatch, control: BatchControl): Promise<void> {
    const records = [...batch.records];
    let unfinished = 0;
    const worker = async () => {
      for (let r = records.shift(); r !== undefined; r = records.shift()) {
        if (!control.isActive() || !(await this.run(r, () => control.isActive()))) unfinished++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.concurrency ?? 32, batch.records.length) }, worker));
    if (unfinished > 0) return; // not committed: the batch comes back (finished calls' state is fenced)
    const last = batch.records[batch.records.length - 1] as LogRecord;
    await control.commit((BigInt(last.offset) + 1n).toString());
  }

  /** Runs one queued call to its outcome; false when it was cut short and must come back. */
  private async run(record: LogRecord, active: () => boolean): Promise<boolean> {
    let call: QueuedCall;
    try {
      call = JSON.parse(record.value?.toString('utf8') ?? '') as QueuedCall;
      if (typeof call.id !== 'string' || typeof call.function !== 'string') throw new Error('not a queued call');
    } catch (err) {
      this.deps.log.error({ topic: record.topic, partition: record.partition, offset: record.offset, err }, 'skipping a record of the call queue that is not a call');
      return true;
    }
    const base = { id: call.id, function: call.function, acceptedAt: call.acceptedAt, ...(call.input.correlationId ? { correlationId: call.input.correlationId } : {}) };
    let policy;
    try {
      policy = (await this.deps.invoker.resolve(call.function)).manifest.retry;
    } catch (err) {
      await this.finish({ ...base, status: 'failed', error: toFaasError(err).toData(), attempts: 0 });
      return true;
    }
    // An outage (Redis or Kafka did not answer) is not the call's fault: it is held, tried again
    // without counting an attempt, rather than recorded failed (holdOnOutage).
    const outcome = await retry(
      () =>
        holdOnOutage(
          async (): Promise<AttemptResult<InvocationResult>> => {
            const r = await this.deps.invoker.invoke(call.function, { ...call.input, fence: `async/${call.id}` }, call.id);
            return r.error === undefined ? { ok: true, value: r } : { ok: false, error: r.error, retriable: r.error.retriable };
          },
          { policy, clock: this.deps.clock, signal: this.abort.signal, active },
        ),
      policy,
      { clock: this.deps.clock, signal: this.abort.signal },
    );
    if (outcome.ok) {
      const r = outcome.value;
      await this.finish({ ...base, status: 'succeeded', version: r.version, start: r.start, durationMs: r.durationMs, result: JSON.parse(r.resultJson ?? 'null') as unknown, attempts: outcome.attempts });
      return true;
    }
    const error = toFaasError(outcome.error);
    if (outcome.aborted || error.code === 'FAAS_SHUTTING_DOWN' || (error.outage && (this.abort.signal.aborted || !active()))) return false;
    await this.finish({ ...base, status: 'failed', error: error.toData(), attempts: outcome.attempts });
    return true;
  }

  private async finish(rec: InvocationRecord): Promise<void> {
    await this.deps.activity.putInvocation({ ...rec, finishedAt: new Date().toISOString() });
  }
}
