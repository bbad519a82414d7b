/** Start a real runtime for a test (real sandbox processes; Redis when given) and deploy inline functions. */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createRuntime, type Runtime } from '../../runtime/create-runtime.ts';
import type { EventLog, LogRecord } from '../../scheduler/event-log.ts';

export async function startRuntime(env: Record<string, string> = {}): Promise<Runtime & { url: string }> {
  // Test files run side by side on one Kafka: each runtime gets its own queue of async calls
  // unless the test names a cluster (nodes of one test share it).
  const config = loadConfig({ FAAS_PORT: '0', FAAS_SANDBOX_PROCESSES: '1', FAAS_LOG_LEVEL: 'silent', FAAS_SHUTDOWN_GRACE_MS: '3000', FAAS_CLUSTER: `t-${randomBytes(4).toString('hex')}`, ...env });
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

/** Deploy inline source through the API and wait until its triggers are in step. */
export async function deployFunction(rt: Runtime, name: string, source: string, manifest: Record<string, unknown> = {}): Promise<{ version: number }> {
  const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, source, manifest) });
  expect(res.statusCode, res.body).toBeLessThan(300);
  await rt.triggers.settled(name);
  return res.json<{ version: number }>();
}

/** Every record of a topic from the start, read with a fresh group, once at least `expected` arrived. */
export async function readTopic(log: EventLog, topic: string, expected: number): Promise<LogRecord[]> {
  const got: LogRecord[] = [];
  const sub = await log.subscribe({
    groupId: uniqueName('reader'),
    topic,
    start: 'earliest',
    onBatch: async (b, c) => {
      got.push(...b.records);
      await c.commit(String(BigInt((b.records[b.records.length - 1] as LogRecord).offset) + 1n));
    },
  });
  await eventually(() => got.length >= expected, 20_000);
  await sub.stop();
  return got;
}
