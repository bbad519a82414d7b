/**
 * Series: several invocations of one function on one instance in one round trip (the topic
 * trigger's transport). In order, one handler call each, stopping after the first failure; a series
 * past its deadline is lost as a whole and its instance destroyed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { IsolateRunner } from '../../sandbox/runner.ts';
import type { FunctionVersion, SeriesPayload, SeriesResult } from '../../scheduler/ports.ts';

let runner: IsolateRunner;
beforeAll(async () => {
  runner = new IsolateRunner({ processes: 1 });
  await runner.ready();
});
afterAll(() => runner.close(1000));

let version = 0;
async function fn(source: string, manifest: Record<string, unknown> = {}): Promise<FunctionVersion> {
  const b = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': source }, maxBytes: 1e6 });
  return { name: 'series-fn', version: ++version, digest: b.digest, code: b.code, manifest: parseManifest({ name: 'series-fn', ...manifest }), files: {}, deployedAt: '' };
}
interface Item {
  event: Record<string, unknown>;
  /** JSON-text data, sent apart from the event (whose data is then null). */
  text?: string;
  correlationId?: string;
}
/** A series payload with id `id` (item i is invocation `${id}.${i}`). */
function payload(id: string, list: Item[]): SeriesPayload {
  const correlation: Record<number, string> = {};
  list.forEach((x, i) => x.correlationId !== undefined && (correlation[i] = x.correlationId));
  return {
    id,
    eventsJson: JSON.stringify(list.map((x) => (x.text === undefined ? x.event : { ...x.event, data: null }))),
    texts: list.map((x) => x.text ?? '').join(''),
    textLengths: list.map((x) => x.text?.length ?? -1),
    correlation,
  };
}
const items = (id: string, values: unknown[]) => payload(id, values.map((v) => ({ event: { data: v } })));

/** The console lines of a series as [item, message]. */
const lines = (out: SeriesResult) => (out.lost ? [] : out.logs.map(([item, , , message]) => [item, message]));

describe('invokeSeries', () => {
  it('runs every event in order on one instance, with its own invocation id and logs', async () => {
    const f = await fn("let calls = 0; export default (e, ctx) => { calls++; console.log(JSON.stringify({ n: e.data, calls, id: ctx.invocationId, corr: ctx.correlationId })); return { n: e.data }; }");
    const given = payload('S1', [{ event: { data: 1 } }, { event: { data: 2 }, correlationId: 'from-upstream' }, { event: { data: 3 } }]);
    const out = await runner.invokeSeries(f, given, Date.now() + 5000);
    expect(out).toMatchObject({ lost: false, done: 3, start: 'cold' });
    expect(out.lost === false && out.failure).toBeUndefined();
    expect(lines(out)).toEqual([
      [0, '{"n":1,"calls":1,"id":"S1.0","corr":"S1.0"}'],
      [1, '{"n":2,"calls":2,"id":"S1.1","corr":"from-upstream"}'],
      [2, '{"n":3,"calls":3,"id":"S1.2","corr":"S1.2"}'],
    ]);
  });

  it('stops after the first failure: later events do not run', async () => {
    const f = await fn("export default (e) => { if (e.data === 'bad') throw new RangeError('no'); console.log('ran ' + e.data); return e.data; }");
    const out = await runner.invokeSeries(f, items('S6', ['a', 'bad', 'c']), Date.now() + 5000);
    expect(out).toMatchObject({ lost: false, done: 1, failure: { code: 'FAAS_HANDLER_ERROR', name: 'RangeError', message: 'no' } });
    expect(lines(out)).toEqual([[0, 'ran a']]);
  });

  it('results are not returned, but held to the rules of a single invocation (JSON, exact UTF-8 size)', async () => {
    const f = await fn("export default (e) => (e.data === 'bigint' ? 1n : e.data === 'euros' ? '€'.repeat(40) : e.data);", { limits: { maxResultBytes: 100 } });
    const invalid = await runner.invokeSeries(f, items('S4', ['a', 'bigint', 'c']), Date.now() + 5000);
    expect(invalid).toMatchObject({ lost: false, done: 1, failure: { code: 'FAAS_RESULT_INVALID' } });
    // 42 UTF-16 units (under the limit) but 122 UTF-8 bytes (over it).
    const large = await runner.invokeSeries(f, items('S5', ['a', 'b', 'euros', 'd']), Date.now() + 5000);
    expect(large).toMatchObject({ lost: false, done: 2, failure: { code: 'FAAS_RESULT_TOO_LARGE', message: 'result is 122 bytes; limits.maxResultBytes is 100' } });
    const single = await runner.invoke(f, JSON.stringify({ data: 'euros' }), { invocationId: 'one', correlationId: 'one', deadline: Date.now() + 5000 });
    expect(single).toMatchObject({ ok: false, error: { code: 'FAAS_RESULT_TOO_LARGE', message: 'result is 122 bytes; limits.maxResultBytes is 100' } });
  });

  it('parses JSON text data in the guest; text that is not JSON fails its item before the handler, and cannot add attributes', async () => {
    const f = await fn("export default (e) => { console.log(JSON.stringify({ data: e.data, id: e.id, extra: e.extra ?? null })); return null; }");
    // Texts side by side in one string, cut by length: multi-byte characters and an item without one in between.
    const raw = (id: string, texts: (string | null)[]) => payload(id, texts.map((t, i) => (t === null ? { event: { id: `ev-${i}`, data: 'inline' } } : { event: { id: `ev-${i}` }, text: t })));
    const good = await runner.invokeSeries(f, raw('S2', ['{"n":1}', '["€𝄞"]', null, '"three"']), Date.now() + 5000);
    expect(good).toMatchObject({ lost: false, done: 4 });
    expect(lines(good).map(([, m]) => JSON.parse(m as string))).toEqual([
      { data: { n: 1 }, id: 'ev-0', extra: null },
      { data: ['€𝄞'], id: 'ev-1', extra: null },
      { data: 'inline', id: 'ev-2', extra: null },
      { data: 'three', id: 'ev-3', extra: null },
    ]);
    // A value shaped to close the data attribute and add or override others is just invalid JSON.
    const bad = await runner.invokeSeries(f, raw('S3', ['{"n":1}', '1,"id":"forged","extra":true', '{"n":3}']), Date.now() + 5000);
    expect(bad).toMatchObject({ lost: false, done: 1, failure: { code: 'FAAS_RECORD_UNDECODABLE' } });
    expect(lines(bad)).toEqual([[0, '{"data":{"n":1},"id":"ev-0","extra":null}']]);
  });

  it('a series past its deadline is lost as a whole, and the instance is destroyed', async () => {
    const f = await fn("export default async (e) => { if (e.data === 'hang') await new Promise(() => {}); return e.data; }");
    const out = await runner.invokeSeries(f, items('S7', ['x', 'hang', 'y']), Date.now() + 300);
    expect(out).toMatchObject({ lost: true, error: { code: 'FAAS_TIMEOUT' } });
    const next = await runner.invokeSeries(f, items('S8', ['z']), Date.now() + 5000);
    expect(next).toMatchObject({ lost: false, done: 1, start: 'cold' });
  });
});
