/**
 * POST /v1/functions/:name/invoke: synchronous (the handler's JSON result is the body) or, with
 * ?mode=async, 202 with an invocation id once the call is queued durably (triggers/async-calls.ts). Invocation headers are set on failures too.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AsyncEnqueuer } from '../scheduler/direct-calls.ts';
import type { InvocationResult, Invoker } from '../scheduler/invoker.ts';
import { sendError } from './http-errors.ts';

export interface InvokeDeps {
  invoker: Invoker;
  /** Where ?mode=async calls are queued durably. */
  asyncCalls: AsyncEnqueuer;
  maxBodyBytes: number;
}

export async function invokeRoutes(app: FastifyInstance, deps: InvokeDeps): Promise<void> {
  app.post<{ Params: { name: string }; Querystring: { mode: 'sync' | 'async'; timeoutMs?: number } }>(
    '/v1/functions/:name/invoke',
    {
      bodyLimit: deps.maxBodyBytes,
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' } } },
        querystring: {
          type: 'object',
          properties: { mode: { type: 'string', enum: ['sync', 'async'], default: 'sync' }, timeoutMs: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (req, reply) => {
      const input = {
        data: req.body ?? null,
        http: {
          method: req.method,
          path: req.url.split('?')[0] ?? req.url,
          query: Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, String(v)])),
          headers: pickHeaders(req.headers),
        },
        ...(typeof req.headers['x-faas-correlation-id'] === 'string' ? { correlationId: req.headers['x-faas-correlation-id'].slice(0, 100) } : {}),
        ...(req.query.timeoutMs !== undefined ? { timeoutMs: req.query.timeoutMs } : {}),
      };
      if (req.query.mode === 'async') {
        const { invocationId } = await deps.asyncCalls.enqueue(req.params.name, input);
        return reply.code(202).header('x-faas-invocation-id', invocationId).send({ invocationId, status: 'pending', statusUrl: `/v1/invocations/${invocationId}` });
      }
      const result = await deps.invoker.invoke(req.params.name, input);
      setInvocationHeaders(reply, result);
      if (result.error) return sendError(reply, result.error);
      return reply.header('content-type', 'application/json; charset=utf-8').send(result.resultJson);
    },
  );
}

function setInvocationHeaders(reply: FastifyReply, r: InvocationResult): void {
  reply
    .header('x-faas-invocation-id', r.invocationId)
    .header('x-faas-correlation-id', r.correlationId)
    .header('x-faas-start', r.start)
    .header('x-faas-duration-ms', r.durationMs.toFixed(3))
    .header('x-faas-version', String(r.version));
}

// The handler sees request headers minus credentials.
function pickHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k === 'authorization' || k === 'cookie') continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
