/**
 * Messages between the runtime (host) and a sandbox process, as one discriminated union per
 * direction. Only plain data crosses; errors travel as ErrorData and are rebuilt on the host.
 */
import type { ErrorData } from '../core/errors.ts';
import type { LogEntry } from '../scheduler/ports.ts';

export interface LoadMessage {
  t: 'load';
  instanceId: number;
  name: string;
  version: number;
  digest: string;
  /** Omitted when this process already holds the code of `digest`. */
  code?: string;
  memoryMb: number;
  env: Record<string, string>;
  initTimeoutMs: number;
}

/** One invocation as an isolate instance receives it. */
export interface InvokeSpec {
  invocationId: string;
  correlationId: string;
  eventJson: string;
  /** Epoch ms. */
  deadline: number;
  maxResultBytes: number;
  maxLogBytes: number;
}

/**
 * Several invocations of one function, run in order on one instance in one round trip. Three
 * strings whatever the count, so neither side of the pipe and neither side of the isolate boundary
 * walks the items: the sandbox process passes them through to the guest, and its outcome back.
 */
export interface SeriesSpec {
  /** JSON array of the events, or of RecordColumns (SeriesMeta.records); JSON-text data is not in it. */
  eventsJson: string;
  /**
   * The items' JSON-text data (record values the host did not decode), one after the other, in
   * item order: the guest cuts them by SeriesMeta.textLengths and parses each once.
   */
  texts: string;
  /** JSON of SeriesMeta. */
  metaJson: string;
  /** Epoch ms: the whole series' deadline. */
  deadline: number;
}

/** The meta of a series (declared beside the guest that reads it, which is compiled alone). */
export type { SeriesMeta } from './guest/bootstrap.ts';

export interface InvokeMessage extends InvokeSpec {
  t: 'invoke';
  instanceId: number;
}

export interface SeriesMessage extends SeriesSpec {
  t: 'series';
  instanceId: number;
  seriesId: string;
}

/** Several messages of one event-loop turn, sent as one (sandbox/coalescer.ts). */
export type HostEnvelope = HostMessage | { t: 'batch'; msgs: HostMessage[] };
export type WorkerEnvelope = WorkerMessage | { t: 'batch'; msgs: WorkerMessage[] };

export type HostMessage =
  | LoadMessage
  | InvokeMessage
  | SeriesMessage
  | { t: 'dispose'; instanceId: number }
  | { t: 'forget'; digest: string }
  | { t: 'callResult'; instanceId: number; callId: number; ok: boolean; payload: string }
  | { t: 'stats'; rid: number };

export type WorkerMessage =
  | { t: 'ready'; pid: number }
  | { t: 'loaded'; instanceId: number; ok: true; initMs: number }
  | { t: 'loaded'; instanceId: number; ok: false; error: ErrorData }
  | { t: 'result'; invocationId: string; ok: true; resultJson: string; logs: LogEntry[]; durationMs: number }
  | { t: 'result'; invocationId: string; ok: false; error: ErrorData; logs: LogEntry[]; durationMs: number; lost: boolean }
  | { t: 'call'; instanceId: number; invocationId: string; callId: number; op: string; args: string }
  /** outcomeJson: the guest's GuestSeriesOutcome as JSON ('[]' when lost). */
  | { t: 'seriesResult'; seriesId: string; outcomeJson: string; lost: boolean; error?: ErrorData; durationMs: number }
  | { t: 'stats'; rid: number; rssBytes: number; instances: number; heapBytes: number };
