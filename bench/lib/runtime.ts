/**
 * Helpers for benchmarks that run a real runtime in process (real sandbox processes): start it,
 * deploy an inline function, read a counter from /metrics, and sample CPU time of this process, of
 * the sandbox processes and of the whole machine (to say where the cores went during a run).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadConfig } from '../../core/config.ts';
import { createRuntime, type Runtime } from '../../runtime/create-runtime.ts';
import type { InvokeInput } from '../../scheduler/invoker.ts';
import type { RecordRun } from '../../scheduler/record-run.ts';

export type BenchRuntime = Runtime & { url: string };

export async function startBenchRuntime(env: Record<string, string> = {}): Promise<BenchRuntime> {
  const config = loadConfig({ FAAS_PORT: '0', FAAS_LOG_LEVEL: 'silent', FAAS_SHUTDOWN_GRACE_MS: '3000', ...env });
  const runtime = createRuntime(config);
  const url = await runtime.start();
  return Object.assign(runtime, { url });
}

/** PUT /v1/functions/:name with one index.ts, then waits until its triggers run. */
export async function deploy(rt: Runtime, name: string, source: string, manifest: Record<string, unknown> = {}): Promise<void> {
  const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: { manifest: { name, ...manifest }, files: { 'index.ts': source } } });
  if (res.statusCode >= 300) throw new Error(`deploy of ${name} failed: ${res.statusCode} ${res.body}`);
  await rt.triggers.settled(name);
}

export async function undeploy(rt: Runtime, name: string): Promise<void> {
  const res = await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
  if (res.statusCode >= 300 && res.statusCode !== 404) throw new Error(`delete of ${name} failed: ${res.statusCode} ${res.body}`);
  await rt.triggers.settled(name);
}

/** Sum of a Prometheus counter's samples whose labels include every given label. */
export async function counter(rt: Runtime, metric: string, labels: Record<string, string>): Promise<number> {
  const text = (await rt.gateway.inject('/metrics')).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(metric.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(line.slice(close + 1).trim());
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

const TICK_HZ = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; NaN when gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK_HZ; // utime, stime (fields 14, 15)
  } catch {
    return Number.NaN;
  }
}

/** Busy and total CPU seconds of the machine (all cores), from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / TICK_HZ, total: total / TICK_HZ };
}

export interface CpuSample {
  /** CPU seconds of this (host) process. */
  host: number;
  /** CPU seconds of each named group of other processes (e.g. sandbox processes, a broker). */
  groups: Record<string, number>;
  /** Machine-wide busy CPU seconds: everything, including other work on the machine. */
  machineBusy: number;
  machineTotal: number;
}

export function cpuSample(groups: Record<string, readonly number[]> = {}): CpuSample {
  const u = process.cpuUsage();
  const m = machineCpu();
  const sums: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) sums[name] = pids.map(processCpuSeconds).filter(Number.isFinite).reduce((a, b) => a + b, 0);
  return { host: (u.user + u.system) / 1e6, groups: sums, machineBusy: m.busy, machineTotal: m.total };
}

export interface CpuUse {
  /** CPU seconds used between the two samples. */
  hostS: number;
  groupsS: Record<string, number>;
  machineBusyS: number;
  /** Machine busy fraction over the interval (1 = every core busy, whoever used it). */
  machineBusyFraction: number;
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuUse {
  const total = b.machineTotal - a.machineTotal;
  const groupsS: Record<string, number> = {};
  for (const [name, v] of Object.entries(b.groups)) groupsS[name] = v - (a.groups[name] ?? 0);
  return {
    hostS: b.host - a.host,
    groupsS,
    machineBusyS: b.machineBusy - a.machineBusy,
    machineBusyFraction: total > 0 ? (b.machineBusy - a.machineBusy) / total : Number.NaN,
  };
}

/**
 * The pid of a local Kafka broker (kafka.Kafka, as scripts/services starts it) listening on the
 * given host:port, found through its server.properties; undefined for a broker elsewhere (Docker,
 * another host), whose CPU is then not reported.
 */
export function localBrokerPid(broker: string): number | undefined {
  const port = broker.split(':').at(-1) ?? '';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
      if (!args.includes('kafka.Kafka')) continue;
      const props = args.at(-1) ?? '';
      const listeners = /^listeners=(.*)$/m.exec(readFileSync(props, 'utf8'))?.[1] ?? '';
      if (listeners.split(',').some((l) => l.endsWith(`:${port}`))) return Number(entry);
    } catch {
      // a process that went away, or one we may not read
    }
  }
  return undefined;
}

/** The inputs of a series' first `count` items, for benchmarks that watch the invoker (a run builds each on demand). */
export function seriesInputs(items: InvokeInput[] | RecordRun, count = items.length): InvokeInput[] {
  return Array.isArray(items) ? items.slice(0, count) : Array.from({ length: Math.min(count, items.length) }, (_, i) => items.input(i));
}
