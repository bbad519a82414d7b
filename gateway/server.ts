/**
 * The gateway: one fastify server, built from encapsulated plugins.
 * - health scope: /healthz, /readyz, /metrics (no auth);
 * - control scope: /v1/… behind the bearer token, JSON bodies validated by route schemas;
 * - webhook scope: /hooks/* without the token (signatures instead), every body parsed as a raw
 *   Buffer so signatures are computed over the exact bytes.
 * Errors from anywhere leave as `{ error: { code, message } }` via gateway/http-errors.ts.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { FaasError } from '../core/errors.ts';
import type { Deployer } from '../scheduler/deployer.ts';
import type { AsyncEnqueuer } from '../scheduler/direct-calls.ts';
import type { Invoker } from '../scheduler/invoker.ts';
import type { Lifecycle } from '../scheduler/lifecycle.ts';
import type { Metrics } from '../scheduler/metrics.ts';
import type { ActivityStore, FunctionRegistry, SandboxRunner } from '../scheduler/ports.ts';
import type { EventLog } from '../scheduler/event-log.ts';
import type { ScaleRegistry } from '../scheduler/scale-registry.ts';
import type { TriggerController } from '../scheduler/trigger-controller.ts';
import type { WebhookRoutes } from '../scheduler/webhook-routes.ts';
import { bearerAuth } from './auth.ts';
import { controlApi } from './control-api.ts';
import { healthRoutes } from './health.ts';
import { errorHandler, sendError } from './http-errors.ts';
import { invokeRoutes } from './invoke-routes.ts';
import { scaleRoutes } from './scale-routes.ts';
import { topicRoutes } from './topic-routes.ts';
import { webhookScope } from './webhook-scope.ts';

export interface GatewayDeps {
  registry: FunctionRegistry;
  runner: SandboxRunner;
  activity: ActivityStore;
  invoker: Invoker;
  asyncCalls: AsyncEnqueuer;
  deployer: Deployer;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** Webhook routes registered by the webhook trigger; served at /hooks/* without a bearer token. */
  webhooks: WebhookRoutes;
  eventLog: EventLog;
  triggers: TriggerController;
  /** Scaling views of lag-triggered functions (GET /v1/scale). */
  scales: ScaleRegistry;
  apiToken: string | undefined;
  maxBodyBytes: number;
  maxBundleBytes: number;
  logLevel: string;
  /** The runtime's logger; when absent fastify makes one at logLevel. */
  logger?: FastifyBaseLogger;
}

export function createGateway(deps: GatewayDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: { level: deps.logLevel } }),
    bodyLimit: deps.maxBodyBytes,
    return503OnClosing: true,
    // No "incoming request" / "request completed" lines: an invocation is logged by the runtime
    // (metrics, function logs); two pino lines per request would be noise and CPU on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
  });
  app.setErrorHandler(errorHandler);
  // While draining, every response closes its connection: server.close() then finishes as soon as
  // the last in-flight response is out, instead of waiting for keep-alive connections to time out.
  app.addHook('onSend', async (_req, reply) => {
    if (deps.lifecycle.state === 'draining') reply.header('connection', 'close');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new FaasError('FAAS_ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  void app.register(async (scope) => healthRoutes(scope, deps));
  void app.register(async (scope) => webhookScope(scope, deps));
  void app.register(async (scope) => {
    scope.addHook('onRequest', bearerAuth(deps.apiToken));
    await controlApi(scope, deps);
    await invokeRoutes(scope, { invoker: deps.invoker, asyncCalls: deps.asyncCalls, maxBodyBytes: deps.maxBodyBytes });
    await topicRoutes(scope, deps);
    await scaleRoutes(scope, deps);
  });
  return app;
}
