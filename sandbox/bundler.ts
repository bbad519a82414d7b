/**
 * Bundling: one function's sources (and, from a folder on disk, its own npm dependencies) become a
 * single self-contained script for the sandbox. esbuild does the work; this file decides what may be
 * imported. Node built-ins are refused: a sandbox has no Node APIs, and failing at deploy beats
 * failing at the first invocation.
 */
import { createHash } from 'node:crypto';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { FaasError } from '../core/errors.ts';

export interface BundleInput {
  /** Entry file, relative to the function root (the manifest's `entry`). */
  entry: string;
  /** Uploaded files (path → source). When given, only these resolve: no disk, no npm. */
  files?: Readonly<Record<string, string>>;
  /** A function folder on disk: relative imports and its node_modules resolve from here. */
  dir?: string;
  /** Refuse bundles larger than this. */
  maxBytes: number;
}

export interface Bundle {
  /**
   * From uploaded `files`: the sandbox script, whose completion value is the module's exports.
   * From a `dir`: an ES module with the folder's npm dependencies inlined, to upload as the entry
   * file (the server then bundles it into the sandbox script, applying the same rules).
   */
  code: string;
  /** sha256 (hex) of `code`: the compiled-code cache key. */
  digest: string;
  bytes: number;
}

const SDK_MODULE = 'faas-runtime/sdk';
const EXTENSIONS = ['', '.ts', '.tsx', '.mts', '.js', '.mjs', '.jsx', '.json', '/index.ts', '/index.js'];
const LOADERS: Record<string, esbuild.Loader> = {
  '.ts': 'ts', '.mts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx', '.json': 'json',
};

type Refusal = 'builtin' | 'unresolved';

export async function bundleFunction(input: BundleInput): Promise<Bundle> {
  if (input.files === undefined && input.dir === undefined) throw new Error('bundleFunction needs files or dir');
  const entry = normalise(input.entry);
  if (input.files !== undefined && !Object.hasOwn(input.files, entry)) {
    throw new FaasError('FAAS_BUNDLE_FAILED', `entry file "${entry}" is not among the uploaded files (${Object.keys(input.files).join(', ') || 'none'})`);
  }
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = await esbuild.build({
      entryPoints: [input.files !== undefined ? `virtual:${entry}` : path.resolve(input.dir ?? '.', entry)],
      bundle: true,
      write: false,
      format: input.files !== undefined ? 'cjs' : 'esm',
      platform: 'neutral',
      target: 'es2023',
      mainFields: ['module', 'main'],
      conditions: ['worker', 'browser', 'import', 'default'],
      logLevel: 'silent',
      legalComments: 'none',
      charset: 'utf8',
      plugins: [gatekeeper(input)],
    });
  } catch (err) {
    throw toBundleError(err);
  }
  const body = result.outputFiles[0]?.text ?? '';
  // The wrapper gives the module its own scope and makes the script evaluate to module.exports.
  const code = input.files === undefined ? body : `(function () { var module = { exports: {} }; var exports = module.exports;\n${body}\nreturn module.exports; })()`;
  const bytes = Buffer.byteLength(code);
  if (bytes > input.maxBytes) {
    throw new FaasError('FAAS_BUNDLE_TOO_LARGE', `bundle is ${bytes} bytes; the limit is ${input.maxBytes}`);
  }
  return { code, digest: createHash('sha256').update(code).digest('hex'), bytes };
}

function gatekeeper(input: BundleInput): esbuild.Plugin {
  const files = input.files;
  return {
    name: 'faas-gatekeeper',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        const spec = args.path;
        if (spec === SDK_MODULE) return { path: SDK_MODULE, namespace: 'faas-empty' };
        if (isBuiltin(spec)) return refuse('builtin', `"${spec}" is a Node.js built-in module; sandboxed functions have no Node APIs (no fs, net, process or timers beyond what ctx provides)`);
        if (files !== undefined) {
          if (spec.startsWith('virtual:')) return { path: spec.slice('virtual:'.length), namespace: 'faas-virtual' };
          if (!spec.startsWith('.') && !spec.startsWith('/')) {
            return refuse('unresolved', `cannot resolve "${spec}": uploaded functions may import only their own files; deploy with \`faas deploy <dir>\`, which bundles the folder's npm dependencies`);
          }
          const base = args.namespace === 'faas-virtual' ? path.posix.dirname(args.importer) : '.';
          const target = normalise(path.posix.join(base, spec));
          const hit = EXTENSIONS.map((ext) => target + ext).find((p) => Object.hasOwn(files, p));
          if (hit === undefined) return refuse('unresolved', `cannot resolve "${spec}" from ${args.importer.replace(/^virtual:/, '') || input.entry}`);
          return { path: hit, namespace: 'faas-virtual' };
        }
        if (args.pluginData === 'resolving') return undefined;
        // Disk mode: let esbuild resolve, but turn its failure into our refusal with a hint.
        const resolved = await build.resolve(spec, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'resolving' });
        if (resolved.errors.length > 0) {
          return refuse('unresolved', `cannot resolve "${spec}" from ${path.relative(input.dir ?? '.', args.importer) || input.entry}: is it installed in the function's folder (npm install)?`);
        }
        return resolved;
      });
      build.onLoad({ filter: /.*/, namespace: 'faas-empty' }, () => ({ contents: 'export {}', loader: 'js' }));
      build.onLoad({ filter: /.*/, namespace: 'faas-virtual' }, (args) => ({
        contents: files?.[args.path] ?? '',
        loader: LOADERS[path.posix.extname(args.path)] ?? 'ts',
        resolveDir: '/',
      }));
    },
  };
}

function refuse(kind: Refusal, text: string): esbuild.OnResolveResult {
  return { errors: [{ text, detail: kind }] };
}

function toBundleError(err: unknown): FaasError {
  const failure = err as Partial<esbuild.BuildFailure>;
  const errors = Array.isArray(failure.errors) ? failure.errors : [];
  if (errors.length === 0) return new FaasError('FAAS_BUNDLE_FAILED', `bundling failed: ${String(err)}`, { cause: err });
  const first = errors[0];
  const kind = errors.map((e) => e.detail as unknown).find((d): d is Refusal => d === 'builtin' || d === 'unresolved');
  const where = (e: esbuild.Message) => (e.location ? `${e.location.file.replace(/^(faas-)?virtual:/, '')}:${e.location.line}:${e.location.column}: ` : '');
  const message = errors.slice(0, 5).map((e) => where(e) + e.text).join('\n');
  const code = kind === 'builtin' ? 'FAAS_BUNDLE_BUILTIN_IMPORT' : kind === 'unresolved' ? 'FAAS_BUNDLE_UNRESOLVED_IMPORT' : 'FAAS_BUNDLE_FAILED';
  return new FaasError(code, message || (first?.text ?? 'bundling failed'), {
    details: errors.map((e) => ({ text: e.text, file: e.location?.file, line: e.location?.line })),
  });
}

function normalise(p: string): string {
  return path.posix.normalize(p.replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/^\//, '');
}
