/**
 * The composition root: picks backends from the configuration (Redis or memory), starts the
 * sandbox processes, wires the scheduler to them and exposes the gateway. The only module that
 * knows every concrete implementation.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { RuntimeConfig } from '../core/config.ts';
import { createGateway } from '../gateway/server.ts';
import { bundleFunction } from '../sandbox/bundler.ts';
import { IsolateRunner } from '../sandbox/runner.ts';
import { MemoryActivityStore } from '../scheduler/activity-memory.ts';
import { Deployer } from '../scheduler/deployer.ts';
import { Invoker } from '../scheduler/invoker.ts';
import { Lifecycle } from '../scheduler/lifecycle.ts';
import { Metrics } from '../scheduler/metrics.ts';
import type { ActivityStore, FunctionRegistry } from '../scheduler/ports.ts';
import { MemoryRegistry } from '../scheduler/registry-memory.ts';
import { RedisActivityStore } from '../state/redis-activity.ts';
import { connectRedis } from '../state/redis-connection.ts';
import { RedisRegistry } from '../state/redis-registry.ts';

/** Trigger types with a plugin on this runtime (the trigger controller fills this in). */
export const TRIGGER_TYPES: ReadonlySet<string> = new Set<string>();

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly gateway: FastifyInstance;
  readonly registry: FunctionRegistry;
  readonly runner: IsolateRunner;
  readonly invoker: Invoker;
  readonly deployer: Deployer;
  readonly lifecycle: Lifecycle;
  /** Listen and start serving; resolves to the gateway URL. */
  start(): Promise<string>;
  /** Drain: stop taking work, let in-flight invocations finish within the grace period, close. */
  stop(): Promise<void>;
}

export function createRuntime(config: RuntimeConfig): Runtime {
  const lifecycle = new Lifecycle();
  let redis: Redis | undefined;
  let registry: FunctionRegistry;
  let activity: ActivityStore;
  if (config.REDIS_URL !== undefined) {
    redis = connectRedis({ url: config.REDIS_URL });
    redis.on('error', () => undefined); // surfaced per command as FAAS_REGISTRY_UNAVAILABLE
    registry = new RedisRegistry(redis, { prefix: config.FAAS_REDIS_PREFIX });
    activity = new RedisActivityStore(redis, { prefix: config.FAAS_REDIS_PREFIX, retention: config.FAAS_LOG_RETENTION, invocationTtlS: config.FAAS_INVOCATION_TTL_S });
  } else {
    registry = new MemoryRegistry();
    activity = new MemoryActivityStore({ retention: config.FAAS_LOG_RETENTION, invocationTtlMs: config.FAAS_INVOCATION_TTL_S * 1000 });
  }
  const runner = new IsolateRunner({ processes: config.FAAS_SANDBOX_PROCESSES });
  const metrics = new Metrics(runner);
  const deployer = new Deployer({ registry, bundle: bundleFunction, maxBundleBytes: config.FAAS_MAX_BUNDLE_BYTES, triggerTypes: TRIGGER_TYPES });
  const invoker = new Invoker({ registry, runner, activity, metrics, lifecycle, onError: (msg, err) => gateway.log.warn({ err }, msg) });
  const gateway: FastifyInstance = createGateway({
    registry, runner, activity, invoker, deployer, metrics, lifecycle,
    apiToken: config.FAAS_API_TOKEN,
    maxBodyBytes: config.FAAS_MAX_BODY_BYTES,
    maxBundleBytes: config.FAAS_MAX_BUNDLE_BYTES,
    logLevel: config.FAAS_LOG_LEVEL,
  });

  // Every node follows the registry: a deploy anywhere warms and retires versions here too.
  registry.watch((change) => {
    if (change.kind === 'deployed') {
      runner.activate(change.fn).catch((err: unknown) => gateway.log.warn({ err }, 'activation failed'));
    } else {
      runner.remove(change.name);
    }
  });

  return {
    config, gateway, registry, runner, invoker, deployer, lifecycle,
    async start() {
      if (config.REDIS_URL === undefined) {
        gateway.log.warn('embedded mode: functions, logs and invocation records live in this process only (set REDIS_URL for a cluster)');
      }
      await Promise.all([registry.ready(), runner.ready()]);
      for (const fn of await registry.list()) await runner.activate(fn);
      const address = await gateway.listen({ host: config.FAAS_HOST, port: config.FAAS_PORT });
      lifecycle.to('running');
      return address;
    },
    async stop() {
      if (!lifecycle.to('draining')) return;
      const grace = config.FAAS_SHUTDOWN_GRACE_MS;
      // Closing the server stops new requests; in-flight ones finish (bounded by the grace period).
      await Promise.race([gateway.close(), new Promise((r) => setTimeout(r, grace).unref())]);
      await runner.close(grace);
      await registry.close();
      await activity.close();
      if (redis) await redis.quit().catch(() => redis?.disconnect());
      lifecycle.to('stopped');
    },
  };
}
