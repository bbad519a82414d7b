/**
 * Trigger declarations inside the manifest (`triggers: [...]`), told apart by `type`. Their shape is
 * validated here with the rest of the manifest (and so appears in the editor JSON Schema); checks that
 * need a library (a cron expression, a time zone) run in the trigger's plugin at deploy.
 */
import { z } from 'zod';

const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'Kafka topic names are letters, digits, ".", "_" and "-" (at most 249)');
const groupName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'group ids are letters, digits, ".", "_" and "-"');
const encoding = z.enum(['json', 'string', 'bytes']).default('json').describe('How record values are decoded: json (default), string, or bytes (base64).');
const description = z.string().max(500).optional();

/** Where a new consumer group starts: the oldest record, only new ones, or the first at/after a time. */
export const startSchema = z
  .union([z.enum(['earliest', 'latest']), z.strictObject({ timestamp: z.union([z.int().min(0), z.iso.datetime({ offset: true })]) })])
  .default('latest')
  .describe('Start of a new consumer group: "earliest", "latest" (default) or { "timestamp": epoch ms or ISO time }.');

export const topicTriggerSchema = z.strictObject({
  type: z.literal('topic'),
  description,
  topic: topicName,
  group: groupName.optional().describe('Consumer group; default faas.<function>.'),
  start: startSchema,
  mode: z.enum(['record', 'batch']).default('record').describe('record: one invocation per record; batch: one invocation gets an array.'),
  batchSize: z.int().min(1).max(10_000).default(100).describe('Most records per invocation in batch mode.'),
  batchWaitMs: z.int().min(0).max(60_000).default(0).describe('In batch mode, how long to wait for a fuller batch.'),
  encoding,
  keyConcurrency: z.int().min(1).max(256).default(1).describe('Keys of one partition processed in parallel, each key in order; 1 = strict partition order.'),
});

export const cronTriggerSchema = z.strictObject({
  type: z.literal('cron'),
  description,
  schedule: z.string().min(1).max(200).describe('Cron expression, 5 fields (minute first) or 6 (second first).'),
  timezone: z.string().min(1).default('UTC').describe('IANA time zone the schedule is read in, e.g. Europe/Berlin.'),
  overlap: z.enum(['skip', 'allow']).default('skip').describe('A tick while the previous run is still going: skip it (default) or run anyway.'),
  catchUp: z.enum(['none', 'latest']).default('none').describe('After downtime: run nothing (default) or the most recent missed tick.'),
  topic: topicName.optional().describe('A topic to drain on each tick: the handler gets what accumulated since the last run.'),
  group: groupName.optional().describe('Consumer group of the drain; default faas.<function>.cron.'),
  maxRecords: z.int().min(1).max(100_000).default(1000).describe('Most records one tick drains.'),
  encoding,
});

const signatureSchema = z.strictObject({
  scheme: z.enum(['standard', 'github', 'stripe', 'hmac']).describe('standard (Standard Webhooks), github (X-Hub-Signature-256), stripe (Stripe-Signature), hmac (generic).'),
  secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'the NAME of a runtime environment variable').describe('Runtime environment variable holding the secret (comma-separated for rotation). Secrets never live in the manifest.'),
  header: z.string().min(1).max(100).optional().describe('hmac: header carrying the signature (default x-signature).'),
  algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256').describe('hmac: digest algorithm.'),
  encoding: z.enum(['hex', 'base64']).default('hex').describe('hmac: signature encoding.'),
  prefix: z.string().max(20).optional().describe('hmac: text before the signature, e.g. "sha256=".'),
  toleranceSec: z.int().min(1).max(86_400).default(300).describe('standard/stripe: how old a signed timestamp may be.'),
});

export const webhookTriggerSchema = z.strictObject({
  type: z.literal('webhook'),
  description,
  path: z.string().regex(/^[a-z0-9][a-z0-9/_.-]{0,199}$/, 'lower-case path below /hooks/, e.g. "github/push"').describe('Served at /hooks/<path>.'),
  methods: z.array(z.enum(['POST', 'PUT', 'PATCH', 'GET', 'DELETE'])).min(1).default(['POST']),
  mode: z.enum(['sync', 'async']).default('sync').describe('sync: the handler answers; async: durably queued, 202.'),
  signature: signatureSchema.optional(),
  maxBodyBytes: z.int().min(1).max(32 * 1024 * 1024).default(1024 * 1024),
  ingestTopic: topicName.optional().describe('async: the topic requests are queued on; default faas.<function>.ingest.'),
});

/**
 * Consumer-lag trigger: a topic consumer that runs only while its group has lag, scaled by it. While
 * the lag is at most `activationLag` and `cooldownMs` has passed, no consumer runs (scale to zero);
 * above it, consumers start, and the partitions processed in parallel on this node follow the lag.
 */
export const lagTriggerSchema = topicTriggerSchema.extend({
  type: z.literal('lag'),
  activationLag: z.int().min(0).default(0).describe('Lag (records) above which a function at zero wakes; 0 = the first record.'),
  lagPerInstance: z.int().min(1).max(100_000_000).optional().describe('Target lag per instance: instances = ceil(lag / lagPerInstance). Default 100 unless targetDrainSeconds is given.'),
  targetDrainSeconds: z.number().min(0.1).max(86_400).optional().describe('Target time to drain the lag: instances = ceil(lag / (observed records/s per instance × this)).'),
  minInstances: z.int().min(0).max(1024).default(0).describe('Instances kept running even without lag; 0 allows scale to zero.'),
  maxInstances: z.int().min(1).max(1024).optional().describe("Most instances on one node; default the function's scaling.maxInstances. Never more than the partitions this node owns."),
  pollMs: z.int().min(50).max(60_000).default(250).describe('How often the lag is read, in ms.'),
  scaleDownStabilizationMs: z.int().min(0).max(3_600_000).default(10_000).describe('Scale down only to the highest target seen in this window (no flapping).'),
  cooldownMs: z.int().min(0).max(86_400_000).default(30_000).describe('Time without lag before scaling to zero.'),
  stuckAfterMs: z.int().min(1000).max(86_400_000).default(30_000).describe('A partition with lag whose committed offset has not moved for this long is reported stuck and no longer drives scale-out.'),
});

export const triggerSchema = z.discriminatedUnion('type', [topicTriggerSchema, cronTriggerSchema, webhookTriggerSchema, lagTriggerSchema]);

export type TopicTrigger = z.output<typeof topicTriggerSchema>;
export type CronTrigger = z.output<typeof cronTriggerSchema>;
export type WebhookTrigger = z.output<typeof webhookTriggerSchema>;
export type LagTrigger = z.output<typeof lagTriggerSchema>;
export type TriggerSpec = z.output<typeof triggerSchema>;
export type TriggerType = TriggerSpec['type'];
export type TriggerOf<T extends TriggerType> = Extract<TriggerSpec, { type: T }>;
