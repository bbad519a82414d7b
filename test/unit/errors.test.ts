import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, FaasError } from '../../core/errors.ts';
import { HTTP_STATUS } from '../../gateway/http-errors.ts';

const codes = Object.keys(ERROR_CATALOG) as (keyof typeof ERROR_CATALOG)[];

describe('error codes', () => {
  it('every code is documented in docs/ERRORS.md, and the doc names no unknown code', () => {
    const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    const undocumented = codes.filter((c) => !new RegExp(`^## ${c}$`, 'm').test(doc));
    expect(undocumented).toEqual([]);
    const documented = [...doc.matchAll(/^## (FAAS_[A-Z_]+)$/gm)].map((m) => m[1]);
    expect(documented.filter((c) => !codes.includes(c as never))).toEqual([]);
  });

  it('every code has exactly one HTTP status, and the doc states it', () => {
    const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    for (const c of codes) {
      expect(HTTP_STATUS[c]).toBeGreaterThanOrEqual(400);
      const section = doc.split(`## ${c}\n`)[1]?.split('\n## ')[0] ?? '';
      expect(section, c).toContain(`HTTP ${HTTP_STATUS[c]}`);
      expect(section, c).toContain(ERROR_CATALOG[c].retriable ? 'Retriable: yes' : 'Retriable: no');
    }
  });

  it('round-trips through plain data, and unknown codes become FAAS_INTERNAL', () => {
    const e = FaasError.fromData(new FaasError('FAAS_TIMEOUT', 'late', { details: { ms: 5 } }).toData());
    expect([e.code, e.message, e.retriable, e.details]).toEqual(['FAAS_TIMEOUT', 'late', true, { ms: 5 }]);
    expect(FaasError.fromData({ code: 'NOPE' as never, message: 'x' }).code).toBe('FAAS_INTERNAL');
  });
});
