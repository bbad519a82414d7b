/**
 * Test helpers for the sandbox suite: deploy a fixture the way the control plane does (bundle the
 * folder, validate the manifest, build a FunctionVersion) and invoke it through the production
 * IsolateRunner with a deadline. Fixtures live in test/fixtures/hostile/<name>/index.ts.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { expect } from 'vitest';
import { parseManifest } from '../../core/manifest.ts';
import type { ErrorCode, ErrorData } from '../../core/errors.ts';
import { bundleFunction, type Bundle } from '../../sandbox/bundler.ts';
import { IsolateRunner, type IsolateRunnerOptions } from '../../sandbox/runner.ts';
import type { FunctionVersion, SandboxOutcome, SandboxRunner } from '../../scheduler/ports.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/hostile/', import.meta.url));

const bundles = new Map<string, Promise<Bundle>>();

export interface DeployOptions {
  /** Fixture folder under test/fixtures/hostile; defaults to the function name. */
  fixture?: string;
  version?: number;
  /** Manifest fields besides `name` (limits, scaling, env…). */
  manifest?: Record<string, unknown>;
}

/** Bundle a fixture and validate its manifest into a FunctionVersion, like a deploy does. */
export async function deploy(name: string, options: DeployOptions = {}): Promise<FunctionVersion> {
  const fixture = options.fixture ?? name;
  let bundle = bundles.get(fixture);
  if (bundle === undefined) {
    bundle = bundleFixture(fixture);
    bundles.set(fixture, bundle);
  }
  const { code, digest } = await bundle;
  return {
    name,
    version: options.version ?? 1,
    digest,
    code,
    manifest: parseManifest({ name, ...options.manifest }),
    files: {},
    deployedAt: new Date().toISOString(),
  };
}

/**
 * As `faas deploy <dir>` and the deployer do: the folder is pre-bundled into one ES module, which is
 * uploaded as the entry file and bundled again into the sandbox script.
 */
async function bundleFixture(fixture: string): Promise<Bundle> {
  const pre = await bundleFunction({ entry: 'index.ts', dir: path.join(FIXTURES, fixture), maxBytes: 1024 * 1024 });
  return bundleFunction({ entry: 'index.ts', files: { 'index.ts': pre.code }, maxBytes: 1024 * 1024 });
}

/** A runner with real sandbox processes, ready to serve. */
export async function startRunner(options: Partial<IsolateRunnerOptions> = {}): Promise<IsolateRunner> {
  const runner = new IsolateRunner({ processes: 2, hardKillGraceMs: 1000, ...options });
  await runner.ready();
  return runner;
}

export type Outcome = SandboxOutcome & { invocationId: string; elapsedMs: number };

let seq = 0;

/** Invoke `fn` with `data` as the event payload and a deadline `deadlineMs` from now. */
export async function invoke(runner: SandboxRunner, fn: FunctionVersion, data: unknown = null, deadlineMs = 3000): Promise<Outcome> {
  const invocationId = `inv-${process.pid}-${++seq}`;
  const event = { id: `evt-${seq}`, source: '/test/sandbox', type: 'faas.invoke', time: new Date().toISOString(), data };
  const t0 = performance.now();
  const out = await runner.invoke(fn, JSON.stringify(event), { invocationId, correlationId: `corr-${seq}`, deadline: Date.now() + deadlineMs });
  return { ...out, invocationId, elapsedMs: performance.now() - t0 };
}

/** The parsed result of a successful outcome (fails the test with the error otherwise). */
export function resultOf<T = unknown>(out: SandboxOutcome): T {
  if (!out.ok) expect.fail(`expected success, got ${out.error.code}: ${out.error.message}`);
  return JSON.parse(out.resultJson) as T;
}

/** The error of a failed outcome, after asserting its code. */
export function failureOf(out: SandboxOutcome, code: ErrorCode): ErrorData {
  if (out.ok) expect.fail(`expected ${code}, got success: ${out.resultJson.slice(0, 200)}`);
  expect(out.error.code, out.error.message).toBe(code);
  return out.error;
}

/** Poll `probe` every `everyMs` until `done` holds; fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, { timeoutMs = 5000, everyMs = 20, what = 'condition' } = {}): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) expect.fail(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Live instances (idle + busy) of one function, from the runner's stats. */
export function instanceCount(runner: SandboxRunner, name: string): number {
  const s = runner.stats().instances[name];
  return s === undefined ? 0 : s.idle + s.busy;
}

/**
 * Instances of `name` that finished loading. SandboxStats does not tell loading from loaded, so
 * this reads the runner's pool (a test-only peek at a private field).
 */
export function loadedCount(runner: IsolateRunner, name: string): number {
  const pools = (runner as unknown as { pools: Map<string, { instances: Set<{ loaded: boolean }> }> }).pools;
  return [...(pools.get(name)?.instances ?? [])].filter((i) => i.loaded).length;
}

export interface HealthyResult {
  n: number;
  instance: string;
  version: number;
}

/**
 * A function deployed and warmed before the hostile tests of a file: after every hostile
 * invocation it must still answer warm from the same instance (its module state intact), and a
 * fresh healthy function must answer too.
 */
export class Bystander {
  private last: HealthyResult | undefined;
  private readonly runner: SandboxRunner;
  private readonly fn: FunctionVersion;
  private readonly other: FunctionVersion;

  private constructor(runner: SandboxRunner, fn: FunctionVersion, other: FunctionVersion) {
    this.runner = runner;
    this.fn = fn;
    this.other = other;
  }

  static async start(runner: SandboxRunner, prefix: string): Promise<Bystander> {
    const b = new Bystander(runner, await deploy(`${prefix}-bystander`, { fixture: 'healthy' }), await deploy(`${prefix}-after`, { fixture: 'healthy' }));
    b.last = resultOf<HealthyResult>(await invoke(runner, b.fn));
    return b;
  }

  /** The runtime still serves: the bystander's warm instance is untouched, another function runs. */
  async expectStillServes(): Promise<void> {
    const after = await invoke(this.runner, this.other);
    expect(after.ok, after.ok ? '' : after.error.message).toBe(true);
    const out = await invoke(this.runner, this.fn);
    const r = resultOf<HealthyResult>(out);
    expect(out.start).toBe('warm');
    expect(r.instance).toBe(this.last?.instance);
    expect(r.n).toBe((this.last?.n ?? 0) + 1);
    this.last = r;
  }
}
