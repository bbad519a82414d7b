/** `faas rm <name>`: delete a deployed function. */
import type { Command } from 'commander';
import type { RegisterCommand } from './shared.ts';

export const register: RegisterCommand = (program, cli) => {
  program
    .command('rm')
    .alias('delete')
    .description('delete a deployed function')
    .argument('<name>', 'function name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await cli.client(cmd).remove(name);
      cli.stdout.write(`removed ${name}\n`);
    });
};
