/**
 * As a user: start the runtime the way `npm start` does (embedded defaults: no Redis, no Kafka),
 * drive it with the real `faas` CLI, then SIGTERM it with an invocation in flight: the invocation
 * completes, new work is refused, and the process exits 0.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
let server: ChildProcess;
let url = '';
let output = '';

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.REDIS_URL; // embedded defaults, as on a bare machine
  delete env.KAFKA_BROKERS;
  delete env.FAAS_API_TOKEN;
  return env;
}

async function faas(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, ['--no-node-snapshot', 'cli/faas.ts', '--url', url, ...args], { cwd: root, env: childEnv() });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

beforeAll(async () => {
  server = spawn(process.execPath, ['--no-node-snapshot', 'scripts/start.ts'], {
    cwd: root,
    env: childEnv({ FAAS_PORT: '0', FAAS_SANDBOX_PROCESSES: '1', FAAS_SHUTDOWN_GRACE_MS: '5000' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /faas runtime ready at (http:\/\/\S+)/.exec(output);
      if (m?.[1]) resolve(m[1]);
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    server.once('exit', (code) => reject(new Error(`runtime exited early (${code}):\n${output}`)));
  });
});

afterAll(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
});

describe('npm start + faas CLI', () => {
  it('deploys every example under functions/ and announces the URL', () => {
    expect(output).toMatch(/✓ hello v1/);
    expect(output).toMatch(/✓ counter v1/);
    expect(output).toMatch(/embedded mode/);
  });

  it('lists, invokes, shows logs, deploys a folder and removes it', async () => {
    const ls = await faas('ls');
    expect(ls.stdout).toMatch(/^hello\s+v1\s+-\s+1 idle, 0 busy/m);

    const hello = await faas('invoke', 'hello', '--data', '{"name":"Ada"}');
    expect(hello.code).toBe(0);
    expect(JSON.parse(hello.stdout)).toMatchObject({ message: 'Hello, Ada!' });
    expect(hello.stderr).toMatch(/^(cold|warm), [\d.]+ ms, id /);

    const logs = await faas('logs', 'hello');
    expect(logs.stdout).toMatch(/INFO\s+greeting Ada/);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'faas-e2e-'));
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ name: 'e2e-double', limits: { timeoutMs: 2000 } }));
    await writeFile(path.join(dir, 'index.ts'), 'export default async (e: { data: number }) => e.data * 2;');
    const deployed = await faas('deploy', dir);
    expect(deployed.stdout).toMatch(/deployed e2e-double v1/);
    expect((await faas('deploy', dir)).stdout).toMatch(/^unchanged e2e-double v1 /);
    expect((await faas('invoke', 'e2e-double', '--data', '21')).stdout.trim()).toBe('42');

    expect((await faas('rm', 'e2e-double')).code).toBe(0);
    const gone = await faas('invoke', 'e2e-double');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('FAAS_FUNCTION_NOT_FOUND');
  });

  it('on SIGTERM finishes the invocation in flight, refuses new work, and exits 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'faas-e2e-'));
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ name: 'e2e-slow' }));
    await writeFile(path.join(dir, 'index.ts'), "export default async () => { await new Promise((r) => setTimeout(r, 800)); return 'finished'; };");
    expect((await faas('deploy', dir)).code).toBe(0);
    await faas('invoke', 'e2e-slow'); // warm it, so the timed one below is mostly the sleep

    const inflight = fetch(`${url}/v1/functions/e2e-slow/invoke`, { method: 'POST' });
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const refused = await fetch(`${url}/v1/functions/hello/invoke`, { method: 'POST' }).then((r) => r.status, () => 'refused');
    expect([503, 'refused']).toContain(refused);

    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.json()).toBe('finished');
    const answeredAt = Date.now();
    expect(await exited).toBe(0);
    // Draining closes connections after their last response, so the exit follows promptly
    // (well inside the 5 s grace period, which would otherwise be spent on keep-alive sockets).
    expect(Date.now() - answeredAt).toBeLessThan(2500);
    expect(output).toMatch(/SIGTERM: draining/);
  });
});
