/**
 * Scheduled drains: on each tick the handler gets what accumulated on the topic since the last
 * successful run, once, and the group commits only after success. Run against the embedded event
 * log and against real Kafka (random topic and group per test).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FaasError } from '../../core/errors.ts';
import { parseManifest } from '../../core/manifest.ts';
import { cronTriggerSchema } from '../../core/trigger-specs.ts';
import { EmbeddedEventLog } from '../../eventlog/embedded.ts';
import { KafkaEventLog } from '../../eventlog/kafka.ts';
import type { EventLog } from '../../scheduler/event-log.ts';
import { MemoryFenceStore } from '../../scheduler/fence-memory.ts';
import type { InvocationResult, Invoker, InvokeInput } from '../../scheduler/invoker.ts';
import type { RunningTrigger } from '../../scheduler/trigger-source.ts';
import { cronTrigger } from '../../triggers/cron.ts';
import { testKafkaBrokers } from '../support/env.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { triggerDeps } from '../support/trigger-deps.ts';


interface DrainData {
  scheduledTime: string;
  topic: string;
  group: string;
  more: boolean;
  records: { key: string | null; value: unknown; partition: number; offset: string; timestamp: string; headers: Record<string, string> }[];
}

class DrainInvoker {
  readonly calls: DrainData[] = [];
  failNext = 0;

  async invoke(name: string, input: InvokeInput): Promise<InvocationResult> {
    this.calls.push(input.data as DrainData);
    const base = { invocationId: 'i', correlationId: 'c', function: name, version: 1, start: 'warm' as const, durationMs: 1 };
    if (this.failNext > 0) {
      this.failNext--;
      return { ...base, error: new FaasError('FAAS_HANDLER_ERROR', 'report service down') };
    }
    return { ...base, resultJson: 'null' };
  }
}

interface Drainer {
  clock: FakeClock;
  invoker: DrainInvoker;
  trigger: RunningTrigger;
  /** Advance to the next 10-second tick and wait until its run finished. */
  tick(): Promise<DrainData>;
}

async function startDrain(log: EventLog, topic: string, group: string, extra: Record<string, unknown> = {}): Promise<Drainer> {
  const clock = new FakeClock('2025-06-01T12:00:00.500Z');
  const invoker = new DrainInvoker();
  const spec = cronTriggerSchema.parse({ type: 'cron', schedule: '*/10 * * * * *', topic, group, ...extra });
  const manifest = parseManifest({ name: 'reporter', triggers: [spec], retry: { maxAttempts: 1 } });
  const trigger = await cronTrigger.start({
    fn: 'reporter',
    manifest,
    index: 0,
    spec,
    deps: triggerDeps({ invoker: invoker as unknown as Invoker, eventLog: log, fences: new MemoryFenceStore(clock), clock }),
  });
  const tick = async () => {
    const before = trigger.status().runs as number;
    clock.advanceNow(10_000);
    await vi.waitFor(() => expect(trigger.status().runs).toBe(before + 1), { timeout: 25_000, interval: 20 });
    return invoker.calls.at(-1) as DrainData;
  };
  return { clock, invoker, trigger, tick };
}

const id = () => randomBytes(4).toString('hex');
const values = (d: DrainData) => d.records.map((r) => r.value);

async function committed(log: EventLog, group: string, topic: string): Promise<(string | null)[]> {
  return (await log.offsets(group, topic)).map((p) => p.committed);
}

function drainSuite(name: string, makeLog: () => Promise<EventLog>, timeout: number): void {
  describe(`scheduled drain on the ${name} event log`, () => {
    let log: EventLog;
    const logs: EventLog[] = [];
    const open = async () => {
      log = await makeLog();
      logs.push(log);
      return log;
    };
    afterAll(async () => {
      await Promise.all(logs.map((l) => l.close()));
    });

    it('hands each tick what accumulated since the last run and commits it after success', { timeout }, async () => {
      await open();
      const topic = `audit-${id()}`;
      const group = `g-${id()}`;
      await log.ensureTopic(topic, 2);
      await log.produce(topic, [
        { key: 'a', value: JSON.stringify({ n: 1 }), partition: 0, headers: { h: 'x' } },
        { key: 'b', value: JSON.stringify({ n: 2 }), partition: 1 },
        { key: 'a', value: JSON.stringify({ n: 3 }), partition: 0 },
      ]);
      const d = await startDrain(log, topic, group);
      const first = await d.tick();
      expect(first).toMatchObject({ topic, group, more: false });
      expect(first.records.map((r) => [r.partition, r.offset, r.key, r.value])).toEqual([
        [0, '0', 'a', { n: 1 }],
        [0, '1', 'a', { n: 3 }],
        [1, '0', 'b', { n: 2 }],
      ]);
      expect(first.records[0]).toMatchObject({ headers: { h: 'x' } });
      expect(Number.isNaN(Date.parse(first.records[0]!.timestamp))).toBe(false);
      expect(await committed(log, group, topic)).toEqual(['2', '1']);

      await log.produce(topic, [{ value: JSON.stringify({ n: 4 }), partition: 1 }]);
      expect(values(await d.tick())).toEqual([{ n: 4 }]);
      expect(await committed(log, group, topic)).toEqual(['2', '2']);

      const empty = await d.tick(); // nothing new: the job still runs, with no records
      expect(empty.records).toEqual([]);
      await d.trigger.stop();
    });

    it('commits nothing when the invocation fails: the next tick gets the same records again', { timeout }, async () => {
      await open();
      const topic = `audit-${id()}`;
      const group = `g-${id()}`;
      await log.ensureTopic(topic, 1);
      await log.produce(topic, [{ value: '"one"' }, { value: '"two"' }]);
      const d = await startDrain(log, topic, group);
      d.invoker.failNext = 1;
      expect(values(await d.tick())).toEqual(['one', 'two']);
      expect(d.trigger.status()).toMatchObject({ lastRun: { outcome: 'failed' } });
      expect(await committed(log, group, topic)).not.toEqual(['2']);
      await log.produce(topic, [{ value: '"three"' }]);
      expect(values(await d.tick())).toEqual(['one', 'two', 'three']);
      expect(await committed(log, group, topic)).toEqual(['3']);
      await d.trigger.stop();
    });

    it('takes at most maxRecords per tick and decodes per encoding', { timeout }, async () => {
      await open();
      const topic = `audit-${id()}`;
      const group = `g-${id()}`;
      await log.ensureTopic(topic, 1);
      await log.produce(topic, ['a', 'b', 'c', 'd', 'e'].map((v) => ({ value: v })));
      const d = await startDrain(log, topic, group, { maxRecords: 3, encoding: 'string' });
      const first = await d.tick();
      expect([values(first), first.more]).toEqual([['a', 'b', 'c'], true]);
      const second = await d.tick();
      expect([values(second), second.more]).toEqual([['d', 'e'], false]);
      expect(await committed(log, group, topic)).toEqual(['5']);
      await d.trigger.stop();

      const bytes = await startDrain(log, topic, `g-${id()}`, { encoding: 'bytes', maxRecords: 1 });
      expect(values(await bytes.tick())).toEqual([Buffer.from('a').toString('base64')]);
      await bytes.trigger.stop();
    });
  });
}

drainSuite('embedded', async () => new EmbeddedEventLog(), 30_000);
drainSuite(
  'Kafka',
  async () => {
    const log = new KafkaEventLog({ brokers: testKafkaBrokers(), clientId: `cron-drain-${id()}` });
    await log.ready();
    return log;
  },
  120_000,
);
