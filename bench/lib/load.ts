/**
 * HTTP load for benchmarks: autocannon (closed loop: each connection sends its next request when
 * the previous answer arrived) run in a child process, with the CPU time it used while loading.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  seconds: number;
  requests: number;
  reqPerS: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  /** autocannon's latency histogram: whole milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU seconds the load client process used while loading. */
  clientCpuS: number;
}

export function httpLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./load-client.ts', import.meta.url)), [JSON.stringify(options)], {
      execArgv: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: LoadResult | undefined;
    child.once('message', (m: LoadResult) => {
      result = m;
    });
    child.once('error', reject);
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`load client exited with ${code}`))));
  });
}
