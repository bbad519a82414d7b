/**
 * Series: several invocations of one function on one instance in one round trip (the topic
 * trigger's transport). In order, one handler call each, stopping after the first failure; a series
 * past its deadline is lost as a whole and its instance destroyed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { IsolateRunner } from '../../sandbox/runner.ts';
import type { FunctionVersion, SeriesItem } from '../../scheduler/ports.ts';

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
const items = (values: unknown[]): SeriesItem[] => values.map((v, i) => ({ invocationId: `inv-${i}`, correlationId: 'c', eventJson: JSON.stringify({ data: v }) }));

describe('invokeSeries', () => {
  it('runs every event in order on one instance, with its own invocation id and logs', async () => {
    const f = await fn("let calls = 0; export default (e, ctx) => { calls++; console.log('saw ' + e.data); return { n: e.data, calls, id: ctx.invocationId }; }");
    const out = await runner.invokeSeries(f, items([1, 2, 3]), Date.now() + 5000);
    expect(out.lost).toBe(false);
    const results = out.outcomes.map((o) => (o.ok ? JSON.parse(o.resultJson) : o.error));
    expect(results).toEqual([{ n: 1, calls: 1, id: 'inv-0' }, { n: 2, calls: 2, id: 'inv-1' }, { n: 3, calls: 3, id: 'inv-2' }]);
    expect(out.outcomes.map((o) => o.logs.map((l) => [l.invocationId, l.message]))).toEqual([[['inv-0', 'saw 1']], [['inv-1', 'saw 2']], [['inv-2', 'saw 3']]]);
    expect(out.outcomes.map((o) => o.start)).toEqual(['cold', 'warm', 'warm']);
  });

  it('stops after the first failure: later events do not run', async () => {
    const f = await fn("export default (e) => { if (e.data === 'bad') throw new RangeError('no'); console.log('ran ' + e.data); return e.data; }");
    const out = await runner.invokeSeries(f, items(['a', 'bad', 'c']), Date.now() + 5000);
    expect(out.lost).toBe(false);
    expect(out.outcomes).toHaveLength(2);
    expect(out.outcomes[1]).toMatchObject({ ok: false, error: { code: 'FAAS_HANDLER_ERROR', name: 'RangeError', message: 'no' } });
    expect(out.outcomes.flatMap((o) => o.logs.map((l) => l.message))).toEqual(['ran a']);
  });

  it('parses JSON text data in the guest; text that is not JSON fails its item before the handler, and cannot add attributes', async () => {
    const f = await fn("export default (e) => { console.log('ran ' + JSON.stringify(e.data)); return { data: e.data, id: e.id, extra: e.extra ?? null }; }");
    const raw = (texts: string[]): SeriesItem[] =>
      texts.map((t, i) => ({ invocationId: `raw-${i}`, correlationId: 'c', eventJson: JSON.stringify({ id: `ev-${i}`, data: t }), dataIsJsonText: true }));
    const good = await runner.invokeSeries(f, raw(['{"n":1}', '[2]', '"three"']), Date.now() + 5000);
    expect(good.outcomes.map((o) => (o.ok ? JSON.parse(o.resultJson) : o.error))).toEqual([
      { data: { n: 1 }, id: 'ev-0', extra: null },
      { data: [2], id: 'ev-1', extra: null },
      { data: 'three', id: 'ev-2', extra: null },
    ]);
    // A value shaped to close the data attribute and add or override others is just invalid JSON.
    const bad = await runner.invokeSeries(f, raw(['{"n":1}', '1,"id":"forged","extra":true', '{"n":3}']), Date.now() + 5000);
    expect(bad.outcomes).toHaveLength(2);
    expect(bad.outcomes[1]).toMatchObject({ ok: false, error: { code: 'FAAS_RECORD_UNDECODABLE' }, logs: [] });
    expect(bad.outcomes.flatMap((o) => o.logs.map((l) => l.message))).toEqual(['ran {"n":1}']);
  });

  it('a series past its deadline is lost as a whole, and the instance is destroyed', async () => {
    const f = await fn("export default async (e) => { if (e.data === 'hang') await new Promise(() => {}); return e.data; }");
    const out = await runner.invokeSeries(f, items(['x', 'hang', 'y']), Date.now() + 300);
    expect(out).toMatchObject({ lost: true, outcomes: [], error: { code: 'FAAS_TIMEOUT' } });
    const next = await runner.invokeSeries(f, items(['z']), Date.now() + 5000);
    expect(next.outcomes[0]).toMatchObject({ ok: true, start: 'cold' });
  });
});
