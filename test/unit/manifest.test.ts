import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import { manifestJsonSchema, parseManifest } from '../../core/manifest.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof FaasError ? err.code : 'not a FaasError';
  }
  return undefined;
}

describe('manifest', () => {
  it('fills every default and freezes the result', () => {
    const m = parseManifest({ name: 'order-enricher' });
    expect(m.entry).toBe('index.ts');
    expect(m.limits).toEqual({ timeoutMs: 10_000, memoryMb: 64, maxResultBytes: 1024 * 1024, maxLogBytes: 64 * 1024 });
    expect(m.scaling).toEqual({ minWarm: 0, maxInstances: 10, idleMs: 300_000, maxQueue: 100 });
    expect(m.retry).toEqual({ maxAttempts: 3, backoffMs: 200, maxBackoffMs: 30_000 });
    expect(m.triggers).toEqual([]);
    expect(Object.isFrozen(m) && Object.isFrozen(m.limits)).toBe(true);
  });

  it('names every bad field and the rule it broke', () => {
    let err: FaasError | undefined;
    try {
      parseManifest({ name: 'Bad_Name', limits: { memoryMb: 4 }, surprise: true, env: { 'x-y': '1' } });
    } catch (e) {
      err = e as FaasError;
    }
    expect(err?.code).toBe('FAAS_MANIFEST_INVALID');
    expect(err?.message).toContain('name:');
    expect(err?.message).toContain('limits.memoryMb');
    expect(err?.message).toMatch(/surprise/);
    expect(err?.message).toContain('env.x-y');
    expect(err?.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'limits.memoryMb' })]));
  });

  it('refuses non-objects, unknown trigger types and wrong limits', () => {
    expect(codeOf(() => parseManifest('hello'))).toBe('FAAS_MANIFEST_INVALID');
    expect(codeOf(() => parseManifest({ name: 'a', triggers: [{ type: 'carrier-pigeon' }] }))).toBe('FAAS_MANIFEST_INVALID');
    expect(codeOf(() => parseManifest({ name: 'a', limits: { timeoutMs: 0 } }))).toBe('FAAS_MANIFEST_INVALID');
    expect(codeOf(() => parseManifest({ name: 'a', scaling: { maxInstances: 0 } }))).toBe('FAAS_MANIFEST_INVALID');
  });

  it('ships a JSON Schema for editors that matches the zod schema (npm run gen:schema)', () => {
    const shipped = JSON.parse(readFileSync(new URL('../../schema/function.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(shipped).toEqual(manifestJsonSchema());
  });
});
