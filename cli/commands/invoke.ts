/**
 * `faas invoke <name>`: call a function and print its result (stdout, pretty JSON) and how it ran
 * (stderr: cold|warm, duration, invocation id), so `faas invoke f | jq` sees only the result.
 * `--async` queues the call and prints where to fetch the outcome (`faas invocation <id>`).
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { formatDuration, prettyJson } from '../format.ts';
import type { RegisterCommand } from './shared.ts';

/** --data as JSON; `@file.json` reads a file. A bad value is a usage error (exit 2). */
export function parseData(value: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`--data must be JSON (quote strings: --data '"text"'): ${(err as Error).message}`);
  }
}

export const register: RegisterCommand = (program, cli) => {
  program
    .command('invoke')
    .description('invoke a function and print its result')
    .argument('<name>', 'function name')
    .option('-d, --data <json>', 'event data as JSON, or @file.json (default: null)', parseData)
    .option('--async', 'queue the invocation and print its id instead of waiting')
    .option('--json', 'with --async, print the gateway\'s answer as JSON')
    .action(async (name: string, opts: { data?: unknown; async?: boolean; json?: boolean }, cmd: Command) => {
      const client = cli.client(cmd);
      const data = opts.data === undefined ? null : opts.data;
      if (opts.async === true) {
        const accepted = await client.invokeAsync(name, data);
        if (opts.json === true) {
          cli.stdout.write(`${JSON.stringify(accepted, null, 2)}\n`);
          return;
        }
        cli.stdout.write(`invocation ${accepted.invocationId} ${accepted.status}\n`);
        cli.stdout.write(`status: ${client.resolve(accepted.statusUrl)}\n`);
        cli.stderr.write(`fetch the outcome with: faas invocation ${accepted.invocationId}\n`);
        return;
      }
      const answer = await client.invoke(name, data);
      cli.stdout.write(prettyJson(answer.result));
      const facts = [
        answer.start,
        answer.durationMs === undefined ? undefined : formatDuration(answer.durationMs),
        answer.invocationId === undefined ? undefined : `id ${answer.invocationId}`,
      ].filter((f) => f !== undefined);
      if (facts.length > 0) cli.stderr.write(`${facts.join(', ')}\n`);
    });
};
