import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhookTriggerSchema } from '../../core/trigger-specs.ts';
import {
  parseSecrets,
  verifyGithub,
  verifyHmac,
  verifyStandard,
  verifyStripe,
  type SignatureOptions,
  type SignedRequest,
  type Verifier,
} from '../../triggers/webhook-signatures.ts';
import { bodyData, responseFromResult, webhookEvent, webhookEventFromIngestRecord } from '../../triggers/webhook.ts';

const opts = (signature: Record<string, unknown>): SignatureOptions =>
  webhookTriggerSchema.parse({ type: 'webhook', path: 'x', signature: { secretEnv: 'S', ...signature } }).signature!;

const NOW = 1_700_000_000_000;
const nowSec = NOW / 1000;
const body = Buffer.from('{"id":"evt_1","hello":"world"}');

function standardSigned(secret: string, id: string, ts: number, raw: Buffer): SignedRequest {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${ts}.`).update(raw).digest('base64');
  return { rawBody: raw, headers: { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` } };
}

function githubSigned(secret: string, raw: Buffer, delivery = 'd-1'): SignedRequest {
  const sig = createHmac('sha256', secret).update(raw).digest('hex');
  return { rawBody: raw, headers: { 'x-hub-signature-256': `sha256=${sig}`, 'x-github-delivery': delivery } };
}

function stripeSigned(secrets: string[], ts: number, raw: Buffer): SignedRequest {
  const v1 = secrets.map((s) => `v1=${createHmac('sha256', s).update(`${ts}.`).update(raw).digest('hex')}`);
  return { rawBody: raw, headers: { 'stripe-signature': [`t=${ts}`, ...v1].join(',') } };
}

function hmacSigned(secret: string, raw: Buffer, o: SignatureOptions): SignedRequest {
  const sig = createHmac(o.algorithm, secret).update(raw).digest(o.encoding);
  return { rawBody: raw, headers: { [(o.header ?? 'x-signature').toLowerCase()]: `${o.prefix ?? ''}${sig}` } };
}

const tamper = (r: SignedRequest): SignedRequest => ({ ...r, rawBody: Buffer.from(r.rawBody.toString().replace('world', 'World')) });

function expectRejected(verify: Verifier, req: SignedRequest, secrets: string[], o: SignatureOptions, now = NOW, reason?: RegExp) {
  const r = verify(req, secrets, o, now);
  expect(r.ok).toBe(false);
  if (!r.ok && reason) expect(r.reason).toMatch(reason);
}

describe('Standard Webhooks', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const o = opts({ scheme: 'standard' });

  it('matches the published reference vector', () => {
    const req: SignedRequest = {
      rawBody: Buffer.from('{"test": 2432232314}'),
      headers: { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' },
    };
    expect(verifyStandard(req, ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], o, 1614265330_000)).toEqual({ ok: true, deliveryId: 'msg_p5jXN8AQM9LWM0D4loKWxJek' });
  });

  it('accepts a valid request and returns webhook-id as the delivery id', () => {
    expect(verifyStandard(standardSigned(secret, 'msg_1', nowSec, body), [secret], o, NOW)).toEqual({ ok: true, deliveryId: 'msg_1' });
  });

  it('rejects a tampered body, a wrong secret, an expired or future timestamp, a missing header', () => {
    const req = standardSigned(secret, 'msg_1', nowSec, body);
    expectRejected(verifyStandard, tamper(req), [secret], o);
    expectRejected(verifyStandard, req, [`whsec_${randomBytes(24).toString('base64')}`], o);
    expectRejected(verifyStandard, standardSigned(secret, 'msg_1', nowSec - 301, body), [secret], o, NOW, /old/);
    expectRejected(verifyStandard, standardSigned(secret, 'msg_1', nowSec + 301, body), [secret], o, NOW, /future/);
    expectRejected(verifyStandard, { ...req, headers: { ...req.headers, 'webhook-id': 'msg_2' } }, [secret], o);
    expectRejected(verifyStandard, { rawBody: body, headers: {} }, [secret], o, NOW, /webhook-id/);
    expect(verifyStandard(standardSigned(secret, 'msg_1', nowSec - 299, body), [secret], o, NOW).ok).toBe(true);
  });

  it('rotation: the second secret verifies, and so does a second signature entry', () => {
    const old = `whsec_${randomBytes(24).toString('base64')}`;
    expect(verifyStandard(standardSigned(secret, 'msg_1', nowSec, body), [old, secret], o, NOW).ok).toBe(true);
    const a = standardSigned(old, 'msg_1', nowSec, body);
    const b = standardSigned(secret, 'msg_1', nowSec, body);
    const both = { ...b, headers: { ...b.headers, 'webhook-signature': `${a.headers['webhook-signature']} ${b.headers['webhook-signature']}` } };
    expect(verifyStandard(both, [secret], o, NOW).ok).toBe(true);
  });
});

describe('GitHub', () => {
  const o = opts({ scheme: 'github' });

  it('matches the example in GitHub\'s documentation', () => {
    const req = { rawBody: Buffer.from('Hello, World!'), headers: { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' } };
    expect(verifyGithub(req, ["It's a Secret to Everybody"], o, NOW)).toEqual({ ok: true });
  });

  it('accepts a valid request with X-GitHub-Delivery as the delivery id; rejects tampered body, wrong secret, bad header', () => {
    const req = githubSigned('s3cret', body, 'guid-1');
    expect(verifyGithub(req, ['s3cret'], o, NOW)).toEqual({ ok: true, deliveryId: 'guid-1' });
    expectRejected(verifyGithub, tamper(req), ['s3cret'], o);
    expectRejected(verifyGithub, req, ['other'], o);
    expectRejected(verifyGithub, { ...req, headers: { 'x-hub-signature-256': 'sha1=abc' } }, ['s3cret'], o, NOW, /sha256=/);
    expectRejected(verifyGithub, { ...req, headers: { 'x-hub-signature-256': 'sha256=zz' } }, ['s3cret'], o);
    // GitHub signs no timestamp: replays are bounded by the delivery-id window only (see webhook.ts).
  });

  it('rotation: the second secret verifies', () => {
    expect(verifyGithub(githubSigned('new', body), ['old', 'new'], o, NOW).ok).toBe(true);
  });
});

describe('Stripe', () => {
  const secret = 'whsec_test_abc';
  const o = opts({ scheme: 'stripe' });

  it('accepts a valid request with the event id as the delivery id', () => {
    expect(verifyStripe(stripeSigned([secret], nowSec, body), [secret], o, NOW)).toEqual({ ok: true, deliveryId: 'evt_1' });
  });

  it('rejects a tampered body, a wrong secret, an expired timestamp, a missing t', () => {
    const req = stripeSigned([secret], nowSec, body);
    expectRejected(verifyStripe, tamper(req), [secret], o);
    expectRejected(verifyStripe, req, ['whsec_other'], o);
    expectRejected(verifyStripe, stripeSigned([secret], nowSec - 301, body), [secret], o, NOW, /old/);
    expect(verifyStripe(stripeSigned([secret], nowSec - 100, body), [secret], opts({ scheme: 'stripe', toleranceSec: 60 }), NOW).ok).toBe(false);
    const noT = { ...req, headers: { 'stripe-signature': req.headers['stripe-signature']!.replace(/t=\d+,/, '') } };
    expectRejected(verifyStripe, noT, [secret], o, NOW, /timestamp/);
  });

  it('several v1 entries are allowed, and the second configured secret verifies', () => {
    expect(verifyStripe(stripeSigned(['whsec_other', secret], nowSec, body), [secret], o, NOW).ok).toBe(true);
    expect(verifyStripe(stripeSigned([secret], nowSec, body), ['whsec_old', secret], o, NOW).ok).toBe(true);
  });

  it('a body that is not JSON verifies without a delivery id', () => {
    expect(verifyStripe(stripeSigned([secret], nowSec, Buffer.from('plain')), [secret], o, NOW)).toEqual({ ok: true });
  });
});

describe('generic HMAC', () => {
  it('defaults: x-signature, sha256, hex', () => {
    const o = opts({ scheme: 'hmac' });
    const req = hmacSigned('k', body, o);
    expect(req.headers['x-signature']).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyHmac(req, ['k'], o, NOW)).toEqual({ ok: true });
    expectRejected(verifyHmac, tamper(req), ['k'], o);
    expectRejected(verifyHmac, req, ['wrong'], o);
  });

  it('honours header, algorithm, encoding and prefix; rotation', () => {
    const o = opts({ scheme: 'hmac', header: 'X-Shopify-Hmac-Sha256', algorithm: 'sha512', encoding: 'base64', prefix: 'sha512=' });
    const req = hmacSigned('new', body, o);
    expect(req.headers['x-shopify-hmac-sha256']).toMatch(/^sha512=/);
    expect(verifyHmac(req, ['old', 'new'], o, NOW).ok).toBe(true);
    expectRejected(verifyHmac, tamper(req), ['new'], o);
    expectRejected(verifyHmac, req, ['old'], o);
    expectRejected(verifyHmac, { ...req, headers: { 'x-shopify-hmac-sha256': req.headers['x-shopify-hmac-sha256']!.slice(7) } }, ['new'], o, NOW, /sha512=/);
    // The generic scheme signs no timestamp: there is no expiry to test.
  });
});

describe('secrets and events', () => {
  it('secrets are comma-separated, blanks ignored', () => {
    expect(parseSecrets(' a, b ,,')).toEqual(['a', 'b']);
    expect(parseSecrets(undefined)).toEqual([]);
  });

  it('decodes bodies: JSON by content type, text, base64 when not UTF-8, empty as null; bad JSON is FAAS_JSON_INVALID', () => {
    expect(bodyData(Buffer.from('{"a":1}'), 'application/json; charset=utf-8')).toEqual({ data: { a: 1 }, encoding: 'json' });
    expect(bodyData(Buffer.from('{"a":1}'), 'application/vnd.github+json').encoding).toBe('json');
    expect(bodyData(Buffer.from('a=1'), 'application/x-www-form-urlencoded')).toEqual({ data: 'a=1', encoding: 'text' });
    expect(bodyData(Buffer.from([0xff, 0xfe, 0x00]), undefined)).toEqual({ data: '//4A', encoding: 'base64' });
    expect(bodyData(Buffer.alloc(0), 'application/json')).toEqual({ data: null, encoding: 'empty' });
    expect(() => bodyData(Buffer.from('{nope'), 'application/json')).toThrow(expect.objectContaining({ code: 'FAAS_JSON_INVALID' }));
  });

  it('a handler result becomes the response only when shaped { status?, headers?, body? } (the SDK HttpResponse)', () => {
    expect(responseFromResult('{"status":201,"headers":{"X-A":"1","content-length":"9","x-faas-version":"x","bad":"a\\nb"},"body":{"ok":true}}')).toEqual({
      status: 201,
      headers: { 'x-a': '1' },
      body: { ok: true },
    });
    expect(responseFromResult('{"status":"ok"}')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(responseFromResult('{"status":200,"other":1}')).toMatchObject({ status: 200, body: '{"status":200,"other":1}' });
    expect(responseFromResult('{"status":99}')).toMatchObject({ status: 200, body: '{"status":99}' });
    expect(responseFromResult('{"body":"text"}')).toEqual({ status: 200, headers: {}, body: 'text' });
    expect(responseFromResult('{"status":204}')).toEqual({ status: 204, headers: {}, body: '' });
    expect(responseFromResult(undefined)).toMatchObject({ status: 200, body: 'null' });
  });

  it('an ingest record rebuilds the same event as sync mode', () => {
    const headers = { 'content-type': 'application/json', 'x-github-delivery': 'd1' };
    const parts = { path: 'gh/push', method: 'POST', headers, query: { a: '1' }, deliveryId: 'd1', receivedAt: '2024-01-01T00:00:00.000Z' };
    const sync = webhookEvent({ ...parts, body: bodyData(Buffer.from('{"x":1}'), 'application/json') });
    const record = { v: 1, fn: 'f', ...parts, headers: { ...headers, authorization: 'Bearer x' }, body: '{"x":1}', bodyEncoding: 'text' };
    expect(webhookEventFromIngestRecord(Buffer.from(JSON.stringify(record)), 'f')).toEqual(sync);
    expect(sync).toMatchObject({ data: { x: 1 }, type: 'faas.webhook', source: '/hooks/gh/push', eventId: 'd1', http: { path: '/hooks/gh/push' } });
    expect(() => webhookEventFromIngestRecord(Buffer.from('{"v":2}'), 'f')).toThrow(expect.objectContaining({ code: 'FAAS_BODY_INVALID' }));
  });
});
