import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaasError } from '../../core/errors.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';

const files = (index: string, more: Record<string, string> = {}) => ({ 'index.ts': index, ...more });
async function failure(p: Promise<unknown>): Promise<FaasError> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: FaasError) => e);
}

describe('bundler', () => {
  it('bundles uploaded files with relative imports into a script that evaluates to the exports', async () => {
    const b = await bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files("import { up } from './lib/up'; export default (e: { data: string }) => up(e.data);", { 'lib/up.ts': 'export const up = (s: string) => s.toUpperCase();' }) });
    const exportsObj = (0, eval)(b.code) as { default: (e: { data: string }) => string };
    expect(exportsObj.default({ data: 'ok' })).toBe('OK');
    expect(b.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is deterministic: the same files give the same digest (the compiled-code cache key)', async () => {
    const a = await bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files('export default () => 1') });
    const b = await bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files('export default () => 1') });
    expect(a.digest).toBe(b.digest);
  });

  it('refuses Node built-ins, with or without node:', async () => {
    for (const spec of ['node:fs', 'fs', 'child_process']) {
      const e = await failure(bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files(`import x from '${spec}'; export default () => x;`) }));
      expect(e.code).toBe('FAAS_BUNDLE_BUILTIN_IMPORT');
      expect(e.message).toContain(spec);
    }
  });

  it('refuses npm imports in uploaded files, pointing at faas deploy', async () => {
    const e = await failure(bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files("import _ from 'lodash'; export default () => _;") }));
    expect(e.code).toBe('FAAS_BUNDLE_UNRESOLVED_IMPORT');
    expect(e.message).toContain('faas deploy');
  });

  it('reports syntax errors with their location, a missing entry, and oversize bundles', async () => {
    const syntax = await failure(bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: files('export default () => {') }));
    expect(syntax.code).toBe('FAAS_BUNDLE_FAILED');
    expect(syntax.message).toMatch(/^index\.ts:1:/);
    expect((await failure(bundleFunction({ entry: 'main.ts', maxBytes: 1e6, files: files('') }))).code).toBe('FAAS_BUNDLE_FAILED');
    expect((await failure(bundleFunction({ entry: 'index.ts', maxBytes: 100, files: files(`export default () => '${'x'.repeat(200)}'`) }))).code).toBe('FAAS_BUNDLE_TOO_LARGE');
  });

  it('from a folder, inlines its own npm dependencies into an ES module that re-bundles cleanly', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'faas-bundle-'));
    await mkdir(path.join(dir, 'node_modules', 'shout'), { recursive: true });
    await writeFile(path.join(dir, 'node_modules', 'shout', 'package.json'), JSON.stringify({ name: 'shout', main: 'index.js' }));
    await writeFile(path.join(dir, 'node_modules', 'shout', 'index.js'), "module.exports = (s) => s + '!';");
    await writeFile(path.join(dir, 'index.ts'), "import shout from 'shout'; export default (e: { data: string }) => shout(e.data);");
    const pre = await bundleFunction({ entry: 'index.ts', dir, maxBytes: 1e6 });
    const final = await bundleFunction({ entry: 'index.ts', maxBytes: 1e6, files: { 'index.ts': pre.code } });
    const exportsObj = (0, eval)(final.code) as { default: (e: { data: string }) => string };
    expect(exportsObj.default({ data: 'hey' })).toBe('hey!');
    await writeFile(path.join(dir, 'index.ts'), "import x from 'not-installed'; export default x;");
    const missing = await failure(bundleFunction({ entry: 'index.ts', dir, maxBytes: 1e6 }));
    expect(missing.code).toBe('FAAS_BUNDLE_UNRESOLVED_IMPORT');
  });
});
