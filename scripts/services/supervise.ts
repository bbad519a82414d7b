import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Socket } from 'node:net';

/**
 * Children started here must not outlive the process that started them, even when it dies without
 * running any handler (SIGKILL, SIGINT's default action, a crashed test run). Two layers:
 *
 * 1. `process.on('exit')` kills every live child with SIGKILL and removes registered temp dirs
 *    synchronously: covers normal exits, `process.exit()` and uncaught exceptions.
 * 2. A watchdog: one tiny detached Node process per parent, fed over its stdin pipe with the pids and
 *    temp dirs to clean. When the parent dies by any means the kernel closes the pipe; the watchdog sees
 *    EOF (or, as a backup, finds the parent pid gone with `kill(ppid, 0)` polled each second), sends
 *    SIGTERM, then SIGKILL after 5 s, removes the dirs and exits. Pids are withdrawn from it as soon as
 *    their process is reaped, so a recycled pid is never signalled. No prctl, no native code.
 */
const WATCHDOG_SOURCE = String.raw`
const { rmSync } = require('node:fs');
const ppid = Number(process.argv[1]);
const pids = new Set(); const dirs = new Set();
let buffered = ''; let done = false;
function alive(pid) { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } }
function signal(pid, sig) { try { process.kill(pid, sig); } catch {} }
function cleanup() {
  if (done) return; done = true;
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  const tick = () => {
    const left = [...pids].filter(alive);
    if (left.length > 0 && Date.now() < deadline) { setTimeout(tick, 100); return; }
    for (const pid of left) signal(pid, 'SIGKILL');
    for (const dir of dirs) { try { rmSync(dir, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  };
  tick();
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl); buffered = buffered.slice(nl + 1);
    const [op, kind, ...rest] = line.split(' '); const value = rest.join(' ');
    const set = kind === 'pid' ? pids : dirs; const item = kind === 'pid' ? Number(value) : value;
    if (op === '+') set.add(item); else if (op === '-') set.delete(item);
  }
});
process.stdin.on('end', cleanup);
process.stdin.on('error', cleanup);
setInterval(() => { if (!alive(ppid)) cleanup(); }, 1000);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, cleanup);
`;

let watchdog: ChildProcess | undefined;
const livePids = new Set<number>();
const liveDirs = new Set<string>();

function tellWatchdog(line: string): void {
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE, String(process.pid)], {
      detached: true, // own process group: a terminal's Ctrl-C must not kill it before it cleans up
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.unref();
    (watchdog.stdin as unknown as Socket).unref();
    watchdog.stdin?.on('error', () => undefined);
    process.once('exit', onParentExit);
  }
  watchdog.stdin?.write(`${line}\n`);
}

function onParentExit(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}

/** Registers a temp dir to remove if this process dies before `releaseTempDir`. */
export function guardTempDir(dir: string): void {
  liveDirs.add(dir);
  tellWatchdog(`+ dir ${dir}`);
}

/** Removes a temp dir now and withdraws it from the watchdog. */
export async function releaseTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
  tellWatchdog(`- dir ${dir}`);
}

export interface Supervised {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited, with its code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last lines the process wrote to stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LINES = 60;

/** Spawns a child that dies with this process (see the comment at the top of this file). */
export function spawnSupervised(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Supervised {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
    if (lines.length > OUTPUT_LINES) lines.splice(0, lines.length - OUTPUT_LINES);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      lines.push(`${name}: ${err.message}`);
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      if (child.pid !== undefined) {
        livePids.delete(child.pid);
        tellWatchdog(`- pid ${child.pid}`);
      }
      resolve({ code, signal });
    });
  });
  if (child.pid !== undefined) {
    livePids.add(child.pid);
    tellWatchdog(`+ pid ${child.pid}`);
  }
  return {
    name,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => done,
    output: () => lines.join('\n'),
    async stop(graceMs = 3000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a command to completion; rejects with its output tail when it fails. */
export async function runToCompletion(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const proc = spawnSupervised(name, command, args, options);
  const { code, signal } = await proc.exited;
  if (code !== 0) {
    throw new Error(`${name} failed (${signal ?? `exit ${String(code)}`}):\n${proc.output()}`);
  }
}

/**
 * Calls `probe` every 100 ms until it resolves; fails early with the process output if `proc` exits,
 * and after `timeoutMs` with the probe's last error.
 */
export async function waitUntilAnswers(
  proc: Supervised,
  probe: () => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  while (!proc.hasExited()) {
    try {
      await probe();
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${proc.name} did not answer within ${timeoutMs} ms (${lastError}):\n${proc.output()}`);
    }
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), proc.exited]);
  }
  const { code, signal } = await proc.exited;
  throw new Error(`${proc.name} exited (${signal ?? `exit ${String(code)}`}) before it answered:\n${proc.output()}`);
}
