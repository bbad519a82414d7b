/**
 * The invoker: the one path from "run function X with this input" to an outcome, used by the
 * gateway now and by every trigger later. It resolves the current version, builds the event
 * envelope, bounds the deadline, runs the sandbox, and records metrics, logs and async outcomes.
 */
import { randomUUID } from 'node:crypto';
import { FaasError, toFaasError, type ErrorData } from '../core/errors.ts';
import type { EventLog, ProducedRecord } from './event-log.ts';
import type { InvocationScopes, Scope } from './invocation-scope.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';
import type { ActivityStore, FunctionRegistry, FunctionVersion, LogEntry, SandboxRunner, StartKind } from './ports.ts';

export interface HttpInfo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

export interface InvokeInput {
  /** The event payload (any JSON value). */
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
  /** Trigger-specific attributes merged into the event, e.g. { kafka: {...} } or { schedule: {...} }. */
  extensions?: Record<string, unknown>;
  /** A caller may shorten the deadline, never extend it beyond limits.timeoutMs. */
  timeoutMs?: number;
  /**
   * Identifies the input for effectively-once state (topic records: group/topic/partition/offset):
   * the invocation's state writes are applied at most once per fence.
   */
  fence?: string;
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

export interface InvokerDeps {
  registry: FunctionRegistry;
  runner: SandboxRunner;
  activity: ActivityStore;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** ctx.state and ctx.emit: per-invocation write sets and outboxes, settled on success. */
  scopes?: InvocationScopes;
  /** Where ctx.emit's records are published. */
  eventLog?: EventLog;
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
  async invoke(name: string, input: InvokeInput, invocationId: string = randomUUID()): Promise<InvocationResult> {
    if (!this.deps.lifecycle.acceptingWork) {
      throw new FaasError('FAAS_SHUTTING_DOWN', `the node is ${this.deps.lifecycle.state} and takes no new invocations`);
    }
    const fn = await this.resolve(name);
    const correlationId = input.correlationId ?? invocationId;
    const timeoutMs = Math.min(fn.manifest.limits.timeoutMs, input.timeoutMs ?? Infinity);
    const scope = this.deps.scopes?.open(invocationId, name);
    let outcome: Awaited<ReturnType<InvokerDeps['runner']['invoke']>>;
    try {
      outcome = await this.deps.runner.invoke(fn, eventJson(name, input, invocationId), { invocationId, correlationId, deadline: Date.now() + timeoutMs });
      if (outcome.ok && scope !== undefined) {
        const failed = await this.settle(scope, name, input, invocationId, correlationId);
        if (failed !== undefined) outcome = { ok: false, error: failed, start: outcome.start, durationMs: outcome.durationMs, logs: outcome.logs };
      }
    } finally {
      this.deps.scopes?.close(invocationId);
    }
    this.deps.metrics.recordInvocation(name, outcome.start, outcome.durationMs, outcome.ok ? undefined : outcome.error.code);
    const logs = outcome.ok ? outcome.logs : [...outcome.logs, failureLine(invocationId, outcome.error)];
    // Awaited, so the logs of an invocation are stored before a trigger commits its record (after a
    // crash, `faas logs` then shows every committed invocation). A failure to store is not the
    // invocation's failure.
    if (logs.length > 0) {
      await this.deps.activity.appendLogs(name, logs).catch((err: unknown) => this.deps.onError?.('storing logs failed', err));
    }
    const base = { invocationId, correlationId, function: name, version: fn.version, start: outcome.start, durationMs: outcome.durationMs };
    return outcome.ok ? { ...base, resultJson: outcome.resultJson } : { ...base, error: FaasError.fromData(outcome.error) };
  }

  /**
   * Several events of one function in order, in one sandbox round trip, stopping after the first
   * failure: the results of those that ran (the last may be a failure). `lost` when the series
   * passed its deadline (the function's timeout, for the whole series) or its sandbox died: then
   * none is known to have completed, and the caller invokes them one by one.
   */
  async invokeSeries(name: string, inputs: InvokeInput[]): Promise<{ results: InvocationResult[]; lost?: FaasError }> {
    if (!this.deps.lifecycle.acceptingWork) {
      throw new FaasError('FAAS_SHUTTING_DOWN', `the node is ${this.deps.lifecycle.state} and takes no new invocations`);
    }
    const fn = await this.resolve(name);
    const items = inputs.map((input) => {
      const invocationId = randomUUID();
      return { invocationId, correlationId: input.correlationId ?? invocationId, eventJson: eventJson(name, input, invocationId) };
    });
    const scopes = items.map((item) => this.deps.scopes?.open(item.invocationId, name));
    let series: Awaited<ReturnType<InvokerDeps['runner']['invokeSeries']>>;
    try {
      series = await this.deps.runner.invokeSeries(fn, items, Date.now() + fn.manifest.limits.timeoutMs);
      if (!series.lost) {
        // Commit each successful item's state in order; a commit that fails fails its item, and the
        // items after it are not reported (their writes are dropped; the caller runs them again).
        for (const [i, outcome] of series.outcomes.entries()) {
          const scope = scopes[i];
          if (!outcome.ok || scope === undefined) continue;
          const item = items[i] as { invocationId: string; correlationId: string };
          const failed = await this.settle(scope, name, inputs[i] ?? { data: null }, item.invocationId, item.correlationId);
          if (failed !== undefined) {
            series.outcomes[i] = { ok: false, error: failed, start: outcome.start, durationMs: outcome.durationMs, logs: outcome.logs };
            series.outcomes.length = i + 1;
            break;
          }
        }
      }
    } finally {
      for (const item of items) this.deps.scopes?.close(item.invocationId);
    }
    if (series.lost) return { results: [], lost: FaasError.fromData(series.error) };
    const logs: LogEntry[] = [];
    const results = series.outcomes.map((outcome, i): InvocationResult => {
      const { invocationId, correlationId } = items[i] as { invocationId: string; correlationId: string };
      this.deps.metrics.recordInvocation(name, outcome.start, outcome.durationMs, outcome.ok ? undefined : outcome.error.code);
      logs.push(...outcome.logs);
      if (!outcome.ok) logs.push(failureLine(invocationId, outcome.error));
      const base = { invocationId, correlationId, function: name, version: fn.version, start: outcome.start, durationMs: outcome.durationMs };
      return outcome.ok ? { ...base, resultJson: outcome.resultJson } : { ...base, error: FaasError.fromData(outcome.error) };
    });
    if (logs.length > 0) await this.deps.activity.appendLogs(name, logs).catch((err: unknown) => this.deps.onError?.('storing logs failed', err));
    return { results };
  }

  /**
   * What a successful invocation asked for takes effect: its emitted records are published (each
   * topic's in emit order, with a stable event id: the input's fence, or the invocation id, and
   * the record's index), then its state writes are committed (fenced). Answers the error when
   * either fails: the invocation then counts as failed and its trigger retries it; state was not
   * applied, and re-published records carry the same event ids.
   */
  private async settle(scope: Scope, fn: string, input: InvokeInput, invocationId: string, correlationId: string): Promise<ErrorData | undefined> {
    if (scope.emits.length > 0) {
      if (this.deps.eventLog === undefined) return { code: 'FAAS_EMIT_UNAVAILABLE', message: 'this runtime has no event log to publish to' };
      const byTopic = new Map<string, ProducedRecord[]>();
      for (const [i, r] of scope.emits.entries()) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({
          key: r.key,
          value: r.value,
          headers: {
            ...r.headers,
            'faas-event-id': `${input.fence ?? invocationId}#${i}`,
            'faas-correlation-id': correlationId,
            'faas-causation-id': input.eventId ?? invocationId,
            'faas-source-function': fn,
          },
        });
        byTopic.set(r.topic, list);
      }
      try {
        for (const [topic, records] of byTopic) await this.deps.eventLog.produce(topic, records);
      } catch (err) {
        return { code: 'FAAS_EMIT_UNAVAILABLE', message: `publishing emitted records failed: ${(err as Error).message}` };
      }
    }
    try {
      await this.deps.scopes?.commit(scope, input.fence);
      return undefined;
    } catch (err) {
      return toFaasError(err).toData();
    }
  }

  /** Accept now, run in the background; the outcome is fetched by id from the activity store. */
  async invokeAsync(name: string, input: InvokeInput): Promise<{ invocationId: string }> {
    if (!this.deps.lifecycle.acceptingWork) throw new FaasError('FAAS_SHUTTING_DOWN', 'the node takes no new invocations');
    await this.resolve(name);
    const invocationId = randomUUID();
    const acceptedAt = new Date().toISOString();
    await this.deps.activity.putInvocation({ id: invocationId, function: name, status: 'pending', acceptedAt });
    void this.invoke(name, input, invocationId)
      .then(
        (r) => ({
          id: invocationId,
          function: name,
          version: r.version,
          status: r.error ? ('failed' as const) : ('succeeded' as const),
          start: r.start,
          durationMs: r.durationMs,
          ...(r.error ? { error: r.error.toData() } : { result: JSON.parse(r.resultJson ?? 'null') as unknown }),
          acceptedAt,
          finishedAt: new Date().toISOString(),
        }),
        (err: unknown) => ({
          id: invocationId,
          function: name,
          status: 'failed' as const,
          error: err instanceof FaasError ? err.toData() : { code: 'FAAS_INTERNAL' as const, message: String(err) },
          acceptedAt,
          finishedAt: new Date().toISOString(),
        }),
      )
      .then((rec) => this.deps.activity.putInvocation(rec))
      .catch((err: unknown) => this.deps.onError?.('storing an async outcome failed', err));
    return { invocationId };
  }
}

/** The CloudEvents-style envelope the handler receives, as JSON. */
function eventJson(name: string, input: InvokeInput, invocationId: string): string {
  return JSON.stringify({
    ...input.extensions,
    id: input.eventId ?? invocationId,
    source: input.source ?? `/v1/functions/${name}/invoke`,
    type: input.type ?? 'faas.invoke',
    time: input.time ?? new Date().toISOString(),
    data: input.data ?? null,
    ...(input.http ? { http: input.http } : {}),
  });
}

/** A failed invocation leaves one error line in the function's logs, with the guest stack if any. */
function failureLine(invocationId: string, error: ErrorData): LogEntry {
  const head = `[faas] invocation failed: ${error.code}: ${error.name ? `${error.name}: ` : ''}${error.message}`;
  const stack = error.stack?.split('\n').slice(1).join('\n');
  return { ts: Date.now(), invocationId, level: 'error', message: stack ? `${head}\n${stack}` : head };
}
