/** Deploys every function folder under a directory (used by `npm start` for functions/). */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FaasError } from '../core/errors.ts';
import { parseManifest } from '../core/manifest.ts';
import { bundleFunction } from '../sandbox/bundler.ts';
import type { Runtime } from './create-runtime.ts';

export interface ExampleResult {
  dir: string;
  name?: string;
  version?: number;
  error?: string;
}

export async function deployFolder(runtime: Runtime, root: string): Promise<ExampleResult[]> {
  const entries = await readdir(root, { withFileTypes: true });
  const results: ExampleResult[] = [];
  for (const e of entries.filter((d) => d.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(root, e.name);
    const manifestPath = path.join(dir, 'function.json');
    const raw = await readFile(manifestPath, 'utf8').catch(() => undefined);
    if (raw === undefined) continue;
    try {
      const manifestJson = JSON.parse(raw) as unknown;
      const manifest = parseManifest(manifestJson);
      const bundle = await bundleFunction({ entry: manifest.entry, dir, maxBytes: runtime.config.FAAS_MAX_BUNDLE_BYTES });
      const { fn } = await runtime.deployer.deploy(manifest.name, { manifest: manifestJson, files: { [manifest.entry]: bundle.code } });
      results.push({ dir, name: fn.name, version: fn.version });
    } catch (err) {
      results.push({ dir, error: err instanceof FaasError ? `${err.code}: ${err.message}` : String(err) });
    }
  }
  return results;
}
