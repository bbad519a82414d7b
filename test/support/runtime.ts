/** Start a real runtime for a test (real sandbox processes; Redis when given) and deploy inline functions. */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../core/config.ts';
import { createRuntime, type Runtime } from '../../runtime/create-runtime.ts';

export async function startRuntime(env: Record<string, string> = {}): Promise<Runtime & { url: string }> {
  const config = loadConfig({ FAAS_PORT: '0', FAAS_SANDBOX_PROCESSES: '1', FAAS_LOG_LEVEL: 'silent', FAAS_SHUTDOWN_GRACE_MS: '3000', ...env });
  const runtime = createRuntime(config);
  const url = await runtime.start();
  return Object.assign(runtime, { url });
}

export function uniqueName(prefix = 'fn'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function deployBody(name: string, source: string, manifest: Record<string, unknown> = {}, extraFiles: Record<string, string> = {}) {
  return { manifest: { name, ...manifest }, files: { 'index.ts': source, ...extraFiles } };
}

/** Poll until check() is truthy or the time is up (bounded; for cross-node propagation). */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, stepMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
