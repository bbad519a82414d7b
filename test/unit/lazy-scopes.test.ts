/**
 * Scopes of a series' items (InvocationScopes.openLazy): an item's scope opens on its first runtime
 * call, under its id `${seriesId}.${item}`, and only for the series' own function and items; the
 * series' end closes every scope it opened.
 */
import { describe, expect, it } from 'vitest';
import { InvocationScopes } from '../../scheduler/invocation-scope.ts';
import { MemoryStateStore } from '../../scheduler/state-memory.ts';

const ctx = (invocationId: string) => ({ invocationId, correlationId: invocationId, chain: ['fn'], deadline: Date.now() + 5000 });
const call = (scopes: InvocationScopes, invocationId: string, fn = 'fn') => scopes.handle({ fn, invocationId, op: 'state.set', args: JSON.stringify([null, 'k', '"v"', null]) });

describe('lazy series scopes', () => {
  it('opens an item scope on its first call only, and reuses it after', async () => {
    const scopes = new InvocationScopes(new MemoryStateStore());
    const built: number[] = [];
    const series = scopes.openLazy('fn', 'S', 3, (i) => (built.push(i), ctx(`S.${i}`)));
    expect(series.opened()).toEqual([]);
    expect(await call(scopes, 'S.2')).toMatchObject({ ok: true });
    expect(await call(scopes, 'S.0')).toMatchObject({ ok: true });
    expect(await call(scopes, 'S.2')).toMatchObject({ ok: true });
    expect(built).toEqual([2, 0]); // one call context each, when first needed
    expect(series.opened().map(([i, s]) => [i, s.writes.length])).toEqual([[0, 1], [2, 2]]); // in item order
    expect(series.get(1)).toBeUndefined();
  });

  it('answers no call for another function, an item the series does not have, or after the series', async () => {
    const scopes = new InvocationScopes(new MemoryStateStore());
    const series = scopes.openLazy('fn', 'S', 2, (i) => ctx(`S.${i}`));
    for (const [id, fn] of [['S.0', 'other'], ['S.2', 'fn'], ['S.-1', 'fn'], ['S.01', 'fn'], ['S.1.0', 'fn'], ['S', 'fn'], ['T.0', 'fn']] as const) {
      expect(await call(scopes, id, fn), `${fn} ${id}`).toMatchObject({ ok: false, payload: expect.stringContaining('FAAS_STATE_INVALID') });
    }
    expect(series.opened()).toEqual([]);
    expect(await call(scopes, 'S.1')).toMatchObject({ ok: true });
    series.close();
    expect(await call(scopes, 'S.1')).toMatchObject({ ok: false, payload: expect.stringContaining('FAAS_STATE_INVALID') });
    expect(await call(scopes, 'S.0')).toMatchObject({ ok: false, payload: expect.stringContaining('FAAS_STATE_INVALID') });
  });
});
