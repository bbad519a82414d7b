/**
 * The invoker: the one path from "run function X with this input" to an outcome, used by the
 * gateway now and by every trigger later. It resolves the current version, builds the event
 * envelope, bounds the deadline, runs the sandbox, and records metrics, logs and async outcomes.
 */
import { randomUUID } from 'node:crypto';
import { FaasError, toFaasError, type ErrorData } from '../core/errors.ts';
import type { KafkaInfo } from '../sdk/index.ts';
import type { EventLog, ProducedRecord } from './event-log.ts';
import { JsonText } from './json-text.ts';
import type { CallContext, InvocationScopes, LazyScopes, Scope } from './invocation-scope.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';
import type { ActivityStore, FunctionRegistry, FunctionVersion, LogEntry, SandboxRunner, SeriesPayload, StartKind, TraceHop } from './ports.ts';
import { recordColumns } from './record-columns.ts';
import type { RecordRun } from './record-run.ts';

export interface HttpInfo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

export interface InvokeInput {
  /** The event payload (any JSON value, or JsonText: its encoded form, decoded in the sandbox). */
  data: unknown;
  http?: HttpInfo;
  /** Carried across hops; defaults to the invocation id. */
  correlationId?: string;
  source?: string;
  type?: string;
  /** Event id; stable across redeliveries of the same input (e.g. topic/partition/offset). Default: the invocation id. */
  eventId?: string;
  /** When the event happened (ISO 8601). Default: now. */
  time?: string;
  /** Trigger-specific attributes merged into the event, e.g. { schedule: {...} }. */
  extensions?: Record<string, unknown>;
  /**
   * A topic record's event (record mode): `event.kafka`, and the id, source, type and time derived
   * from it (recordAttributes). A series of records carries only this: the guest builds the rest.
   */
  record?: KafkaInfo;
  /**
   * A topic batch in a series (batch mode; invokeSeries only): its records' metadata and values
   * (JsonText for JSON values), `data` unused. The guest builds the event batchEvent builds
   * (triggers/topic-records.ts): data is { value, ...record } per record.
   */
  batch?: { records: KafkaInfo[]; values: unknown[] };
  /** A caller may shorten the deadline, never extend it beyond limits.timeoutMs. */
  timeoutMs?: number;
  /**
   * Identifies the input for effectively-once state (topic records: group/topic/partition/offset):
   * the invocation's state writes are applied at most once per fence.
   */
  fence?: string;
  /** Direct calls: the functions on the call path above this one (cycle and depth checks). */
  chain?: readonly string[];
  /** The invocation that caused this one (a direct caller, or the emitter of a record). */
  parentInvocationId?: string;
}

export interface InvocationResult {
  invocationId: string;
  correlationId: string;
  function: string;
  version: number;
  start: StartKind;
  durationMs: number;
  /** Handler result as JSON text, when ok. */
  resultJson?: string;
  error?: FaasError;
}

/** How a series went (Invoker.invokeSeries). */
export interface SeriesOutcome {
  /** The first `done` events succeeded (and were settled). */
  done: number;
  /** The event after them failed (the rest did not run). */
  failure?: FaasError;
  /** The whole series was lost: none is known to have completed. */
  lost?: FaasError;
  durationMs: number;
}

export interface InvokerDeps {
  registry: FunctionRegistry;
  runner: SandboxRunner;
  activity: ActivityStore;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** ctx.state and ctx.emit: per-invocation write sets and outboxes, settled on success. */
  scopes: InvocationScopes;
  /** Where ctx.emit's records are published. */
  eventLog: EventLog;
  onError?: (msg: string, err: unknown) => void;
}

export class Invoker {
  private readonly deps: InvokerDeps;

  constructor(deps: InvokerDeps) {
    this.deps = deps;
  }

  async resolve(name: string): Promise<FunctionVersion> {
    const fn = this.deps.registry.cached(name) ?? (await this.deps.registry.get(name));
    if (fn === undefined) throw new FaasError('FAAS_FUNCTION_NOT_FOUND', `no function named "${name}" is deployed`);
    return fn;
  }

  /** Run synchronously; handler failures come back in `error`, never thrown. */
  async invoke(name: string, given: InvokeInput, invocationId: string = randomUUID()): Promise<InvocationResult> {
    // Only series parse JSON text in the guest; here it is decoded first (FAAS_RECORD_UNDECODABLE).
    const input = given.data instanceof JsonText ? { ...given, data: given.data.parse() } : given;
    // A direct call made by an invocation already running is part of that work: it may still run
    // while the node drains, so the caller can finish.
    if (!this.deps.lifecycle.acceptingWork && !(input.chain !== undefined && this.deps.lifecycle.state === 'draining')) {
      throw new FaasError('FAAS_SHUTTING_DOWN', `the node is ${this.deps.lifecycle.state} and takes no new invocations`);
    }
    const fn = await this.resolve(name);
    const correlationId = input.correlationId ?? invocationId;
    const timeoutMs = Math.min(fn.manifest.limits.timeoutMs, input.timeoutMs ?? Infinity);
    const deadline = Date.now() + timeoutMs;
    const scope = this.deps.scopes.open(name, callContext(fn, input, invocationId, correlationId, deadline));
    let outcome: Awaited<ReturnType<InvokerDeps['runner']['invoke']>>;
    try {
      outcome = await this.deps.runner.invoke(fn, eventJson(name, input, invocationId), { invocationId, correlationId, deadline });
      if (outcome.ok) {
        const failed = await this.settle(scope, name, input, invocationId, correlationId);
        if (failed !== undefined) outcome = { ok: false, error: failed, start: outcome.start, durationMs: outcome.durationMs, logs: outcome.logs };
      } else outcome = { ...outcome, error: blamed(outcome.error, scope) };
    } finally {
      this.deps.scopes.close(invocationId);
    }
    this.deps.metrics.recordInvocation(name, outcome.start, outcome.durationMs, outcome.ok ? undefined : outcome.error.code);
    const logs = outcome.ok ? outcome.logs : [...outcome.logs, failureLine(invocationId, outcome.error)];
    const base = { invocationId, correlationId, function: name, version: fn.version, start: outcome.start, durationMs: outcome.durationMs };
    // Awaited, so the logs of an invocation are stored before a trigger commits its record (after a
    // crash, `faas logs` then shows every committed invocation).
    await this.record(name, logs, traced(scope, input) ? [hop(base, input, outcome.ok ? undefined : outcome.error)] : []);
    return outcome.ok ? { ...base, resultJson: outcome.resultJson } : { ...base, error: FaasError.fromData(outcome.error) };
  }

  /**
   * Stores logs and hops of finished invocations; a failure to store is not the invocation's
   * failure. Logs are awaited (a trigger commits only after its invocation's logs are stored);
   * hops are not: they are for following a request, and cost no round trip on the hot path.
   */
  private async record(fn: string, logs: LogEntry[], hops: TraceHop[]): Promise<void> {
    if (hops.length > 0) void this.deps.activity.appendHops(hops).catch((err: unknown) => this.deps.onError?.('storing a trace failed', err));
    if (logs.length > 0) await this.deps.activity.appendLogs(fn, logs).catch((err: unknown) => this.deps.onError?.('storing logs failed', err));
  }

  /**
   * Several events of one function in order, in one sandbox round trip, stopping after the first
   * failure: how many succeeded (`done`, the first ones) and the failure of the one after them.
   * `lost` when the series passed its deadline (the function's timeout, for the whole series) or
   * its sandbox died: then none is known to have completed, and the caller invokes them one by one.
   * Results are not kept: a series runs topic records, whose handlers answer nobody. The items are
   * their inputs, or a run of one partition's records (RecordRun), whose inputs are built only for
   * the items that need one.
   */
  async invokeSeries(name: string, items: InvokeInput[] | RecordRun): Promise<SeriesOutcome> {
    if (!this.deps.lifecycle.acceptingWork) {
      throw new FaasError('FAAS_SHUTTING_DOWN', `the node is ${this.deps.lifecycle.state} and takes no new invocations`);
    }
    const fn = await this.resolve(name);
    const deadline = Date.now() + fn.manifest.limits.timeoutMs;
    // Item ids derive from one series id: one random id, and one entry for the items' scopes.
    const run = Array.isArray(items) ? undefined : items;
    const payload = run === undefined ? seriesPayload(name, randomUUID(), items as InvokeInput[]) : runPayload(randomUUID(), run);
    const idOf = (i: number) => `${payload.id}.${i}`;
    const inputOf = run === undefined ? (i: number) => (items as InvokeInput[])[i] as InvokeInput : (i: number) => run.input(i);
    const idsOf = (i: number) => ({ invocationId: idOf(i), correlationId: payload.correlation[i] ?? idOf(i) });
    const scopes = this.deps.scopes.openLazy(name, payload.id, items.length, (i) => callContext(fn, inputOf(i), idsOf(i).invocationId, idsOf(i).correlationId, deadline));
    let series: Awaited<ReturnType<InvokerDeps['runner']['invokeSeries']>>;
    try {
      series = await this.deps.runner.invokeSeries(fn, payload, deadline);
      if (!series.lost && series.failure !== undefined) series.failure = blamed(series.failure, scopes.get(series.done));
      if (!series.lost) {
        const failed = await this.settleSeries(name, scopes, series.done, inputOf, idsOf);
        if (failed !== undefined) {
          series.done = failed.item;
          series.failure = failed.error;
        }
      }
    } finally {
      scopes.close();
    }
    if (series.lost) return { done: 0, lost: FaasError.fromData(series.error), durationMs: series.durationMs };
    const { done, failure, start } = series;
    const ran = done + (failure === undefined ? 0 : 1);
    // Per-invocation durations are not measured inside a series: each gets an equal share.
    const eachMs = series.durationMs / Math.max(1, ran);
    this.deps.metrics.recordSeries(name, start, done, failure?.code, eachMs);
    const logs: LogEntry[] = [];
    for (const [item, ts, level, message] of series.logs) if (item < ran) logs.push({ ts, invocationId: idOf(item), level, message });
    if (failure !== undefined) logs.push(failureLine(idOf(done), failure));
    const hops: TraceHop[] = [];
    for (const i of traceCandidates(ran, run?.linked, scopes)) {
      const input = inputOf(i);
      if (!traced(scopes.get(i), input)) continue;
      const { invocationId, correlationId } = idsOf(i);
      const base = { invocationId, correlationId, function: name, version: fn.version, start: i === 0 ? start : 'warm', durationMs: eachMs } as const;
      hops.push(hop(base, input, i < done ? undefined : failure));
    }
    await this.record(name, logs, hops);
    return { done, ...(failure !== undefined ? { failure: FaasError.fromData(failure) } : {}), durationMs: series.durationMs };
  }

  /**
   * What a series' successful items asked for takes effect: the emits of all of them go out
   * together (one produce per topic, in item order), then each item's state is committed in
   * order. Answers the first item that could not be settled: a failed publish fails the first item
   * (the caller runs them all again; re-published records keep their ids); a failed commit fails
   * its item, and the items after it are not settled (the caller runs them again).
   */
  private async settleSeries(name: string, scopes: LazyScopes, done: number, inputOf: (i: number) => InvokeInput, idsOf: (i: number) => { invocationId: string; correlationId: string }): Promise<{ item: number; error: ErrorData } | undefined> {
    if (done === 0) return undefined;
    const opened = scopes.opened().filter(([item]) => item < done);
    const emitted = opened.filter(([, scope]) => scope.emits.length > 0);
    const failedPublish = await this.publish(emitted.map(([item, scope]) => this.outbox(scope, name, inputOf(item), idsOf(item))));
    if (failedPublish !== undefined) return { item: 0, error: failedPublish };
    for (const [item, scope] of opened) {
      const failed = await this.commitState(scope, inputOf(item).fence);
      if (failed !== undefined) return { item, error: failed };
    }
    return undefined;
  }

  /**
   * What a successful invocation asked for takes effect: its emitted records are published (each
   * topic's in emit order, with a stable event id: the input's fence, or the invocation id, and
   * the record's index), then its state writes are committed (fenced). Answers the error when
   * either fails: the invocation then counts as failed and its trigger retries it; state was not
   * applied, and re-published records carry the same event ids.
   */
  private async settle(scope: Scope, fn: string, input: InvokeInput, invocationId: string, correlationId: string): Promise<ErrorData | undefined> {
    return (await this.publish([this.outbox(scope, fn, input, { invocationId, correlationId })])) ?? (await this.commitState(scope, input.fence));
  }

  /** The scope's emitted records with the runtime's headers, by topic. */
  private outbox(scope: Scope, fn: string, input: InvokeInput, ids: { invocationId: string; correlationId: string }): Map<string, ProducedRecord[]> {
    const byTopic = new Map<string, ProducedRecord[]>();
    const causation = attributes(fn, input, ids.invocationId).id;
    for (const [i, r] of scope.emits.entries()) {
      const list = byTopic.get(r.topic) ?? [];
      list.push({
        key: r.key,
        value: r.value,
        headers: {
          ...r.headers,
          'faas-event-id': `${input.fence ?? ids.invocationId}#${i}`,
          'faas-correlation-id': ids.correlationId,
          'faas-causation-id': causation,
          'faas-source-function': fn,
          'faas-source-invocation': ids.invocationId,
        },
      });
      byTopic.set(r.topic, list);
    }
    return byTopic;
  }

  /** Publishes outboxes in order, one produce per topic; answers the error if it failed. */
  private async publish(outboxes: Map<string, ProducedRecord[]>[]): Promise<ErrorData | undefined> {
    const byTopic = new Map<string, ProducedRecord[]>();
    for (const box of outboxes) for (const [topic, records] of box) byTopic.set(topic, [...(byTopic.get(topic) ?? []), ...records]);
    try {
      for (const [topic, records] of byTopic) await this.deps.eventLog.produce(topic, records);
      return undefined;
    } catch (err) {
      return { code: 'FAAS_EMIT_UNAVAILABLE', message: `publishing emitted records failed: ${(err as Error).message}` };
    }
  }

  private async commitState(scope: Scope, fence: string | undefined): Promise<ErrorData | undefined> {
    try {
      await this.deps.scopes.commit(scope, fence);
      return undefined;
    } catch (err) {
      return toFaasError(err).toData();
    }
  }
}

/** The CloudEvents-style envelope the handler receives, as JSON. */
function eventJson(name: string, input: InvokeInput, invocationId: string): string {
  return JSON.stringify(envelope(name, input, invocationId, input.data));
}

function envelope(name: string, input: InvokeInput, invocationId: string, data: unknown): Record<string, unknown> {
  return {
    ...input.extensions,
    ...(input.record !== undefined ? { kafka: input.record } : {}),
    ...attributes(name, input, invocationId),
    ...(input.http ? { http: input.http } : {}),
    data: data ?? null,
  };
}

/** The event's id, source, type and time: derived from its record, given, or the defaults. */
function attributes(name: string, input: InvokeInput, invocationId: string): { id: string; source: string; type: string; time: string } {
  const r = input.record;
  // Mirrored by recordEvent in sandbox/guest/bootstrap.ts, which builds a series' record events.
  if (r !== undefined) return { id: `${r.topic}/${r.partition}/${r.offset}`, source: `kafka://${r.topic}/${r.partition}`, type: 'faas.kafka.record', time: new Date(r.timestamp).toISOString() };
  return { id: input.eventId ?? invocationId, source: input.source ?? `/v1/functions/${name}/invoke`, type: input.type ?? 'faas.invoke', time: input.time ?? new Date().toISOString() };
}

/**
 * The series: its events as one JSON array of envelopes, or, when every input is a record of one
 * partition, as RecordColumns (the guest builds their events). JSON-text data goes side by side in
 * `texts`, not re-encoded as JSON strings.
 */
function seriesPayload(name: string, id: string, inputs: InvokeInput[]): SeriesPayload {
  const at = inputs[0]?.record ?? inputs[0]?.batch?.records[0];
  const samePartition = (r: KafkaInfo | undefined) => r !== undefined && r.topic === at?.topic && r.partition === at.partition;
  const plain = (x: InvokeInput) => x.extensions === undefined && x.http === undefined;
  const sameRecords = at !== undefined && inputs.every((x) => samePartition(x.record) && plain(x));
  const sameBatches = at !== undefined && !sameRecords && inputs.every((x) => x.batch !== undefined && x.batch.records.every(samePartition));
  const texts: string[] = [];
  const textLengths: number[] = [];
  const correlation: Record<number, string> = {};
  /** Item (or, for batches, record) data: JSON text goes to `texts`, the rest stays (null for text). */
  const side = (data: unknown): unknown => {
    if (!(data instanceof JsonText)) {
      textLengths.push(-1);
      return data;
    }
    texts.push(data.text);
    textLengths.push(data.text.length);
    return null;
  };
  inputs.forEach((input, i) => input.correlationId !== undefined && (correlation[i] = input.correlationId));
  let eventsJson: string;
  let batches: number[] | undefined;
  if (sameBatches) {
    const batchOf = (x: InvokeInput) => x.batch as NonNullable<InvokeInput['batch']>;
    batches = inputs.map((x) => batchOf(x).records.length);
    eventsJson = JSON.stringify(recordColumns(inputs.flatMap((x) => batchOf(x).records), inputs.flatMap((x) => batchOf(x).values.map(side))));
  } else if (sameRecords) {
    eventsJson = JSON.stringify(recordColumns(inputs.map((x) => x.record as KafkaInfo), inputs.map((x) => side(x.data))));
  } else {
    eventsJson = JSON.stringify(inputs.map((input, i) => envelope(name, input, `${id}.${i}`, side(dataOf(input)))));
  }
  const records = at !== undefined && (sameRecords || sameBatches) ? { records: { topic: at.topic, partition: at.partition } } : {};
  return { id, eventsJson, texts: texts.join(''), textLengths, correlation, ...records, ...(batches !== undefined ? { batches } : {}) };
}

/** A run of records' series: its columns as they were built (RecordRun). */
function runPayload(id: string, run: RecordRun): SeriesPayload {
  const { columns, texts, textLengths, correlation, at, batches } = run;
  return { id, eventsJson: JSON.stringify(columns), texts, textLengths, correlation, records: at, ...(batches !== undefined ? { batches } : {}) };
}

/** An input's data; for a batch (InvokeInput.batch) outside a series of batches, built here as the guest would. */
function dataOf(input: InvokeInput): unknown {
  if (input.batch === undefined) return input.data;
  const { records, values } = input.batch;
  return records.map((r, i) => ({ value: values[i] instanceof JsonText ? values[i].parse() : values[i], ...r }));
}

function callContext(fn: FunctionVersion, input: InvokeInput, invocationId: string, correlationId: string, deadline: number): CallContext {
  return {
    invocationId,
    correlationId,
    chain: [...(input.chain ?? []), fn.name],
    deadline,
    sharedStores: fn.manifest.state.shared,
    ...(input.fence !== undefined ? { fence: input.fence } : {}),
  };
}

/**
 * A handler that failed after a runtime call met an outage (the state store or Kafka did not
 * answer) failed because of it: the invocation's error is that outage, which triggers hold the
 * input for rather than count against its retries (ErrorSpec.outage). Other failures stand.
 */
function blamed(error: ErrorData, scope: Scope | undefined): ErrorData {
  const outage = scope?.outage;
  if (outage === undefined || error.code !== 'FAAS_HANDLER_ERROR') return error;
  return { code: outage.code, message: `${outage.message} (the handler then failed: ${error.message})` };
}

/**
 * The items of a series that may belong in a trace (traced), ascending: all that ran or, for a run
 * of records, those linked by their headers and those that made a runtime call (no pass over
 * thousands of records that are neither).
 */
function traceCandidates(ran: number, linked: readonly number[] | undefined, scopes: LazyScopes): number[] {
  if (linked === undefined) return Array.from({ length: ran }, (_, i) => i);
  const items = new Set(linked.filter((i) => i < ran));
  for (const [i] of scopes.opened()) if (i < ran) items.add(i);
  return [...items].sort((a, b) => a - b);
}

/**
 * Whether an invocation belongs in a correlation's trace: it is part of a chain (caused by another
 * invocation, given a correlation id, or it emitted or called something). A lone invocation is
 * found by its id in its function's logs; not tracing it keeps one Redis key per request away.
 */
function traced(scope: Scope | undefined, input: InvokeInput): boolean {
  return input.parentInvocationId !== undefined || input.correlationId !== undefined || (scope !== undefined && (scope.emits.length > 0 || scope.calls > 0));
}

/** One hop of a correlation's trace: which function ran, caused by what, and how it ended. */
function hop(r: Omit<InvocationResult, 'resultJson' | 'error'>, input: InvokeInput, error: ErrorData | undefined): TraceHop {
  const { source, type } = attributes(r.function, input, r.invocationId);
  return {
    ts: Date.now(),
    correlationId: r.correlationId,
    invocationId: r.invocationId,
    ...(input.parentInvocationId !== undefined ? { parentInvocationId: input.parentInvocationId } : {}),
    function: r.function,
    version: r.version,
    source,
    type,
    depth: (input.chain?.length ?? 0) + 1,
    start: r.start,
    durationMs: Math.round(r.durationMs * 1000) / 1000,
    status: error === undefined ? 'succeeded' : 'failed',
    ...(error !== undefined ? { error: { code: error.code, message: error.message } } : {}),
  };
}

/** A failed invocation leaves one error line in the function's logs, with the guest stack if any. */
function failureLine(invocationId: string, error: ErrorData): LogEntry {
  const head = `[faas] invocation failed: ${error.code}: ${error.name ? `${error.name}: ` : ''}${error.message}`;
  const stack = error.stack?.split('\n').slice(1).join('\n');
  return { ts: Date.now(), invocationId, level: 'error', message: stack ? `${head}\n${stack}` : head };
}
