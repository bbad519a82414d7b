/**
 * The bootstrap's code cache (sandbox/isolate-instance.ts primeBootstrap): a sandbox process primes
 * it before it says ready, from an isolate that ran the bridge's common paths, so it holds the
 * functions those paths compiled and cold starts skip compiling them. Produced at compile time it
 * would hold the top level only.
 */
import { describe, expect, it } from 'vitest';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { BOOTSTRAP_DIGEST, CodeCache, IsolateInstance, primeBootstrap } from '../../sandbox/isolate-instance.ts';

async function instance(cache: CodeCache, digest: string) {
  const b = await bundleFunction({ entry: 'index.ts', files: { 'index.ts': 'export default async (event) => ({ echo: event.data });' }, maxBytes: 1e6 });
  return IsolateInstance.create({ name: 'cached', version: 1, digest, code: b.code, memoryMb: 16, env: {}, initTimeoutMs: 1000 }, cache);
}

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
      const out = await inst.invoke({ invocationId: `i${i}`, correlationId: 'c', eventJson: JSON.stringify({ data: i }), deadline: Date.now() + 5000, maxResultBytes: 1024, maxLogBytes: 1024 });
      expect(out.ok && JSON.parse(out.resultJson)).toEqual({ echo: i });
      inst.dispose();
    }
  });
});
