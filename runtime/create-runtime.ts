/**
 * The composition root: picks backends from the configuration (Redis or memory), starts the
 * sandbox processes, wires the scheduler to them and exposes the gateway. The only module that
 * knows every concrete implementation.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
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
import { ScaleRegistry } from '../scheduler/scale-registry.ts';
import type { ActivityStore, FunctionRegistry } from '../scheduler/ports.ts';
import { MemoryRegistry } from '../scheduler/registry-memory.ts';
import { EmbeddedEventLog } from '../eventlog/embedded.ts';
import { KafkaEventLog } from '../eventlog/kafka.ts';
import type { EventLog } from '../scheduler/event-log.ts';
import { MemoryFenceStore } from '../scheduler/fence-memory.ts';
import { systemClock, type FenceStore } from '../scheduler/ports.ts';
import { TriggerController } from '../scheduler/trigger-controller.ts';
import { WebhookRoutes } from '../scheduler/webhook-routes.ts';
import { RedisActivityStore } from '../state/redis-activity.ts';
import { connectRedis } from '../state/redis-connection.ts';
import { RedisFenceStore } from '../state/redis-fence.ts';
import { RedisRegistry } from '../state/redis-registry.ts';
import { RedisStateStore } from '../state/redis-state.ts';
import { InvocationScopes } from '../scheduler/invocation-scope.ts';
import { MemoryStateStore } from '../scheduler/state-memory.ts';
import type { StateStore } from '../scheduler/state-store.ts';
import { TRIGGER_PLUGINS } from '../triggers/index.ts';
import { AsyncCalls } from '../triggers/async-calls.ts';
import { DirectCalls } from '../scheduler/direct-calls.ts';

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly gateway: FastifyInstance;
  readonly registry: FunctionRegistry;
  readonly runner: IsolateRunner;
  readonly invoker: Invoker;
  readonly deployer: Deployer;
  readonly lifecycle: Lifecycle;
  readonly eventLog: EventLog;
  readonly triggers: TriggerController;
  readonly asyncCalls: AsyncCalls;
  /** Listen and start serving; resolves to the gateway URL. */
  start(): Promise<string>;
  /** Drain: stop taking work, let in-flight invocations finish within the grace period, close. */
  stop(): Promise<void>;
}

export interface RuntimeOverrides {
  /** Secrets by environment variable name (webhook signatures). Default: the process environment. */
  secret?: (name: string) => string | undefined;
}

export function createRuntime(config: RuntimeConfig, overrides: RuntimeOverrides = {}): Runtime {
  const lifecycle = new Lifecycle();
  // One logger for the node, made first: components log while being constructed (kafkajs does).
  const logger = pino({ level: config.FAAS_LOG_LEVEL });
  let redis: Redis | undefined;
  let registry: FunctionRegistry;
  let activity: ActivityStore;
  let fences: FenceStore;
  let stateStore: StateStore;
  if (config.REDIS_URL !== undefined) {
    redis = connectRedis({ url: config.REDIS_URL });
    redis.on('error', () => undefined); // surfaced per command as FAAS_REGISTRY_UNAVAILABLE
    registry = new RedisRegistry(redis, { prefix: config.FAAS_REDIS_PREFIX });
    activity = new RedisActivityStore(redis, { prefix: config.FAAS_REDIS_PREFIX, retention: config.FAAS_LOG_RETENTION, invocationTtlS: config.FAAS_INVOCATION_TTL_S });
    fences = new RedisFenceStore(redis, { prefix: config.FAAS_REDIS_PREFIX });
    stateStore = new RedisStateStore(redis, { prefix: config.FAAS_REDIS_PREFIX });
  } else {
    registry = new MemoryRegistry();
    activity = new MemoryActivityStore({ retention: config.FAAS_LOG_RETENTION, invocationTtlMs: config.FAAS_INVOCATION_TTL_S * 1000 });
    fences = new MemoryFenceStore();
    stateStore = new MemoryStateStore();
  }
  const runner = new IsolateRunner({ processes: config.FAAS_SANDBOX_PROCESSES });
  const scales = new ScaleRegistry();
  const metrics = new Metrics(runner, scales);
  const eventLog: EventLog = config.KAFKA_BROKERS !== undefined
    ? new KafkaEventLog({ brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()), onLog: (level, msg) => logger[level]({ component: 'kafkajs' }, msg) })
    : new EmbeddedEventLog();
  const scopes = new InvocationScopes(stateStore);
  runner.handleCalls(scopes.handle);
  const invoker = new Invoker({ registry, runner, activity, metrics, lifecycle, scopes, eventLog, onError: (msg, err) => logger.warn({ err }, msg) });
  const triggerLog = { info: (o: object, m: string) => logger.info(o, m), warn: (o: object, m: string) => logger.warn(o, m), error: (o: object, m: string) => logger.error(o, m) };
  const asyncCalls = new AsyncCalls({ eventLog, invoker, activity, clock: systemClock, log: triggerLog, ...(config.FAAS_CLUSTER !== undefined ? { cluster: config.FAAS_CLUSTER } : {}) });
  new DirectCalls({ invoker, queue: asyncCalls, maxDepth: config.FAAS_MAX_CALL_DEPTH }).attach(scopes);
  const webhooks = new WebhookRoutes();
  const triggers = new TriggerController({
    registry,
    plugins: TRIGGER_PLUGINS,
    deps: {
      invoker,
      eventLog,
      fences,
      clock: systemClock,
      webhooks,
      sandbox: runner,
      scales,
      secret: overrides.secret ?? ((name) => process.env[name]),
      log: triggerLog,
      metrics,
    },
  });
  const deployer = new Deployer({ registry, bundle: bundleFunction, maxBundleBytes: config.FAAS_MAX_BUNDLE_BYTES, validateTriggers: (fn, m) => triggers.validate(fn, m) });
  const gateway: FastifyInstance = createGateway({
    registry, runner, activity, invoker, asyncCalls, deployer, metrics, lifecycle, webhooks, eventLog, triggers, scales,
    apiToken: config.FAAS_API_TOKEN,
    maxBodyBytes: config.FAAS_MAX_BODY_BYTES,
    maxBundleBytes: config.FAAS_MAX_BUNDLE_BYTES,
    logLevel: config.FAAS_LOG_LEVEL,
    logger,
  });

  // Every node follows the registry: a deploy anywhere warms and retires versions here too.
  registry.watch((change) => {
    if (change.kind === 'deployed') {
      runner.activate(change.fn).catch((err: unknown) => logger.warn({ err }, 'activation failed'));
    } else {
      runner.remove(change.name);
    }
  });

  return {
    config, gateway, registry, runner, invoker, deployer, lifecycle, eventLog, triggers, asyncCalls,
    async start() {
      if (config.REDIS_URL === undefined) {
        logger.warn('embedded mode: functions, logs, invocation records, cron fences and webhook replay ids live in this process only (set REDIS_URL for a cluster)');
      }
      if (config.KAFKA_BROKERS === undefined) {
        logger.warn('embedded event log: topics live in this process only and are lost on exit (set KAFKA_BROKERS for Kafka)');
      }
      await Promise.all([registry.ready(), runner.ready(), eventLog.ready()]);
      for (const fn of await registry.list()) await runner.activate(fn);
      const address = await gateway.listen({ host: config.FAAS_HOST, port: config.FAAS_PORT });
      lifecycle.to('running');
      await Promise.all([triggers.start(), asyncCalls.start()]);
      return address;
    },
    async stop() {
      if (!lifecycle.to('draining')) return;
      const grace = config.FAAS_SHUTDOWN_GRACE_MS;
      const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, grace).unref())]);
      // Triggers stop taking work, let in-flight invocations finish, commit and leave their groups;
      // the server stops taking requests and lets in-flight ones finish. Both within the grace period.
      await Promise.all([within(triggers.stop()), within(asyncCalls.stop()), within(gateway.close())]);
      await runner.close(grace);
      await eventLog.close();
      await registry.close();
      await activity.close();
      if (redis) await redis.quit().catch(() => redis?.disconnect());
      lifecycle.to('stopped');
    },
  };
}
