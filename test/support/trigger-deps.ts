/**
 * TriggerDeps for tests that start a trigger plugin directly: the parts a test cares about are
 * given, the rest are inert (no log output, no metrics, no webhook routes, no sandbox reserve or prewarm).
 */
import type { EventLog } from '../../scheduler/event-log.ts';
import { ScaleRegistry } from '../../scheduler/scale-registry.ts';
import type { TriggerDeps } from '../../scheduler/trigger-source.ts';
import type { WebhookRoutes } from '../../scheduler/webhook-routes.ts';

export const quietLog: TriggerDeps['log'] = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function triggerDeps(given: Pick<TriggerDeps, 'invoker' | 'fences' | 'clock'> & Partial<TriggerDeps>): TriggerDeps {
  return {
    eventLog: {} as EventLog,
    webhooks: {} as WebhookRoutes,
    secret: () => undefined,
    log: quietLog,
    metrics: { triggerEvent: () => undefined, scaleDecision: () => undefined },
    sandbox: { reserve: () => undefined, prewarm: () => undefined },
    scales: new ScaleRegistry(),
    ...given,
  };
}
