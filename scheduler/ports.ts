/**
 * The scheduler's ports: the interfaces it owns and that sandbox/, state/ and the backends
 * implement. The scheduler imports neither isolated-vm nor kafkajs nor ioredis.
 */
import type { ErrorData } from '../core/errors.ts';
import type { Manifest } from '../core/manifest.ts';

/** One immutable deployed version of a function. */
export interface FunctionVersion {
  readonly name: string;
  /** Increases by one per deploy of the same name. */
  readonly version: number;
  /** sha256 of the bundle: identifies compiled code for caching. */
  readonly digest: string;
  readonly manifest: Readonly<Manifest>;
  /** The bundled JavaScript run in the sandbox. */
  readonly code: string;
  /** Source files as uploaded (kept for `GET /v1/functions/:name?source=1`). */
  readonly files: Readonly<Record<string, string>>;
  readonly deployedAt: string;
}

export type RegistryChange =
  | { kind: 'deployed'; fn: FunctionVersion }
  | { kind: 'deleted'; name: string; version: number };

/** Where deployed functions live: memory for one process, Redis for a cluster. */
export interface FunctionRegistry {
  /** Store a new version; `version` is assigned by the registry. */
  put(fn: Omit<FunctionVersion, 'version' | 'deployedAt'>): Promise<FunctionVersion>;
  get(name: string): Promise<FunctionVersion | undefined>;
  list(): Promise<FunctionVersion[]>;
  /** Remove a function; resolves to false when there was none. */
  delete(name: string): Promise<boolean>;
  /** Subscribe to changes made by this or any other node; returns an unsubscribe function. */
  watch(listener: (change: RegistryChange) => void): () => void;
  /** Last-known state without a round trip (kept in step by watch); undefined if not loaded. */
  cached(name: string): FunctionVersion | undefined;
  readonly kind: 'memory' | 'redis';
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** A console line written by handler code. */
export interface LogEntry {
  /** Epoch ms. */
  ts: number;
  invocationId: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** What the sandbox needs to know about one invocation besides the event. */
export interface InvocationMeta {
  invocationId: string;
  correlationId: string;
  /** Epoch ms; the sandbox is destroyed when it passes. */
  deadline: number;
}

export type StartKind = 'cold' | 'warm';

export interface SandboxSuccess {
  ok: true;
  /** The handler's result, serialised as JSON (bounded by limits.maxResultBytes). */
  resultJson: string;
  start: StartKind;
  durationMs: number;
  logs: LogEntry[];
}

export interface SandboxFailure {
  ok: false;
  error: ErrorData;
  start: StartKind;
  durationMs: number;
  logs: LogEntry[];
}

export type SandboxOutcome = SandboxSuccess | SandboxFailure;

export interface SandboxStats {
  /** Live instances per function name (warm = idle + busy). */
  instances: Record<string, { idle: number; busy: number; version: number }>;
  processes: { pid: number; instances: number; rssBytes: number }[];
}

/**
 * A series as the runner sends it: the events as one JSON array (or one partition's records as
 * RecordColumns, scheduler/record-columns.ts), and the JSON-text data of its items side by side in one string.
 */
export interface SeriesPayload {
  /** Item i's invocation id is `${id}.${i}`. */
  id: string;
  /** JSON array of the events, or JSON of RecordColumns (`records` set); an item whose data is in `texts` has none here. */
  eventsJson: string;
  /** The items' JSON-text data (scheduler/json-text.ts), one after the other, in item order. */
  texts: string;
  /** Per item, the length (UTF-16 units) of its data in `texts`, or -1. */
  textLengths: number[];
  /** Correlation ids that are not the item's own invocation id, by item. */
  correlation: Record<number, string>;
  records?: SeriesRecords;
  /**
   * With `records`: the items are batches (batch mode) of this many records each, in order; the
   * columns and textLengths are then per record.
   */
  batches?: number[];
}

/** A series of one partition's records: eventsJson is their RecordColumns, and the guest builds their events. */
export interface SeriesRecords {
  topic: string;
  partition: number;
}

/**
 * How a series went: the first `done` items succeeded and, when `failure` is set, the one after
 * them failed (the rest did not run); their console lines as [item, ts, level, message]. `lost`:
 * the series passed its deadline or its sandbox died, and nothing of it is known to have completed.
 * The first item started `start` (cold or warm), the others warm.
 */
export type SeriesResult =
  | { lost: false; done: number; failure?: ErrorData; logs: [item: number, ts: number, level: LogEntry['level'], message: string][]; start: StartKind; durationMs: number }
  | { lost: true; error: ErrorData; durationMs: number };

/** A guest's call into the runtime (ctx.state…). `fn` comes from the instance, never from the guest. */
export interface RuntimeCall {
  fn: string;
  /** As the guest sent it: to be checked against `fn` before it is trusted. */
  invocationId: string;
  op: string;
  /** JSON array of arguments. */
  args: string;
}

/** Answers a runtime call: ok → payload is the JSON result; else payload is ErrorData JSON. */
export type RuntimeCallHandler = (call: RuntimeCall) => Promise<{ ok: boolean; payload: string }>;

/** Runs handler code. Implemented by sandbox/ (isolated-vm in supervised processes). */
export interface SandboxRunner {
  /** Where guests' runtime calls go (the invoker's invocation scopes). */
  handleCalls(handler: RuntimeCallHandler): void;
  /** Run one invocation of `fn`, cold or warm; never throws for handler failures. */
  invoke(fn: FunctionVersion, eventJson: string, meta: InvocationMeta): Promise<SandboxOutcome>;
  /**
   * Run several invocations of `fn` in order on one instance, in one round trip to the sandbox,
   * stopping after the first failure (topic records: one handler call each, IPC amortised).
   */
  invokeSeries(fn: FunctionVersion, series: SeriesPayload, deadline: number): Promise<SeriesResult>;
  /** A version became current: pre-warm minWarm instances and retire older versions' idle ones. */
  activate(fn: FunctionVersion): Promise<void>;
  /** A function was deleted: release all its instances once idle. */
  remove(name: string): void;
  /**
   * A scaling trigger's instance count: keep at least `instances` of `name`'s current version
   * loaded (up to scaling.maxInstances), besides minWarm; lowering it releases the idle ones above
   * the new floor at once (0: a function scaled to zero keeps only its minWarm instances).
   */
  reserve(name: string, instances: number): void;
  /**
   * A trigger is about to deliver work: load up to `instances` instances of `name`'s current version
   * now (within scaling.maxInstances) rather than on the first invocations. Unlike reserve() nothing
   * is kept: unused, they go after scaling.idleMs like any idle instance.
   */
  prewarm(name: string, instances: number): void;
  stats(): SandboxStats;
  ready(): Promise<void>;
  /** Stop taking work, wait for in-flight invocations up to graceMs, then stop processes. */
  close(graceMs: number): Promise<void>;
}

export type InvocationStatus = 'pending' | 'succeeded' | 'failed';

/** The record of an async invocation, fetched by id. */
export interface InvocationRecord {
  id: string;
  function: string;
  version?: number;
  status: InvocationStatus;
  start?: StartKind;
  durationMs?: number;
  result?: unknown;
  error?: ErrorData;
  acceptedAt: string;
  finishedAt?: string;
  /** Attempts made so far (queued invocations are retried per the function's retry policy). */
  attempts?: number;
  correlationId?: string;
}

/**
 * One invocation in a correlation's trace (`faas logs --correlation`): every hop of one request
 * across functions, direct calls and emitted records alike.
 */
export interface TraceHop {
  /** Epoch ms when it finished. */
  ts: number;
  correlationId: string;
  invocationId: string;
  /** The invocation that caused it: its direct caller, or the one that emitted its record. */
  parentInvocationId?: string;
  function: string;
  version: number;
  /** The event's source and type, e.g. `kafka://orders/3` and `faas.kafka.record`. */
  source: string;
  type: string;
  /** Depth on the direct-call path (1 = not called by another function). */
  depth: number;
  start: StartKind;
  durationMs: number;
  status: 'succeeded' | 'failed';
  error?: { code: string; message: string };
}

/** Recent console output per function, async invocation records and correlation traces. */
export interface ActivityStore {
  appendLogs(fn: string, entries: LogEntry[]): Promise<void>;
  /** Hops by correlation id, kept FAAS_INVOCATION_TTL_S after the last one (at most 1000 each). */
  appendHops(hops: TraceHop[]): Promise<void>;
  /** A correlation's hops, oldest first. */
  readTrace(correlationId: string): Promise<TraceHop[]>;
  /** Entries with ts > sinceTs (oldest first), at most `limit`. */
  readLogs(fn: string, opts: { sinceTs?: number; limit: number; invocationId?: string }): Promise<LogEntry[]>;
  putInvocation(rec: InvocationRecord): Promise<void>;
  getInvocation(id: string): Promise<InvocationRecord | undefined>;
  deleteFunction(fn: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Claim-once keys with a time to live: the first claim of a key wins until it expires. Cron uses it
 * as the per-tick fence (function + scheduled time), webhooks for replay ids. Memory for one process;
 * Redis (SET NX PX) for a cluster.
 */
export interface FenceStore {
  /** True when this caller is the first to claim `key` within `ttlMs`. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** Give a claim back (e.g. the work it guarded could not be queued, so a retry may claim it). */
  release(key: string): Promise<void>;
}

/** Time, injectable so time-based triggers are tested without sleeping. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
