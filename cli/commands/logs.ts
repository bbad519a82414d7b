/**
 * `faas logs <name>`: a function's console output, one line per entry:
 * `<ISO time> <invocation id, short> <LEVEL> <message>`. `--follow` polls every second with the
 * gateway's `next` cursor until Ctrl-C.
 *
 * `faas logs --correlation <id>`: one request across functions. Each hop (an invocation) is a
 * header line, indented by its depth of direct calls, naming its function, how it was started
 * (its source) and its outcome; its log lines follow.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { LogEntry, Trace } from '../client.ts';
import { isoTime, parseSince, shortId } from '../format.ts';
import { parsePositiveInt, sleep, type RegisterCommand } from './shared.ts';

export const FOLLOW_INTERVAL_MS = 1000;

export function formatLogLine(entry: LogEntry): string {
  // A multi-line message keeps its lines together under one prefix, indented to stay readable.
  const message = String(entry.message).replace(/\n/g, '\n    ');
  return `${isoTime(entry.ts)} ${shortId(entry.invocationId)} ${String(entry.level).toUpperCase().padEnd(5)} ${message}`;
}

export function formatTrace(trace: Trace): string {
  const byId = new Map(trace.hops.map((h) => [h.invocationId, h]));
  const lines: string[] = [];
  for (const h of trace.hops) {
    const indent = '  '.repeat(Math.max(0, h.depth - 1));
    const parent = h.parentInvocationId !== undefined ? ` ← ${byId.get(h.parentInvocationId)?.function ?? '?'} ${shortId(h.parentInvocationId)}` : '';
    const outcome = h.status === 'succeeded' ? 'ok' : `FAILED ${h.error?.code ?? ''}: ${h.error?.message ?? ''}`;
    lines.push(`${isoTime(h.ts)} ${indent}${h.function}@${h.version} ${shortId(h.invocationId)} [${h.type} ${h.source}${parent}] ${h.durationMs.toFixed(1)} ms ${outcome}`);
    for (const entry of h.logs) lines.push(`${indent}    ${formatLogLine(entry)}`);
  }
  return lines.join('\n');
}

function sinceOption(value: string): number {
  try {
    return parseSince(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export const register: RegisterCommand = (program, cli) => {
  program
    .command('logs')
    .description('print a function\'s logs, or with --correlation one request across functions')
    .argument('[name]', 'function name (not with --correlation)')
    .option('--correlation <id>', 'every invocation of one request across functions (direct calls, emitted records, queued calls) with its logs')
    .option('-f, --follow', 'keep polling for new entries (every second) until Ctrl-C')
    .option('--since <time>', 'entries from this time on: epoch ms, a duration back from now (30s, 5m, 2h, 1d) or an ISO date', sinceOption)
    .option('--invocation <id>', 'only the entries of one invocation')
    .option('--limit <n>', 'most entries per request', parsePositiveInt)
    .action(async (name: string | undefined, opts: { follow?: boolean; since?: number; invocation?: string; limit?: number; correlation?: string }, cmd: Command) => {
      const client = cli.client(cmd);
      if (opts.correlation !== undefined) {
        const trace = await client.trace(opts.correlation);
        cli.stdout.write(trace.hops.length === 0 ? `no invocations recorded for correlation ${opts.correlation}\n` : `${formatTrace(trace)}\n`);
        return;
      }
      if (name === undefined) throw new InvalidArgumentError('name a function, or give --correlation <id>');
      const signal = opts.follow === true ? cli.interruptSignal() : AbortSignal.abort();
      let since = opts.since;
      for (;;) {
        const page = await client.logs(name, { since, limit: opts.limit, invocation: opts.invocation });
        for (const entry of page.entries) cli.stdout.write(`${formatLogLine(entry)}\n`);
        if (Number.isFinite(page.next)) since = page.next;
        if (opts.follow !== true || signal.aborted) return;
        await sleep(FOLLOW_INTERVAL_MS, signal);
        if (signal.aborted) return;
      }
    });
};
