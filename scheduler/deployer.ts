/**
 * Deploy: validate the manifest and its triggers, bundle, store a new version.
 * Activation on every node (warm-up, retiring the old version) follows from the registry's change
 * feed, wired in runtime/, so a deploy through any node reaches all of them the same way.
 */
import { FaasError } from '../core/errors.ts';
import { parseManifest, type Manifest } from '../core/manifest.ts';
import type { FunctionRegistry, FunctionVersion } from './ports.ts';

export interface DeployRequest {
  manifest: unknown;
  files: Record<string, string>;
}

/** Bundles a function's files; implemented by sandbox/bundler.ts. */
export type BundleFn = (input: { entry: string; files: Record<string, string>; maxBytes: number }) => Promise<{ code: string; digest: string; bytes: number }>;

export interface DeployerDeps {
  registry: FunctionRegistry;
  bundle: BundleFn;
  maxBundleBytes: number;
  /** Deploy-time trigger checks (the trigger controller's validate). */
  validateTriggers(fn: string, manifest: Readonly<Manifest>): void;
}

export class Deployer {
  private readonly deps: DeployerDeps;

  constructor(deps: DeployerDeps) {
    this.deps = deps;
  }

  /**
   * Store a new version, or, when the bundle and the manifest equal the current version's, return
   * that version unchanged (a repeated deploy is a no-op: replicas starting with the same examples,
   * CI re-running a deploy step).
   */
  async deploy(name: string, req: DeployRequest): Promise<{ fn: FunctionVersion; bytes: number; unchanged: boolean }> {
    const manifest = parseManifest(req.manifest);
    if (manifest.name !== name) {
      throw new FaasError('FAAS_BODY_INVALID', `the URL names "${name}" but manifest.name is "${manifest.name}"`);
    }
    this.deps.validateTriggers(name, manifest);
    const bundle = await this.deps.bundle({ entry: manifest.entry, files: req.files, maxBytes: this.deps.maxBundleBytes });
    const current = await this.deps.registry.get(name);
    if (current !== undefined && current.digest === bundle.digest && JSON.stringify(current.manifest) === JSON.stringify(manifest)) {
      return { fn: current, bytes: bundle.bytes, unchanged: true };
    }
    const fn = await this.deps.registry.put({ name, digest: bundle.digest, manifest, code: bundle.code, files: req.files });
    return { fn, bytes: bundle.bytes, unchanged: false };
  }
}
