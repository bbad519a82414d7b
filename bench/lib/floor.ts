/**
 * The "floor" of a benchmark: its baseline plus the one thing DESIGN.md makes every invocation pay,
 * running the handler in an isolated-vm isolate in a supervised process (floor-sandbox.ts), and
 * nothing of the runtime. Set next to the baseline and ours, it says how much of a gap is the
 * isolation the design requires and how much is the runtime's own work.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export class FloorSandboxes {
  private readonly children: ChildProcess[];
  private readonly pending = new Map<number, (resultsJson: string) => void>();
  private nextId = 1;

  private constructor(children: ChildProcess[]) {
    this.children = children;
    for (const c of children) {
      c.on('message', (m: { id?: number; resultsJson?: string }) => {
        if (m.id === undefined) return;
        this.pending.get(m.id)?.(m.resultsJson ?? '[]');
        this.pending.delete(m.id);
      });
    }
  }

  /** `n` sandbox processes (as many as the runtime's), each ready. */
  static async start(n: number): Promise<FloorSandboxes> {
    const children = Array.from({ length: Math.max(1, n) }, () =>
      fork(fileURLToPath(new URL('./floor-sandbox.ts', import.meta.url)), [], { execArgv: ['--no-node-snapshot'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('message', resolve))));
    return new FloorSandboxes(children);
  }

  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  /**
   * Runs the handler once per event of `valuesJson` (a JSON array) in lane `lane`'s isolate (lanes
   * are spread over the processes); answers the handler's results as a JSON array.
   */
  call(lane: number, valuesJson: string): Promise<string> {
    const child = this.children[lane % this.children.length] as ChildProcess;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      child.send({ id, lane, valuesJson });
    });
  }

  stop(): void {
    for (const c of this.children) c.kill();
  }
}
