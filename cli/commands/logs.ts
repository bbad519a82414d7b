/**
 * `faas logs <name>`: a function's console output, one line per entry:
 * `<ISO time> <invocation id, short> <LEVEL> <message>`. `--follow` polls every second with the
 * gateway's `next` cursor until Ctrl-C.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { LogEntry } from '../client.ts';
import { isoTime, parseSince, shortId } from '../format.ts';
import { parsePositiveInt, sleep, type RegisterCommand } from './shared.ts';

export const FOLLOW_INTERVAL_MS = 1000;

export function formatLogLine(entry: LogEntry): string {
  // A multi-line message keeps its lines together under one prefix, indented to stay readable.
  const message = String(entry.message).replace(/\n/g, '\n    ');
  return `${isoTime(entry.ts)} ${shortId(entry.invocationId)} ${String(entry.level).toUpperCase().padEnd(5)} ${message}`;
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
    .description('print a function\'s logs')
    .argument('<name>', 'function name')
    .option('-f, --follow', 'keep polling for new entries (every second) until Ctrl-C')
    .option('--since <time>', 'entries from this time on: epoch ms, a duration back from now (30s, 5m, 2h, 1d) or an ISO date', sinceOption)
    .option('--invocation <id>', 'only the entries of one invocation')
    .option('--limit <n>', 'most entries per request', parsePositiveInt)
    .action(async (name: string, opts: { follow?: boolean; since?: number; invocation?: string; limit?: number }, cmd: Command) => {
      const client = cli.client(cmd);
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
