/**
 * The trigger controller: on every node, turns each deployed function's `triggers` into running
 * consumers, schedules and routes, and keeps them in step with deploys, redeploys and deletes
 * without a restart.
 *
 * - A redeploy whose triggers and policies are unchanged keeps them running: each invocation
 *   resolves the current version, so new records simply meet the new code.
 * - A changed declaration stops the old triggers (they finish in-flight work and commit) before
 *   the new ones start. Work for one function is serialised, so rapid redeploys do not race.
 * - A trigger that fails to start (broker not up yet, route taken) is retried with backoff and
 *   reported in status(); other functions are unaffected.
 */
import { createHash } from 'node:crypto';
import { FaasError } from '../core/errors.ts';
import type { Manifest } from '../core/manifest.ts';
import type { TriggerSpec } from '../core/trigger-specs.ts';
import type { FunctionRegistry, FunctionVersion } from './ports.ts';
import type { RunningTrigger, TriggerDeps, TriggerPlugin, TriggerPlugins } from './trigger-source.ts';

interface Running {
  key: string;
  triggers: { spec: TriggerSpec; running: RunningTrigger }[];
  error?: string;
  retry?: { cancel(): void };
  attempts: number;
}

export interface TriggerStatus {
  type: TriggerSpec['type'];
  status: Record<string, unknown>;
}

export class TriggerController {
  private readonly registry: FunctionRegistry;
  private readonly plugins: TriggerPlugins;
  private readonly deps: TriggerDeps;
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, Promise<void>>();
  private unwatch: (() => void) | undefined;
  private stopped = false;

  constructor(options: { registry: FunctionRegistry; plugins: TriggerPlugins; deps: TriggerDeps }) {
    this.registry = options.registry;
    this.plugins = options.plugins;
    this.deps = options.deps;
  }

  /** Deploy-time checks: every trigger type has a plugin, and each plugin accepts its options. */
  validate(fn: string, manifest: Readonly<Manifest>): void {
    const groups = new Map<string, number>();
    manifest.triggers.forEach((spec, i) => {
      const plugin = this.plugins[spec.type] as TriggerPlugin<typeof spec.type> | null;
      if (plugin === null) {
        const available = Object.entries(this.plugins).filter(([, p]) => p !== null).map(([t]) => t);
        throw new FaasError('FAAS_TRIGGER_UNSUPPORTED', `triggers[${i}]: trigger type "${spec.type}" is not available on this runtime yet (available: ${available.join(', ')})`);
      }
      plugin.validate(spec, `triggers[${i}]`, { fn, manifest, deps: this.deps });
      // Kafka spreads a group's partitions over all its members, whatever topic each subscribed to:
      // two triggers in one group would each receive records meant for the other.
      for (const group of plugin.consumerGroups?.({ fn, manifest, index: i, spec }) ?? []) {
        const other = groups.get(group);
        if (other !== undefined) {
          throw new FaasError('FAAS_MANIFEST_INVALID', `triggers[${i}] and triggers[${other}] would share consumer group "${group}": give one of them its own "group"`);
        }
        groups.set(group, i);
      }
    });
  }

  async start(): Promise<void> {
    this.unwatch = this.registry.watch((change) => {
      if (change.kind === 'deployed') this.enqueue(change.fn.name, () => this.reconcile(change.fn));
      else this.enqueue(change.name, () => this.stopFunction(change.name));
    });
    for (const fn of await this.registry.list()) this.enqueue(fn.name, () => this.reconcile(fn));
    await Promise.all(this.queues.values());
  }

  /** Stop every trigger: consumers finish in-flight work, commit it, and leave their groups. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    await Promise.all([...this.queues.values()].map((q) => q.catch(() => undefined)));
    await Promise.all([...this.running.keys()].map((name) => this.stopFunction(name)));
  }

  status(fn: string): { triggers: TriggerStatus[]; error?: string } {
    const r = this.running.get(fn);
    if (r === undefined) return { triggers: [] };
    return {
      triggers: r.triggers.map((t) => ({ type: t.spec.type, status: t.running.status() })),
      ...(r.error !== undefined ? { error: r.error } : {}),
    };
  }

  /** Resolves when everything queued so far for `fn` has been applied (tests, deploy answers). */
  async settled(fn: string): Promise<void> {
    await this.queues.get(fn);
  }

  private enqueue(fn: string, work: () => Promise<void>): void {
    const prev = this.queues.get(fn) ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => this.deps.log.error({ fn, err }, 'trigger reconciliation failed'));
    this.queues.set(fn, next);
    void next.then(() => {
      if (this.queues.get(fn) === next) this.queues.delete(fn);
    });
  }

  private async reconcile(fn: FunctionVersion): Promise<void> {
    if (this.stopped) return;
    const current = this.registry.cached(fn.name);
    if (current !== undefined && current.version > fn.version) return; // a newer deploy is queued
    const key = triggersKey(fn.manifest);
    const existing = this.running.get(fn.name);
    if (existing !== undefined && existing.key === key && existing.error === undefined) return;
    if (existing !== undefined) await this.stopFunction(fn.name);
    if (fn.manifest.triggers.length === 0) return;
    const entry: Running = { key, triggers: [], attempts: (existing?.key === key ? existing.attempts : 0) + 1 };
    this.running.set(fn.name, entry);
    try {
      for (const [index, spec] of fn.manifest.triggers.entries()) {
        const plugin = this.plugins[spec.type] as TriggerPlugin<typeof spec.type> | null;
        if (plugin === null) throw new FaasError('FAAS_TRIGGER_UNSUPPORTED', `trigger type "${spec.type}" is not available`);
        const running = await plugin.start({ fn: fn.name, manifest: fn.manifest, index, spec, deps: this.deps });
        entry.triggers.push({ spec, running });
      }
      entry.attempts = 0;
      this.deps.log.info({ fn: fn.name, version: fn.version, triggers: fn.manifest.triggers.map((t) => t.type) }, 'triggers running');
    } catch (err) {
      // Stop what did start; try the whole set again later.
      await Promise.allSettled(entry.triggers.map((t) => t.running.stop()));
      entry.triggers = [];
      entry.error = err instanceof Error ? err.message : String(err);
      const delay = Math.min(30_000, 500 * 2 ** Math.min(entry.attempts, 6));
      this.deps.log.warn({ fn: fn.name, err, retryInMs: delay }, 'triggers failed to start; retrying');
      entry.retry = this.deps.clock.setTimeout(() => this.enqueue(fn.name, () => this.retry(fn.name)), delay);
    }
  }

  private async retry(name: string): Promise<void> {
    const fn = this.registry.cached(name) ?? (await this.registry.get(name));
    if (fn !== undefined) await this.reconcile(fn);
  }

  private async stopFunction(name: string): Promise<void> {
    const entry = this.running.get(name);
    if (entry === undefined) return;
    this.running.delete(name);
    entry.retry?.cancel();
    const results = await Promise.allSettled(entry.triggers.map((t) => t.running.stop()));
    for (const r of results) if (r.status === 'rejected') this.deps.log.warn({ fn: name, err: r.reason as unknown }, 'a trigger did not stop cleanly');
  }
}

/** What a running trigger depends on: its declarations and the policies it applies. */
function triggersKey(m: Readonly<Manifest>): string {
  return createHash('sha256').update(JSON.stringify([m.triggers, m.retry, m.deadLetter, m.scaling.maxInstances])).digest('hex');
}
