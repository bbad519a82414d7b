/**
 * Host-side handle of one sandbox process. Owns the IPC conversation and the failure rules:
 * - an invocation not answered by its deadline plus a grace period gets the process killed
 *   (its event loop or a V8 thread is stuck beyond what isolate disposal can stop);
 * - when the process dies, every invocation in flight on it fails with FAAS_SANDBOX_CRASHED
 *   (retriable) and every load fails; the pool replaces the process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ErrorData } from '../core/errors.ts';
import { Coalescer } from './coalescer.ts';
import type { HostMessage, InvokeMessage, LoadMessage, SeriesMessage, WorkerEnvelope, WorkerMessage } from './protocol.ts';

export type InvokeReply = Extract<WorkerMessage, { t: 'result' }>;
export type SeriesReply = Extract<WorkerMessage, { t: 'seriesResult' }>;
export type ProcessStats = { pid: number; rssBytes: number; instances: number; heapBytes: number };

const WORKER_PATH = fileURLToPath(new URL('./worker/main.ts', import.meta.url));

export interface SandboxProcessOptions {
  /** Extra time past an invocation's deadline before the process is killed. Default 2000 ms. */
  hardKillGraceMs?: number;
  /** Old-space limit of the process in MB (all its isolates share the process). Default 2048. */
  maxOldSpaceMb?: number;
}

interface PendingInvoke {
  resolve(reply: InvokeReply): void;
  watchdog: NodeJS.Timeout;
  startedAt: number;
}

export class SandboxProcess extends EventEmitter<{ exit: [{ code: number | null; signal: NodeJS.Signals | null }] }> {
  readonly ready: Promise<void>;
  /** Instances currently placed on this process (maintained by the runner). */
  instances = 0;
  private readonly child: ChildProcess;
  private readonly loads = new Map<number, { resolve(initMs: number): void; reject(e: ErrorData): void }>();
  private readonly invokes = new Map<string, PendingInvoke>();
  private readonly series = new Map<string, { resolve(reply: SeriesReply): void; watchdog: NodeJS.Timeout; startedAt: number }>();
  private readonly statsWaiters = new Map<number, (s: ProcessStats) => void>();
  private readonly digests = new Set<string>();
  private readonly graceMs: number;
  private nextRid = 1;
  private watchdogKilled = new Set<string>();
  /** Messages posted before the process said it is ready; flushed in order once it is. */
  private backlog: HostMessage[] | undefined = [];
  private readonly outbox = new Coalescer<HostMessage>((m) => {
    if (!this.exited && this.child.connected) this.child.send(m);
  });
  exited = false;
  /** Answers the guests' runtime calls (set by the runner). */
  onCall: ((call: Extract<WorkerMessage, { t: 'call' }>) => Promise<{ ok: boolean; payload: string }>) | undefined;

  constructor(options: SandboxProcessOptions = {}) {
    super();
    this.graceMs = options.hardKillGraceMs ?? 2000;
    this.child = fork(WORKER_PATH, [], {
      execArgv: ['--no-node-snapshot', `--max-old-space-size=${options.maxOldSpaceMb ?? 2048}`, '--disable-warning=ExperimentalWarning'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      const onMsg = (m: WorkerMessage) => {
        if (m.t === 'ready') {
          this.child.off('message', onMsg);
          const queued = this.backlog ?? [];
          this.backlog = undefined;
          for (const q of queued) this.post(q);
          resolve();
        }
      };
      this.child.on('message', onMsg);
      this.child.once('exit', (code, signal) => reject(new Error(`sandbox process exited before ready (code ${code}, signal ${signal})`)));
    });
    this.ready.catch(() => undefined);
    this.child.on('message', (m: WorkerEnvelope) => {
      if (m.t === 'batch') for (const one of m.msgs) this.onMessage(one);
      else this.onMessage(m);
    });
    this.child.on('exit', (code, signal) => this.onExit(code, signal));
    this.child.on('error', () => undefined); // 'exit' follows and does the accounting
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Start loading an instance; resolves with the init time once it is ready. */
  load(msg: Omit<LoadMessage, 't'> & { code: string }): Promise<number> {
    const { code, ...rest } = msg;
    const withCode = this.digests.has(msg.digest) ? rest : { ...rest, code };
    this.digests.add(msg.digest);
    return new Promise<number>((resolve, reject) => {
      this.loads.set(msg.instanceId, { resolve, reject });
      this.post({ t: 'load', ...withCode });
    });
  }

  invoke(msg: Omit<InvokeMessage, 't'>): Promise<InvokeReply> {
    return new Promise<InvokeReply>((resolve) => {
      const startedAt = performance.now();
      const wait = Math.max(0, msg.deadline - Date.now()) + this.graceMs;
      const watchdog = setTimeout(() => {
        this.watchdogKilled.add(msg.invocationId);
        this.kill();
      }, wait);
      this.invokes.set(msg.invocationId, { resolve, watchdog, startedAt });
      this.post({ t: 'invoke', ...msg });
    });
  }

  /** Several invocations on one instance in one round trip (see IsolateInstance.invokeSeries). */
  invokeSeries(msg: Omit<SeriesMessage, 't'>): Promise<SeriesReply> {
    return new Promise<SeriesReply>((resolve) => {
      const startedAt = performance.now();
      const watchdog = setTimeout(() => {
        this.watchdogKilled.add(msg.seriesId);
        this.kill();
      }, Math.max(0, msg.deadline - Date.now()) + this.graceMs);
      this.series.set(msg.seriesId, { resolve, watchdog, startedAt });
      this.post({ t: 'series', ...msg });
    });
  }

  dispose(instanceId: number): void {
    this.post({ t: 'dispose', instanceId });
  }

  forget(digest: string): void {
    if (this.digests.delete(digest)) this.post({ t: 'forget', digest });
  }

  stats(): Promise<ProcessStats> {
    if (this.exited) return Promise.resolve({ pid: this.pid, rssBytes: 0, instances: 0, heapBytes: 0 });
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      this.statsWaiters.set(rid, resolve);
      this.post({ t: 'stats', rid });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }

  private post(msg: HostMessage): void {
    if (this.exited || !this.child.connected) return; // the exit handler fails whatever waits
    if (this.backlog !== undefined) this.backlog.push(msg);
    else this.outbox.push(msg);
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.t) {
      case 'loaded': {
        const waiter = this.loads.get(m.instanceId);
        this.loads.delete(m.instanceId);
        if (m.ok) waiter?.resolve(m.initMs);
        else waiter?.reject(m.error);
        break;
      }
      case 'result': {
        const p = this.invokes.get(m.invocationId);
        if (p === undefined) return;
        this.invokes.delete(m.invocationId);
        clearTimeout(p.watchdog);
        p.resolve(m);
        break;
      }
      case 'call': {
        const answer = this.onCall?.(m) ?? Promise.resolve({ ok: false, payload: JSON.stringify({ code: 'FAAS_INTERNAL', message: 'no runtime call handler' }) });
        void answer
          .catch((err: unknown) => ({ ok: false, payload: JSON.stringify({ code: 'FAAS_INTERNAL', message: String(err) }) }))
          .then((r) => this.post({ t: 'callResult', instanceId: m.instanceId, callId: m.callId, ok: r.ok, payload: r.payload }));
        break;
      }
      case 'seriesResult': {
        const p = this.series.get(m.seriesId);
        if (p === undefined) return;
        this.series.delete(m.seriesId);
        clearTimeout(p.watchdog);
        p.resolve(m);
        break;
      }
      case 'stats': {
        const w = this.statsWaiters.get(m.rid);
        this.statsWaiters.delete(m.rid);
        w?.({ pid: this.pid, rssBytes: m.rssBytes, instances: m.instances, heapBytes: m.heapBytes });
        break;
      }
      case 'ready':
        break;
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    const crashed: ErrorData = { code: 'FAAS_SANDBOX_CRASHED', message: `sandbox process ${this.pid} died (${signal ?? `exit code ${code}`}); it is being replaced` };
    for (const [id, p] of this.invokes) {
      clearTimeout(p.watchdog);
      const error: ErrorData = this.watchdogKilled.has(id)
        ? { code: 'FAAS_TIMEOUT', message: 'invocation passed its deadline and did not stop; its sandbox process was killed' }
        : crashed;
      p.resolve({ t: 'result', invocationId: id, ok: false, error, logs: [], durationMs: performance.now() - p.startedAt, lost: true });
    }
    this.invokes.clear();
    for (const [id, p] of this.series) {
      clearTimeout(p.watchdog);
      const error: ErrorData = this.watchdogKilled.has(id) ? { code: 'FAAS_TIMEOUT', message: 'the series passed its deadline and did not stop; its sandbox process was killed' } : crashed;
      p.resolve({ t: 'seriesResult', seriesId: id, outcomeJson: '[]', lost: true, error, durationMs: performance.now() - p.startedAt });
    }
    this.series.clear();
    for (const w of this.loads.values()) w.reject(crashed);
    this.loads.clear();
    for (const w of this.statsWaiters.values()) w({ pid: this.pid, rssBytes: 0, instances: 0, heapBytes: 0 });
    this.statsWaiters.clear();
    this.emit('exit', { code, signal });
  }
}
