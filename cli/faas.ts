#!/usr/bin/env -S node --no-node-snapshot
/**
 * The `faas` command line: deploy, list, invoke and inspect functions through the gateway's
 * control API. Each command lives in cli/commands/<name>.ts and is listed in COMMANDS below.
 *
 * Exit codes: 0 success; 1 the operation failed (gateway error, unreachable gateway, invalid
 * manifest or bundle); 2 usage error (unknown option, bad --data, bad URL).
 */
import { Command, CommanderError } from 'commander';
import { FaasError } from '../core/errors.ts';
import { GatewayError, GatewayUnreachableError, FaasClient } from './client.ts';
import * as deploy from './commands/deploy.ts';
import * as invocation from './commands/invocation.ts';
import * as invoke from './commands/invoke.ts';
import * as logs from './commands/logs.ts';
import * as ls from './commands/ls.ts';
import * as publish from './commands/publish.ts';
import * as rm from './commands/rm.ts';
import * as status from './commands/status.ts';
import { gatewayFrom, parseUrl, UsageError, type Cli, type GlobalOptions, type RegisterCommand } from './commands/shared.ts';
import pkg from '../package.json' with { type: 'json' };

/** One entry per command file; a new command (publish, status, …) is one file and one line here. */
const COMMANDS: readonly RegisterCommand[] = [deploy.register, ls.register, invoke.register, invocation.register, logs.register, rm.register, publish.register, status.register];

export function buildProgram(cli: Cli): Command {
  const program = new Command('faas')
    .description('deploy and run event-triggered TypeScript functions')
    .version(pkg.version, '-V, --version')
    .option('--url <url>', 'gateway URL (env FAAS_URL; default http://127.0.0.1:8080)', parseUrl)
    .option('--token <token>', 'control API bearer token (env FAAS_API_TOKEN)')
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => cli.stdout.write(s),
      writeErr: (s) => cli.stderr.write(s),
    })
    // Throw instead of exiting, so main() maps usage errors to exit code 2. Set before the
    // commands are added: subcommands copy it when created.
    .exitOverride();
  for (const register of COMMANDS) register(program, cli);
  return program;
}

/** Runs one command line; resolves to the exit code. */
export async function main(argv: readonly string[], cli: Cli): Promise<number> {
  const program = buildProgram(cli);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    return report(err, cli);
  }
}

function report(err: unknown, cli: Cli): number {
  const say = (line: string) => cli.stderr.write(`${line}\n`);
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed it already
  if (err instanceof UsageError) {
    say(`error: ${err.message}`);
    return 2;
  }
  if (err instanceof GatewayUnreachableError) {
    say(`error: ${err.message}`);
    say('  is the gateway running (npm start)? Set its address with --url <url> or FAAS_URL=<url>.');
    return 1;
  }
  if (err instanceof GatewayError) {
    say(`error: ${err.message} (${err.code})`);
    if (err.code === 'FAAS_UNAUTHORIZED') say('  pass the control API token with --token <token> or FAAS_API_TOKEN=<token>.');
    if (err.invocationId !== undefined) say(`  invocation ${err.invocationId}`);
    return 1;
  }
  if (err instanceof FaasError) {
    say(`error: ${err.message} (${err.code})`);
    return 1;
  }
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  if (cli.env.FAAS_DEBUG && err instanceof Error && err.stack) say(err.stack);
  return 1;
}

function processCli(): Cli {
  let interrupt: AbortController | undefined;
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    client(cmd) {
      const options = cmd.optsWithGlobals<GlobalOptions>();
      const { url, token } = gatewayFrom(options, process.env);
      if (options.url === undefined) {
        try {
          parseUrl(url);
        } catch (err) {
          throw new UsageError(`FAAS_URL "${url}" is not usable: ${(err as Error).message}`);
        }
      }
      return new FaasClient({ url, token });
    },
    interruptSignal() {
      if (interrupt === undefined) {
        const controller = new AbortController();
        interrupt = controller;
        process.on('SIGINT', () => {
          if (controller.signal.aborted) process.exit(130);
          controller.abort();
        });
      }
      return interrupt.signal;
    },
  };
}

// `faas logs … | head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// exitCode rather than process.exit(): piped stdout is flushed before the process ends.
process.exitCode = await main(process.argv.slice(2), processCli());
