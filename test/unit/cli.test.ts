/**
 * The `faas` CLI, run as a real child process against a stub gateway: a small fastify app that
 * speaks the control API contract (/v1) over an in-memory map. The stub is a fake of the project's
 * own seam (the HTTP contract), so these tests pin what the CLI sends and how it prints answers.
 * `faas status` runs against a real runtime instead (embedded event log, no services): its scaling
 * view is only worth checking with real lag, partitions and decisions.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FunctionDetail, ScaleStatus } from '../../cli/client.ts';
import { formatStatus } from '../../cli/commands/status.ts';
import { fields, formatBytes, formatDuration, formatRate, parseSince, relativeTime } from '../../cli/format.ts';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { deployFunction, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

const CLI = fileURLToPath(new URL('../../cli/faas.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface StoredFunction {
  name: string;
  version: number;
  digest: string;
  deployedAt: string;
  manifest: Record<string, unknown>;
  files: Record<string, string>;
}

interface LogRow {
  ts: number;
  invocationId: string;
  level: string;
  message: string;
}

interface Stub {
  app: FastifyInstance;
  url: string;
  functions: Map<string, StoredFunction>;
  logs: Map<string, LogRow[]>;
  traces: Map<string, unknown[]>;
  invocations: Map<string, Record<string, unknown>>;
  /** Every request as seen by the stub. */
  requests: { method: string; url: string; authorization: string | undefined; body: unknown }[];
  /** When set, requests without `Bearer <token>` get 401 FAAS_UNAUTHORIZED. */
  token: string | undefined;
  /** Sequence number of the next invocation id. */
  nextId: number;
}

function fail(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}

async function startStub(): Promise<Stub> {
  const app = Fastify();
  const stub: Stub = { app, url: '', functions: new Map(), logs: new Map(), traces: new Map(), invocations: new Map(), requests: [], token: undefined, nextId: 1 };

  app.addHook('preHandler', async (req, reply) => {
    stub.requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body: req.body });
    if (stub.token !== undefined && req.headers.authorization !== `Bearer ${stub.token}`) {
      return fail(reply, 401, 'FAAS_UNAUTHORIZED', 'missing or wrong bearer token');
    }
  });

  app.put<{ Params: { name: string }; Body: { manifest: Record<string, unknown>; files: Record<string, string> } }>(
    '/v1/functions/:name',
    async (req, reply) => {
      const { name } = req.params;
      const { manifest, files } = req.body;
      const code = Object.values(files).join('');
      const previous = stub.functions.get(name);
      const fn: StoredFunction = {
        name,
        version: (previous?.version ?? 0) + 1,
        digest: createHash('sha256').update(code).digest('hex'),
        deployedAt: new Date().toISOString(),
        manifest,
        files,
      };
      stub.functions.set(name, fn);
      return reply.code(previous ? 200 : 201).send({ name, version: fn.version, digest: fn.digest, deployedAt: fn.deployedAt, bytes: Buffer.byteLength(code) });
    },
  );

  app.get('/v1/functions', async () => ({
    functions: [...stub.functions.values()].map((fn) => ({
      name: fn.name,
      version: fn.version,
      digest: fn.digest,
      deployedAt: fn.deployedAt,
      triggers: (fn.manifest.triggers as { type: string }[] | undefined) ?? [],
      instances: { idle: 2, busy: 1 },
    })),
  }));

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (req, reply) => {
    if (!stub.functions.delete(req.params.name)) return fail(reply, 404, 'FAAS_FUNCTION_NOT_FOUND', `no function named "${req.params.name}"`);
    return { deleted: true };
  });

  app.post<{ Params: { name: string }; Querystring: { mode?: string } }>('/v1/functions/:name/invoke', async (req, reply) => {
    const fn = stub.functions.get(req.params.name);
    if (!fn) return fail(reply, 404, 'FAAS_FUNCTION_NOT_FOUND', `no function named "${req.params.name}"`);
    const id = `inv-${String(stub.nextId++).padStart(4, '0')}-abcdef`;
    const result = { echo: req.body, from: fn.name };
    if (req.query.mode === 'async') {
      stub.invocations.set(id, { id, function: fn.name, status: 'succeeded', result, start: 'warm', durationMs: 3.5, acceptedAt: Date.now(), finishedAt: Date.now() });
      return reply.code(202).send({ invocationId: id, status: 'pending', statusUrl: `/v1/invocations/${id}` });
    }
    return reply
      .header('x-faas-invocation-id', id)
      .header('x-faas-start', 'cold')
      .header('x-faas-duration-ms', '12.34')
      .send(result);
  });

  app.get<{ Params: { id: string } }>('/v1/invocations/:id', async (req, reply) => {
    const record = stub.invocations.get(req.params.id);
    if (!record) return fail(reply, 404, 'FAAS_INVOCATION_NOT_FOUND', `no invocation "${req.params.id}"`);
    return record;
  });

  app.get<{ Params: { name: string }; Querystring: { since?: string; limit?: string; invocation?: string } }>(
    '/v1/functions/:name/logs',
    async (req, reply) => {
      if (!stub.functions.has(req.params.name)) return fail(reply, 404, 'FAAS_FUNCTION_NOT_FOUND', `no function named "${req.params.name}"`);
      const since = req.query.since === undefined ? -1 : Number(req.query.since);
      let entries = (stub.logs.get(req.params.name) ?? []).filter((e) => e.ts > since);
      if (req.query.invocation !== undefined) entries = entries.filter((e) => e.invocationId === req.query.invocation);
      if (req.query.limit !== undefined) entries = entries.slice(0, Number(req.query.limit));
      const next = entries.length > 0 ? Math.max(...entries.map((e) => e.ts)) : Math.max(since, 0);
      return { entries, next };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/correlations/:id', async (req) => ({ correlationId: req.params.id, hops: stub.traces.get(req.params.id) ?? [] }));

  stub.url = await app.listen({ host: '127.0.0.1', port: 0 });
  return stub;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  /** Resolves when the process exits. */
  done: Promise<RunResult>;
  /** Resolves once stdout satisfies the predicate. */
  waitForStdout(predicate: (stdout: string) => boolean): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/** Environment for the child: no FAAS_* leaking in from the developer's shell. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FAAS_')) env[key] = value;
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string>): Running {
  // process.execPath is the Node 24 that runs vitest, so the .ts entry works through type stripping.
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { predicate: (s: string) => boolean; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const w of [...watchers]) {
      if (w.predicate(stdout)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    done,
    waitForStdout: (predicate) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(stdout)) return resolve();
        watchers.push({ predicate, resolve });
        void done.then((r) => reject(new Error(`exited (${r.code}) before the expected output; stdout: ${r.stdout}; stderr: ${r.stderr}`)));
      }),
    kill: (signal) => child.kill(signal),
  };
}

let stub: Stub;

function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return start(args, { FAAS_URL: stub.url, ...env }).done;
}

async function writeFunction(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'faas-cli-'));
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  return dir;
}

function seedFunction(name: string): void {
  stub.functions.set(name, {
    name,
    version: 1,
    digest: 'f'.repeat(64),
    deployedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
    manifest: { name, triggers: [{ type: 'cron', schedule: '* * * * *' }, { type: 'webhook', path: '/hook' }] },
    files: { 'index.ts': 'export default () => 1' },
  });
}

const tempDirs: string[] = [];

beforeAll(async () => {
  stub = await startStub();
});

afterAll(async () => {
  await stub.app.close();
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

beforeEach(() => {
  stub.functions.clear();
  stub.logs.clear();
  stub.traces.clear();
  stub.invocations.clear();
  stub.requests.length = 0;
  stub.token = undefined;
  stub.nextId = 1;
});

describe('faas deploy', () => {
  it('validates, bundles the folder with its npm dependencies and uploads manifest and bundle', async () => {
    const manifest = { name: 'order-enricher', entry: 'src/main.ts', triggers: [{ type: 'topic', topic: 'orders' }] };
    const dir = await writeFunction({
      'function.json': JSON.stringify(manifest),
      'src/main.ts': [
        "import { enrich } from './enrich.ts';",
        "import tinyDep from 'tiny-dep';",
        'export default async (event: { data: unknown }) => ({ enriched: enrich(event.data), dep: tinyDep() });',
      ].join('\n'),
      'src/enrich.ts': "export function enrich(x: unknown) { return { x, marker: 'ENRICH_MARKER_42' }; }",
      'node_modules/tiny-dep/package.json': JSON.stringify({ name: 'tiny-dep', version: '1.0.0', main: 'index.js' }),
      'node_modules/tiny-dep/index.js': "module.exports = function tinyDep() { return 'TINY_DEP_MARKER_7'; };",
    });
    tempDirs.push(dir);

    const res = await run(['deploy', dir]);

    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const stored = stub.functions.get('order-enricher');
    expect(stored).toBeDefined();
    // The manifest is sent exactly as read (the gateway applies defaults itself).
    expect(stored?.manifest).toEqual(manifest);
    // One file under the manifest's entry, holding the local module and the npm dependency.
    expect(Object.keys(stored?.files ?? {})).toEqual(['src/main.ts']);
    const bundle = stored?.files['src/main.ts'] ?? '';
    expect(bundle).toContain('ENRICH_MARKER_42');
    expect(bundle).toContain('TINY_DEP_MARKER_7');
    expect(bundle).not.toMatch(/from ['"]tiny-dep['"]|require\(['"]tiny-dep['"]\)/);
    expect(res.stdout).toBe(`deployed order-enricher v1 (sha256 ${stored?.digest.slice(0, 8)}, ${formatBytes(Buffer.byteLength(bundle))})\n`);

    const again = await run(['deploy', dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^deployed order-enricher v2 /);
  });

  it('refuses an invalid manifest locally, before any upload', async () => {
    const dir = await writeFunction({ 'function.json': JSON.stringify({ name: 'Not_Valid', entry: 'index.ts' }), 'index.ts': 'export default () => 1;' });
    tempDirs.push(dir);

    const res = await run(['deploy', dir]);

    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: invalid manifest: name: .*\(FAAS_MANIFEST_INVALID\)\n/);
    expect(stub.requests).toHaveLength(0);
  });

  it('refuses a function that imports a Node built-in, before any upload', async () => {
    const dir = await writeFunction({
      'function.json': JSON.stringify({ name: 'sneaky' }),
      'index.ts': "import { readFileSync } from 'node:fs';\nexport default () => readFileSync('/etc/passwd', 'utf8');",
    });
    tempDirs.push(dir);

    const res = await run(['deploy', dir]);

    expect(res.code).toBe(1);
    expect(res.stderr).toContain('(FAAS_BUNDLE_BUILTIN_IMPORT)');
    expect(stub.requests).toHaveLength(0);
  });
});

describe('faas ls', () => {
  it('prints a table with name, version, trigger types, instances and age', async () => {
    seedFunction('order-enricher');

    const res = await run(['ls']);

    expect(res.code).toBe(0);
    const [header, row, ...rest] = res.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'VERSION', 'TRIGGERS', 'INSTANCES', 'DEPLOYED']);
    expect(row?.split(/\s{2,}/)).toEqual(['order-enricher', 'v1', 'cron,webhook', '2 idle, 1 busy', '5m ago']);
    expect(rest).toEqual([]);
  });

  it('--json prints the gateway answer', async () => {
    seedFunction('order-enricher');

    const res = await run(['ls', '--json']);

    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout) as { functions: { name: string; instances: unknown }[] };
    expect(parsed.functions.map((f) => f.name)).toEqual(['order-enricher']);
    expect(parsed.functions[0]?.instances).toEqual({ idle: 2, busy: 1 });
  });
});

describe('faas invoke', () => {
  it('sends --data as the body and prints the result to stdout, how it ran to stderr', async () => {
    seedFunction('greeter');

    const res = await run(['invoke', 'greeter', '--data', '{"name":"Ada"}']);

    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ echo: { name: 'Ada' }, from: 'greeter' });
    expect(res.stdout).toBe(`${JSON.stringify({ echo: { name: 'Ada' }, from: 'greeter' }, null, 2)}\n`);
    expect(res.stderr).toBe('cold, 12.3 ms, id inv-0001-abcdef\n');
    const sent = stub.requests.find((r) => r.method === 'POST');
    expect(sent?.url).toBe('/v1/functions/greeter/invoke');
  });

  it('sends null when there is no --data', async () => {
    seedFunction('greeter');

    const res = await run(['invoke', 'greeter']);

    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ echo: null, from: 'greeter' });
  });

  it('prints the gateway error code for an unknown function and exits 1', async () => {
    const res = await run(['invoke', 'nope']);

    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('error: no function named "nope" (FAAS_FUNCTION_NOT_FOUND)');
  });

  it('rejects --data that is not JSON as a usage error (exit 2) without calling the gateway', async () => {
    seedFunction('greeter');

    const res = await run(['invoke', 'greeter', '--data', '{name: Ada}']);

    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--data must be JSON/);
    expect(stub.requests).toHaveLength(0);
  });

  it('--async prints the invocation id and status URL; faas invocation fetches the outcome', async () => {
    seedFunction('greeter');

    const res = await run(['invoke', 'greeter', '--async', '--data', '[1,2]']);

    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`invocation inv-0001-abcdef pending\nstatus: ${stub.url}/v1/invocations/inv-0001-abcdef\n`);
    expect(stub.requests.at(-1)?.url).toBe('/v1/functions/greeter/invoke?mode=async');

    const outcome = await run(['invocation', 'inv-0001-abcdef']);
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout)).toEqual({ echo: [1, 2], from: 'greeter' });
    expect(outcome.stderr).toContain('greeter, succeeded, warm, 3.5 ms');
  });

  it('exits 1 with the error of a failed async invocation', async () => {
    stub.invocations.set('inv-x', { id: 'inv-x', function: 'greeter', status: 'failed', error: { code: 'FAAS_TIMEOUT', message: 'deadline of 100 ms passed' }, acceptedAt: Date.now() });

    const res = await run(['invocation', 'inv-x']);

    expect(res.code).toBe(1);
    expect(res.stderr).toContain('error: deadline of 100 ms passed (FAAS_TIMEOUT)');
  });
});

describe('gateway address and token', () => {
  it('sends FAAS_API_TOKEN as a bearer token', async () => {
    stub.token = 's3cret-token';
    seedFunction('greeter');

    const res = await run(['ls'], { FAAS_API_TOKEN: 's3cret-token' });

    expect(res.code).toBe(0);
    expect(res.stdout).toContain('greeter');
    expect(stub.requests.map((r) => r.authorization)).toEqual(['Bearer s3cret-token']);
  });

  it('--token overrides the environment, and a wrong token shows FAAS_UNAUTHORIZED', async () => {
    stub.token = 'right';

    const res = await run(['ls', '--token', 'wrong'], { FAAS_API_TOKEN: 'right' });

    expect(stub.requests.map((r) => r.authorization)).toEqual(['Bearer wrong']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('(FAAS_UNAUTHORIZED)');
    expect(res.stderr).toContain('FAAS_API_TOKEN');
  });

  it('sends no authorization header without a token', async () => {
    await run(['ls']);

    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]?.authorization).toBeUndefined();
  });

  it('names the URL and how to change it when the gateway is unreachable', async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}`;

    const res = await start(['ls'], { FAAS_URL: deadUrl }).done;

    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach the gateway at ${deadUrl} (ECONNREFUSED)`);
    expect(res.stderr).toContain('--url');
    expect(res.stderr).toContain('FAAS_URL');
  });

  it('--url wins over FAAS_URL', async () => {
    seedFunction('greeter');
    const deadUrl = `http://127.0.0.1:${await freePort()}`;

    const res = await start(['ls', '--url', stub.url], { FAAS_URL: deadUrl }).done;

    expect(res.code).toBe(0);
    expect(res.stdout).toContain('greeter');
  });
});

describe('faas logs', () => {
  const t0 = Date.parse('2025-03-01T10:00:00.000Z');

  it('--correlation prints every hop of one request, indented by call depth, with its cause and logs', async () => {
    const hop = (o: Record<string, unknown>) => ({ version: 1, start: 'warm', status: 'succeeded', logs: [], correlationId: 'corr-1', ...o });
    stub.traces.set('corr-1', [
      hop({ ts: t0 + 5, function: 'checkout', invocationId: 'aaaaaaaa1111', depth: 1, source: '/v1/functions/checkout/invoke', type: 'faas.invoke', durationMs: 9.25, logs: [{ ts: t0 + 1, invocationId: 'aaaaaaaa1111', level: 'info', message: 'start' }] }),
      hop({ ts: t0 + 3, function: 'payments', invocationId: 'bbbbbbbb2222', parentInvocationId: 'aaaaaaaa1111', depth: 2, source: 'faas://checkout', type: 'faas.call', durationMs: 2, status: 'failed', error: { code: 'FAAS_HANDLER_ERROR', message: 'card declined' } }),
    ]);
    const res = await run(['logs', '--correlation', 'corr-1']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      '2025-03-01T10:00:00.005Z checkout@1 aaaaaaaa [faas.invoke /v1/functions/checkout/invoke] 9.3 ms ok\n' +
      '    2025-03-01T10:00:00.001Z aaaaaaaa INFO  start\n' +
      '2025-03-01T10:00:00.003Z   payments@1 bbbbbbbb [faas.call faas://checkout ← checkout aaaaaaaa] 2.0 ms FAILED FAAS_HANDLER_ERROR: card declined\n',
    );
    const none = await run(['logs', '--correlation', 'nothing-here']);
    expect(none.stdout).toBe('no invocations recorded for correlation nothing-here\n');
    const neither = await run(['logs']);
    expect(neither.code).toBe(2);
  });

  it('prints one line per entry: ISO time, short invocation id, level, message', async () => {
    seedFunction('greeter');
    stub.logs.set('greeter', [
      { ts: t0, invocationId: 'a1b2c3d4e5f6a7b8', level: 'info', message: 'hello Ada' },
      { ts: t0 + 1500, invocationId: 'a1b2c3d4e5f6a7b8', level: 'error', message: 'boom' },
    ]);

    const res = await run(['logs', 'greeter']);

    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      '2025-03-01T10:00:00.000Z a1b2c3d4 INFO  hello Ada\n' +
      '2025-03-01T10:00:01.500Z a1b2c3d4 ERROR boom\n',
    );
  });

  it('passes --since (as a duration back from now) and --invocation to the gateway', async () => {
    seedFunction('greeter');
    const before = Date.now();

    const res = await run(['logs', 'greeter', '--since', '5m', '--invocation', 'inv-9']);

    expect(res.code).toBe(0);
    const url = new URL(stub.requests[0]?.url ?? '', stub.url);
    const since = Number(url.searchParams.get('since'));
    expect(since).toBeGreaterThanOrEqual(before - 5 * 60_000 - 50);
    expect(since).toBeLessThanOrEqual(Date.now() - 5 * 60_000);
    expect(url.searchParams.get('invocation')).toBe('inv-9');
  });

  it('rejects an unreadable --since as a usage error', async () => {
    const res = await run(['logs', 'greeter', '--since', 'yesterday-ish']);

    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--since');
    expect(stub.requests).toHaveLength(0);
  });

  it('--follow polls with the next cursor and stops cleanly on SIGINT', async () => {
    seedFunction('greeter');
    stub.logs.set('greeter', [{ ts: t0, invocationId: 'first-invocation', level: 'info', message: 'one' }]);

    const follow = start(['logs', 'greeter', '--follow'], { FAAS_URL: stub.url });
    await follow.waitForStdout((s) => s.includes(' one\n'));
    stub.logs.get('greeter')?.push({ ts: t0 + 10, invocationId: 'second-invocation', level: 'warn', message: 'two' });
    await follow.waitForStdout((s) => s.includes(' two\n'));
    follow.kill('SIGINT');
    const res = await follow.done;

    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      '2025-03-01T10:00:00.000Z first-in INFO  one\n' +
      '2025-03-01T10:00:00.010Z second-i WARN  two\n',
    );
    const sinces = stub.requests.map((r) => new URL(r.url, stub.url).searchParams.get('since'));
    expect(sinces[0]).toBeNull();
    expect(sinces[1]).toBe(String(t0));
  }, 15_000);
});

describe('faas rm', () => {
  it('deletes the function', async () => {
    seedFunction('greeter');

    const res = await run(['rm', 'greeter']);

    expect(res.code).toBe(0);
    expect(res.stdout).toBe('removed greeter\n');
    expect(stub.functions.has('greeter')).toBe(false);
  });
});

describe('usage errors', () => {
  it('exit with code 2', async () => {
    const unknown = await run(['deploi', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'deploi'");

    const missing = await run(['invoke']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'name'");
    expect(stub.requests).toHaveLength(0);
  });
});

describe('faas status (a real runtime on the embedded event log)', () => {
  let rt: Runtime & { url: string };

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.stop();
  });

  function status(...args: string[]): Promise<RunResult> {
    return start(['status', ...args], { FAAS_URL: rt.url }).done;
  }

  async function scaleOf(name: string): Promise<ScaleStatus> {
    const res = await rt.gateway.inject({ method: 'GET', url: `/v1/scale/${name}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<ScaleStatus>();
  }

  it('shows a lag-scaled function: health, instances, lag, rates, a row per partition, the reason and the decisions', async () => {
    const name = uniqueName('lag');
    const topic = uniqueName('lag-status');
    await rt.eventLog.ensureTopic(topic, 3);
    // A long cooldown keeps it awake after the drain, so the view is stable while the CLI reads it.
    await deployFunction(rt, name, 'export default async () => null;', {
      triggers: [{ type: 'lag', topic, lagPerInstance: 10, pollMs: 100, cooldownMs: 60_000 }],
    });
    await rt.eventLog.produce(topic, Array.from({ length: 30 }, (_, n) => ({ key: `k${n}`, value: JSON.stringify({ n }), partition: n % 3 })));
    await eventually(async () => {
      const s = await scaleOf(name);
      return s.lag.total === 0 && s.lag.partitions.every((p) => p.committed === '10') && s.decisions.length > 0 ? s : undefined;
    }, 20_000, 50);

    const res = await status(name);

    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = res.stdout;
    expect(out).toMatch(new RegExp(`^function   ${name} v1 \\(sha256 [0-9a-f]{8}, deployed (just now|\\d+s ago)\\)\\n`));
    expect(out).toContain(`\ntriggers   lag ${topic}\n`);
    expect(out).toContain(`\nscaling    lag trigger on topic ${topic}, group faas.${name} (as seen by this node)\n`);
    expect(out).toMatch(/\nhealth     ok \(lag read (just now|\ds ago)\)\n/);
    expect(out).toMatch(/\ninstances  [0-3] current, \d+ active \(min 0, max \d+; 3 partitions on this node\)\n/);
    expect(out).toContain('\nlag        0 total, 0 owned by this node\n');
    expect(out).toMatch(/\nrates      [\d.]+ records\/s produced, [\d.]+ records\/s processed; nothing to drain\n/);
    expect(out).toContain('\ntarget     lagPerInstance 10, activationLag 0\n');
    expect(out).toMatch(/\nreason     \S.*\n/);
    // The partition table: a header and one aligned row per partition, every record committed.
    const lines = out.split('\n');
    const header = lines.findIndex((l) => l.startsWith('PARTITION'));
    expect(lines[header]?.split(/\s{2,}/)).toEqual(['PARTITION', 'COMMITTED', 'END', 'LAG', 'OWNED', 'STUCK', 'POSITION']);
    expect(lines.slice(header + 1, header + 4).map((l) => l.split(/\s{2,}/))).toEqual([
      ['0', '10', '10', '0', 'yes', 'no'],
      ['1', '10', '10', '0', 'yes', 'no'],
      ['2', '10', '10', '0', 'yes', 'no'],
    ]);
    expect(lines[header + 1]?.indexOf('10')).toBe(lines[header]?.indexOf('COMMITTED'));
    // The decisions, newest last: the first woke it from zero because of the lag.
    const decisions = lines.findIndex((l) => l.startsWith('AT '));
    expect(lines[decisions - 1]).toBe('decisions, newest last:');
    expect(lines[decisions]?.split(/\s{2,}/)).toEqual(['AT', 'AGO', 'SCALE', 'WHY']);
    expect(lines[decisions + 1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}(just now|\ds ago) +0 → [1-3] +wake: lag \d+ \/ lagPerInstance 10 = \d/);
  });

  it('--json prints the function summary and the scaling view together', async () => {
    const name = uniqueName('lag-json');
    const topic = uniqueName('lag-json');
    await rt.eventLog.ensureTopic(topic, 2);
    await deployFunction(rt, name, 'export default async () => null;', { triggers: [{ type: 'lag', topic, pollMs: 100 }] });

    const res = await status(name, '--json');

    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout) as { function: FunctionDetail; scale: ScaleStatus };
    expect(parsed.function).toMatchObject({ name, version: 1, triggers: [{ type: 'lag', topic }] });
    expect(parsed.function.triggerStatus?.triggers[0]?.type).toBe('lag');
    expect(parsed.scale).toMatchObject({ function: name, topic, group: `faas.${name}`, healthy: true, instances: { current: 0 } });
    expect(parsed.scale.lag.partitions.map((p) => p.partition)).toEqual([0, 1]);
  });

  it('a function without a lag trigger prints its summary and says it is not lag-scaled', async () => {
    const name = uniqueName('plain');
    await deployFunction(rt, name, 'export default () => 1;', { triggers: [{ type: 'cron', schedule: '0 0 1 1 *' }, { type: 'webhook', path: `${name}/push` }] });

    const res = await status(name);

    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const [first, triggers, more, sandboxes, blank, message, ...rest] = res.stdout.split('\n');
    expect(first).toMatch(new RegExp(`^function   ${name} v1 \\(sha256 [0-9a-f]{8}, deployed`));
    expect(triggers).toBe('triggers   cron 0 0 1 1 *');
    expect(more).toBe(`           webhook /hooks/${name}/push`);
    expect(sandboxes).toMatch(/^sandboxes  \d+ idle, \d+ busy$/);
    expect(blank).toBe('');
    expect(message).toBe(`not lag-scaled: ${name} has no lag trigger`);
    expect(rest).toEqual(['']);

    const json = await status(name, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ function: { name }, scale: null });
  });

  it('an unknown function fails with the gateway\'s error code and exit 1', async () => {
    const res = await status('no-such-function');

    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('error: no function named "no-such-function" is deployed (FAAS_FUNCTION_NOT_FOUND)\n');
  });
});

describe('faas status text', () => {
  const now = Date.parse('2025-03-01T10:00:00.000Z');
  const detail: FunctionDetail = {
    name: 'orders', version: 4, digest: 'abcdef0123456789', deployedAt: now - 3_600_000,
    triggers: [{ type: 'lag', topic: 'orders' }], manifest: {}, instances: { idle: 1, busy: 2 },
  };
  const scale: ScaleStatus = {
    function: 'orders', topic: 'orders', group: 'faas.orders', healthy: false, error: 'broker unreachable', readAt: new Date(now - 12_000).toISOString(),
    lag: {
      total: 1520, owned: 1200,
      partitions: [
        { partition: 1, committed: null, start: '0', end: '700', lag: 700, owned: true, stuck: false, position: 'start-policy' },
        { partition: 0, committed: '10', start: '500', end: '1000', lag: 500, owned: true, stuck: true, position: 'behind-log' },
        { partition: 2, committed: '9000', start: '0', end: '320', lag: 320, owned: false, stuck: false, position: 'ahead-of-log' },
      ],
    },
    rates: { produced: 0.25, processed: 180.4, lagChange: -180.15, drainSeconds: 8.4 },
    instances: { current: 2, active: 1, min: 0, max: 8, partitions: 2 },
    target: { targetDrainSeconds: 30, activationLag: 5 },
    reason: 'steady: lag 1520 needs 2',
    decisions: Array.from({ length: 12 }, (_, i) => ({ at: new Date(now - (12 - i) * 60_000).toISOString(), from: i % 3, to: (i + 1) % 3, reason: `step ${i}` })),
  };

  it('prints an unhealthy view with its error, position notes and the last decisions', () => {
    const text = formatStatus(detail, scale, { now, decisions: 2 });
    expect(text).toBe([
      'function   orders v4 (sha256 abcdef01, deployed 1h ago)',
      'triggers   lag orders',
      'sandboxes  1 idle, 2 busy',
      '',
      'scaling    lag trigger on topic orders, group faas.orders (as seen by this node)',
      'health     UNHEALTHY: broker unreachable (lag last read 12s ago; the last decision holds)',
      'instances  2 current, 1 active (min 0, max 8; 2 partitions on this node)',
      'lag        1520 total, 1200 owned by this node; 1 partition stuck',
      'rates      0.25 records/s produced, 180 records/s processed; drain in ~8.40 s',
      'target     targetDrainSeconds 30, activationLag 5',
      'reason     steady: lag 1520 needs 2',
      '',
      'PARTITION  COMMITTED  END   LAG  OWNED  STUCK  POSITION',
      '0          10         1000  500  yes    yes    commit before the log start 500 (retention?): from 500',
      '1          -          700   700  yes    no     no commit yet: from the start policy',
      '2          9000       320   320  no     no     commit past the log end 320 (topic re-created?)',
      '',
      'last 2 of 12 decisions, newest last:',
      'AT                        AGO     SCALE  WHY',
      '2025-03-01T09:58:00.000Z  2m ago  1 → 2  step 10',
      '2025-03-01T09:59:00.000Z  1m ago  2 → 0  step 11',
    ].join('\n'));
  });

  it('says when records of a topic trigger or cron ticks are held by an outage, and not when none is', () => {
    const held = { topic: 'orders', group: 'faas.orders', processed: 10, held: 7, holding: 2, lastOutage: { code: 'FAAS_STATE_UNAVAILABLE', message: 'state store (Redis) failed: connect ECONNREFUSED', at: new Date(now - 3000).toISOString() } };
    const text = formatStatus({ ...detail, triggers: [{ type: 'topic', topic: 'orders' }], triggerStatus: { triggers: [{ type: 'topic', status: held }] } }, null, { now });
    expect(text.split('\n')[3]).toBe('held       2 record(s) of topic orders waiting for a service to answer: FAAS_STATE_UNAVAILABLE state store (Redis) failed: connect ECONNREFUSED, last tried 3s ago');
    const stale = formatStatus({ ...detail, stale: { code: 'FAAS_REGISTRY_UNAVAILABLE', message: 'down' }, triggerStatus: { triggers: [{ type: 'topic', status: held }] } }, null, { now });
    expect(stale.split('\n').slice(3, 5)).toEqual(['registry   did not answer (FAAS_REGISTRY_UNAVAILABLE): the version this node last knew', expect.stringMatching(/^held {7}2 record\(s\)/)]);
    const over = formatStatus({ ...detail, triggers: [{ type: 'topic', topic: 'orders' }], triggerStatus: { triggers: [{ type: 'topic', status: { ...held, holding: 0 } }] } }, null, { now });
    expect(over).not.toContain('held');
    const tick = { schedule: '*/5 * * * * *', timezone: 'UTC', runs: 3, missed: 0, held: 4, holding: 1, lastOutage: { code: 'FAAS_STATE_UNAVAILABLE', message: 'the fence store did not answer: Connection is closed.', at: new Date(now - 1000).toISOString() } };
    const cron = formatStatus({ ...detail, triggers: [{ type: 'cron', schedule: '*/5 * * * * *' }], triggerStatus: { triggers: [{ type: 'cron', status: tick }] } }, null, { now });
    expect(cron.split('\n')[3]).toBe('held       1 tick(s) of cron */5 * * * * * waiting for a service to answer: FAAS_STATE_UNAVAILABLE the fence store did not answer: Connection is closed., last tried 1s ago');
  });

  it('says when a lag trigger is configured but not running, with the trigger error', () => {
    const text = formatStatus({ ...detail, triggerStatus: { triggers: [], error: 'topic orders: not authorised' } }, null, { now });
    expect(text.split('\n').slice(3)).toEqual([
      'trigger error  topic orders: not authorised',
      '',
      'not lag-scaled: the lag trigger of orders is not running on this node (see trigger error above)',
    ]);
  });
});

describe('cli/format', () => {
  it('formats sizes, durations, relative times and parses --since', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(2100)).toBe('2.1 kB');
    expect(formatBytes(5_242_880)).toBe('5.2 MB');
    expect(formatDuration(12.34)).toBe('12.3 ms');
    expect(formatDuration(1520)).toBe('1.52 s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    const now = Date.parse('2025-03-01T10:00:00Z');
    expect(relativeTime(now - 42_000, now)).toBe('42s ago');
    expect(relativeTime(new Date(now - 3 * 3_600_000).toISOString(), now)).toBe('3h ago');
    expect(parseSince('1700000000000', now)).toBe(1_700_000_000_000);
    expect(parseSince('1h30m', now)).toBe(now - 90 * 60_000);
    expect(parseSince('2025-02-28T10:00:00Z', now)).toBe(now - 86_400_000);
    expect(() => parseSince('soon', now)).toThrow(/duration/);
  });

  it('aligns label/value fields, multi-line values included, and formats rates', () => {
    expect(fields([['a', 'one'], ['longer', 'two\nthree']])).toBe('a       one\nlonger  two\n        three');
    expect([0, 0.154, 12.345, 1480.4].map(formatRate)).toEqual(['0', '0.15', '12.3', '1480']);
  });
});

/** A port nothing listens on: bind one, then release it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
