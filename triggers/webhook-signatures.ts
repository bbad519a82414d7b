/**
 * Webhook signature schemes: one verify function per scheme, all over the raw body exactly as
 * received. Each takes the request, the secrets (several during a rotation: any one may match), the
 * trigger's signature options and the time, and returns the delivery id the scheme defines.
 *
 * Digests are compared with timingSafeEqual on equal-length buffers (a length mismatch only reveals
 * the digest size, which is public). Built on node:crypto rather than the vendors' libraries: each
 * scheme is a dozen lines, and the libraries fit badly here (a fixed tolerance and Date.now inside
 * `standardwebhooks`, a string payload in `@octokit/webhooks-methods`, the whole API client in
 * `stripe`). test/unit/webhook-signatures.test.ts checks the schemes against published vectors.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookTrigger } from '../core/trigger-specs.ts';

export type SignatureOptions = NonNullable<WebhookTrigger['signature']>;
export type SignatureScheme = SignatureOptions['scheme'];

/** What a verifier reads of a request: headers with lower-case names, and the raw body. */
export interface SignedRequest {
  headers: Readonly<Record<string, string>>;
  rawBody: Buffer;
}

export type VerifyResult = { ok: true; deliveryId?: string } | { ok: false; reason: string };

/** `now` is epoch milliseconds. */
export type Verifier = (req: SignedRequest, secrets: readonly string[], opts: SignatureOptions, now: number) => VerifyResult;

const HEX = /^[0-9a-f]+$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DIGITS = /^\d{1,15}$/;

function hmac(algorithm: string, key: string | Buffer, ...parts: (string | Buffer)[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function sameBytes(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function decode(text: string, encoding: 'hex' | 'base64'): Buffer | undefined {
  if (text.length === 0 || !(encoding === 'hex' ? HEX : BASE64).test(text)) return undefined;
  return Buffer.from(text, encoding);
}

/** Signed timestamps (seconds) must be within the tolerance on either side of now (clock skew). */
function timestampProblem(raw: string | undefined, toleranceSec: number, now: number): string | undefined {
  if (raw === undefined || !DIGITS.test(raw)) return 'missing or malformed timestamp';
  const age = now / 1000 - Number(raw);
  if (age > toleranceSec) return `timestamp is ${Math.round(age)} s old (tolerance ${toleranceSec} s)`;
  if (-age > toleranceSec) return `timestamp is ${Math.round(-age)} s in the future (tolerance ${toleranceSec} s)`;
  return undefined;
}

/** A Standard Webhooks secret: `whsec_` + base64 of the key (the reference libraries base64-decode it with or without the prefix). */
export function standardWebhooksKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-signature` holds space-separated `v1,<base64>`
 * entries, each an HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}`; any entry under any
 * secret verifies. The delivery id is `webhook-id`.
 */
export const verifyStandard: Verifier = (req, secrets, opts, now) => {
  const id = req.headers['webhook-id'];
  const signature = req.headers['webhook-signature'];
  if (id === undefined || id.length === 0) return { ok: false, reason: 'missing webhook-id header' };
  if (signature === undefined) return { ok: false, reason: 'missing webhook-signature header' };
  const late = timestampProblem(req.headers['webhook-timestamp'], opts.toleranceSec, now);
  if (late !== undefined) return { ok: false, reason: `webhook-timestamp: ${late}` };
  const given = signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => decode(entry.slice(3), 'base64'))
    .filter((b) => b !== undefined);
  if (given.length === 0) return { ok: false, reason: 'webhook-signature has no v1 signature' };
  const prefix = `${id}.${req.headers['webhook-timestamp']}.`;
  for (const secret of secrets) {
    const expected = hmac('sha256', standardWebhooksKey(secret), prefix, req.rawBody);
    if (given.some((g) => sameBytes(expected, g))) return { ok: true, deliveryId: id };
  }
  return { ok: false, reason: 'no webhook-signature entry matches' };
};

/** GitHub: `x-hub-signature-256: sha256=<hex HMAC-SHA256 of the body>`; the delivery id is `x-github-delivery`. No timestamp is signed. */
export const verifyGithub: Verifier = (req, secrets) => {
  const header = req.headers['x-hub-signature-256'];
  if (header === undefined) return { ok: false, reason: 'missing x-hub-signature-256 header' };
  const given = header.startsWith('sha256=') ? decode(header.slice(7), 'hex') : undefined;
  if (given === undefined) return { ok: false, reason: 'x-hub-signature-256 is not "sha256=<hex>"' };
  for (const secret of secrets) {
    if (sameBytes(hmac('sha256', secret, req.rawBody), given)) {
      const delivery = req.headers['x-github-delivery'];
      return delivery ? { ok: true, deliveryId: delivery } : { ok: true };
    }
  }
  return { ok: false, reason: 'x-hub-signature-256 does not match' };
};

/**
 * Stripe: `stripe-signature: t=<seconds>,v1=<hex>[,v1=<hex>…]`, each v1 an HMAC-SHA256 of
 * `${t}.${body}` keyed by the endpoint secret as text (`whsec_…` included). The delivery id is the
 * event id, `id` of the JSON body (Stripe retries an event with the same id).
 */
export const verifyStripe: Verifier = (req, secrets, opts, now) => {
  const header = req.headers['stripe-signature'];
  if (header === undefined) return { ok: false, reason: 'missing stripe-signature header' };
  let t: string | undefined;
  const given: Buffer[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') t = value;
    else if (key === 'v1') {
      const b = decode(value, 'hex');
      if (b !== undefined) given.push(b);
    }
  }
  const late = timestampProblem(t, opts.toleranceSec, now);
  if (late !== undefined) return { ok: false, reason: `stripe-signature t: ${late}` };
  if (given.length === 0) return { ok: false, reason: 'stripe-signature has no v1 signature' };
  for (const secret of secrets) {
    const expected = hmac('sha256', secret, `${t}.`, req.rawBody);
    if (given.some((g) => sameBytes(expected, g))) {
      const id = stripeEventId(req.rawBody);
      return id === undefined ? { ok: true } : { ok: true, deliveryId: id };
    }
  }
  return { ok: false, reason: 'no stripe-signature v1 entry matches' };
};

function stripeEventId(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const id = typeof parsed === 'object' && parsed !== null ? (parsed as { id?: unknown }).id : undefined;
    return typeof id === 'string' && id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Header of the generic scheme when the manifest names none. */
export const DEFAULT_HMAC_HEADER = 'x-signature';

/**
 * Generic HMAC: `opts.header` (default x-signature) holds `${prefix}${digest}`, the digest being
 * `opts.algorithm` over the body in `opts.encoding`. No timestamp is signed, so replays are bounded
 * only by the delivery-id window (see webhookDeliveryId in triggers/webhook.ts).
 */
export const verifyHmac: Verifier = (req, secrets, opts) => {
  const name = (opts.header ?? DEFAULT_HMAC_HEADER).toLowerCase();
  const header = req.headers[name];
  if (header === undefined) return { ok: false, reason: `missing ${name} header` };
  const prefix = opts.prefix ?? '';
  const given = header.startsWith(prefix) ? decode(header.slice(prefix.length).trim(), opts.encoding) : undefined;
  if (given === undefined) return { ok: false, reason: `${name} is not "${prefix}<${opts.encoding} digest>"` };
  for (const secret of secrets) {
    if (sameBytes(hmac(opts.algorithm, secret, req.rawBody), given)) return { ok: true };
  }
  return { ok: false, reason: `${name} does not match` };
};

export const VERIFIERS: Readonly<Record<SignatureScheme, Verifier>> = {
  standard: verifyStandard,
  github: verifyGithub,
  stripe: verifyStripe,
  hmac: verifyHmac,
};

/** The secrets in an environment value: comma-separated for rotation, blanks ignored. */
export function parseSecrets(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
