/**
 * The function manifest (function.json): the four components of a function-based service in one
 * document — the function (name, limits, environment), its inputs and triggering logic (triggers),
 * and its error and scaling policies (retry, deadLetter, scaling). Validated once with zod into a
 * frozen, fully-defaulted object; schema/function.schema.json is generated from this file.
 */
import { z } from 'zod';
import { FaasError } from './errors.ts';
import { triggerSchema } from './trigger-specs.ts';

export type { TriggerSpec, TriggerType } from './trigger-specs.ts';

export const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const limits = z
  .strictObject({
    /** Wall-clock deadline of one invocation, async work included. Default 10 000 ms. */
    timeoutMs: z.int().min(1).max(900_000).default(10_000).describe('Wall-clock deadline of one invocation in ms, async work included.'),
    /** V8 heap limit of one sandbox instance. Default 64 MB. */
    memoryMb: z.int().min(8).max(2048).default(64).describe('Heap limit of one sandbox instance in MB (min 8).'),
    /** Largest JSON result accepted from the handler. Default 1 MiB. */
    maxResultBytes: z.int().min(2).max(32 * 1024 * 1024).default(1024 * 1024).describe('Largest serialised result in bytes.'),
    /** Largest captured console output of one invocation. Default 64 KiB. */
    maxLogBytes: z.int().min(0).max(1024 * 1024).default(64 * 1024).describe('Console output kept per invocation in bytes.'),
  })
  .prefault({});

const scaling = z
  .strictObject({
    /** Instances kept warm even when idle. Default 0. */
    minWarm: z.int().min(0).max(64).default(0).describe('Instances kept ready even when idle.'),
    /** Most instances alive at once on one node (each runs one invocation at a time). Default 10. */
    maxInstances: z.int().min(1).max(1024).default(10).describe('Most concurrent instances on one node.'),
    /** An idle instance above minWarm is evicted after this long. Default 300 000 ms. */
    idleMs: z.int().min(100).max(86_400_000).default(300_000).describe('Idle time after which an instance above minWarm is evicted, in ms.'),
    /** Invocations allowed to wait for an instance when all are busy. Default 100. */
    maxQueue: z.int().min(0).max(100_000).default(100).describe('Invocations that may wait for a busy function before FAAS_OVERLOADED.'),
  })
  .prefault({});

const retry = z
  .strictObject({
    maxAttempts: z.int().min(1).max(100).default(3).describe('Attempts per event, the first included.'),
    backoffMs: z.int().min(0).max(3_600_000).default(200).describe('First retry delay; doubles each attempt, with jitter.'),
    maxBackoffMs: z.int().min(0).max(3_600_000).default(30_000).describe('Upper bound of one retry delay.'),
  })
  .prefault({});

const deadLetter = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Dead-letter topic. Default `faas.<name>.dlq`. */
    topic: z.string().min(1).max(249).optional().describe('Dead-letter topic; default faas.<name>.dlq.'),
  })
  .prefault({});

const state = z
  .strictObject({
    /** Shared stores this function may use (ctx.state.shared(name)), for functions of one bounded context. */
    shared: z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'store names are lower-case letters, digits and dashes, starting with a letter'))
      .max(16)
      .default([])
      .refine((l) => new Set(l).size === l.length, 'a store is listed twice')
      .describe('Shared state stores granted to this function (ctx.state.shared(name)).'),
  })
  .prefault({});

export const manifestSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().regex(FUNCTION_NAME, 'lower-case letters, digits and dashes, starting with a letter, at most 63').describe('Function name, unique in the cluster.'),
  description: z.string().max(1000).optional(),
  entry: z.string().min(1).default('index.ts').describe('Entry file whose default export is the handler.'),
  limits,
  scaling,
  retry,
  deadLetter,
  state,
  triggers: z.array(triggerSchema).max(32).default([]),
  env: z
    .record(z.string().regex(ENV_NAME, 'environment names are letters, digits and underscores'), z.string().max(32 * 1024))
    .default({})
    .refine((env) => Object.keys(env).length <= 256, 'at most 256 environment entries')
    .describe('Values handed to the handler as ctx.env.'),
});

export type ManifestInput = z.input<typeof manifestSchema>;
export type Manifest = z.output<typeof manifestSchema>;

/** Validate a manifest; the error lists every problem as `path: message`. */
export function parseManifest(input: unknown): Readonly<Manifest> {
  const parsed = manifestSchema.safeParse(input);
  if (!parsed.success) {
    throw new FaasError('FAAS_MANIFEST_INVALID', `invalid manifest: ${formatIssues(parsed.error)}`, {
      details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return deepFreeze(parsed.data);
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** JSON Schema for editors (schema/function.schema.json is this, written by scripts/gen-schema.ts). */
export function manifestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://faas-runtime.dev/schema/function.schema.json',
    title: 'FaaS function manifest (function.json)',
  };
}
