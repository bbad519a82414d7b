/**
 * The webhook trigger: serves `/hooks/<path>` through the gateway's webhook scope (the route table in
 * scheduler/webhook-routes.ts). Each request is checked in this order, and a request refused at any
 * step has changed nothing: method (405), body size (413), secret configured (503), signature (401),
 * body decodable (400), delivery id not seen in the last 24 h (else 2xx without running again).
 *
 * - sync mode: the handler runs now; a `{ status, headers, body }` result becomes the response.
 * - async mode: the request is written to the ingest topic before 202 is answered; the topic's
 *   consumer rebuilds the event with `webhookEventFromIngestRecord`, identical to the sync one.
 *
 * Delivery ids (the replay key): `webhook-id` (standard), `x-github-delivery` (github), the event
 * `id` of the body (stripe); otherwise, and for the hmac scheme and unsigned webhooks, the
 * `idempotency-key` header, else `x-request-id`. Without any, a request is never treated as a replay.
 * The claim is given back when the work fails (handler error or 5xx answer, ingest write failure), so
 * the sender's retry runs again.
 *
 * A signing secret missing from the environment at start does not fail the start: the route is
 * served and answers every request 503 FAAS_WEBHOOK_SECRET_MISSING (logged once at start, shown in
 * status()). Senders that retry on 5xx keep their deliveries until the operator sets the variable,
 * the route never answers unverified, and one node's environment cannot fail a cluster-wide deploy.
 */
import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { FaasError } from '../core/errors.ts';
import type { WebhookTrigger } from '../core/trigger-specs.ts';
import type { InvokeInput } from '../scheduler/invoker.ts';
import type { RunningTrigger, TriggerContext, TriggerPlugin } from '../scheduler/trigger-source.ts';
import type { WebhookRequest, WebhookResponse } from '../scheduler/webhook-routes.ts';
import { VERIFIERS, parseSecrets, standardWebhooksKey } from './webhook-signatures.ts';
import { startConsumer } from './topic.ts';

/** How long a delivery id is remembered. */
export const REPLAY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Longest delivery id used as a replay key; longer ones are ignored (no replay protection). */
const MAX_DELIVERY_ID = 256;
const EVENT_TYPE = 'faas.webhook';

/** Request headers never handed to the handler nor written to the ingest topic. */
const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** Response headers a handler may not set (framing is the server's; x-faas-* are the runtime's). */
const RESERVED_RESPONSE_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function ingestTopicOf(fn: string, spec: Pick<WebhookTrigger, 'ingestTopic'>): string {
  return spec.ingestTopic ?? `faas.${fn}.ingest`;
}

export function replayKey(fn: string, deliveryId: string): string {
  return `webhook:${fn}:${deliveryId}`;
}

/** application/json and any application/…+json. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

/** The header fallback for delivery ids when the scheme defines none (hmac, unsigned). */
export function headerDeliveryId(headers: Readonly<Record<string, string>>): string | undefined {
  const id = headers['idempotency-key'] ?? headers['x-request-id'];
  return id !== undefined && id.length > 0 && id.length <= MAX_DELIVERY_ID ? id : undefined;
}

export function handlerHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (!DROPPED_HEADERS.has(k)) out[k] = v;
  return out;
}

export type BodyEncoding = 'json' | 'text' | 'base64' | 'empty';

/** The event's `data`: parsed JSON for a JSON content type, else text, else base64 when not UTF-8. */
export function bodyData(raw: Buffer, contentType: string | undefined): { data: unknown; encoding: BodyEncoding } {
  if (raw.length === 0) return { data: null, encoding: 'empty' };
  if (isJsonContentType(contentType)) {
    try {
      return { data: JSON.parse(raw.toString('utf8')) as unknown, encoding: 'json' };
    } catch (err) {
      throw new FaasError('FAAS_JSON_INVALID', `request body is not valid JSON (content-type ${contentType}): ${(err as Error).message}`);
    }
  }
  return isUtf8(raw) ? { data: raw.toString('utf8'), encoding: 'text' } : { data: raw.toString('base64'), encoding: 'base64' };
}

interface EventParts {
  path: string;
  method: string;
  /** Already without credentials (handlerHeaders). */
  headers: Record<string, string>;
  query: Record<string, string>;
  body: { data: unknown; encoding: BodyEncoding };
  deliveryId: string | undefined;
  receivedAt: string;
}

/** The invocation input of a webhook request; the same for sync mode and for the ingest consumer. */
export function webhookEvent(p: EventParts): InvokeInput {
  const correlationId = p.headers['x-faas-correlation-id'];
  return {
    data: p.body.data,
    http: { method: p.method, path: `/hooks/${p.path}`, query: p.query, headers: p.headers },
    source: `/hooks/${p.path}`,
    type: EVENT_TYPE,
    time: p.receivedAt,
    ...(p.deliveryId !== undefined ? { eventId: p.deliveryId } : {}),
    ...(correlationId !== undefined && correlationId.length > 0 ? { correlationId: correlationId.slice(0, 100) } : {}),
    extensions: { webhook: { path: p.path, deliveryId: p.deliveryId ?? null, bodyEncoding: p.body.encoding } },
  };
}

/** The value written to the ingest topic (JSON). Headers are without credentials. */
export interface IngestRecord {
  v: 1;
  fn: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The raw body: UTF-8 text, or base64 when it is not valid UTF-8. */
  body: string;
  bodyEncoding: 'text' | 'base64';
  deliveryId: string;
  receivedAt: string;
}

/**
 * Rebuild the event of a queued webhook request (the ingest topic's consumer side): the same input
 * sync mode gives the handler. Throws FAAS_BODY_INVALID for a record that is not one of ours.
 */
export function webhookEventFromIngestRecord(value: Buffer, fn: string): InvokeInput {
  let rec: IngestRecord;
  try {
    rec = JSON.parse(value.toString('utf8')) as IngestRecord;
  } catch {
    throw new FaasError('FAAS_BODY_INVALID', `ingest record of "${fn}" is not JSON`);
  }
  const isStringMap = (o: unknown) => typeof o === 'object' && o !== null && Object.values(o).every((x) => typeof x === 'string');
  if (
    typeof rec !== 'object' || rec === null || rec.v !== 1 || typeof rec.path !== 'string' || typeof rec.method !== 'string' ||
    typeof rec.body !== 'string' || (rec.bodyEncoding !== 'text' && rec.bodyEncoding !== 'base64') ||
    typeof rec.deliveryId !== 'string' || typeof rec.receivedAt !== 'string' || !isStringMap(rec.headers) || !isStringMap(rec.query)
  ) {
    throw new FaasError('FAAS_BODY_INVALID', `ingest record of "${fn}" is not a webhook request (version 1)`);
  }
  const raw = Buffer.from(rec.body, rec.bodyEncoding === 'base64' ? 'base64' : 'utf8');
  const headers = handlerHeaders(rec.headers);
  let body: { data: unknown; encoding: BodyEncoding };
  try {
    body = bodyData(raw, headers['content-type']);
  } catch {
    // Checked at ingest, so only a hand-written record gets here: hand the handler the text.
    body = { data: raw.toString('utf8'), encoding: 'text' };
  }
  return webhookEvent({ path: rec.path, method: rec.method, headers, query: rec.query, body, deliveryId: rec.deliveryId, receivedAt: rec.receivedAt });
}

/**
 * A handler result is an HTTP response (the SDK's HttpResponse) when it is an object with no keys
 * besides status, headers and body, has a status or a body, and the status (default 200) is an
 * integer in 200–599. Anything else is a plain result, answered 200 as JSON.
 */
function asResponse(value: unknown): { status: number; headers?: unknown; body?: unknown } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  if (!Object.keys(o).every((k) => k === 'status' || k === 'headers' || k === 'body')) return undefined;
  if (o.status === undefined && o.body === undefined) return undefined;
  const status = o.status ?? 200;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if (o.headers !== undefined && (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers))) return undefined;
  return { status, headers: o.headers, body: o.body };
}

/** Map a handler's JSON result to the HTTP answer: its own response, or 200 with the result. */
export function responseFromResult(resultJson: string | undefined): WebhookResponse {
  const json = resultJson ?? 'null';
  const res = asResponse(JSON.parse(json));
  if (res === undefined) return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: json };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((res.headers ?? {}) as Record<string, unknown>)) {
    const name = k.toLowerCase();
    const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
    if (typeof text !== 'string' || !HEADER_NAME.test(name) || !HEADER_VALUE.test(text)) continue;
    if (RESERVED_RESPONSE_HEADERS.has(name) || name.startsWith('x-faas-')) continue;
    headers[name] = text;
  }
  return { status: res.status, headers, body: res.body ?? '' };
}

function checkSpec(spec: WebhookTrigger, where: string): void {
  const bad = (field: string, msg: string) => new FaasError('FAAS_MANIFEST_INVALID', `${where}.${field}: ${msg}`);
  if (spec.path.endsWith('/') || spec.path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw bad('path', 'segments must be non-empty and not "." or ".." (e.g. "github/push")');
  }
  if (new Set(spec.methods).size !== spec.methods.length) throw bad('methods', 'lists a method twice');
  if (spec.mode === 'sync' && spec.ingestTopic !== undefined) throw bad('ingestTopic', 'only applies to mode "async"');
  const sig = spec.signature;
  if (sig !== undefined && sig.scheme !== 'hmac') {
    if (sig.header !== undefined) throw bad('signature.header', `only applies to scheme "hmac" (${sig.scheme} has a fixed header)`);
    if (sig.prefix !== undefined) throw bad('signature.prefix', `only applies to scheme "hmac"`);
  }
  if (sig?.header !== undefined && !HEADER_NAME.test(sig.header)) throw bad('signature.header', 'is not a valid HTTP header name');
}

class WebhookEndpoint implements RunningTrigger {
  private readonly ctx: TriggerContext<WebhookTrigger>;
  private readonly secrets: string[];
  private readonly secretProblem: string | undefined;
  private readonly topic: string;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly counts = { accepted: 0, replayed: 0, rejected: 0, failed: 0 };
  private topicReady: Promise<void> | undefined;
  private unregister: (() => void) | undefined;

  constructor(ctx: TriggerContext<WebhookTrigger>) {
    this.ctx = ctx;
    this.topic = ingestTopicOf(ctx.fn, ctx.spec);
    const sig = ctx.spec.signature;
    this.secrets = sig ? parseSecrets(ctx.deps.secret(sig.secretEnv)) : [];
    if (sig && this.secrets.length === 0) this.secretProblem = `environment variable ${sig.secretEnv} is not set`;
    else if (sig?.scheme === 'standard' && this.secrets.some((s) => standardWebhooksKey(s).length === 0)) {
      this.secretProblem = `${sig.secretEnv} holds a Standard Webhooks secret that is not whsec_<base64>`;
    }
  }

  start(): this {
    const { fn, spec, deps } = this.ctx;
    this.unregister = deps.webhooks.register(spec.path, {
      fn,
      methods: spec.methods,
      maxBodyBytes: spec.maxBodyBytes,
      handle: (req) => this.track(this.handle(req)),
    });
    if (this.secretProblem !== undefined) {
      deps.log.error({ fn, path: `/hooks/${spec.path}`, code: 'FAAS_WEBHOOK_SECRET_MISSING' }, `webhook refuses every request (503): ${this.secretProblem}`);
    }
    if (spec.mode === 'async') void this.ensureTopic().catch((err: unknown) => deps.log.warn({ fn, topic: this.topic, err }, 'ingest topic not ready yet; retried on the first request'));
    return this;
  }

  async stop(): Promise<void> {
    this.unregister?.();
    await Promise.allSettled([...this.inFlight]);
  }

  status(): Record<string, unknown> {
    const { spec } = this.ctx;
    return {
      path: `/hooks/${spec.path}`,
      methods: spec.methods,
      mode: spec.mode,
      scheme: spec.signature?.scheme ?? 'none',
      ...(spec.mode === 'async' ? { ingestTopic: this.topic } : {}),
      ...(this.secretProblem !== undefined ? { error: { code: 'FAAS_WEBHOOK_SECRET_MISSING', message: this.secretProblem } } : {}),
      requests: { ...this.counts },
    };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  private outcome(kind: keyof WebhookEndpoint['counts'], metric: string): void {
    this.counts[kind] += 1;
    this.ctx.deps.metrics.triggerEvent(this.ctx.fn, 'webhook', metric);
  }

  private async handle(req: WebhookRequest): Promise<WebhookResponse> {
    const { fn, spec, deps } = this.ctx;
    if (!spec.methods.includes(req.method as never)) {
      throw new FaasError('FAAS_METHOD_NOT_ALLOWED', `/hooks/${spec.path} accepts ${spec.methods.join(', ')}`, { details: { allow: spec.methods } });
    }
    if (req.rawBody.length > spec.maxBodyBytes) {
      throw new FaasError('FAAS_PAYLOAD_TOO_LARGE', `request body exceeds ${spec.maxBodyBytes} bytes`);
    }
    if (this.secretProblem !== undefined) {
      this.outcome('rejected', 'rejected');
      throw new FaasError('FAAS_WEBHOOK_SECRET_MISSING', `webhook /hooks/${spec.path} is not configured on this node: ${this.secretProblem}`);
    }
    let deliveryId: string | undefined;
    if (spec.signature !== undefined) {
      const verdict = VERIFIERS[spec.signature.scheme](req, this.secrets, spec.signature, deps.clock.now());
      if (!verdict.ok) {
        this.outcome('rejected', 'rejected');
        throw new FaasError('FAAS_SIGNATURE_INVALID', `${spec.signature.scheme} signature rejected: ${verdict.reason}`);
      }
      if (verdict.deliveryId !== undefined && verdict.deliveryId.length <= MAX_DELIVERY_ID) deliveryId = verdict.deliveryId;
    }
    deliveryId ??= headerDeliveryId(req.headers);

    let body: ReturnType<typeof bodyData>;
    try {
      body = bodyData(req.rawBody, req.headers['content-type']);
    } catch (err) {
      this.outcome('rejected', 'rejected');
      throw err;
    }

    const key = deliveryId === undefined ? undefined : replayKey(fn, deliveryId);
    if (key !== undefined && !(await this.claim(key))) {
      this.outcome('replayed', 'replayed');
      return spec.mode === 'async'
        ? { status: 202, headers: { 'x-faas-replayed': 'true' }, body: { accepted: true, deliveryId, replayed: true } }
        : { status: 200, headers: { 'x-faas-replayed': 'true' }, body: { replayed: true, deliveryId } };
    }
    const receivedAt = new Date(deps.clock.now()).toISOString();
    return spec.mode === 'async'
      ? this.enqueue(req, key, deliveryId ?? randomUUID(), receivedAt)
      : this.run(key, { path: spec.path, method: req.method, headers: handlerHeaders(req.headers), query: req.query, body, deliveryId, receivedAt });
  }

  private async claim(key: string): Promise<boolean> {
    try {
      return await this.ctx.deps.fences.claim(key, REPLAY_WINDOW_MS);
    } catch (err) {
      throw new FaasError('FAAS_INGEST_UNAVAILABLE', 'the replay-id store did not answer', { cause: err });
    }
  }

  /** Give a claim back so the sender's retry runs; on failure the id stays blocked until it expires. */
  private async release(key: string | undefined): Promise<void> {
    if (key === undefined) return;
    await this.ctx.deps.fences.release(key).catch((err: unknown) => {
      this.ctx.deps.log.warn({ fn: this.ctx.fn, key, err }, 'could not release a webhook delivery id; retries of it are treated as replays until it expires');
    });
  }

  private async run(key: string | undefined, parts: EventParts): Promise<WebhookResponse> {
    const { fn, deps } = this.ctx;
    let res: WebhookResponse;
    let invocationId: string;
    try {
      const result = await deps.invoker.invoke(fn, webhookEvent(parts));
      if (result.error) throw result.error;
      invocationId = result.invocationId;
      res = responseFromResult(result.resultJson);
    } catch (err) {
      this.outcome('failed', 'retry');
      await this.release(key);
      throw err;
    }
    if (res.status >= 500) {
      // The handler answered a server error: the sender will retry, and the retry must run.
      this.outcome('failed', 'retry');
      await this.release(key);
    } else {
      this.outcome('accepted', 'success');
    }
    return { ...res, headers: { ...res.headers, 'x-faas-invocation-id': invocationId } };
  }

  private async enqueue(req: WebhookRequest, key: string | undefined, deliveryId: string, receivedAt: string): Promise<WebhookResponse> {
    const { fn, spec, deps } = this.ctx;
    const text = isUtf8(req.rawBody);
    const record: IngestRecord = {
      v: 1,
      fn,
      path: spec.path,
      method: req.method,
      headers: handlerHeaders(req.headers),
      query: req.query,
      body: req.rawBody.toString(text ? 'utf8' : 'base64'),
      bodyEncoding: text ? 'text' : 'base64',
      deliveryId,
      receivedAt,
    };
    try {
      await this.ensureTopic();
      await deps.eventLog.produce(this.topic, [
        { key: deliveryId, value: JSON.stringify(record), headers: { 'content-type': 'application/json', 'faas-delivery-id': deliveryId } },
      ]);
    } catch (err) {
      this.outcome('failed', 'retry');
      await this.release(key);
      throw new FaasError('FAAS_INGEST_UNAVAILABLE', `could not queue the request on ${this.topic}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.outcome('accepted', 'success');
    return { status: 202, headers: { 'x-faas-delivery-id': deliveryId }, body: { accepted: true, deliveryId } };
  }

  private ensureTopic(): Promise<void> {
    this.topicReady ??= this.ctx.deps.eventLog.ensureTopic(this.topic).catch((err: unknown) => {
      this.topicReady = undefined;
      throw err;
    });
    return this.topicReady;
  }
}

export const webhookTrigger: TriggerPlugin<'webhook'> = {
  type: 'webhook',
  consumerGroups: (ctx) => (ctx.spec.mode === 'async' ? [`faas.${ctx.fn}.ingest`] : []),
  validate(spec, where, env) {
    checkSpec(spec, where);
    const owner = env?.deps.webhooks.owner(spec.path);
    if (env !== undefined && owner !== undefined && owner !== env.fn) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}.path: /hooks/${spec.path} is already served by function "${owner}"`);
    }
  },
  async start(ctx) {
    checkSpec(ctx.spec, `triggers[${ctx.index}]`);
    const endpoint = new WebhookEndpoint(ctx).start();
    if (ctx.spec.mode !== 'async') return endpoint;
    // Async mode: queued requests are consumed like a topic trigger (commit after success, retries,
    // dead letter), each rebuilt into the event the sync mode would have given.
    let ingest: RunningTrigger;
    try {
      ingest = await startConsumer({
        fn: ctx.fn,
        manifest: ctx.manifest,
        topic: ingestTopicOf(ctx.fn, ctx.spec),
        groupId: `faas.${ctx.fn}.ingest`,
        start: 'earliest',
        spec: { mode: 'record', batchSize: 1, batchWaitMs: 0, encoding: 'bytes', keyConcurrency: 1 },
        deps: ctx.deps,
        toEvent: (record) => webhookEventFromIngestRecord(record.value ?? Buffer.alloc(0), ctx.fn),
        triggerType: 'webhook',
      });
    } catch (err) {
      await endpoint.stop();
      throw err;
    }
    return {
      async stop() {
        await endpoint.stop(); // no new requests are queued...
        await ingest.stop(); // ...then the queue's consumer commits what completed and leaves
      },
      status: () => ({ ...endpoint.status(), ingest: ingest.status() }),
    };
  },
};
