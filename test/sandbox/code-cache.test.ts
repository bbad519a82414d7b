/**
 * The bootstrap's code cache (sandbox/isolate-instance.ts primeBootstrap): a sandbox process primes
 * it before it says ready, from an isolate that ran the bridge's common paths, so it holds the
 * functions those paths compiled and cold starts skip compiling them. Produced at compile time it
 * would hold the top level only. A function version's cache (kept once the version was compiled
 * twice in the process) is produced again the same way, once, after an invocation settled
 * synchronously in an instance (IsolateInstance.recacheCode).
 */
import { describe, expect, it } from 'vitest';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { CodeCache } from '../../sandbox/code-cache.ts';
import { BOOTSTRAP_DIGEST, IsolateInstance, primeBootstrap } from '../../sandbox/isolate-instance.ts';

const ECHO = 'export default async (event) => ({ echo: event.data });';

async function instance(cache: CodeCache, digest: string, source = ECHO) {
  const b = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': source }, maxBytes: 1e6 });
  return IsolateInstance.create({ name: 'cached', version: 1, digest, code: b.code, memoryMb: 16, env: {}, initTimeoutMs: 1000 }, cache);
}

const invokeSpec = (data: unknown) => ({ invocationId: 'i', correlationId: 'c', eventJson: JSON.stringify({ data }), deadline: Date.now() + 5000, maxResultBytes: 1024, maxLogBytes: 1024 });

/** A handler whose work is in functions V8 compiles on their first call. */
const NESTED = `
const words = (s) => s.split(' ').map((w) => w.trim()).filter((w) => w.length > 0);
const count = (list) => list.reduce((m, w) => ({ ...m, [w]: (m[w] ?? 0) + 1 }), {});
export default async (event) => count(words(String(event.data)));`;

describe('bootstrap code cache', () => {
  it('primeBootstrap leaves only the bootstrap, cached with the functions its invocations compiled, and instances made from it serve', async () => {
    const primed = new CodeCache();
    await primeBootstrap(primed);
    expect(primed.size).toBe(1);

    // The same cache as it would be produced at compile time: the second create produces it.
    const atCompile = new CodeCache();
    (await instance(atCompile, 'first')).dispose();
    (await instance(atCompile, 'second')).dispose();
    expect(atCompile.byteLength(BOOTSTRAP_DIGEST)).toBeGreaterThan(0);
    expect(primed.byteLength(BOOTSTRAP_DIGEST)).toBeGreaterThan(atCompile.byteLength(BOOTSTRAP_DIGEST) * 1.5);

    for (let i = 0; i < 3; i++) {
      const inst = await instance(primed, 'from-primed');
      const out = await inst.invoke(invokeSpec(i));
      expect(out.ok && JSON.parse(out.resultJson)).toEqual({ echo: i });
      inst.dispose();
    }
  });

  it("a version compiled twice gets its cache produced again after an invocation that settles synchronously, once, and it serves", async () => {
    const cache = new CodeCache();
    await primeBootstrap(cache);
    const once = await instance(cache, 'nested', NESTED);
    const single = await once.invoke(invokeSpec('x'));
    expect(single.ok).toBe(true);
    expect(once.recacheDue).toBe(false); // compiled once: no cache is kept for it at all
    expect(cache.has('nested')).toBe(false);
    const first = await instance(cache, 'nested', NESTED); // the second compile produces one
    expect(cache.has('nested')).toBe(true);
    expect(first.recacheDue).toBe(false); // nothing ran yet
    const atCompile = cache.byteLength('nested');
    const out = await first.invoke(invokeSpec('a b a'));
    expect(out.ok && JSON.parse(out.resultJson)).toEqual({ a: 2, b: 1 });
    expect(first.recacheDue).toBe(true);
    first.recacheCode();
    expect(cache.hasRunCache('nested')).toBe(true);
    expect(cache.byteLength('nested')).toBeGreaterThan(atCompile);
    expect(first.recacheDue).toBe(false);
    expect(once.recacheDue).toBe(false); // once per version
    first.dispose();
    once.dispose();

    const next = await instance(cache, 'nested', NESTED);
    const again = await next.invoke(invokeSpec('c c'));
    expect(again.ok && JSON.parse(again.resultJson)).toEqual({ c: 2 });
    expect(next.recacheDue).toBe(false); // once per version
    next.dispose();
  });

  it('is not produced after an invocation that waited on the host (its isolate may still be busy)', async () => {
    const cache = new CodeCache();
    await primeBootstrap(cache);
    const source = 'export default async () => { await new Promise((r) => setTimeout(r, 1)); return 1; };';
    (await instance(cache, 'waits', source)).dispose();
    const inst = await instance(cache, 'waits', source);
    expect(cache.has('waits')).toBe(true);
    const out = await inst.invoke(invokeSpec(null));
    expect(out.ok && out.resultJson).toBe('1');
    expect(inst.recacheDue).toBe(false);
    inst.recacheCode();
    expect(cache.hasRunCache('waits')).toBe(false);
    inst.dispose();
  });
});
