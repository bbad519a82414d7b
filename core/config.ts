/**
 * Runtime configuration: read from the environment once, at the composition root, validated with
 * zod into a frozen object with durations already in ms. Nothing below the root reads process.env.
 */
import os from 'node:os';
import { z } from 'zod';
import { FaasError } from './errors.ts';
import { deepFreeze, formatIssues } from './manifest.ts';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);

export const configSchema = z.object({
  /** Address the gateway binds. Default 127.0.0.1; anything else requires FAAS_API_TOKEN. */
  FAAS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Gateway port. Default 8080; 0 picks a free port. */
  FAAS_PORT: int(8080, 0, 65535),
  /** Bearer token for the control API; required to bind beyond loopback. */
  FAAS_API_TOKEN: z.string().min(16, 'use at least 16 characters').optional(),
  /** Redis for the registry and state; unset = in-memory (one process). */
  REDIS_URL: z.string().url().optional(),
  /** Comma-separated Kafka brokers; unset = embedded event log. */
  KAFKA_BROKERS: z.string().min(1).optional(),
  /** Supervised sandbox processes. Default: number of CPUs, at least 1, at most 4. */
  FAAS_SANDBOX_PROCESSES: int(Math.min(4, Math.max(1, os.availableParallelism())), 1, 64),
  /** How long SIGTERM waits for in-flight invocations. Default 10 000 ms. */
  FAAS_SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000),
  /** Largest accepted request body. Default 1 MiB. */
  FAAS_MAX_BODY_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Largest bundle accepted at deploy. Default 5 MiB. */
  FAAS_MAX_BUNDLE_BYTES: int(5 * 1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Console lines kept per function. Default 1000. */
  FAAS_LOG_RETENTION: int(1000, 10, 1_000_000),
  /** How long async invocation records are kept. Default 3600 s. */
  FAAS_INVOCATION_TTL_S: int(3600, 10, 30 * 86_400),
  /** pino level. Default info. */
  FAAS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Deepest chain of direct calls (ctx.invoke), counting the first function. Default 16. */
  FAAS_MAX_CALL_DEPTH: int(16, 1, 256),
  /**
   * Name of this runtime cluster on a shared Kafka: names the queue of async calls
   * (`faas.<cluster>.invocations`, group `faas.<cluster>.async-invoker`). Unset: `faas.invocations`.
   */
  FAAS_CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40').optional(),
  /** Prefix of every Redis key this runtime writes. Default `faas:`. */
  FAAS_REDIS_PREFIX: z.string().min(1).default('faas:'),
});

export type RuntimeConfig = Readonly<z.output<typeof configSchema>>;

export function loadConfig(env: Record<string, string | undefined>): RuntimeConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new FaasError('FAAS_CONFIG_INVALID', `invalid configuration: ${formatIssues(parsed.error)}`);
  }
  const cfg = parsed.data;
  if (!isLoopback(cfg.FAAS_HOST) && cfg.FAAS_API_TOKEN === undefined) {
    throw new FaasError(
      'FAAS_INSECURE_BIND',
      `refusing to listen on ${cfg.FAAS_HOST} without FAAS_API_TOKEN: set a token, or bind 127.0.0.1`,
    );
  }
  return deepFreeze(cfg);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
