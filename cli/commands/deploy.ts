/**
 * `faas deploy <dir>`: validate function.json locally (fast, precise errors), bundle the folder with
 * its npm dependencies, and upload the manifest plus the one bundled entry file. The gateway
 * validates and bundles again; the local pass is for the author's feedback loop, not for trust.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FaasError } from '../../core/errors.ts';
import { parseManifest } from '../../core/manifest.ts';
import { bundleFunction } from '../../sandbox/bundler.ts';
import { formatBytes } from '../format.ts';
import type { RegisterCommand } from './shared.ts';

/** Same ceiling the gateway applies; checked here so an oversized bundle is never uploaded. */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

export const register: RegisterCommand = (program, cli) => {
  program
    .command('deploy')
    .description('validate, bundle and upload the function in <dir> (reads <dir>/function.json)')
    .argument('<dir>', 'function folder containing function.json')
    .option('--json', 'print the gateway\'s answer as JSON')
    .action(async (dir: string, opts: { json?: boolean }, cmd: Command) => {
      const root = path.resolve(dir);
      const raw = await readManifest(root);
      const manifest = parseManifest(raw);
      const bundle = await bundleFunction({ entry: manifest.entry, dir: root, maxBytes: MAX_BUNDLE_BYTES });
      const result = await cli.client(cmd).deploy(manifest.name, { manifest: raw, files: { [manifest.entry]: bundle.code } });
      if (opts.json === true) {
        cli.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const what = result.unchanged ? 'unchanged' : 'deployed';
      cli.stdout.write(`${what} ${result.name} v${result.version} (sha256 ${result.digest.slice(0, 8)}, ${formatBytes(result.bytes)})\n`);
    });
};

async function readManifest(root: string): Promise<unknown> {
  const file = path.join(root, 'function.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'ENOTDIR' ? `${path.dirname(file)} is not a folder` : String(code ?? err);
    throw new FaasError('FAAS_MANIFEST_INVALID', `cannot read ${file}: ${why}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FaasError('FAAS_MANIFEST_INVALID', `${file} is not valid JSON: ${(err as Error).message}`);
  }
}
