/**
 * `faas invocation <id>`: the outcome of an async invocation. A failed invocation prints its error
 * and exits 1, like a failed synchronous invoke; `--wait` polls until it is no longer pending.
 */
import type { Command } from 'commander';
import { formatDuration, prettyJson, relativeTime } from '../format.ts';
import { parsePositiveInt, sleep, type RegisterCommand } from './shared.ts';
import { GatewayError, type InvocationRecord } from '../client.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('invocation')
    .description('show the status and outcome of an (async) invocation')
    .argument('<id>', 'invocation id, as printed by faas invoke --async')
    .option('--wait', 'poll until the invocation has finished')
    .option('--interval <ms>', 'poll interval for --wait', parsePositiveInt, 500)
    .option('--json', 'print the gateway\'s answer as JSON')
    .action(async (id: string, opts: { wait?: boolean; interval: number; json?: boolean }, cmd: Command) => {
      const client = cli.client(cmd);
      const signal = opts.wait === true ? cli.interruptSignal() : AbortSignal.abort();
      let record: InvocationRecord = await client.invocation(id);
      while (opts.wait === true && record.status === 'pending' && !signal.aborted) {
        await sleep(opts.interval, signal);
        record = await client.invocation(id);
      }
      if (opts.json === true) {
        cli.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
        return;
      }
      const facts = [record.function, record.status, record.start, record.durationMs === undefined ? undefined : formatDuration(record.durationMs)]
        .filter((f) => f !== undefined);
      if (record.status === 'pending') {
        cli.stderr.write(`${facts.join(', ')} (accepted ${relativeTime(record.acceptedAt)})\n`);
        return;
      }
      cli.stderr.write(`${facts.join(', ')}, id ${record.id}\n`);
      if (record.status === 'succeeded') {
        cli.stdout.write(prettyJson(record.result));
        return;
      }
      const error = record.error ?? { code: 'FAAS_INTERNAL', message: 'the invocation failed without an error record' };
      throw new GatewayError(200, error.code, error.message);
    });
};
