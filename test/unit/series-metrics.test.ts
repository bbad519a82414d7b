/**
 * A series counts as its invocations (Metrics.recordSeries): `done` successes then maybe one
 * failure, the first with the series' start kind and the rest warm, each with an equal share of
 * the series' duration.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../scheduler/metrics.ts';
import type { SandboxRunner } from '../../scheduler/ports.ts';

const runner = { stats: () => ({ processes: [], instances: {} }) } as unknown as SandboxRunner;

async function counts(record: (m: Metrics) => void): Promise<Record<string, number>> {
  const m = new Metrics(runner);
  record(m);
  const out: Record<string, number> = {};
  for (const metric of await m.registry.getMetricsAsJSON()) {
    for (const v of metric.values as { labels: Record<string, string>; value: number; metricName?: string }[]) {
      const name = v.metricName ?? metric.name;
      if (!/^faas_(invocations_total|invocation_errors_total|cold_starts_total|invocation_duration_seconds_(count|sum))$/.test(name)) continue;
      const labels = Object.entries(v.labels).filter(([k]) => k !== 'function').map(([k, x]) => `${k}=${x}`).join(',');
      out[`${name}{${labels}}`] = Math.round(v.value * 1000) / 1000;
    }
  }
  return out;
}

describe('series metrics', () => {
  it('a cold series of 3 successes then a failure: 1 cold and 2 warm successes, 1 warm failure', async () => {
    expect(await counts((m) => m.recordSeries('f', 'cold', 3, 'FAAS_HANDLER_ERROR', 2))).toEqual({
      'faas_invocations_total{outcome=success,start=cold}': 1,
      'faas_invocations_total{outcome=success,start=warm}': 2,
      'faas_invocations_total{outcome=error,start=warm}': 1,
      'faas_invocation_errors_total{code=FAAS_HANDLER_ERROR}': 1,
      'faas_cold_starts_total{}': 1,
      'faas_invocation_duration_seconds_count{start=cold}': 1,
      'faas_invocation_duration_seconds_sum{start=cold}': 0.002,
      'faas_invocation_duration_seconds_count{start=warm}': 3,
      'faas_invocation_duration_seconds_sum{start=warm}': 0.006,
    });
  });

  it('a cold series whose first item fails: one cold failure; a warm series of successes: warm only', async () => {
    expect(await counts((m) => m.recordSeries('f', 'cold', 0, 'FAAS_RECORD_UNDECODABLE', 1))).toMatchObject({
      'faas_invocations_total{outcome=error,start=cold}': 1,
      'faas_invocation_errors_total{code=FAAS_RECORD_UNDECODABLE}': 1,
      'faas_invocation_duration_seconds_count{start=cold}': 1,
    });
    const warm = await counts((m) => m.recordSeries('f', 'warm', 4, undefined, 1));
    expect(warm).toMatchObject({ 'faas_invocations_total{outcome=success,start=warm}': 4, 'faas_invocation_duration_seconds_count{start=warm}': 4 });
    expect(Object.keys(warm).filter((k) => k.includes('cold') || k.includes('error'))).toEqual([]);
  });
});
