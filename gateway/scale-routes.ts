/**
 * Scaling views of lag-triggered functions, in a shape KEDA's `metrics-api` scaler reads:
 * `GET /v1/scale` answers `{ functions: { <name>: ScaleStatus } }` (valueLocation
 * `functions.<name>.lag.total`), `GET /v1/scale/:name` one ScaleStatus (valueLocation `lag.total`).
 * The example ScaledObject is in the README.
 */
import type { FastifyInstance } from 'fastify';
import { FaasError } from '../core/errors.ts';
import type { FunctionRegistry } from '../scheduler/ports.ts';
import type { ScaleRegistry } from '../scheduler/scale-registry.ts';

export async function scaleRoutes(app: FastifyInstance, deps: { scales: ScaleRegistry; registry: FunctionRegistry }): Promise<void> {
  app.get('/v1/scale', async () => ({ functions: Object.fromEntries(deps.scales.all().map((s) => [s.function, s])) }));

  app.get<{ Params: { name: string } }>(
    '/v1/scale/:name',
    { schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' } } } } },
    async (req) => {
      const status = deps.scales.get(req.params.name);
      if (status !== undefined) return status;
      const fn = deps.registry.cached(req.params.name) ?? (await deps.registry.get(req.params.name));
      if (fn === undefined) throw new FaasError('FAAS_FUNCTION_NOT_FOUND', `function "${req.params.name}" is not deployed`);
      throw new FaasError('FAAS_NOT_SCALED', `function "${req.params.name}" has no lag trigger running on this node`);
    },
  );
}
