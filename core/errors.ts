/**
 * The runtime's error vocabulary. Every failure that crosses a component boundary is a FaasError
 * with a stable `FAAS_…` code from ERROR_CATALOG; nothing is matched by message. The gateway maps
 * codes to HTTP statuses (gateway/http-errors.ts); docs/ERRORS.md documents every code, and a test
 * keeps the three in step.
 */

export interface ErrorSpec {
  /** True when the same request may succeed if tried again unchanged. */
  readonly retriable: boolean;
  /** True when the caller (request, manifest or handler code) caused it, not the runtime. */
  readonly userFault: boolean;
  /** One line for docs and tooling. */
  readonly summary: string;
  /**
   * A service the runtime depends on (Redis, Kafka) or the runtime's own capacity was unavailable:
   * the input is not at fault. Topic triggers hold such an input (try again without counting an
   * attempt, and commit nothing past it) until the service answers, rather than dead-letter it.
   */
  readonly outage?: true;
}

export const ERROR_CATALOG = {
  FAAS_CONFIG_INVALID: { retriable: false, userFault: true, summary: 'Runtime configuration (environment) is invalid.' },
  FAAS_INSECURE_BIND: { retriable: false, userFault: true, summary: 'Refusing to listen beyond loopback without FAAS_API_TOKEN.' },
  FAAS_UNAUTHORIZED: { retriable: false, userFault: true, summary: 'Missing or wrong bearer token on the control API.' },
  FAAS_ROUTE_NOT_FOUND: { retriable: false, userFault: true, summary: 'No such route.' },
  FAAS_JSON_INVALID: { retriable: false, userFault: true, summary: 'The request body is not valid JSON.' },
  FAAS_BODY_INVALID: { retriable: false, userFault: true, summary: 'The request body or parameters do not match the schema.' },
  FAAS_PAYLOAD_TOO_LARGE: { retriable: false, userFault: true, summary: 'The request body exceeds the size limit.' },
  FAAS_MANIFEST_INVALID: { retriable: false, userFault: true, summary: 'function.json does not match the manifest schema.' },
  FAAS_TRIGGER_UNSUPPORTED: { retriable: false, userFault: true, summary: 'The manifest declares a trigger type this runtime does not run.' },
  FAAS_BUNDLE_FAILED: { retriable: false, userFault: true, summary: 'The function source does not compile or bundle.' },
  FAAS_BUNDLE_BUILTIN_IMPORT: { retriable: false, userFault: true, summary: 'The function imports a Node.js built-in module, which sandboxes do not have.' },
  FAAS_BUNDLE_UNRESOLVED_IMPORT: { retriable: false, userFault: true, summary: 'The function imports a package that is not in the uploaded files.' },
  FAAS_BUNDLE_TOO_LARGE: { retriable: false, userFault: true, summary: 'The bundled function exceeds the size limit.' },
  FAAS_FUNCTION_NOT_FOUND: { retriable: false, userFault: true, summary: 'No function of that name is deployed.' },
  FAAS_NOT_SCALED: { retriable: false, userFault: true, summary: 'The function has no lag trigger running on this node, so it has no scaling view.' },
  FAAS_INVOCATION_NOT_FOUND: { retriable: false, userFault: true, summary: 'No invocation of that id is known (or it expired).' },
  FAAS_HANDLER_ERROR: { retriable: true, userFault: true, summary: 'The handler threw or rejected.' },
  FAAS_INIT_FAILED: { retriable: false, userFault: true, summary: 'The bundle\'s top level threw, or it has no default-exported function.' },
  FAAS_TIMEOUT: { retriable: true, userFault: true, summary: 'The invocation passed its wall-clock deadline; its sandbox was destroyed.' },
  FAAS_MEMORY_LIMIT: { retriable: false, userFault: true, summary: 'The handler exceeded its memory limit; its sandbox was destroyed.' },
  FAAS_RESULT_TOO_LARGE: { retriable: false, userFault: true, summary: 'The handler\'s result exceeds limits.maxResultBytes.' },
  FAAS_RESULT_INVALID: { retriable: false, userFault: true, summary: 'The handler\'s result cannot be serialised to JSON.' },
  FAAS_RECORD_UNDECODABLE: { retriable: false, userFault: true, summary: 'A topic record\'s value does not decode with the trigger\'s encoding; it goes to the dead-letter topic without retries.' },
  FAAS_STATE_INVALID: { retriable: false, userFault: true, summary: 'A state operation broke a limit or a type rule (key or value size, incr of a non-integer, a hash operation on a plain value); nothing of its write set was applied.' },
  FAAS_STATE_FORBIDDEN: { retriable: false, userFault: true, summary: 'The function named a shared state store its manifest does not grant (state.shared).' },
  FAAS_STATE_UNAVAILABLE: { retriable: true, userFault: false, outage: true, summary: 'The state store (Redis) did not answer in time; nothing of the write set was applied.' },
  FAAS_EMIT_INVALID: { retriable: false, userFault: true, summary: 'ctx.emit was given a bad topic name, value, key or headers, or more records than allowed; nothing was emitted.' },
  FAAS_EMIT_UNAVAILABLE: { retriable: true, userFault: false, outage: true, summary: 'The records an invocation emitted could not be published (Kafka did not answer); the invocation fails and is retried.' },
  FAAS_CALL_INVALID: { retriable: false, userFault: true, summary: 'ctx.invoke or ctx.invokeAsync was given a bad function name or a payload that is not a JSON value (or too large).' },
  FAAS_CALL_DEPTH_EXCEEDED: { retriable: false, userFault: true, summary: 'A direct call would nest deeper than FAAS_MAX_CALL_DEPTH functions (default 16).' },
  FAAS_CALL_CYCLE: { retriable: false, userFault: true, summary: 'A direct call names a function already on the call path (A → B → A); it was refused before running.' },
  FAAS_SANDBOX_CRASHED: { retriable: true, userFault: false, summary: 'The sandbox process died during the invocation; it was replaced.' },
  FAAS_OVERLOADED: { retriable: true, userFault: false, outage: true, summary: 'All instances of the function are busy and its queue is full.' },
  FAAS_SHUTTING_DOWN: { retriable: true, userFault: false, summary: 'The node is draining and takes no new work.' },
  FAAS_REGISTRY_UNAVAILABLE: { retriable: true, userFault: false, outage: true, summary: 'The function registry (Redis) did not answer.' },
  FAAS_WEBHOOK_NOT_FOUND: { retriable: false, userFault: true, summary: 'No webhook is served at that path below /hooks/.' },
  FAAS_METHOD_NOT_ALLOWED: { retriable: false, userFault: true, summary: 'The webhook does not accept that HTTP method.' },
  FAAS_SIGNATURE_INVALID: { retriable: false, userFault: true, summary: 'The webhook signature is missing, wrong or outside its time window.' },
  FAAS_WEBHOOK_SECRET_MISSING: { retriable: true, userFault: false, summary: 'The signing secret of the webhook is not set in the runtime environment.' },
  FAAS_INGEST_UNAVAILABLE: { retriable: true, userFault: false, outage: true, summary: 'The webhook request could not be recorded: the ingest topic or the replay-id store did not answer.' },
  FAAS_INTERNAL: { retriable: true, userFault: false, summary: 'An unexpected runtime failure.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Plain-data form of an error: what crosses processes, isolates and HTTP. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** Guest error class name (TypeError, …) when the error came from handler code. */
  name?: string;
  stack?: string;
  details?: unknown;
}

export class FaasError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly userFault: boolean;
  /** ErrorSpec.outage: a dependency was unavailable, not the input at fault. */
  readonly outage: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FaasError';
    this.code = code;
    const spec: ErrorSpec = ERROR_CATALOG[code];
    this.retriable = spec.retriable;
    this.userFault = spec.userFault;
    this.outage = spec.outage === true;
    this.details = options.details;
  }

  /** Plain data for the wire: code, message, details and the guest error class (never a stack). */
  toData(): ErrorData {
    const data: ErrorData = { code: this.code, message: this.message };
    if (this.guestName !== undefined) data.name = this.guestName;
    if (this.details !== undefined) data.details = this.details;
    return data;
  }

  /** Rebuild an error on this side of a boundary from plain data (never from a foreign object). */
  static fromData(data: ErrorData): FaasError {
    const code: ErrorCode = isErrorCode(data.code) ? data.code : 'FAAS_INTERNAL';
    const err = new FaasError(code, String(data.message), { details: data.details });
    if (typeof data.name === 'string') err.guestName = data.name;
    if (typeof data.stack === 'string') err.guestStack = data.stack;
    return err;
  }

  /** Name of the guest-side error class, when rebuilt from a handler failure. */
  guestName?: string;
  /** Stack as reported inside the sandbox (guest frames only). */
  guestStack?: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

/** Any thrown value as a FaasError: FaasErrors pass through, the rest become FAAS_INTERNAL. */
export function toFaasError(err: unknown): FaasError {
  if (err instanceof FaasError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FaasError('FAAS_INTERNAL', message, { cause: err });
}
