/**
 * A closed-loop HTTP load client in its own process (so it does not share the event loop of the
 * server under test): autocannon with the options given as JSON in argv[2]; the summary goes back
 * over IPC. Started by `httpLoad()` in bench/lib/load.ts.
 */
import { createRequire } from 'node:module';
import type { LoadOptions, LoadResult } from './load.ts';

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const o = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const cpu0 = process.cpuUsage();
const r = await autocannon({
  url: o.url,
  connections: o.connections,
  duration: o.seconds,
  method: o.method,
  headers: o.headers,
  body: o.body,
  // A warm-up phase is run by the caller as a separate, unreported call.
});
const cpu = process.cpuUsage(cpu0);
const result: LoadResult = {
  seconds: r.duration,
  requests: r.requests.total,
  reqPerS: r.requests.total / r.duration,
  errors: r.errors + r.timeouts,
  non2xx: r.non2xx,
  latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
  clientCpuS: (cpu.user + cpu.system) / 1e6,
};
process.send?.(result);
process.disconnect?.();
