/**
 * The versioned control API (/v1): deploy, list, inspect, delete, logs, correlation traces and async outcomes.
 * Registered inside the authenticated scope; bodies are JSON validated by route schemas, and
 * manifests by the manifest schema (core/manifest.ts).
 */
import type { FastifyInstance } from 'fastify';
import { FaasError } from '../core/errors.ts';
import type { Deployer } from '../scheduler/deployer.ts';
import type { ActivityStore, FunctionRegistry, FunctionVersion, SandboxRunner } from '../scheduler/ports.ts';
import type { TriggerController } from '../scheduler/trigger-controller.ts';

export interface ControlApiDeps {
  registry: FunctionRegistry;
  deployer: Deployer;
  activity: ActivityStore;
  runner: SandboxRunner;
  triggers: TriggerController;
  maxBundleBytes: number;
}

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' } },
} as const;

export async function controlApi(app: FastifyInstance, deps: ControlApiDeps): Promise<void> {
  const summary = (fn: FunctionVersion) => {
    const inst = deps.runner.stats().instances[fn.name];
    return {
      name: fn.name,
      version: fn.version,
      digest: fn.digest,
      deployedAt: fn.deployedAt,
      triggers: fn.manifest.triggers,
      instances: { idle: inst?.idle ?? 0, busy: inst?.busy ?? 0 },
    };
  };

  app.put<{ Params: { name: string }; Body: { manifest: unknown; files: Record<string, string> } }>(
    '/v1/functions/:name',
    {
      bodyLimit: deps.maxBundleBytes * 2 + 64 * 1024,
      schema: {
        params: nameParams,
        body: {
          type: 'object',
          required: ['manifest', 'files'],
          additionalProperties: false,
          properties: {
            manifest: { type: 'object' },
            files: { type: 'object', minProperties: 1, maxProperties: 1000, additionalProperties: { type: 'string' } },
          },
        },
      },
    },
    async (req, reply) => {
      const existed = deps.registry.cached(req.params.name) !== undefined;
      const { fn, bytes, unchanged } = await deps.deployer.deploy(req.params.name, req.body);
      return reply.code(existed ? 200 : 201).send({ name: fn.name, version: fn.version, digest: fn.digest, deployedAt: fn.deployedAt, bytes, unchanged });
    },
  );

  app.get('/v1/functions', async () => ({ functions: (await deps.registry.list()).map(summary) }));

  app.get<{ Params: { name: string }; Querystring: { source?: boolean } }>(
    '/v1/functions/:name',
    { schema: { params: nameParams, querystring: { type: 'object', properties: { source: { type: 'boolean' } } } } },
    async (req) => {
      // While the registry (Redis) does not answer, the version this node runs is shown, marked
      // stale: `faas status` most needs to work then (records held by the outage, for one).
      let stale: { code: string; message: string } | undefined;
      let fn: FunctionVersion | undefined;
      try {
        fn = await deps.registry.get(req.params.name);
      } catch (err) {
        if (!(err instanceof FaasError) || err.code !== 'FAAS_REGISTRY_UNAVAILABLE') throw err;
        fn = deps.registry.cached(req.params.name);
        if (fn === undefined) throw err;
        stale = { code: err.code, message: err.message };
      }
      if (fn === undefined) throw notFound(req.params.name);
      return { ...summary(fn), manifest: fn.manifest, triggerStatus: deps.triggers.status(fn.name), ...(stale !== undefined ? { stale } : {}), ...(req.query.source ? { files: fn.files } : {}) };
    },
  );

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', { schema: { params: nameParams } }, async (req) => {
    if (!(await deps.registry.delete(req.params.name))) throw notFound(req.params.name);
    await deps.activity.deleteFunction(req.params.name);
    return { deleted: true };
  });

  app.get<{ Params: { name: string }; Querystring: { since?: number; limit: number; invocation?: string } }>(
    '/v1/functions/:name/logs',
    {
      schema: {
        params: nameParams,
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'number' },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 200 },
            invocation: { type: 'string', maxLength: 100 },
          },
        },
      },
    },
    async (req) => {
      if ((await deps.registry.get(req.params.name)) === undefined) throw notFound(req.params.name);
      const entries = await deps.activity.readLogs(req.params.name, {
        limit: req.query.limit,
        ...(req.query.since !== undefined ? { sinceTs: req.query.since } : {}),
        ...(req.query.invocation !== undefined ? { invocationId: req.query.invocation } : {}),
      });
      const next = entries.length > 0 ? (entries[entries.length - 1]?.ts ?? 0) : (req.query.since ?? 0);
      return { entries, next };
    },
  );

  // One request across functions: every hop of a correlation id (direct calls, emitted records,
  // queued calls), oldest first, each with its own log lines.
  app.get<{ Params: { id: string } }>(
    '/v1/correlations/:id',
    { schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } } },
    async (req) => {
      const hops = await deps.activity.readTrace(req.params.id);
      // Each function's log is read once, however many hops it has in the trace.
      const fns = [...new Set(hops.map((h) => h.function))];
      const entries = (await Promise.all(fns.map((fn) => deps.activity.readLogs(fn, { limit: 10_000 })))).flat();
      const byInvocation = Map.groupBy(entries, (e) => e.invocationId);
      return { correlationId: req.params.id, hops: hops.map((h) => ({ ...h, logs: byInvocation.get(h.invocationId) ?? [] })) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/invocations/:id',
    { schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 100 } } } } },
    async (req) => {
      const rec = await deps.activity.getInvocation(req.params.id);
      if (rec === undefined) throw new FaasError('FAAS_INVOCATION_NOT_FOUND', `no invocation "${req.params.id}" is known (records are kept for FAAS_INVOCATION_TTL_S)`);
      return rec;
    },
  );
}

function notFound(name: string): FaasError {
  return new FaasError('FAAS_FUNCTION_NOT_FOUND', `no function named "${name}" is deployed`);
}
