/**
 * The trigger port: what the scheduler needs from a trigger plugin, and what it hands one. Plugins
 * live in triggers/ (one per trigger type, collected in triggers/index.ts); the trigger controller
 * (scheduler/trigger-controller.ts) starts and stops them as functions are deployed and deleted.
 */
import type { Manifest } from '../core/manifest.ts';
import type { TriggerOf, TriggerType } from '../core/trigger-specs.ts';
import type { EventLog } from './event-log.ts';
import type { Invoker } from './invoker.ts';
import type { Clock, FenceStore, SandboxRunner } from './ports.ts';
import type { ScaleRegistry } from './scale-registry.ts';
import type { WebhookRoutes } from './webhook-routes.ts';

export interface TriggerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Counters a trigger reports (exported by the scheduler's Metrics). */
export interface TriggerMetrics {
  /** kind: e.g. 'record', 'batch', 'tick', 'request'; outcome: 'success' | 'retry' | 'dead-letter' | 'missed' | 'skipped' | 'rejected'. */
  triggerEvent(fn: string, type: TriggerType, outcome: string, count?: number): void;
  /** A lag trigger changed its instance count: wake (0 → n), up, down or zero (n → 0). */
  scaleDecision(fn: string, direction: 'wake' | 'up' | 'down' | 'zero'): void;
}

export interface TriggerDeps {
  invoker: Invoker;
  eventLog: EventLog;
  fences: FenceStore;
  clock: Clock;
  webhooks: WebhookRoutes;
  /** Sandbox capacity: a lag trigger's instance count (reserve), a topic trigger's first batches (prewarm). */
  sandbox: Pick<SandboxRunner, 'reserve' | 'prewarm'>;
  /** Where lag triggers publish their scaling view (GET /v1/scale, /metrics, faas status). */
  scales: ScaleRegistry;
  /** Secrets by environment variable name (webhook signatures); read at trigger start. */
  secret(name: string): string | undefined;
  log: TriggerLogger;
  metrics: TriggerMetrics;
}

export interface TriggerContext<S> {
  /** The function's name; each invocation resolves its current version, so a redeploy needs no restart. */
  fn: string;
  /** The function's manifest at start (retry and dead-letter policy, limits). */
  manifest: Readonly<Manifest>;
  /** Position in manifest.triggers, for names and messages. */
  index: number;
  spec: S;
  deps: TriggerDeps;
}

export interface RunningTrigger {
  /** Stop taking new work, let in-flight work finish or fail, commit what completed, leave cleanly. */
  stop(): Promise<void>;
  /** Plain data for `GET /v1/functions/:name` and `faas status`. */
  status(): Record<string, unknown>;
}

export interface TriggerPlugin<T extends TriggerType> {
  readonly type: T;
  /**
   * Checks beyond the manifest schema, at deploy; throws FAAS_MANIFEST_INVALID naming `where`
   * (e.g. triggers[0].schedule). `env` allows checks against what runs (a webhook path taken).
   */
  validate(spec: TriggerOf<T>, where: string, env?: { fn: string; manifest: Readonly<Manifest>; deps: TriggerDeps }): void;
  start(ctx: TriggerContext<TriggerOf<T>>): Promise<RunningTrigger>;
  /** The consumer groups a trigger joins (the controller refuses two triggers sharing one). */
  consumerGroups?(ctx: Omit<TriggerContext<TriggerOf<T>>, 'deps'>): string[];
}

/** Exactly one entry per trigger type: a plugin, or null while the type is not available yet. */
export type TriggerPlugins = { readonly [K in TriggerType]: TriggerPlugin<K> | null };
