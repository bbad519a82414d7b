/** `faas ls`: the deployed functions as a table (or the raw answer with --json). */
import type { Command } from 'commander';
import { relativeTime, table } from '../format.ts';
import type { RegisterCommand } from './shared.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('ls')
    .alias('list')
    .description('list deployed functions')
    .option('--json', 'print the gateway\'s answer as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const answer = await cli.client(cmd).list();
      if (opts.json === true) {
        cli.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        return;
      }
      if (answer.functions.length === 0) {
        cli.stderr.write('no functions deployed (deploy one with: faas deploy <dir>)\n');
        return;
      }
      const now = Date.now();
      const rows = [...answer.functions]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((fn) => [
          fn.name,
          `v${fn.version}`,
          fn.triggers.length === 0 ? '-' : fn.triggers.map((t) => t.type).join(','),
          `${fn.instances.idle} idle, ${fn.instances.busy} busy`,
          relativeTime(fn.deployedAt, now),
        ]);
      cli.stdout.write(`${table(['NAME', 'VERSION', 'TRIGGERS', 'INSTANCES', 'DEPLOYED'], rows)}\n`);
    });
};
