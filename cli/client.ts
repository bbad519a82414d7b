/**
 * A small typed client for the gateway's control API (/v1), over the global fetch. It knows the
 * wire contract and nothing about terminals: failures come back as GatewayError (the gateway
 * answered with a FAAS_… error body) or GatewayUnreachableError (no answer at all).
 */

import type { TraceHop } from '../scheduler/ports.ts';
import type { ScaleStatus } from '../scheduler/scale-registry.ts';

export type { ScaleStatus, PartitionScale, ScaleDecisionRecord } from '../scheduler/scale-registry.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface TriggerSummary {
  type: string;
  [option: string]: unknown;
}

export interface InstanceCounts {
  idle: number;
  busy: number;
}

export interface DeployRequest {
  /** function.json exactly as read from disk; the gateway validates and defaults it again. */
  manifest: unknown;
  /** Path → source. The CLI sends one pre-bundled entry file. */
  files: Record<string, string>;
}

export interface DeployResult {
  name: string;
  version: number;
  digest: string;
  deployedAt: string | number;
  bytes: number;
  /** True when the bundle and manifest equal the current version's: nothing was deployed. */
  unchanged?: boolean;
}

export interface PublishResult {
  topic: string;
  records: { partition: number; offset: string }[];
}

export interface FunctionSummary {
  name: string;
  version: number;
  digest: string;
  deployedAt: string | number;
  triggers: TriggerSummary[];
  instances: InstanceCounts;
}

export interface FunctionDetail {
  name: string;
  version: number;
  digest: string;
  deployedAt: string | number;
  triggers?: TriggerSummary[];
  manifest: Record<string, unknown>;
  instances: InstanceCounts;
  /** The triggers running on the answering node, each with its own status; `error` when they could not start. */
  triggerStatus?: { triggers: { type: string; status: Record<string, unknown> }[]; error?: string };
  /** Set when the registry did not answer and this is the version the node last knew. */
  stale?: { code: string; message: string };
}

export type StartKind = 'cold' | 'warm';

/** GET /v1/correlations/:id: one request's hops across functions, oldest first, each with its logs. */
export interface Trace {
  correlationId: string;
  hops: (TraceHop & { logs: LogEntry[] })[];
}

export interface InvokeResult {
  /** The handler's result (undefined when the gateway answered with an empty body). */
  result: unknown;
  invocationId: string | undefined;
  start: StartKind | undefined;
  durationMs: number | undefined;
}

export interface AsyncAccepted {
  invocationId: string;
  status: 'pending';
  statusUrl: string;
}

export interface InvocationRecord {
  id: string;
  function: string;
  status: 'pending' | 'succeeded' | 'failed';
  result?: unknown;
  error?: { code: string; message: string };
  start?: StartKind;
  durationMs?: number;
  acceptedAt: string | number;
  finishedAt?: string | number;
}

export interface LogEntry {
  ts: string | number;
  invocationId: string;
  level: string;
  message: string;
}

export interface LogPage {
  entries: LogEntry[];
  /** Cursor (epoch ms) to pass as `since` for the next page. */
  next: number;
}

export interface LogQuery {
  /** Epoch ms. */
  since?: number;
  limit?: number;
  invocation?: string;
}

/** The gateway answered with a non-2xx status. `code` is its FAAS_… code (or HTTP_<status>). */
export class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Set when the failure belongs to an invocation (header x-faas-invocation-id): its logs say more. */
  invocationId: string | undefined;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** No HTTP answer: connection refused, DNS failure, reset. */
export class GatewayUnreachableError extends Error {
  readonly url: string;
  readonly reason: string;

  constructor(url: string, reason: string, cause: unknown) {
    super(`cannot reach the gateway at ${url} (${reason})`, { cause });
    this.name = 'GatewayUnreachableError';
    this.url = url;
    this.reason = reason;
  }
}

export interface ClientOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string | undefined;
  /** Injectable for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

export class FaasClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token === '' ? undefined : options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async deploy(name: string, body: DeployRequest): Promise<DeployResult> {
    return json<DeployResult>(await this.#request('PUT', `/v1/functions/${enc(name)}`, body));
  }

  async list(): Promise<{ functions: FunctionSummary[] }> {
    return json<{ functions: FunctionSummary[] }>(await this.#request('GET', '/v1/functions'));
  }

  async get(name: string): Promise<FunctionDetail> {
    return json<FunctionDetail>(await this.#request('GET', `/v1/functions/${enc(name)}`));
  }

  /**
   * GET /v1/scale/:name: the scaling view of a lag-triggered function on the answering node.
   * Fails with FAAS_NOT_SCALED for a deployed function without a running lag trigger.
   */
  async scale(name: string): Promise<ScaleStatus> {
    return json<ScaleStatus>(await this.#request('GET', `/v1/scale/${enc(name)}`));
  }

  /** GET /v1/scale: every lag-scaled function on the answering node, by name. */
  async scales(): Promise<{ functions: Record<string, ScaleStatus> }> {
    return json<{ functions: Record<string, ScaleStatus> }>(await this.#request('GET', '/v1/scale'));
  }

  async remove(name: string): Promise<{ deleted: boolean }> {
    return json<{ deleted: boolean }>(await this.#request('DELETE', `/v1/functions/${enc(name)}`));
  }

  /** Synchronous invoke: waits for the handler's result. `data` null means no event data. */
  async invoke(name: string, data: unknown): Promise<InvokeResult> {
    const answer = await this.#request('POST', `/v1/functions/${enc(name)}/invoke`, data ?? null);
    const duration = answer.headers.get('x-faas-duration-ms');
    const start = answer.headers.get('x-faas-start');
    return {
      result: answer.text === '' ? undefined : parseBody(answer),
      invocationId: answer.headers.get('x-faas-invocation-id') ?? undefined,
      start: start === 'cold' || start === 'warm' ? start : undefined,
      durationMs: duration === null || !Number.isFinite(Number(duration)) ? undefined : Number(duration),
    };
  }

  async invokeAsync(name: string, data: unknown): Promise<AsyncAccepted> {
    return json<AsyncAccepted>(await this.#request('POST', `/v1/functions/${enc(name)}/invoke?mode=async`, data ?? null));
  }

  async invocation(id: string): Promise<InvocationRecord> {
    return json<InvocationRecord>(await this.#request('GET', `/v1/invocations/${enc(id)}`));
  }

  async publish(topic: string, records: { key?: string; value: unknown; headers?: Record<string, string> }[]): Promise<PublishResult> {
    return json<PublishResult>(await this.#request('POST', `/v1/topics/${enc(topic)}/records`, { records }));
  }

  async logs(name: string, query: LogQuery = {}): Promise<LogPage> {
    const params = new URLSearchParams();
    if (query.since !== undefined) params.set('since', String(query.since));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.invocation !== undefined) params.set('invocation', query.invocation);
    const qs = params.size > 0 ? `?${params.toString()}` : '';
    return json<LogPage>(await this.#request('GET', `/v1/functions/${enc(name)}/logs${qs}`));
  }

  async trace(correlationId: string): Promise<Trace> {
    return json<Trace>(await this.#request('GET', `/v1/correlations/${enc(correlationId)}`));
  }

  /** Absolute form of a path the gateway handed back (e.g. a statusUrl). */
  resolve(pathOrUrl: string): string {
    return new URL(pathOrUrl, `${this.url}/`).toString();
  }

  async #request(method: string, path: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(`${this.url}${path}`, init);
      text = await res.text();
    } catch (err) {
      throw new GatewayUnreachableError(this.url, describeNetworkError(err), err);
    }
    const answer: Answer = { status: res.status, headers: res.headers, text };
    if (res.status < 200 || res.status >= 300) throw toGatewayError(answer, res.statusText);
    return answer;
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function json<T>(answer: Answer): T {
  return parseBody(answer) as T;
}

function parseBody(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    throw new GatewayError(answer.status, 'FAAS_INTERNAL', `the gateway answered ${answer.status} with a body that is not JSON: ${preview(answer.text)}`);
  }
}

function toGatewayError(answer: Answer, statusText: string): GatewayError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (error !== null && typeof error === 'object') {
    const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      const err = new GatewayError(answer.status, code, message, details);
      err.invocationId = answer.headers.get('x-faas-invocation-id') ?? undefined;
      return err;
    }
  }
  const status = `${answer.status}${statusText ? ` ${statusText}` : ''}`;
  const body = answer.text.trim() === '' ? 'an empty body' : `a body that is not a FAAS error: ${preview(answer.text)}`;
  return new GatewayError(answer.status, `HTTP_${answer.status}`, `the gateway answered ${status} with ${body}`);
}

function preview(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** fetch reports network failures as TypeError('fetch failed') with the system error as cause. */
function describeNetworkError(err: unknown): string {
  let cur: unknown = err;
  let deepest = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < 5 && cur !== null && typeof cur === 'object'; i++) {
    const { code, message } = cur as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code.startsWith('E')) return code;
    if (typeof message === 'string' && message !== '') deepest = message;
    cur = (cur as { cause?: unknown }).cause;
  }
  return deepest;
}
