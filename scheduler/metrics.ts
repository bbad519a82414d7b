/**
 * Prometheus metrics of one node (prom-client). The scheduler records invocations; gauges that
 * describe the sandbox are collected from the runner at scrape time.
 */
import client from 'prom-client';
import { CountedHistogram } from './counted-histogram.ts';
import type { SandboxRunner, StartKind } from './ports.ts';
import type { ScaleRegistry } from './scale-registry.ts';
import type { TriggerMetrics } from './trigger-source.ts';

export class Metrics implements TriggerMetrics {
  readonly registry = new client.Registry();
  private readonly invocations: client.Counter<'function' | 'outcome' | 'start'>;
  private readonly errors: client.Counter<'function' | 'code'>;
  private readonly coldStarts: client.Counter<'function'>;
  private readonly duration: CountedHistogram<'function' | 'start'>;
  private readonly triggerEvents: client.Counter<'function' | 'trigger' | 'outcome'>;
  private readonly scaleDecisions: client.Counter<'function' | 'direction'>;

  constructor(runner: SandboxRunner & { processRestarts?: number }, scales?: ScaleRegistry) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'faas_node_' });
    this.invocations = new client.Counter({ name: 'faas_invocations_total', help: 'Invocations finished, by outcome and start kind.', labelNames: ['function', 'outcome', 'start'], registers });
    this.errors = new client.Counter({ name: 'faas_invocation_errors_total', help: 'Failed invocations by error code.', labelNames: ['function', 'code'], registers });
    this.coldStarts = new client.Counter({ name: 'faas_cold_starts_total', help: 'Invocations that needed a new sandbox instance.', labelNames: ['function'], registers });
    this.duration = new CountedHistogram({
      name: 'faas_invocation_duration_seconds',
      help: 'Invocation latency inside the runtime, cold start included.',
      labelNames: ['function', 'start'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.triggerEvents = new client.Counter({
      name: 'faas_trigger_events_total',
      help: 'Trigger events by outcome: success, retry, held (a try held by an outage), dead-letter, missed, skipped, caught-up, rejected, replayed.',
      labelNames: ['function', 'trigger', 'outcome'],
      registers,
    });
    this.scaleDecisions = new client.Counter({
      name: 'faas_scale_decisions_total',
      help: 'Instance-count changes of lag-scaled functions: wake (0 → n), up, down, zero (n → 0).',
      labelNames: ['function', 'direction'],
      registers,
    });
    if (scales !== undefined) registerScaleGauges(scales, registers);
    new client.Gauge({
      name: 'faas_warm_instances',
      help: 'Live sandbox instances per function (idle + busy).',
      labelNames: ['function', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [fn, s] of Object.entries(runner.stats().instances)) {
          this.set({ function: fn, state: 'idle' }, s.idle);
          this.set({ function: fn, state: 'busy' }, s.busy);
        }
      },
    });
    new client.Gauge({
      name: 'faas_sandbox_processes',
      help: 'Sandbox processes alive.',
      registers,
      collect() {
        this.set(runner.stats().processes.length);
      },
    });
    new client.Gauge({
      name: 'faas_sandbox_process_restarts',
      help: 'Sandbox processes replaced after dying, since start.',
      registers,
      collect() {
        this.set(runner.processRestarts ?? 0);
      },
    });
  }

  triggerEvent(fn: string, trigger: string, outcome: string, count = 1): void {
    this.triggerEvents.inc({ function: fn, trigger, outcome }, count);
  }

  scaleDecision(fn: string, direction: 'wake' | 'up' | 'down' | 'zero'): void {
    this.scaleDecisions.inc({ function: fn, direction });
  }

  /**
   * A series' invocations (one share of the series' time each): recordInvocation for each, with
   * the warm successes counted in one update (a series can be thousands of records).
   *
   * A series: `done` successes, then maybe one failure; the first started `start`, the rest warm. */
  recordSeries(fn: string, start: StartKind, done: number, failureCode: string | undefined, eachMs: number): void {
    let warmOk = done;
    if (start === 'cold' && (done > 0 || failureCode !== undefined)) {
      this.recordInvocation(fn, 'cold', eachMs, done === 0 ? failureCode : undefined);
      if (done > 0) warmOk--;
    }
    if (failureCode !== undefined && (done > 0 || start !== 'cold')) this.recordInvocation(fn, 'warm', eachMs, failureCode);
    if (warmOk <= 0) return;
    this.duration.observeCounted({ function: fn, start: 'warm' }, eachMs / 1000, warmOk);
    this.invocations.inc({ function: fn, outcome: 'success', start: 'warm' }, warmOk);
  }

  recordInvocation(fn: string, start: StartKind, durationMs: number, errorCode?: string): void {
    this.invocations.inc({ function: fn, outcome: errorCode === undefined ? 'success' : 'error', start });
    if (errorCode !== undefined) this.errors.inc({ function: fn, code: errorCode });
    if (start === 'cold') this.coldStarts.inc({ function: fn });
    this.duration.observe({ function: fn, start }, durationMs / 1000);
  }
}

/** Gauges read from the lag triggers' views at scrape time. */
function registerScaleGauges(scales: ScaleRegistry, registers: client.Registry[]): void {
  new client.Gauge({
    name: 'faas_lag_records',
    help: 'Consumer-group lag of lag-scaled functions, per partition (owned: this node consumes it).',
    labelNames: ['function', 'topic', 'partition', 'owned'],
    registers,
    collect() {
      this.reset();
      for (const s of scales.all()) {
        for (const p of s.lag.partitions) this.set({ function: s.function, topic: s.topic, partition: String(p.partition), owned: String(p.owned) }, p.lag);
      }
    },
  });
  new client.Gauge({
    name: 'faas_lag_stuck_partitions',
    help: 'Partitions whose lag has not moved for stuckAfterMs while consumed.',
    labelNames: ['function'],
    registers,
    collect() {
      this.reset();
      for (const s of scales.all()) this.set({ function: s.function }, s.lag.partitions.filter((p) => p.stuck).length);
    },
  });
  new client.Gauge({
    name: 'faas_scale_instances',
    help: 'Instances of lag-scaled functions on this node: current, active (processing), min, max.',
    labelNames: ['function', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of scales.all()) {
        for (const kind of ['current', 'active', 'min', 'max'] as const) this.set({ function: s.function, kind }, s.instances[kind]);
      }
    },
  });
  new client.Gauge({
    name: 'faas_lag_drain_seconds',
    help: 'Estimated seconds to drain the lag at current rates (-1: not shrinking).',
    labelNames: ['function'],
    registers,
    collect() {
      this.reset();
      for (const s of scales.all()) this.set({ function: s.function }, s.rates.drainSeconds ?? -1);
    },
  });
  new client.Gauge({
    name: 'faas_lag_watcher_up',
    help: '1 while the lag can be read; 0 while the broker does not answer or the topic is missing (the last decision holds).',
    labelNames: ['function'],
    registers,
    collect() {
      this.reset();
      for (const s of scales.all()) this.set({ function: s.function }, s.healthy ? 1 : 0);
    },
  });
}
