/**
 * Supervision of sandbox processes: keeps `size` of them alive, replaces one that dies (with a
 * backoff if it keeps dying), and places new instances on the least-loaded process.
 */
import { EventEmitter } from 'node:events';
import { SandboxProcess, type SandboxProcessOptions } from './sandbox-process.ts';

export interface ProcessPoolOptions extends SandboxProcessOptions {
  size: number;
  onLog?: (msg: string) => void;
}

export class ProcessPool extends EventEmitter<{ lost: [SandboxProcess] }> {
  private readonly procs: SandboxProcess[] = [];
  private readonly options: ProcessPoolOptions;
  private closing = false;
  private recentCrashes: number[] = [];
  /** Processes replaced since start (a metric). */
  restarts = 0;

  constructor(options: ProcessPoolOptions) {
    super();
    this.options = options;
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.options.size; i++) this.spawn();
    await Promise.all(this.procs.map((p) => p.ready));
  }

  /** A live process with the fewest instances (synchronous, so a caller can reserve at once). */
  pick(): SandboxProcess {
    const live = this.procs.filter((p) => !p.exited);
    if (live.length === 0) throw new Error('no sandbox process is running');
    return live.reduce((a, b) => (b.instances < a.instances ? b : a));
  }

  all(): readonly SandboxProcess[] {
    return this.procs;
  }

  async close(): Promise<void> {
    this.closing = true;
    const exits = this.procs.map((p) => (p.exited ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r()))));
    for (const p of this.procs) p.kill('SIGTERM');
    const timer = setTimeout(() => this.procs.forEach((p) => p.kill('SIGKILL')), 2000);
    await Promise.all(exits);
    clearTimeout(timer);
  }

  private spawn(): SandboxProcess {
    const proc = new SandboxProcess(this.options);
    this.procs.push(proc);
    proc.once('exit', ({ code, signal }) => {
      this.procs.splice(this.procs.indexOf(proc), 1);
      this.emit('lost', proc);
      if (this.closing) return;
      this.restarts++;
      this.options.onLog?.(`sandbox process ${proc.pid} exited (${signal ?? code}); replacing it`);
      const now = Date.now();
      this.recentCrashes = [...this.recentCrashes.filter((t) => now - t < 10_000), now];
      const delay = this.recentCrashes.length <= 2 ? 0 : Math.min(5000, 100 * 2 ** (this.recentCrashes.length - 2));
      setTimeout(() => {
        if (!this.closing) this.spawn().ready.catch(() => undefined);
      }, delay).unref();
    });
    return proc;
  }
}
