/**
 * One sandbox instance: an isolated-vm isolate and context with the guest bootstrap and one
 * function version's bundle loaded. Runs one invocation at a time. This is the in-process core that
 * sandbox processes (sandbox/worker/main.ts) host; the benchmark drives it directly too.
 *
 * Guarantees enforced here: a wall-clock deadline covering async work (the isolate is disposed when
 * it passes, never reused); the memory limit (isolated-vm disposes the isolate; we report
 * FAAS_MEMORY_LIMIT); the result size cap; only strings cross the boundary.
 */
import { readFileSync } from 'node:fs';
import ivm from 'isolated-vm';
import * as esbuild from 'esbuild';
import type { ErrorData } from '../core/errors.ts';
import type { LogEntry } from '../scheduler/ports.ts';
import { recordColumns } from '../scheduler/record-columns.ts';
import type { GuestOutcome } from './guest/bootstrap.ts';
import type { CodeCache } from './code-cache.ts';
import type { InvokeSpec, SeriesMeta, SeriesSpec } from './protocol.ts';

export type { InvokeSpec, SeriesSpec };

export interface InstanceSpec {
  name: string;
  version: number;
  digest: string;
  code: string;
  memoryMb: number;
  env: Readonly<Record<string, string>>;
  /** Bound on running the bundle's top level. */
  initTimeoutMs: number;
}

export type InstanceOutcome =
  | { ok: true; resultJson: string; logs: LogEntry[] }
  | { ok: false; error: ErrorData; logs: LogEntry[]; lost: boolean; sliced?: true };

export const BOOTSTRAP_DIGEST = 'faas:guest-bootstrap';
const BOOTSTRAP_FILENAME = 'faas:///bootstrap.js';
const functionFilename = (spec: InstanceSpec) => `fn:///${spec.name}/v${spec.version}.js`;
let bootstrapSource: string | undefined;

/** The guest bootstrap as minified JS evaluating to its `install` function (built once per process). */
export function guestBootstrapSource(): string {
  if (bootstrapSource === undefined) {
    const ts = readFileSync(new URL('./guest/bootstrap.ts', import.meta.url), 'utf8');
    const js = esbuild.transformSync(ts, { loader: 'ts', format: 'iife', globalName: '__faasBootstrap', target: 'es2023', minify: true }).code;
    bootstrapSource = `(function () { ${js}; return __faasBootstrap.install; })()`;
  }
  return bootstrapSource;
}

type KillReason = 'timeout' | 'disposed' | 'sliced';

/**
 * The longest the synchronous part of an invocation may hold the sandbox process's thread on the
 * sync-first path (IsolateInstance.invoke). Past it the run is cut off, and the sandbox process
 * runs the invocation again, asynchronously, in a new isolate.
 */
export const SYNC_SLICE_MS = 20;

/** The guest bridge's entry points (sandbox/guest/bootstrap.ts). */
interface GuestRefs {
  invoke: ivm.Reference<(e: string, m: string) => Promise<GuestOutcome>>;
  begin: ivm.Reference<(e: string, m: string) => void>;
  take: ivm.Reference<() => GuestOutcome | null>;
  wait: ivm.Reference<() => Promise<GuestOutcome>>;
  series: ivm.Reference<(e: string, t: string, m: string) => Promise<string>>;
  resolveCall: ivm.Reference<(id: number, ok: boolean, payload: string) => void>;
}

export class IsolateInstance {
  private readonly isolate: ivm.Isolate;
  private readonly refs: GuestRefs;
  private readonly cache: CodeCache;
  private readonly timers: Set<NodeJS.Timeout>;
  private killed: KillReason | undefined;
  readonly spec: InstanceSpec;

  private constructor(spec: InstanceSpec, isolate: ivm.Isolate, refs: GuestRefs, cache: CodeCache, timers: Set<NodeJS.Timeout>) {
    this.spec = spec;
    this.isolate = isolate;
    this.refs = refs;
    this.cache = cache;
    this.timers = timers;
  }

  /** Cold start: isolate, context, bootstrap, compile (cached per digest), run the top level. */
  /**
   * `onCall` receives the guest's runtime calls (ctx.state…): (callId, invocationId, op, argsJson);
   * answer them with resolveCall(). Without it, every call is answered with an error.
   */
  static async create(spec: InstanceSpec, cache: CodeCache, onCall?: (callId: number, invocationId: string, op: string, argsJson: string) => void): Promise<IsolateInstance> {
    const isolate = new ivm.Isolate({ memoryLimit: spec.memoryMb });
    try {
      const context = isolate.createContextSync();
      const timers = new Set<NodeJS.Timeout>();
      const self: { instance?: IsolateInstance } = {};
      /** A callback that reaches the host after its instance was killed (a cut-off run's) is dropped. */
      const dropped = () => self.instance !== undefined && !self.instance.alive;
      // Set below; the timer callback needs the guest's fireTimer reference.
      const fireBox: { ref?: ivm.Reference<(id: number) => void> } = {};
      // A Callback, not a Reference: a Reference passed with `arguments: { reference: true }` is
      // wrapped again and its applyIgnored silently calls nothing (pinned in test/sandbox).
      const timerHost = new ivm.Callback(
        (id: number, ms: number) => {
          if (dropped()) return;
          // Clamped: Node fires delays above 2^31-1 ms at once. No timer outlives its invocation anyway.
          const handle = setTimeout(() => {
            timers.delete(handle);
            fireBox.ref?.applyIgnored(undefined, [id]);
          }, Math.min(ms, 2 ** 31 - 1));
          timers.add(handle);
        },
        { ignored: true },
      );
      // The bootstrap steps are tiny: run them synchronously (measured faster than the async hops);
      // compiling and running the bundle, which can be large, stay async.
      const bootstrap = isolate.compileScriptSync(guestBootstrapSource(), { filename: BOOTSTRAP_FILENAME, ...cache.compileOptions(BOOTSTRAP_DIGEST) }) as ivm.Script & ivm.CachedDataResult;
      cache.store(BOOTSTRAP_DIGEST, bootstrap.cachedData);
      const install = bootstrap.runSync(context, { reference: true }) as ivm.Reference<(timerHost: unknown, callHost: unknown) => Record<string, unknown>>;
      const callHost = new ivm.Callback(
        (callId: number, invocationId: string, op: string, argsJson: string) => {
          if (dropped()) return;
          if (onCall) onCall(callId, invocationId, op, argsJson);
          else self.instance?.resolveCall(callId, false, JSON.stringify({ code: 'FAAS_INTERNAL', message: `runtime call ${op} is not available here` }));
        },
        { ignored: true },
      );
      const api: ivm.Reference<Record<string, unknown>> = install.applySync(undefined, [timerHost, callHost], { result: { reference: true } });
      const ref = <F>(name: string) => api.getSync(name, { reference: true }) as ivm.Reference<F>;
      const setHandler = ref<(...a: unknown[]) => void>('setHandler');
      const refs: GuestRefs = { invoke: ref('invoke'), begin: ref('begin'), take: ref('take'), wait: ref('wait'), series: ref('invokeSeries'), resolveCall: ref('resolveCall') };
      fireBox.ref = ref('fireTimer');

      // The typings omit it, but compileScript returns the produced cache on the script (documented).
      const script = (await isolate.compileScript(spec.code, {
        filename: functionFilename(spec),
        ...cache.compileOptions(spec.digest),
      })) as ivm.Script & ivm.CachedDataResult;
      cache.store(spec.digest, script.cachedData);

      let exportsRef: ivm.Reference<unknown>;
      try {
        exportsRef = await script.run(context, { reference: true, timeout: spec.initTimeoutMs });
        setHandler.applySync(
          undefined,
          [exportsRef.derefInto(), JSON.stringify(spec.env), JSON.stringify({ name: spec.name, version: spec.version })],
          { timeout: spec.initTimeoutMs },
        );
      } catch (err) {
        throw new InitError(guestErrorData(isolate, err, 'FAAS_INIT_FAILED'));
      }
      const instance = new IsolateInstance(spec, isolate, refs, cache, timers);
      self.instance = instance;
      return instance;
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      throw err instanceof InitError ? err : new InitError(guestErrorData(isolate, err, 'FAAS_INIT_FAILED'));
    }
  }

  get alive(): boolean {
    return this.killed === undefined && !this.isolate.isDisposed;
  }

  /**
   * One invocation. Sync-first: the handler is started by a synchronous call into the isolate on
   * this thread, and when it settles without the host (no await on a runtime call or a timer), its
   * outcome is taken by a second synchronous call. An async call into an isolate hops to isolated-vm's
   * thread and back, which costs about 60–75 µs of CPU; the two synchronous calls cost about 6 µs
   * (bench/cold-warm.ts, docs/BENCHMARKS.md). A handler still waiting on the host is awaited
   * asynchronously, under its deadline. The synchronous part may hold this thread, shared by all
   * instances of the process, for SYNC_SLICE_MS at most: past it the run is cut off, its callbacks
   * dropped, and the outcome says `sliced` (the caller runs it again in a new instance, and this
   * function version runs asynchronously from then on: CodeCache.markSlow).
   */
  async invoke(spec: InvokeSpec): Promise<InstanceOutcome> {
    const metaJson = JSON.stringify({ invocationId: spec.invocationId, correlationId: spec.correlationId, deadline: spec.deadline, maxResultBytes: spec.maxResultBytes, maxLogBytes: spec.maxLogBytes });
    this.idleAfterSync = false;
    let call: (timeout: number) => Promise<GuestOutcome>;
    if (this.cache.isSlow(this.spec.digest)) {
      call = (timeout) => this.refs.invoke.apply(undefined, [spec.eventJson, metaJson], { timeout, result: { promise: true, copy: true } }) as unknown as Promise<GuestOutcome>;
    } else {
      const settled = this.invokeSync(spec, metaJson);
      if (settled !== undefined) {
        this.idleAfterSync = this.alive;
        return settled;
      }
      call = (timeout) => this.refs.wait.apply(undefined, [], { timeout, result: { promise: true, copy: true } }) as unknown as Promise<GuestOutcome>;
    }
    const run = await this.guarded(spec.deadline, call);
    return run.ok ? toOutcome(spec.invocationId, run.value, spec.maxResultBytes) : { ok: false, error: run.error, logs: [], lost: true };
  }

  /** The synchronous part of invoke(): its outcome, or undefined when the handler waits on the host. */
  private invokeSync(spec: InvokeSpec, metaJson: string): InstanceOutcome | undefined {
    if (!this.alive) return { ok: false, error: { code: 'FAAS_INTERNAL', message: 'instance is disposed' }, logs: [], lost: true };
    const remaining = Math.max(1, spec.deadline - Date.now());
    const slice = Math.min(remaining, SYNC_SLICE_MS);
    let out: GuestOutcome | null;
    try {
      this.refs.begin.applySync(undefined, [spec.eventJson, metaJson], { timeout: slice });
      out = this.refs.take.applySync(undefined, [], { result: { copy: true } });
    } catch (err) {
      if (slice < remaining && isTimeoutError(err) && !this.isolate.isDisposed) {
        this.cache.markSlow(this.spec.digest);
        this.kill('sliced');
        return { ok: false, error: { code: 'FAAS_INTERNAL', message: `the synchronous part ran past ${SYNC_SLICE_MS} ms; run again asynchronously` }, logs: [], lost: true, sliced: true };
      }
      const error = this.failure(err, remaining);
      this.dispose();
      return { ok: false, error, logs: [], lost: true };
    }
    return out === null ? undefined : toOutcome(spec.invocationId, out, spec.maxResultBytes);
  }

  /**
   * Several invocations in order in one round trip, stopping after the first failure: the guest's
   * outcome as JSON (GuestSeriesOutcome), untouched. The series shares one deadline; when it passes (or
   * the isolate dies) nothing of the series is known to have completed: `lost` is set and the caller
   * runs those events one by one.
   */
  async invokeSeries(spec: SeriesSpec): Promise<{ outcomeJson: string; lost: false } | { lost: true; error: ErrorData }> {
    this.idleAfterSync = false;
    const run = await this.guarded(spec.deadline, (timeout) => this.refs.series.apply(undefined, [spec.eventsJson, spec.texts, spec.metaJson], { timeout, result: { promise: true, copy: true } }) as unknown as Promise<string>);
    return run.ok ? { outcomeJson: run.value, lost: false } : { lost: true, error: run.error };
  }

  /**
   * Produces the bootstrap's code cache from this isolate, after it ran, and puts it in the
   * process's CodeCache: compiled again in the same isolate, the bootstrap comes out of V8's
   * compilation cache with the functions its invocations compiled, so the cache holds those too
   * (primeBootstrap).
   */
  produceBootstrapCache(): void {
    this.recache(guestBootstrapSource(), BOOTSTRAP_FILENAME, BOOTSTRAP_DIGEST);
  }

  /** The last invocation settled synchronously and none started since: nothing of it can still run here. */
  private idleAfterSync = false;

  /**
   * This version has a code cache (it was compiled twice here: caching pays), produced before its
   * code ran, and this instance could produce it again now.
   */
  get recacheDue(): boolean {
    return this.idleAfterSync && this.cache.has(this.spec.digest) && !this.cache.hasRunCache(this.spec.digest);
  }

  /**
   * Produces this version's code cache again from this isolate, after an invocation settled here
   * synchronously (the isolate is idle then: compiling does not wait for it), once per version and
   * process, for versions compiled at least twice here (as CodeCache produces caches at all). Like
   * the bootstrap's (produceBootstrapCache), it then holds the functions the invocation compiled,
   * and later cold starts of the version skip compiling them: a 642 KB bundle started in 12 ms
   * instead of 16 (docs/BENCHMARKS.md). The sandbox process calls it after the outcome went out; it
   * does nothing when another invocation started since.
   */
  recacheCode(): void {
    if (!this.recacheDue || !this.alive) return;
    this.recache(this.spec.code, functionFilename(this.spec), this.spec.digest);
  }

  /** Compiled again in this isolate, `source` comes out of V8's compilation cache with what ran compiled. */
  private recache(source: string, filename: string, digest: string): void {
    const script = this.isolate.compileScriptSync(source, { filename, produceCachedData: true }) as ivm.Script & ivm.CachedDataResult;
    this.cache.replace(digest, script.cachedData);
  }

  /** Runs a call into the guest under the wall-clock deadline; an isolate whose call failed is destroyed. */
  private async guarded<T>(deadline: number, call: (timeoutMs: number) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: ErrorData }> {
    if (!this.alive) return { ok: false, error: { code: 'FAAS_INTERNAL', message: 'instance is disposed' } };
    const remaining = Math.max(1, deadline - Date.now());
    const deadlineTimer = setTimeout(() => this.kill('timeout'), remaining);
    try {
      return { ok: true, value: await call(remaining) };
    } catch (err) {
      const error = this.failure(err, remaining);
      this.dispose();
      return { ok: false, error };
    } finally {
      clearTimeout(deadlineTimer);
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
    }
  }

  /**
   * What a failed call into the guest means. Sync timeouts leave the isolate in an unknown state: it
   * is destroyed either way. An isolate that is disposed although we did not kill it hit its memory
   * limit (isolated-vm then rejects pending promises with messages like "Promise was abandoned", not
   * "memory limit").
   */
  private failure(err: unknown, remainingMs: number): ErrorData {
    if (this.killed === 'timeout' || isTimeoutError(err)) return { code: 'FAAS_TIMEOUT', message: `invocation passed its deadline of ${remainingMs} ms; the sandbox was destroyed` };
    if (this.killed === undefined && this.isolate.isDisposed) return { code: 'FAAS_MEMORY_LIMIT', message: `the handler exceeded its memory limit of ${this.spec.memoryMb} MB; the sandbox was destroyed` };
    return guestErrorData(this.isolate, err, 'FAAS_INTERNAL');
  }

  /** Answer a guest's runtime call (see create's onCall). Ignored once the instance is gone. */
  resolveCall(callId: number, ok: boolean, payload: string): void {
    if (!this.alive) return;
    this.refs.resolveCall.applyIgnored(undefined, [callId, ok, payload]);
  }

  heapBytes(): number {
    if (!this.alive) return 0;
    try {
      const s = this.isolate.getHeapStatisticsSync();
      return s.used_heap_size + s.externally_allocated_size;
    } catch {
      // While isolated-vm tears an isolate down for its memory limit, isDisposed can still read
      // false but every call throws. Unguarded, that killed the whole sandbox process (pinned in
      // test/sandbox/heap-stats.test.ts).
      return 0;
    }
  }

  dispose(): void {
    this.kill('disposed');
  }

  private kill(reason: KillReason): void {
    this.killed ??= reason;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }
}

/**
 * A sandbox process's one-time costs, paid before it says ready (worker/main.ts): building the
 * bootstrap, isolated-vm's first isolate, and the bootstrap's code cache. One warm-up instance runs
 * the bridge's common paths (an invocation that logs, one that throws, a series of records); the
 * cache is then produced from its isolate, so it holds the functions those paths compiled, and a
 * cold start skips compiling them (docs/BENCHMARKS.md: create 1.97 → 1.68 ms, a first series of 16
 * records 0.77 → 0.34 ms).
 */
export async function primeBootstrap(cache: CodeCache): Promise<void> {
  const spec: InstanceSpec = {
    name: 'warm-up',
    version: 0,
    digest: 'faas:warm-up',
    code: '({ default: function (event) { if (event.data === "log") console.log("warm-up"); if (event.data === "throw") throw new Error("warm-up"); return null; } })',
    memoryMb: 8,
    env: {},
    initTimeoutMs: 1000,
  };
  const deadline = Date.now() + 5000;
  const inst = await IsolateInstance.create(spec, cache);
  try {
    for (const data of ['log', 'throw', null]) {
      await inst.invoke({ invocationId: 'warm-up', correlationId: 'warm-up', eventJson: JSON.stringify({ data }), deadline, maxResultBytes: 1024, maxLogBytes: 1024 });
    }
    const at = { topic: 'warm-up', partition: 0 };
    const records = recordColumns([{ ...at, offset: '0', key: null, headers: {}, timestamp: 0 }, { ...at, offset: '1', key: 'k', headers: { h: 'v' }, timestamp: 1 }], [null, null]);
    const meta: SeriesMeta = { seriesId: 'warm-up', correlation: {}, textLengths: [2, 2], records: { topic: 'warm-up', partition: 0 }, deadline, maxResultBytes: 1024, maxLogBytes: 1024 };
    await inst.invokeSeries({ eventsJson: JSON.stringify(records), texts: '{}{}', metaJson: JSON.stringify(meta), deadline });
    if (inst.alive) inst.produceBootstrapCache();
  } finally {
    inst.dispose();
    cache.delete(spec.digest);
  }
}

export class InitError extends Error {
  readonly data: ErrorData;
  constructor(data: ErrorData) {
    super(data.message);
    this.data = data;
  }
}

/** A guest outcome as the host's: logs tagged with the invocation, the result's exact byte size checked. */
function toOutcome(invocationId: string, [status, payload, logsJson]: GuestOutcome, maxResultBytes: number): InstanceOutcome {
  const logs = toLogEntries(invocationId, logsJson);
  if (status === 'err') return { ok: false, error: JSON.parse(payload) as ErrorData, logs, lost: false };
  const bytes = Buffer.byteLength(payload);
  if (bytes > maxResultBytes) {
    return { ok: false, error: { code: 'FAAS_RESULT_TOO_LARGE', message: `result is ${bytes} bytes; limits.maxResultBytes is ${maxResultBytes}` }, logs, lost: false };
  }
  return { ok: true, resultJson: payload, logs };
}

function toLogEntries(invocationId: string, logsJson: string): LogEntry[] {
  if (logsJson === '[]') return [];
  const lines = JSON.parse(logsJson) as [number, LogEntry['level'], string][];
  return lines.map(([ts, level, message]) => ({ ts, invocationId, level, message }));
}

// isolated-vm reports these conditions only through messages; they are matched here, at the
// boundary with the library, and turned into codes at once.
function isTimeoutError(err: unknown): boolean {
  return err instanceof Error && /execution timed out/i.test(err.message);
}

function guestErrorData(isolate: ivm.Isolate, err: unknown, fallback: ErrorData['code']): ErrorData {
  const message = err instanceof Error ? err.message : String(err);
  if (/memory limit/i.test(message) || (isolate.isDisposed && /disposed/i.test(message) && fallback !== 'FAAS_INIT_FAILED')) {
    return { code: 'FAAS_MEMORY_LIMIT', message: 'the handler exceeded its memory limit; the sandbox was destroyed' };
  }
  if (/memory limit/i.test(message)) return { code: 'FAAS_MEMORY_LIMIT', message: 'the top level exceeded the memory limit' };
  if (isTimeoutError(err)) return { code: fallback === 'FAAS_INIT_FAILED' ? 'FAAS_INIT_FAILED' : 'FAAS_TIMEOUT', message: `timed out: ${message}` };
  const data: ErrorData = { code: fallback, message };
  if (err instanceof Error) {
    data.name = err.name;
    if (err.stack) data.stack = err.stack;
  }
  return data;
}
