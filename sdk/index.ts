/**
 * Types for handler authors. A function's `index.ts` default-exports a Handler:
 *
 *   import type { Handler } from 'faas-runtime/sdk';
 *   const handler: Handler<{ name: string }> = async (event, ctx) => ({ hello: event.data.name });
 *   export default handler;
 *
 * This module is type-only and is checked without Node's types: what it names is exactly what a
 * sandbox offers (see sandbox/guest/bootstrap.ts for the runtime side).
 */

/** Any value that survives JSON: what events carry and handlers return. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An HTTP request that triggered the function (direct invoke or webhook). */
export interface HttpInfo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

/** The record behind an event of a topic trigger (`event.kafka`). */
export interface KafkaInfo {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  /** Epoch ms. */
  timestamp: number;
}

/** CloudEvents-style envelope around every input, whatever its trigger. */
export interface Event<T = Json> {
  /** Unique id of this event (stable across redeliveries of the same input). */
  id: string;
  /** Where it came from, e.g. `/v1/functions/order-enricher/invoke` or `kafka://orders/3`. */
  source: string;
  /** What happened, e.g. `faas.invoke`, `faas.kafka.record`, `faas.cron.tick`. */
  type: string;
  /** When it happened (ISO 8601). */
  time: string;
  /** The payload. */
  data: T;
  /** Present when the event came over HTTP. */
  http?: HttpInfo;
  /** Present when a topic record triggered the invocation (record mode). */
  kafka?: KafkaInfo;
  /** Present on cron ticks. */
  schedule?: { expression: string; timezone: string; scheduledTime: string; localTime: string };
  /** Present on webhook events. */
  webhook?: { path: string; deliveryId: string; bodyEncoding: string };
  /** Present when another function called this one with ctx.invoke (depth 2 = called by a first function). */
  call?: { caller: string; callerInvocationId: string; depth: number };
}

/**
 * How a failed runtime call rejects (ctx.state, ctx.emit, ctx.invoke): an Error named `FaasError`
 * with a stable code (docs/ERRORS.md). For ctx.invoke, `code` is the callee's failure
 * (FAAS_HANDLER_ERROR, FAAS_TIMEOUT, FAAS_FUNCTION_NOT_FOUND, …) or the call's refusal
 * (FAAS_CALL_CYCLE, FAAS_CALL_DEPTH_EXCEEDED, FAAS_CALL_INVALID), and `details` says which callee.
 */
export interface FaasCallError extends Error {
  name: 'FaasError';
  code: string;
  details?: {
    /** The callee. */
    function?: string;
    /** The callee's invocation, when it ran. */
    invocationId?: string;
    /** The class of the error the callee threw (TypeError, …). */
    name?: string;
    /** The call path, on FAAS_CALL_CYCLE and FAAS_CALL_DEPTH_EXCEEDED. */
    chain?: string[];
  };
}

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * The function's keyed state (Redis, or memory without REDIS_URL), in its own namespace: no key
 * reaches another function's state. Values are JSON. Writes take effect when the invocation
 * succeeds, all together; reads see the invocation's own writes. For a topic record, the writes
 * apply at most once even when the record is delivered again.
 */
export interface State {
  get<T = Json>(key: string): Promise<T | null>;
  set(key: string, value: Json, options?: { ttlMs?: number }): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Adds `by` (default 1) to an integer (missing = 0). The increment is applied exactly (atomically,
   * at commit), but the answer is this invocation's view (the value it read plus its own
   * increments): concurrent invocations can get the same answer, so it is not a unique id.
   */
  incr(key: string, by?: number): Promise<number>;
  decr(key: string, by?: number): Promise<number>;
  hget<T = Json>(key: string, field: string): Promise<T | null>;
  hset(key: string, field: string, value: Json): Promise<void>;
  hdel(key: string, field: string): Promise<void>;
  hgetall<T = Json>(key: string): Promise<Record<string, T>>;
}

/** ctx.state: the function's own namespace, and the shared stores its manifest grants. */
export interface FunctionState extends State {
  /**
   * A shared store named in the manifest's `state.shared` (for functions of one bounded context).
   * Same semantics; its writes commit in the same atomic step as the function's own. Any store not
   * granted rejects with FAAS_STATE_FORBIDDEN.
   */
  shared(store: string): State;
}

export interface Context {
  /** Id of this invocation; logs and metrics are tagged with it. */
  readonly invocationId: string;
  /** Correlation id carried across every hop of one request. */
  readonly correlationId: string;
  readonly functionName: string;
  readonly functionVersion: number;
  /** Epoch milliseconds after which the runtime destroys this invocation's sandbox. */
  readonly deadline: number;
  /** Milliseconds left before the deadline. */
  remainingMs(): number;
  /** The manifest's `env`. */
  readonly env: Readonly<Record<string, string>>;
  /** Captured logging (the same stream as `console`). */
  readonly log: Logger;
  /** Keyed state of this function (and, via shared(), of the shared stores it is granted). */
  readonly state: FunctionState;
  /**
   * Publish a record to a topic (choreography: functions triggered by that topic run next). It is
   * published only if this invocation succeeds, with headers faas-event-id (stable across
   * redeliveries of a topic record: dedupe on it), faas-correlation-id and faas-causation-id.
   */
  emit(topic: string, value: Json, options?: { key?: string; headers?: Record<string, string> }): Promise<void>;
  /**
   * Call another function and await its result (orchestration). The callee runs with this
   * invocation's correlation id and at most its remaining time (less a small margin). It rejects
   * with a FaasCallError: the callee's code when it failed, FAAS_CALL_CYCLE when the callee is
   * already on the call path, FAAS_CALL_DEPTH_EXCEEDED past FAAS_MAX_CALL_DEPTH (default 16).
   */
  invoke<T = Json>(name: string, payload?: Json): Promise<T>;
  /**
   * Queue a call durably (it survives a node crash) and answer its invocation id at once; the
   * outcome is at GET /v1/invocations/:id. Runs at least once, with the callee's retry policy.
   */
  invokeAsync(name: string, payload?: Json): Promise<string>;
}

/** A handler: an async function of the event and the context, answering a JSON value. */
export type Handler<In = Json, Out = Json | void> = (event: Event<In>, ctx: Context) => Promise<Out> | Out;

/** What a webhook or HTTP-facing handler may answer to shape the response. */
export interface HttpResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: Json;
}
