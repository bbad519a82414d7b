/**
 * The webhook scope: `/hooks/*` for every method, dispatched through the route table the webhook
 * trigger fills (fastify cannot add routes once listening). Bodies of every content type arrive as
 * raw Buffers, since signatures are computed over the exact bytes; the parser override lives in this
 * encapsulated scope only, so /v1 keeps its JSON parsing. No bearer token: webhooks authenticate by
 * signature. The route is found in onRequest, so an unknown path (404), a wrong method (405) or a
 * declared Content-Length over the route's limit (413) is answered before the body is read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FaasError, toFaasError } from '../core/errors.ts';
import type { WebhookRequest, WebhookResponse, WebhookRoute, WebhookRoutes } from '../scheduler/webhook-routes.ts';
import { sendError } from './http-errors.ts';

/** The parser's hard cap (the manifest's largest maxBodyBytes); each route enforces its own limit. */
export const WEBHOOK_PARSER_LIMIT = 32 * 1024 * 1024;

export interface WebhookScopeDeps {
  webhooks: WebhookRoutes;
}

const EMPTY = Buffer.alloc(0);

function hookPath(req: FastifyRequest): string {
  return (req.params as { '*'?: string })['*'] ?? '';
}

/** The route serving the request, or an error answered (404/405/413) and undefined. */
function routeFor(req: FastifyRequest, reply: FastifyReply, webhooks: WebhookRoutes): WebhookRoute | undefined {
  const path = hookPath(req);
  const route = webhooks.lookup(path);
  if (route === undefined) {
    sendError(reply, new FaasError('FAAS_WEBHOOK_NOT_FOUND', `no webhook is served at /hooks/${path}`));
    return undefined;
  }
  if (!route.methods.includes(req.method)) {
    sendError(reply.header('allow', route.methods.join(', ')), new FaasError('FAAS_METHOD_NOT_ALLOWED', `/hooks/${path} accepts ${route.methods.join(', ')}, not ${req.method}`));
    return undefined;
  }
  return route;
}

function flatten(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(', ');
  }
  return out;
}

function send(reply: FastifyReply, res: WebhookResponse): FastifyReply {
  reply.code(res.status);
  if (res.headers !== undefined) reply.headers(res.headers);
  const body = res.body;
  if (body === undefined || body === null) return reply.send();
  if (typeof body === 'string' || Buffer.isBuffer(body)) return reply.send(body);
  if (!reply.hasHeader('content-type')) reply.header('content-type', 'application/json; charset=utf-8');
  return reply.send(JSON.stringify(body));
}

export async function webhookScope(scope: FastifyInstance, deps: WebhookScopeDeps): Promise<void> {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_PARSER_LIMIT }, (_req, body, done) => done(null, body));

  scope.addHook('onRequest', async (req, reply) => {
    const route = routeFor(req, reply, deps.webhooks);
    if (route === undefined) return reply;
    const declared = Number(req.headers['content-length']);
    if (declared > route.maxBodyBytes) {
      // The body is not read: close the connection rather than drain it.
      return sendError(reply.header('connection', 'close'), new FaasError('FAAS_PAYLOAD_TOO_LARGE', `request body exceeds ${route.maxBodyBytes} bytes`));
    }
    return undefined;
  });

  scope.all('/hooks/*', { bodyLimit: WEBHOOK_PARSER_LIMIT }, async (req, reply) => {
    const route = routeFor(req, reply, deps.webhooks); // unregistered while the body was read
    if (route === undefined) return reply;
    const request: WebhookRequest = {
      method: req.method,
      path: hookPath(req),
      headers: flatten(req.headers),
      query: flatten(req.query as Record<string, unknown>),
      rawBody: Buffer.isBuffer(req.body) ? req.body : EMPTY,
      ip: req.ip,
    };
    let res: WebhookResponse;
    try {
      res = await route.handle(request);
    } catch (thrown) {
      const err = toFaasError(thrown);
      if (err.code === 'FAAS_INTERNAL') req.log.error({ err: thrown, fn: route.fn }, 'webhook failed');
      if (err.code === 'FAAS_METHOD_NOT_ALLOWED') reply.header('allow', route.methods.join(', '));
      return sendError(reply, err);
    }
    return send(reply, res);
  });
}
