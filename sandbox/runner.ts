/**
 * IsolateRunner: the SandboxRunner the scheduler uses. Per function it keeps a pool of instances
 * (each one isolate in a supervised sandbox process, one invocation at a time):
 * - warm start: an idle instance of the same version is reused (last used first, for warm caches);
 * - cold start: below maxInstances a new instance is loaded; load and first invoke are pipelined;
 * - otherwise the invocation waits (at most scaling.maxQueue of them) until one is released;
 * - minWarm instances are kept loaded; idle ones above it are evicted after idleMs;
 * - an instance whose state is uncertain (timeout, memory limit, crash) is destroyed, never reused;
 * - a redeploy retires the old version: idle old instances go at once, busy ones when they finish.
 */
import { FaasError, toFaasError, type ErrorData } from '../core/errors.ts';
import type { FunctionVersion, InvocationMeta, RuntimeCallHandler, SandboxOutcome, SandboxRunner, SandboxStats, SeriesPayload, SeriesResult, StartKind } from '../scheduler/ports.ts';
import type { GuestSeriesOutcome } from './guest/bootstrap.ts';
import { ProcessPool, type ProcessPoolOptions } from './process-pool.ts';
import type { SeriesMeta } from './protocol.ts';
import type { SandboxProcess } from './sandbox-process.ts';

export interface IsolateRunnerOptions extends Omit<ProcessPoolOptions, 'size'> {
  /** Sandbox processes. */
  processes: number;
  /** How often idle instances are swept. Default 1000 ms. */
  sweepMs?: number;
}

interface Instance {
  id: number;
  proc: SandboxProcess;
  fn: FunctionVersion;
  loaded: boolean;
  busy: boolean;
  dead: boolean;
  lastUsed: number;
}

interface Waiter {
  fn: FunctionVersion;
  resolve(v: { inst: Instance; start: StartKind }): void;
  reject(e: FaasError): void;
  timer: NodeJS.Timeout;
}

interface Pool {
  current: FunctionVersion | undefined;
  /** Instances a scaling trigger asked to keep (reserve()); counted with minWarm. */
  reserved: number;
  instances: Set<Instance>;
  idle: Instance[];
  waiters: Waiter[];
}

export class IsolateRunner implements SandboxRunner {
  private readonly procs: ProcessPool;
  private readonly pools = new Map<string, Pool>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly rss = new Map<number, number>();
  private nextId = 1;
  private closing = false;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly started: Promise<void>;
  private callHandler: RuntimeCallHandler | undefined;
  /** instance id → function name: a call's function comes from here, not from the guest. */
  private readonly instanceFn = new Map<number, string>();

  constructor(options: IsolateRunnerOptions) {
    this.procs = new ProcessPool({ ...options, size: options.processes });
    this.procs.on('lost', (proc) => this.onProcessLost(proc));
    this.started = this.procs.start();
    this.started.catch(() => undefined);
    this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 1000);
    this.sweeper.unref();
  }

  ready(): Promise<void> {
    return this.started;
  }

  handleCalls(handler: RuntimeCallHandler): void {
    this.callHandler = handler;
  }

  private answerCall(proc: SandboxProcess): void {
    proc.onCall = async (m) => {
      const fn = this.instanceFn.get(m.instanceId);
      if (fn === undefined || this.callHandler === undefined) return { ok: false, payload: JSON.stringify({ code: 'FAAS_INTERNAL', message: 'runtime calls are not available' }) };
      return this.callHandler({ fn, invocationId: m.invocationId, op: m.op, args: m.args });
    };
  }

  get processRestarts(): number {
    return this.procs.restarts;
  }

  async invoke(fn: FunctionVersion, eventJson: string, meta: InvocationMeta): Promise<SandboxOutcome> {
    const t0 = performance.now();
    let acquired: { inst: Instance; start: StartKind };
    try {
      if (this.closing) throw new FaasError('FAAS_SHUTTING_DOWN', 'the runtime is shutting down and takes no new invocations');
      acquired = await this.acquire(fn, meta.deadline);
    } catch (err) {
      return { ok: false, error: toFaasError(err).toData(), start: 'cold', durationMs: performance.now() - t0, logs: [] };
    }
    const { inst, start } = acquired;
    this.inFlight++;
    try {
      const reply = await inst.proc.invoke({
        instanceId: inst.id,
        invocationId: meta.invocationId,
        correlationId: meta.correlationId,
        eventJson,
        deadline: meta.deadline,
        maxResultBytes: fn.manifest.limits.maxResultBytes,
        maxLogBytes: fn.manifest.limits.maxLogBytes,
      });
      const durationMs = performance.now() - t0;
      this.release(inst, !reply.ok && reply.lost);
      return reply.ok
        ? { ok: true, resultJson: reply.resultJson, start, durationMs, logs: reply.logs }
        : { ok: false, error: reply.error, start, durationMs, logs: reply.logs };
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.drained?.();
    }
  }

  async invokeSeries(fn: FunctionVersion, series: SeriesPayload, deadline: number): Promise<SeriesResult> {
    const t0 = performance.now();
    let acquired: { inst: Instance; start: StartKind };
    try {
      if (this.closing) throw new FaasError('FAAS_SHUTTING_DOWN', 'the runtime is shutting down and takes no new invocations');
      acquired = await this.acquire(fn, deadline);
    } catch (err) {
      return { lost: true, error: toFaasError(err).toData(), durationMs: performance.now() - t0 };
    }
    const { inst, start } = acquired;
    this.inFlight++;
    try {
      const maxResultBytes = fn.manifest.limits.maxResultBytes;
      const { id, eventsJson, texts, textLengths, correlation, records, batches } = series;
      const meta: SeriesMeta = { seriesId: id, correlation, textLengths, ...(records !== undefined ? { records } : {}), ...(batches !== undefined ? { batches } : {}), deadline, maxResultBytes, maxLogBytes: fn.manifest.limits.maxLogBytes };
      const reply = await inst.proc.invokeSeries({ instanceId: inst.id, seriesId: id, eventsJson, texts, metaJson: JSON.stringify(meta), deadline });
      const durationMs = performance.now() - t0;
      this.release(inst, reply.lost);
      if (reply.lost) return { lost: true, error: reply.error ?? { code: 'FAAS_INTERNAL', message: 'series lost' }, durationMs };
      const [done, failure, logs] = JSON.parse(reply.outcomeJson) as GuestSeriesOutcome;
      return { lost: false, done, ...(failure !== null ? { failure: JSON.parse(failure) as ErrorData } : {}), logs, start, durationMs };
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.drained?.();
    }
  }

  async activate(fn: FunctionVersion): Promise<void> {
    const pool = this.pool(fn.name);
    if (pool.current !== undefined && pool.current.version > fn.version) return; // a newer one won
    pool.current = fn;
    for (const inst of [...pool.idle]) if (inst.fn.version !== fn.version) this.destroy(pool, inst);
    this.topUp(pool);
  }

  remove(name: string): void {
    const pool = this.pools.get(name);
    if (pool === undefined) return;
    pool.current = undefined;
    for (const inst of [...pool.idle]) this.destroy(pool, inst);
    for (const w of pool.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new FaasError('FAAS_FUNCTION_NOT_FOUND', `function "${name}" was deleted`));
    }
    if (pool.instances.size === 0) this.pools.delete(name);
  }

  reserve(name: string, instances: number): void {
    const pool = this.pools.get(name) ?? (instances > 0 ? this.pool(name) : undefined);
    if (pool === undefined) return;
    pool.reserved = Math.max(0, instances);
    const floor = this.floor(pool);
    for (const inst of [...pool.idle]) {
      if (pool.instances.size <= floor) break;
      this.destroy(pool, inst);
    }
    this.topUp(pool);
  }

  prewarm(name: string, instances: number): void {
    const pool = this.pools.get(name);
    const fn = pool?.current;
    if (pool === undefined || fn === undefined) return;
    // Within maxInstances, counting a retiring version's instances still in the pool.
    const others = pool.instances.size - this.currentCount(pool, fn);
    this.fill(pool, Math.min(instances, fn.manifest.scaling.maxInstances - others));
  }

  private currentCount(pool: Pool, fn: FunctionVersion): number {
    let n = 0;
    for (const i of pool.instances) if (i.fn.version === fn.version) n++;
    return n;
  }

  /** Instances kept when idle: minWarm, or what a scaling trigger reserved, within maxInstances. */
  private floor(pool: Pool): number {
    const scaling = pool.current?.manifest.scaling;
    return scaling === undefined ? 0 : Math.min(Math.max(scaling.minWarm, pool.reserved), scaling.maxInstances);
  }

  stats(): SandboxStats {
    const instances: SandboxStats['instances'] = {};
    for (const [name, pool] of this.pools) {
      const busy = [...pool.instances].filter((i) => i.busy).length;
      instances[name] = { idle: pool.instances.size - busy, busy, version: pool.current?.version ?? 0 };
    }
    const processes = this.procs.all().map((p) => ({ pid: p.pid, instances: p.instances, rssBytes: this.rss.get(p.pid) ?? 0 }));
    return { instances, processes };
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    for (const pool of this.pools.values()) {
      for (const w of pool.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new FaasError('FAAS_SHUTTING_DOWN', 'the runtime is shutting down'));
      }
    }
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.procs.close();
  }

  private pool(name: string): Pool {
    let pool = this.pools.get(name);
    if (pool === undefined) {
      pool = { current: undefined, reserved: 0, instances: new Set(), idle: [], waiters: [] };
      this.pools.set(name, pool);
    }
    return pool;
  }

  private async acquire(fn: FunctionVersion, deadline: number): Promise<{ inst: Instance; start: StartKind }> {
    const pool = this.pool(fn.name);
    if (pool.current === undefined || pool.current.version < fn.version) pool.current = fn;
    const warm = this.takeIdle(pool, fn.version);
    if (warm) return { inst: warm, start: warm.loaded ? 'warm' : 'cold' };
    const { maxInstances, maxQueue } = fn.manifest.scaling;
    if (pool.instances.size >= maxInstances) {
      const stale = pool.idle.find((i) => i.fn.version !== fn.version);
      if (stale) this.destroy(pool, stale);
    }
    if (pool.instances.size < maxInstances) {
      const inst = this.create(pool, fn);
      inst.busy = true;
      return { inst, start: 'cold' };
    }
    if (pool.waiters.length >= maxQueue) {
      throw new FaasError('FAAS_OVERLOADED', `all ${maxInstances} instances of "${fn.name}" are busy and ${maxQueue} invocations already wait`);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        fn,
        resolve,
        reject,
        timer: setTimeout(() => {
          pool.waiters.splice(pool.waiters.indexOf(waiter), 1);
          reject(new FaasError('FAAS_OVERLOADED', `no instance of "${fn.name}" became free before the invocation's deadline`));
        }, Math.max(0, deadline - Date.now())),
      };
      pool.waiters.push(waiter);
    });
  }

  private takeIdle(pool: Pool, version: number): Instance | undefined {
    for (let i = pool.idle.length - 1; i >= 0; i--) {
      const inst = pool.idle[i] as Instance;
      if (inst.fn.version === version && !inst.dead) {
        pool.idle.splice(i, 1);
        inst.busy = true;
        return inst;
      }
    }
    return undefined;
  }

  /** Reserves the slot synchronously: callers check capacity and create without an await between. */
  private create(pool: Pool, fn: FunctionVersion): Instance {
    let proc: SandboxProcess;
    try {
      proc = this.procs.pick();
    } catch (err) {
      throw new FaasError('FAAS_SANDBOX_CRASHED', `no sandbox process is available: ${(err as Error).message}`);
    }
    const inst: Instance = { id: this.nextId++, proc, fn, loaded: false, busy: false, dead: false, lastUsed: Date.now() };
    pool.instances.add(inst);
    this.instanceFn.set(inst.id, fn.name);
    if (proc.onCall === undefined) this.answerCall(proc);
    proc.instances++;
    proc
      .load({
        instanceId: inst.id,
        name: fn.name,
        version: fn.version,
        digest: fn.digest,
        code: fn.code,
        memoryMb: fn.manifest.limits.memoryMb,
        env: { ...fn.manifest.env },
        initTimeoutMs: fn.manifest.limits.timeoutMs,
      })
      .then(
        () => {
          inst.loaded = true;
        },
        (_err: ErrorData) => {
          // The invocation riding on this load gets the error from the sandbox; a pre-warmed
          // instance just disappears and the next sweep tries again.
          if (!inst.busy) this.forget(pool, inst);
          inst.dead = true;
        },
      );
    return inst;
  }

  private release(inst: Instance, lost: boolean): void {
    const pool = this.pool(inst.fn.name);
    inst.busy = false;
    inst.lastUsed = Date.now();
    if (lost || inst.dead) {
      this.forget(pool, inst);
    } else if (pool.current === undefined || pool.current.version !== inst.fn.version) {
      const waiter = pool.waiters.findIndex((w) => w.fn.version === inst.fn.version);
      if (waiter < 0) this.destroy(pool, inst);
      else return this.handTo(pool, waiter, inst);
    } else {
      const waiter = pool.waiters.findIndex((w) => w.fn.version === inst.fn.version);
      if (waiter >= 0) return this.handTo(pool, waiter, inst);
      pool.idle.push(inst);
      return;
    }
    // Capacity was freed: start an instance for the longest-waiting invocation.
    const first = pool.waiters.shift();
    if (first) {
      clearTimeout(first.timer);
      try {
        const next = this.create(pool, first.fn);
        next.busy = true;
        first.resolve({ inst: next, start: 'cold' });
      } catch (err) {
        first.reject(toFaasError(err));
      }
    } else if (pool.current === undefined && pool.instances.size === 0) {
      this.pools.delete(inst.fn.name);
    }
  }

  private handTo(pool: Pool, index: number, inst: Instance): void {
    const [w] = pool.waiters.splice(index, 1);
    if (!w) return;
    clearTimeout(w.timer);
    inst.busy = true;
    w.resolve({ inst, start: 'warm' });
  }

  private destroy(pool: Pool, inst: Instance): void {
    inst.proc.dispose(inst.id);
    this.forget(pool, inst);
  }

  private forget(pool: Pool, inst: Instance): void {
    inst.dead = true;
    this.instanceFn.delete(inst.id);
    if (pool.instances.delete(inst)) inst.proc.instances--;
    const i = pool.idle.indexOf(inst);
    if (i >= 0) pool.idle.splice(i, 1);
    // A retired version's source and compiled code leave the process with its last instance there;
    // the current version's stay, so the next cold start of it skips compilation.
    const digest = inst.fn.digest;
    const stillUsed = pool.current?.digest === digest || [...pool.instances].some((o) => o.proc === inst.proc && o.fn.digest === digest);
    if (!stillUsed) inst.proc.forget(digest);
  }

  private topUp(pool: Pool): void {
    this.fill(pool, this.floor(pool));
  }

  /** Loads instances of the pool's current version until it has `target` of them. */
  private fill(pool: Pool, target: number): void {
    const fn = pool.current;
    if (fn === undefined || this.closing) return;
    const missing = target - this.currentCount(pool, fn);
    for (let i = 0; i < missing; i++) {
      try {
        pool.idle.unshift(this.create(pool, fn)); // least recently used end: taken last
      } catch {
        return; // no process right now; the next sweep tries again
      }
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const pool of this.pools.values()) {
      const fn = pool.current;
      for (const inst of [...pool.idle]) {
        if (fn === undefined || inst.fn.version !== fn.version) this.destroy(pool, inst);
      }
      if (fn === undefined) continue;
      const { idleMs } = fn.manifest.scaling;
      const floor = this.floor(pool);
      // Oldest idle first (the front of the idle stack).
      for (const inst of [...pool.idle]) {
        if (pool.instances.size <= floor) break;
        if (now - inst.lastUsed > idleMs) this.destroy(pool, inst);
      }
      this.topUp(pool);
    }
    for (const p of this.procs.all()) {
      p.stats().then((s) => this.rss.set(s.pid, s.rssBytes), () => undefined);
    }
  }

  private onProcessLost(proc: SandboxProcess): void {
    this.rss.delete(proc.pid);
    for (const pool of this.pools.values()) {
      for (const inst of [...pool.instances]) {
        if (inst.proc === proc && !inst.busy) this.forget(pool, inst);
        else if (inst.proc === proc) inst.dead = true;
      }
    }
  }
}
