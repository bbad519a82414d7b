/**
 * Guest side of the bridge: runs inside every isolate, once, before the function's bundle.
 *
 * It receives the host's callbacks as closure arguments and keeps them private: guest code never
 * sees an isolated-vm object. Intrinsics are captured before any guest code runs, so a handler that
 * patches JSON or Array.prototype breaks only itself. Only strings and plain copies cross.
 *
 * Host → guest: `setHandler(exports, envJson, fnJson)`, `invoke(eventJson, metaJson)` (or, from a
 * synchronous call, `begin(eventJson, metaJson)` then `take()`, and `wait()` when it did not settle),
 * `invokeSeries(eventsJson, metaJson)` (several events, one round trip, outcomes as one JSON text), `resolveCall(id, ok,
 * payload)` and `fireTimer(id)`. Guest → host, fire-and-forget ivm.Callbacks: `timerHost(id, ms)`
 * and `callHost(id, invocationId, op, argsJson)` (ctx.state, ctx.emit, ctx.invoke). Console output is buffered
 * per invocation and returned with the outcome, so it is ordered and costs no host call per line.
 */

/** A host callback (an isolated-vm Callback: a plain function here; arguments are copied). */
import type { RecordColumns } from '../../scheduler/record-columns.ts';

type HostFn = (...args: (string | number)[]) => void;

export type Level = 'debug' | 'info' | 'warn' | 'error';
type LogLine = [number, Level, string];
type Handler = (event: unknown, ctx: unknown) => unknown;

interface GuestMeta {
  invocationId: string;
  correlationId: string;
  deadline: number;
  maxResultBytes: number;
  maxLogBytes: number;
}

/** A series' meta (SeriesSpec.metaJson in sandbox/protocol.ts). */
export interface SeriesMeta {
  /** Item i's invocation id is `${seriesId}.${i}`. */
  seriesId: string;
  /** Correlation ids that are not the item's own invocation id, by item. */
  correlation: Record<number, string>;
  /** Per item (per record with `batches`), the length (UTF-16 units) of its data in `texts`, or -1 when it is not there. */
  textLengths: number[];
  /** Set: eventsJson is one partition's records as RecordColumns (scheduler/record-columns.ts), for the guest to build their events. */
  records?: { topic: string; partition: number };
  /** With `records`: the items are batches of this many records each (textLengths then go by record). */
  batches?: number[];
  deadline: number;
  maxResultBytes: number;
  maxLogBytes: number;
}

/** ctx.emit */
type Emit = (topic: string, value: unknown, options?: { key?: string; headers?: Record<string, string> }) => Promise<unknown>;

/**
 * A series' outcome: how many items succeeded (the first `done`), the error JSON of the item that
 * failed after them (or null), and the console lines as [item, ts, level, message].
 */
export type GuestSeriesOutcome = [done: number, failure: string | null, logs: [item: number, ts: number, level: Level, message: string][]];

/** [status, payload, logsJson]: status 'ok' → payload is the result JSON; 'err' → error JSON. */
export type GuestOutcome = [status: 'ok' | 'err', payload: string, logsJson: string];

export function install(timerHost: HostFn, callHost: HostFn): Record<string, unknown> {
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const now = Date.now;
  const freeze = Object.freeze;
  const StringCtor = String;
  const ErrorCtor = Error;
  const mapCtor = Map;
  const DateCtor = Date;
  const floor = Math.floor;
  const isInteger = Number.isInteger;
  const g = globalThis as Record<string, unknown>;

  let handler: Handler | undefined;
  let env: Readonly<Record<string, string>> = freeze({});
  let fnInfo: { name: string; version: number } = { name: '', version: 0 };
  let logs: LogLine[] = [];
  let logBytes = 0;
  let maxLogBytes = 0;
  let droppedLogs = 0;
  let nextTimer = 1;
  const timers = new mapCtor<number, () => void>();
  let nextCall = 1;
  const calls = new mapCtor<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  /** The current invocation armed a timer or called the runtime: its outcome must follow those callbacks. */
  let hostTouched = false;
  /** The invocation begun by begin(), and its outcome once its handler settled. */
  let begun: Promise<GuestOutcome> | undefined;
  let settled: GuestOutcome | undefined;

  /** A call to the runtime (state, emit, invoke): answered through resolveCall. */
  function call(invocationId: string, op: string, args: unknown[]): Promise<unknown> {
    const id = nextCall++;
    hostTouched = true;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject });
      callHost(id, invocationId, op, stringify(args));
    });
  }

  /** ctx.invoke / ctx.invokeAsync: the payload crosses as JSON text. */
  function callWith(invocationId: string, op: string, name: string, payload: unknown): Promise<unknown> {
    const text = stringify(payload === undefined ? null : payload);
    if (text === undefined) return Promise.reject(new TypeError(`ctx.${op}: the payload must be a JSON value`));
    return call(invocationId, op, [name, text]);
  }

  /** ctx.state (store null: the function's own) and, through shared(), a granted shared store. */
  function stateApi(invocationId: string, store: string | null): Record<string, unknown> {
    const c = (op: string, args: unknown[]) => call(invocationId, op, [store, ...args]);
    const json = (v: unknown) => {
      const text = stringify(v);
      if (text === undefined) throw new TypeError('state values must be JSON values');
      return text;
    };
    return freeze({
      get: (key: string) => c('state.get', [key]),
      set: (key: string, value: unknown, opts?: { ttlMs?: number }) => c('state.set', [key, json(value), opts?.ttlMs ?? null]),
      delete: (key: string) => c('state.delete', [key]),
      incr: (key: string, by: number = 1) => c('state.incr', [key, by]),
      decr: (key: string, by: number = 1) => c('state.incr', [key, -by]),
      hget: (key: string, field: string) => c('state.hget', [key, field]),
      hset: (key: string, field: string, value: unknown) => c('state.hset', [key, field, json(value)]),
      hdel: (key: string, field: string) => c('state.hdel', [key, field]),
      hgetall: (key: string) => c('state.hgetall', [key]),
      ...(store === null ? { shared: (name: string) => stateApi(invocationId, StringCtor(name)) } : {}),
    });
  }

  /** String(x) that cannot throw (null-prototype objects, throwing getters, revoked proxies). */
  function safeString(x: unknown): string {
    try {
      return StringCtor(x);
    } catch {
      return '[unprintable value]';
    }
  }

  /** UTF-8 byte length, without TextEncoder (the sandbox has none). */
  function utf8Bytes(text: string): number {
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? 2 : c >= 0xdc00 && c < 0xe000 ? 2 : 3;
    }
    return n;
  }

  function render(args: unknown[]): string {
    let out = '';
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      let s: string;
      if (typeof a === 'string') s = a;
      else {
        try {
          s = a instanceof ErrorCtor ? (a.stack ?? `${a.name}: ${a.message}`) : (stringify(a) ?? StringCtor(a));
        } catch {
          s = safeString(a);
        }
      }
      out += (i > 0 ? ' ' : '') + s;
    }
    return out;
  }

  function write(level: Level, args: unknown[]): void {
    const text = render(args);
    const bytes = utf8Bytes(text);
    if (logBytes + bytes > maxLogBytes) {
      droppedLogs++;
      return;
    }
    logBytes += bytes;
    logs[logs.length] = [now(), level, text];
  }

  const log = freeze({
    debug: (...a: unknown[]) => write('debug', a),
    info: (...a: unknown[]) => write('info', a),
    warn: (...a: unknown[]) => write('warn', a),
    error: (...a: unknown[]) => write('error', a),
  });
  g.console = freeze({ ...log, log: (...a: unknown[]) => write('info', a), trace: (...a: unknown[]) => write('debug', a) });

  // Bounded timers: the host arms them, fires them only while an invocation runs, and clears them
  // when it ends; a delay never outlives the invocation's deadline.
  g.setTimeout = (fn: unknown, ms?: unknown, ...args: unknown[]): number => {
    if (typeof fn !== 'function') throw new TypeError('setTimeout needs a function (strings are not evaluated)');
    const id = nextTimer++;
    hostTouched = true;
    timers.set(id, () => (fn as (...x: unknown[]) => void)(...args));
    timerHost(id, Math.max(0, Number(ms) || 0));
    return id;
  };
  g.clearTimeout = (id: unknown): void => {
    timers.delete(Number(id));
  };
  g.queueMicrotask = (fn: () => void): void => {
    void Promise.resolve().then(fn);
  };

  /** Plain data of whatever was thrown; reading a hostile value must not throw again. */
  function errorJson(code: string, err: unknown): string {
    let name = 'Error';
    let message: string;
    let stack: string | undefined;
    try {
      if (err instanceof ErrorCtor) {
        name = safeString(err.name);
        message = safeString(err.message);
        stack = typeof err.stack === 'string' ? err.stack : undefined;
      } else {
        message = safeString(err);
      }
    } catch {
      message = '[unprintable thrown value]';
    }
    return stringify({ code, name, message, stack });
  }

  /**
   * Item i's event, for a series of one partition's records (RecordColumns), as the host builds it
   * for a single invocation (attributes() in scheduler/invoker.ts): event.kafka, then the id,
   * source, type and time derived from it.
   */
  function recordEvent(at: { topic: string; partition: number }, cols: RecordColumns, i: number): { data?: unknown } {
    const offset = offsetOf(cols, i);
    const timestamp = timestampOf(cols, i);
    const event = {
      kafka: { topic: at.topic, partition: at.partition, offset, key: cols.keys === null ? null : (cols.keys[i] as string | null), headers: cols.headers[i] ?? {}, timestamp },
      id: `${at.topic}/${at.partition}/${offset}`,
      source: `kafka://${at.topic}/${at.partition}`,
      type: 'faas.kafka.record',
      time: isoTime(timestamp),
      data: cols.data[i] ?? null,
    };
    return event;
  }

  function offsetOf(cols: RecordColumns, i: number): string {
    return cols.strings !== undefined ? (cols.strings[i] as string) : StringCtor(cols.base + (cols.steps === null ? i : (cols.steps[i] as number)));
  }

  function timestampOf(cols: RecordColumns, i: number): number {
    return cols.times === null ? cols.time : cols.time + (cols.times[i] as number);
  }

  /**
   * The event of a batch of records [from, from + count), as batchEvent builds it on the host
   * (triggers/topic-records.ts): event.kafka with the batch's bounds, the batch's id, source, type
   * and time, and data: { value, ...record } per record, each value from `valueOf`.
   */
  function recordBatchEvent(at: { topic: string; partition: number }, cols: RecordColumns, from: number, count: number, valueOf: (i: number) => unknown): { data?: unknown } {
    const data: unknown[] = [];
    for (let i = from; i < from + count; i++) {
      data[data.length] = { value: valueOf(i), topic: at.topic, partition: at.partition, offset: offsetOf(cols, i), key: cols.keys === null ? null : (cols.keys[i] as string | null), headers: cols.headers[i] ?? {}, timestamp: timestampOf(cols, i) };
    }
    const firstOffset = offsetOf(cols, from);
    const lastOffset = offsetOf(cols, from + count - 1);
    const event = {
      kafka: { topic: at.topic, partition: at.partition, firstOffset, lastOffset, count },
      id: `${at.topic}/${at.partition}/${firstOffset}-${lastOffset}`,
      source: `kafka://${at.topic}/${at.partition}`,
      type: 'faas.kafka.batch',
      time: isoTime(timestampOf(cols, from + count - 1)),
      data,
    };
    return event;
  }

  // Date#toISOString costs more than a whole trivial invocation in an isolate: the part up to the
  // second is formatted once per second, and the milliseconds appended.
  let isoSecond = Number.NaN;
  let isoPrefix = '';
  /** new Date(ms).toISOString(), throwing alike for a time no Date holds. */
  function isoTime(ms: number): string {
    if (!isInteger(ms)) return new DateCtor(ms).toISOString();
    const second = floor(ms / 1000);
    if (second !== isoSecond) {
      isoPrefix = new DateCtor(second * 1000).toISOString().slice(0, -4); // "YYYY-MM-DDTHH:mm:ss."
      isoSecond = second;
    }
    const rest = ms - second * 1000;
    return `${isoPrefix}${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}Z`;
  }

  /** The invocation's console lines (and a note of those dropped), taken for its outcome. */
  function takeLogs(): LogLine[] {
    if (droppedLogs > 0) logs[logs.length] = [now(), 'warn', `[faas] ${droppedLogs} log line(s) dropped: over limits.maxLogBytes`];
    const out = logs;
    logs = [];
    return out;
  }

  /**
   * The handler's ctx. Its functions are made on first use and kept (a series makes a ctx per
   * record, and most handlers use few of them), each bound to this invocation, so that
   * `const { emit } = ctx` works. Frozen; the class cannot be reached to make another.
   */
  class Ctx {
    readonly invocationId: string;
    readonly correlationId: string;
    readonly functionName: string;
    readonly functionVersion: number;
    readonly deadline: number;
    readonly env: Readonly<Record<string, string>>;
    readonly log: typeof log;
    #state: Record<string, unknown> | undefined;
    #remainingMs: (() => number) | undefined;
    #emit: Emit | undefined;
    #invoke: ((name: string, payload?: unknown) => Promise<unknown>) | undefined;
    #invokeAsync: ((name: string, payload?: unknown) => Promise<unknown>) | undefined;

    constructor(meta: GuestMeta) {
      this.invocationId = meta.invocationId;
      this.correlationId = meta.correlationId;
      this.functionName = fnInfo.name;
      this.functionVersion = fnInfo.version;
      this.deadline = meta.deadline;
      this.env = env;
      this.log = log;
      freeze(this);
    }

    get state(): Record<string, unknown> {
      return (this.#state ??= stateApi(this.invocationId, null));
    }

    get remainingMs(): () => number {
      const deadline = this.deadline;
      return (this.#remainingMs ??= () => Math.max(0, deadline - now()));
    }

    get emit(): Emit {
      const id = this.invocationId;
      return (this.#emit ??= (topic, value, options) => {
        const text = stringify(value);
        if (text === undefined) return Promise.reject(new TypeError('ctx.emit: the value must be a JSON value'));
        return call(id, 'emit', [topic, text, options?.key ?? null, options?.headers ?? null]);
      });
    }

    get invoke(): (name: string, payload?: unknown) => Promise<unknown> {
      const id = this.invocationId;
      return (this.#invoke ??= (name, payload) => callWith(id, 'invoke', name, payload));
    }

    get invokeAsync(): (name: string, payload?: unknown) => Promise<unknown> {
      const id = this.invocationId;
      return (this.#invokeAsync ??= (name, payload) => callWith(id, 'invokeAsync', name, payload));
    }
  }
  Object.defineProperty(Ctx.prototype, 'constructor', { value: undefined });
  freeze(Ctx.prototype);

  /** Runs the handler: ['ok', result JSON] or ['err', error JSON]; its console lines wait in `logs`. */
  async function runOne(event: unknown, meta: GuestMeta): Promise<[status: 'ok' | 'err', payload: string]> {
    if (logs.length > 0) logs = [];
    logBytes = 0;
    droppedLogs = 0;
    maxLogBytes = meta.maxLogBytes;
    // Map#clear allocates a new table even when empty: this runs once per record of a series.
    if (timers.size > 0) timers.clear();
    hostTouched = false;
    const ctx = new Ctx(meta);
    let result: unknown;
    try {
      result = await (handler as Handler)(event, ctx);
    } catch (err) {
      return ['err', errorJson('FAAS_HANDLER_ERROR', err)];
    }
    let json: string | undefined;
    try {
      json = result === undefined || result === null ? 'null' : stringify(result);
    } catch (err) {
      return ['err', errorJson('FAAS_RESULT_INVALID', err)];
    }
    if (json === undefined) {
      return ['err', stringify({ code: 'FAAS_RESULT_INVALID', name: 'TypeError', message: `a ${typeof result} is not a JSON value` })];
    }
    // UTF-16 length is a lower bound of the UTF-8 size; the host checks exact bytes.
    if (json.length > meta.maxResultBytes) {
      return ['err', stringify({ code: 'FAAS_RESULT_TOO_LARGE', name: 'RangeError', message: `result is at least ${json.length} bytes; limits.maxResultBytes is ${meta.maxResultBytes}` })];
    }
    return ['ok', json];
  }

  return {
    setHandler(exportsValue: unknown, envJson: string, fnJson: string): void {
      const ex = exportsValue as { default?: unknown } | undefined;
      const candidate = typeof ex === 'function' ? ex : ex?.default;
      if (typeof candidate !== 'function') {
        throw new TypeError('the function module must `export default` a handler function');
      }
      handler = candidate as Handler;
      env = freeze(parse(envJson) as Record<string, string>);
      fnInfo = parse(fnJson) as { name: string; version: number };
    },

    /** The runtime's answer to call(): ok → the JSON result; else plain error data, rebuilt here. */
    resolveCall(id: number, ok: boolean, payload: string): void {
      const pending = calls.get(id);
      if (pending === undefined) return;
      calls.delete(id);
      if (ok) {
        pending.resolve(parse(payload));
        return;
      }
      const data = parse(payload) as { code: string; message: string; details?: unknown };
      const err = new ErrorCtor(data.message) as Error & { code?: string; details?: unknown };
      err.name = 'FaasError';
      err.code = data.code;
      if (data.details !== undefined) err.details = data.details;
      pending.reject(err);
    },

    fireTimer(id: number): void {
      const fn = timers.get(id);
      if (fn === undefined) return;
      timers.delete(id);
      try {
        fn();
      } catch (err) {
        // Nobody awaits a timer callback: say so in the invocation's log rather than lose it.
        write('error', ['Uncaught exception in a setTimeout callback:', err]);
      }
    },

    async invoke(eventJson: string, metaJson: string): Promise<GuestOutcome> {
      const [status, payload] = await runOne(parse(eventJson), parse(metaJson) as GuestMeta);
      return [status, payload, stringify(takeLogs())];
    },

    /**
     * The sync-first path (IsolateInstance.invoke): begin() starts an invocation from a synchronous
     * call and returns. take(), called right after it, answers the outcome when the handler settled
     * without the host and without arming a timer or calling the runtime (those callbacks reach the
     * host after the call, and the outcome must not overtake them); else null, and the host awaits
     * wait() instead, asynchronously.
     */
    begin(eventJson: string, metaJson: string): void {
      settled = undefined;
      // `await`, not .then(): a handler may have replaced Promise.prototype.then.
      begun = (async (): Promise<GuestOutcome> => {
        const [status, payload] = await runOne(parse(eventJson), parse(metaJson) as GuestMeta);
        return (settled = [status, payload, stringify(takeLogs())]);
      })();
    },

    take(): GuestOutcome | null {
      const out = settled;
      if (out === undefined || hostTouched) return null;
      settled = undefined;
      begun = undefined;
      return out;
    },

    wait(): Promise<GuestOutcome> {
      const pending = begun;
      begun = undefined;
      settled = undefined;
      if (pending === undefined) return Promise.reject(new ErrorCtor('no invocation was begun'));
      return pending;
    },

    /**
     * Several events in order on this instance, one handler call each, stopping after the first
     * failure (its record must be retried before the ones after it). One host round trip for all;
     * what comes back is one JSON text (GuestSeriesOutcome): how many succeeded, the failure, and
     * the console lines by item. Results are not returned (a record's handler answers nobody), but
     * are held to the same rules as a single invocation's. An item whose data is JSON text (its
     * slice of `texts`) has it parsed here; text that does not parse is that item's failure, and
     * its handler is not called.
     */
    async invokeSeries(eventsJson: string, texts: string, metaJson: string): Promise<string> {
      const meta = parse(metaJson) as SeriesMeta;
      const at = meta.records;
      // Envelopes, or, for one partition's records, their columns.
      const events = parse(eventsJson) as unknown[] | RecordColumns;
      const batches = meta.batches;
      const count = batches === undefined ? meta.textLengths.length : batches.length;
      const lines: GuestSeriesOutcome[2] = [];
      let done = 0;
      let failure: string | null = null;
      let cut = 0;
      /** The data of item (or, in a series of batches, record) i: its text parsed, or what the events carry. */
      const dataOf = (i: number, carried: () => unknown): unknown => {
        const textLength = meta.textLengths[i] as number;
        return textLength < 0 ? carried() : parse(texts.slice(cut, (cut += textLength)));
      };
      let nextRecord = 0; // batches: the first record of the next item
      for (; done < count; done++) {
        const invocationId = `${meta.seriesId}.${done}`;
        const correlationId = meta.correlation[done] ?? invocationId;
        let event: { data?: unknown };
        try {
          if (at === undefined) {
            event = (events as unknown[])[done] as { data?: unknown };
            event.data = dataOf(done, () => event.data);
          } else if (batches === undefined) {
            event = recordEvent(at, events as RecordColumns, done);
            event.data = dataOf(done, () => event.data);
          } else {
            const cols = events as RecordColumns;
            const size = batches[done] as number;
            event = recordBatchEvent(at, cols, nextRecord, size, (i) => dataOf(i, () => cols.data[i] ?? null));
            nextRecord += size;
          }
        } catch (err) {
          failure = errorJson('FAAS_RECORD_UNDECODABLE', err);
          break;
        }
        const [status, payload] = await runOne(event, { invocationId, correlationId, deadline: meta.deadline, maxResultBytes: meta.maxResultBytes, maxLogBytes: meta.maxLogBytes });
        if (logs.length > 0 || droppedLogs > 0) for (const [ts, level, message] of takeLogs()) lines[lines.length] = [done, ts, level, message];
        if (status === 'err') {
          failure = payload;
          break;
        }
        // The exact UTF-8 size, as the host checks a single invocation's (runOne checked a lower bound).
        if (payload.length * 3 > meta.maxResultBytes && utf8Bytes(payload) > meta.maxResultBytes) {
          failure = stringify({ code: 'FAAS_RESULT_TOO_LARGE', name: 'RangeError', message: `result is ${utf8Bytes(payload)} bytes; limits.maxResultBytes is ${meta.maxResultBytes}` });
          break;
        }
      }
      const out: GuestSeriesOutcome = [done, failure, lines];
      return stringify(out);
    },
  };
}

