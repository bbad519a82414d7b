/**
 * The one place where error codes become HTTP statuses. Every code in core/errors.ts has a row;
 * a test checks that, and that docs/ERRORS.md documents each one.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FaasError, toFaasError, type ErrorCode } from '../core/errors.ts';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  FAAS_CONFIG_INVALID: 500,
  FAAS_INSECURE_BIND: 500,
  FAAS_UNAUTHORIZED: 401,
  FAAS_ROUTE_NOT_FOUND: 404,
  FAAS_JSON_INVALID: 400,
  FAAS_BODY_INVALID: 400,
  FAAS_PAYLOAD_TOO_LARGE: 413,
  FAAS_MANIFEST_INVALID: 422,
  FAAS_TRIGGER_UNSUPPORTED: 422,
  FAAS_BUNDLE_FAILED: 422,
  FAAS_BUNDLE_BUILTIN_IMPORT: 422,
  FAAS_BUNDLE_UNRESOLVED_IMPORT: 422,
  FAAS_BUNDLE_TOO_LARGE: 413,
  FAAS_FUNCTION_NOT_FOUND: 404,
  FAAS_NOT_SCALED: 404,
  FAAS_INVOCATION_NOT_FOUND: 404,
  FAAS_HANDLER_ERROR: 502,
  FAAS_INIT_FAILED: 502,
  FAAS_TIMEOUT: 504,
  FAAS_MEMORY_LIMIT: 502,
  FAAS_RESULT_TOO_LARGE: 502,
  FAAS_RESULT_INVALID: 502,
  FAAS_RECORD_UNDECODABLE: 422,
  FAAS_STATE_INVALID: 422,
  FAAS_STATE_FORBIDDEN: 403,
  FAAS_STATE_UNAVAILABLE: 503,
  FAAS_EMIT_INVALID: 422,
  FAAS_EMIT_UNAVAILABLE: 503,
  FAAS_CALL_INVALID: 422,
  FAAS_CALL_DEPTH_EXCEEDED: 508,
  FAAS_CALL_CYCLE: 508,
  FAAS_SANDBOX_CRASHED: 503,
  FAAS_OVERLOADED: 429,
  FAAS_SHUTTING_DOWN: 503,
  FAAS_REGISTRY_UNAVAILABLE: 503,
  FAAS_WEBHOOK_NOT_FOUND: 404,
  FAAS_METHOD_NOT_ALLOWED: 405,
  FAAS_SIGNATURE_INVALID: 401,
  FAAS_WEBHOOK_SECRET_MISSING: 503,
  FAAS_INGEST_UNAVAILABLE: 503,
  FAAS_INTERNAL: 500,
};

/** Fastify's own failures (parsing, limits, schemas) in our vocabulary. */
export function fromFastifyError(err: FastifyError): FaasError {
  if (err instanceof FaasError) return err;
  if (err.validation) return new FaasError('FAAS_BODY_INVALID', `${err.validationContext ?? 'request'} ${err.message.replace(/^(body|params|querystring)\/?/, '')}`.trim());
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FaasError('FAAS_PAYLOAD_TOO_LARGE', 'request body exceeds the size limit');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new FaasError('FAAS_JSON_INVALID', `request body is not valid JSON: ${err.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FaasError('FAAS_BODY_INVALID', 'unsupported content-type: send application/json');
  }
  if (err instanceof SyntaxError || err.statusCode === 400) return new FaasError('FAAS_JSON_INVALID', `request body is not valid JSON: ${err.message}`);
  return toFaasError(err);
}

export function sendError(reply: FastifyReply, err: FaasError): FastifyReply {
  return reply
    .code(HTTP_STATUS[err.code])
    .header('content-type', 'application/json; charset=utf-8')
    .header('x-faas-error-code', err.code)
    .send({ error: err.toData() });
}

export function errorHandler(this: unknown, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const err = fromFastifyError(error);
  if (err.code === 'FAAS_INTERNAL') request.log.error({ err: error }, 'unhandled error');
  return sendError(reply, err);
}
