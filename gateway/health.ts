/** Liveness, readiness and Prometheus metrics (unauthenticated, for probes and scrapers). */
import type { FastifyInstance } from 'fastify';
import type { Lifecycle } from '../scheduler/lifecycle.ts';
import type { Metrics } from '../scheduler/metrics.ts';
import type { FunctionRegistry, SandboxRunner } from '../scheduler/ports.ts';

export interface HealthDeps {
  lifecycle: Lifecycle;
  runner: SandboxRunner;
  registry: FunctionRegistry;
  metrics: Metrics;
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok', state: deps.lifecycle.state }));

  app.get('/readyz', async (_req, reply) => {
    const processes = deps.runner.stats().processes.length;
    const ready = deps.lifecycle.acceptingWork && processes > 0;
    return reply.code(ready ? 200 : 503).send({ ready, state: deps.lifecycle.state, sandboxProcesses: processes, registry: deps.registry.kind });
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.header('content-type', deps.metrics.registry.contentType).send(body);
  });
}
