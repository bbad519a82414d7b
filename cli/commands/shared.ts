/**
 * What every command gets: a way to build the gateway client from the global options, and the
 * output streams. A command is one file exporting `register(program, cli)`; cli/faas.ts lists them.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_URL, type FaasClient } from '../client.ts';

export interface GlobalOptions {
  url?: string;
  token?: string;
}

export interface Cli {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Client for the gateway named by --url/--token, else FAAS_URL/FAAS_API_TOKEN. */
  client(cmd: Command): FaasClient;
  /**
   * For long-running commands (logs --follow): from the first call on, SIGINT aborts this signal
   * instead of killing the process, so the command ends cleanly (a second SIGINT still kills it).
   */
  interruptSignal(): AbortSignal;
}

export type RegisterCommand = (program: Command, cli: Cli) => void;

export function gatewayFrom(options: GlobalOptions, env: NodeJS.ProcessEnv): { url: string; token: string | undefined } {
  const url = options.url ?? (env.FAAS_URL !== undefined && env.FAAS_URL !== '' ? env.FAAS_URL : DEFAULT_URL);
  const token = options.token ?? (env.FAAS_API_TOKEN !== undefined && env.FAAS_API_TOKEN !== '' ? env.FAAS_API_TOKEN : undefined);
  return { url, token };
}

/** Commander argParser for URLs: only http(s), so a typo fails as a usage error. */
export function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL');
  return value;
}

/** Commander argParser for positive integers. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A usage problem found after commander parsed the line (e.g. a bad FAAS_URL): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
