/**
 * A runtime node as its own process (`scripts/start.ts`), for tests that kill one with SIGKILL:
 * resolves with the process and its URL once it prints that it is ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function startNodeProcess(env: Record<string, string>): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=TimeoutNegativeWarning', 'scripts/start.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /faas runtime ready at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve({ proc, url: m[1] });
    });
    proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('exit', (code) => reject(new Error(`node exited early (${code}):\n${out}`)));
  });
}

/** SIGKILL and wait until the process is gone. */
export async function killNode(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await gone;
}
