/**
 * `faas status <name>`: one function at a glance: its version and triggers and, for a function with
 * a `lag` trigger, how the answering node scales it (GET /v1/scale/:name): health, instances, the
 * group's lag in total and per partition, rates, the reason for the current count and the last
 * scaling decisions. A function without a running lag trigger prints its summary and says so.
 * `--json` prints both answers as `{ function, scale }` (scale null when not lag-scaled).
 */
import type { Command } from 'commander';
import { GatewayError, type FunctionDetail, type PartitionScale, type ScaleStatus, type TriggerSummary } from '../client.ts';
import { fields, formatDuration, formatRate, isoTime, relativeTime, table } from '../format.ts';
import { parsePositiveInt, type RegisterCommand } from './shared.ts';

export const DEFAULT_DECISIONS = 10;

export const register: RegisterCommand = (program, cli) => {
  program
    .command('status')
    .description('show a function\'s version, triggers and, for a lag trigger, its scaling: lag per partition, rates, decisions')
    .argument('<name>', 'function name')
    .option('--decisions <n>', 'most recent scaling decisions to show', parsePositiveInt, DEFAULT_DECISIONS)
    .option('--json', 'print the gateway\'s answers as JSON: { function, scale } (scale null when not lag-scaled)')
    .action(async (name: string, opts: { decisions: number; json?: boolean }, cmd: Command) => {
      const client = cli.client(cmd);
      const [detail, scale] = await Promise.all([
        client.get(name),
        client.scale(name).catch((err: unknown) => {
          // Not lag-scaled is an answer, not a failure; an unknown function fails through get().
          if (err instanceof GatewayError && (err.code === 'FAAS_NOT_SCALED' || err.code === 'FAAS_FUNCTION_NOT_FOUND')) return null;
          throw err;
        }),
      ]);
      if (opts.json === true) {
        cli.stdout.write(`${JSON.stringify({ function: detail, scale }, null, 2)}\n`);
        return;
      }
      cli.stdout.write(`${formatStatus(detail, scale, { decisions: opts.decisions })}\n`);
    });
};

/** The whole text of `faas status` (pure, for tests). */
export function formatStatus(detail: FunctionDetail, scale: ScaleStatus | null, options: { decisions?: number; now?: number } = {}): string {
  const now = options.now ?? Date.now();
  const triggers = detail.triggers ?? (detail.manifest.triggers as TriggerSummary[] | undefined) ?? [];
  const summary: [string, string][] = [
    ['function', `${detail.name} v${detail.version} (sha256 ${detail.digest.slice(0, 8)}, deployed ${relativeTime(detail.deployedAt, now)})`],
    ['triggers', triggers.length === 0 ? '-' : triggers.map(describeTrigger).join('\n')],
    ['sandboxes', `${detail.instances.idle} idle, ${detail.instances.busy} busy`],
  ];
  if (detail.stale !== undefined) summary.push(['registry', `did not answer (${detail.stale.code}): the version this node last knew`]);
  if (detail.triggerStatus?.error !== undefined) summary.push(['trigger error', detail.triggerStatus.error]);
  for (const t of detail.triggerStatus?.triggers ?? []) {
    const held = heldText(t.status, now);
    if (held !== undefined) summary.push(['held', held]);
  }
  const parts = [fields(summary)];
  if (scale === null) {
    parts.push(
      triggers.some((t) => t.type === 'lag')
        ? `not lag-scaled: the lag trigger of ${detail.name} is not running on this node${detail.triggerStatus?.error !== undefined ? ' (see trigger error above)' : ''}`
        : `not lag-scaled: ${detail.name} has no lag trigger`,
    );
    return parts.join('\n\n');
  }
  parts.push(fields(scalingFields(scale, now)));
  parts.push(scale.lag.partitions.length === 0 ? 'no partitions read yet' : partitionTable(scale.lag.partitions));
  parts.push(decisionsText(scale, options.decisions ?? DEFAULT_DECISIONS, now));
  return parts.join('\n\n');
}

/** A topic trigger's records, or a cron trigger's ticks, held by an outage right now, if any. */
function heldText(status: Record<string, unknown>, now: number): string | undefined {
  const holding = status['holding'];
  const last = status['lastOutage'] as { code?: unknown; message?: unknown; at?: unknown } | null | undefined;
  if (typeof holding !== 'number' || holding <= 0 || last == null) return undefined;
  const at = typeof last.at === 'string' ? `, last tried ${relativeTime(last.at, now)}` : '';
  const what = typeof status['schedule'] === 'string' ? `tick(s) of cron ${status['schedule']}` : `record(s) of topic ${String(status['topic'])}`;
  return `${holding} ${what} waiting for a service to answer: ${String(last.code)} ${String(last.message)}${at}`;
}

function describeTrigger(t: TriggerSummary): string {
  const str = (key: string): string | undefined => (typeof t[key] === 'string' ? t[key] : undefined);
  switch (t.type) {
    case 'topic':
    case 'lag':
      return `${t.type} ${str('topic') ?? '?'}`;
    case 'cron': {
      const tz = str('timezone');
      return `cron ${str('schedule') ?? '?'}${tz !== undefined && tz !== 'UTC' ? ` (${tz})` : ''}`;
    }
    case 'webhook':
      return `webhook /hooks/${str('path') ?? '?'}`;
    default:
      return t.type;
  }
}

function scalingFields(s: ScaleStatus, now: number): [string, string][] {
  const read = s.readAt === undefined ? 'never read' : `read ${relativeTime(s.readAt, now)}`;
  const target = [
    s.target.lagPerInstance !== undefined ? `lagPerInstance ${s.target.lagPerInstance}` : undefined,
    s.target.targetDrainSeconds !== undefined ? `targetDrainSeconds ${s.target.targetDrainSeconds}` : undefined,
    `activationLag ${s.target.activationLag}`,
  ].filter((x) => x !== undefined);
  const stuck = s.lag.partitions.filter((p) => p.stuck).length;
  return [
    ['scaling', `lag trigger on topic ${s.topic}, group ${s.group} (as seen by this node)`],
    ['health', s.healthy ? `ok (lag ${read})` : `UNHEALTHY: ${s.error ?? 'lag unreadable'} (lag last ${read}; the last decision holds)`],
    ['instances', `${s.instances.current} current, ${s.instances.active} active (min ${s.instances.min}, max ${s.instances.max}; ${s.instances.partitions} partition${s.instances.partitions === 1 ? '' : 's'} on this node)`],
    ['lag', `${s.lag.total} total, ${s.lag.owned} owned by this node${stuck > 0 ? `; ${stuck} partition${stuck === 1 ? '' : 's'} stuck` : ''}`],
    ['rates', `${formatRate(s.rates.produced)} records/s produced, ${formatRate(s.rates.processed)} records/s processed; ${drain(s)}`],
    ['target', target.join(', ')],
    ['reason', s.reason],
  ];
}

function drain(s: ScaleStatus): string {
  if (s.lag.total === 0) return 'nothing to drain';
  if (s.rates.drainSeconds === null) return 'drain: not shrinking';
  return `drain in ~${formatDuration(s.rates.drainSeconds * 1000)}`;
}

function partitionTable(partitions: readonly PartitionScale[]): string {
  const rows = [...partitions]
    .sort((a, b) => a.partition - b.partition)
    .map((p) => [String(p.partition), p.committed ?? '-', p.end, String(p.lag), p.owned ? 'yes' : 'no', p.stuck ? 'yes' : 'no', positionNote(p)]);
  return table(['PARTITION', 'COMMITTED', 'END', 'LAG', 'OWNED', 'STUCK', 'POSITION'], rows);
}

function positionNote(p: PartitionScale): string {
  switch (p.position) {
    case 'start-policy':
      return 'no commit yet: from the start policy';
    case 'behind-log':
      return `commit before the log start ${p.start} (retention?): from ${p.start}`;
    case 'ahead-of-log':
      return `commit past the log end ${p.end} (topic re-created?)`;
    default:
      return '';
  }
}

function decisionsText(s: ScaleStatus, most: number, now: number): string {
  if (s.decisions.length === 0) return `no scaling decisions yet (at ${s.instances.current})`;
  const shown = s.decisions.slice(-most);
  const title = shown.length === s.decisions.length ? 'decisions, newest last:' : `last ${shown.length} of ${s.decisions.length} decisions, newest last:`;
  const rows = shown.map((d) => [isoTime(d.at), relativeTime(d.at, now), `${d.from} → ${d.to}`, d.reason]);
  return `${title}\n${table(['AT', 'AGO', 'SCALE', 'WHY'], rows)}`;
}
