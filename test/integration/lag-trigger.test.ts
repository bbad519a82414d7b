/**
 * Lag triggers on real Kafka (and the embedded log): a burst wakes a function from zero, it scales
 * out to the partition count, drains, and goes back to zero with its consumer out of the group and
 * its sandbox instances released; every record is processed, none lost. Also: a new group that
 * starts at the earliest record, a stuck partition that is reported and does not pin the scale,
 * transaction markers that must not keep a lag of 1 for ever.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testKafkaBrokers } from '../support/env.ts';
import { lagHelpers } from '../support/lag.ts';
import { eventually, startRuntime, uniqueName } from '../support/runtime.ts';

/** Sleeps a few ms per record and logs its number; fails for ever on { poison }. */
const HANDLER = `
export default async (event) => {
  if (event.data && event.data.poison) throw new Error('poison');
  await new Promise((r) => setTimeout(r, 5));
  console.log(JSON.stringify({ n: event.data.n, p: event.kafka.partition }));
  return null;
};`;

describe.each(['kafka', 'embedded'] as const)('lag trigger on %s', (backend) => {
  let rt: Runtime & { url: string };

  beforeAll(async () => {
    rt = await startRuntime({ FAAS_LOG_RETENTION: '100000', ...(backend === 'kafka' ? { KAFKA_BROKERS: testKafkaBrokers().join(',') } : {}) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const { deploy, scale, processed } = lagHelpers(() => rt, HANDLER);

  function sandboxInstances(name: string): number {
    const s = rt.runner.stats().instances[name];
    return (s?.idle ?? 0) + (s?.busy ?? 0);
  }

  async function produce(topic: string, records: { key: string; value: unknown; partition?: number }[]) {
    for (let i = 0; i < records.length; i += 500) {
      await rt.eventLog.produce(topic, records.slice(i, i + 500).map((r) => ({ key: r.key, value: JSON.stringify(r.value), ...(r.partition !== undefined ? { partition: r.partition } : {}) })));
    }
  }

  it('a burst wakes it from zero, scales out to the partition count, drains, and returns to zero; none lost', async () => {
    const name = uniqueName('lag');
    const topic = uniqueName('lag-burst');
    await rt.eventLog.ensureTopic(topic, 4);
    await deploy(name, { topic, lagPerInstance: 20 });
    const idle = await scale(name);
    expect(idle).toMatchObject({ healthy: true, instances: { current: 0 }, lag: { total: 0 } });
    expect(sandboxInstances(name)).toBe(0);

    // Watch the view while the burst drains: the most instances seen, and when the lag was seen.
    let most = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        most = Math.max(most, (await scale(name)).instances.current);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const N = 400;
    await produce(topic, Array.from({ length: N }, (_, n) => ({ key: `k${n}`, value: { n }, partition: n % 4 })));
    const done = await eventually(async () => {
      const seen = new Set(await processed(name));
      return seen.size === N ? seen : undefined;
    }, 60_000, 100);
    expect(done.size).toBe(N);
    const zero = await eventually(async () => {
      const s = await scale(name);
      return s.instances.current === 0 && sandboxInstances(name) === 0 ? s : undefined;
    }, 20_000, 50);
    watching = false;
    await watcher;
    expect(most).toBe(4); // the partition count, never more (maxInstances 8, lag/20 = 20)
    expect(zero.lag.total).toBe(0);
    expect(zero.decisions.map((d) => d.reason.split(':')[0])).toEqual(expect.arrayContaining(['wake', 'to zero']));
    expect(zero.decisions[0]).toMatchObject({ from: 0 });
    expect(zero.decisions.at(-1)).toMatchObject({ to: 0 });
    // Every record's offset is committed: the group's lag is 0 on every partition.
    const offsets = await rt.eventLog.offsets(`faas.${name}`, topic);
    expect(offsets.map((p) => p.committed)).toEqual(offsets.map((p) => p.end));

    // One new record above activationLag 0 wakes it again.
    await produce(topic, [{ key: 'again', value: { n: N } }]);
    await eventually(async () => ((await processed(name)).includes(N) ? true : undefined), 20_000, 50);
    const metrics = await rt.gateway.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain(`faas_scale_decisions_total{function="${name}",direction="wake"} 2`);
    expect(metrics.body).toMatch(new RegExp(`faas_lag_records\\{function="${name}",topic="${topic}",partition="0",owned="(true|false)"\\} 0`));
    expect(metrics.body).toContain(`faas_lag_watcher_up{function="${name}"} 1`);
  });

  it('a new group starting at the earliest record counts the whole log as lag and drains it', async () => {
    const name = uniqueName('lag-new');
    const topic = uniqueName('lag-new');
    await rt.eventLog.ensureTopic(topic, 2);
    await produce(topic, Array.from({ length: 30 }, (_, n) => ({ key: `k${n}`, value: { n } })));
    await deploy(name, { topic, start: 'earliest', lagPerInstance: 10, activationLag: 5 });
    await eventually(async () => ((await processed(name)).length >= 30 ? true : undefined), 30_000, 100);
    expect(new Set(await processed(name)).size).toBe(30);
    const s = await scale(name);
    expect(s.decisions[0]?.reason).toMatch(/^wake: lag 30 /);
  });

  it('a stuck partition is reported and does not pin the scale at its maximum', async () => {
    const name = uniqueName('lag-stuck');
    const topic = uniqueName('lag-stuck');
    await rt.eventLog.ensureTopic(topic, 4);
    await deploy(name, { topic, lagPerInstance: 1, stuckAfterMs: 1000 }, { retry: { maxAttempts: 100, backoffMs: 60_000, maxBackoffMs: 60_000 } });
    // Partition 0 starts with a record that fails for minutes; the others have ordinary work.
    await produce(topic, [{ key: 'poison', value: { poison: true }, partition: 0 }]);
    await produce(topic, Array.from({ length: 60 }, (_, n) => ({ key: `k${n}`, value: { n }, partition: n % 4 })));
    const s = await eventually(async () => {
      const v = await scale(name);
      const p0 = v.lag.partitions.find((p) => p.partition === 0);
      return p0?.stuck === true && v.instances.current === 1 ? v : undefined;
    }, 30_000, 100);
    expect(s.lag.partitions.filter((p) => p.stuck).map((p) => p.partition)).toEqual([0]);
    expect(s.lag.partitions.filter((p) => p.partition !== 0).every((p) => p.lag === 0)).toBe(true);
    expect(s.reason).toMatch(/stuck/);
    const metrics = await rt.gateway.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain(`faas_lag_stuck_partitions{function="${name}"} 1`);
    await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
  });

  // Transactions exist on Kafka only (the embedded log has no markers): registered for Kafka alone.
  if (backend === 'kafka') it('transaction markers do not leave a lag of 1: a transactional topic drains to zero', async () => {
    const name = uniqueName('lag-tx');
    const topic = uniqueName('lag-tx');
    await rt.eventLog.ensureTopic(topic, 2);
    await deploy(name, { topic });
    const kafka = new Kafka({ clientId: 'lag-tx-test', brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (let batch = 0; batch < 3; batch++) {
        const tx = await producer.transaction();
        await tx.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ n: batch * 10 + i }) })) });
        await tx.commit();
      }
    } finally {
      await producer.disconnect();
    }
    await eventually(async () => ((await processed(name)).length >= 30 ? true : undefined), 30_000, 100);
    const s = await eventually(async () => {
      const v = await scale(name);
      return v.instances.current === 0 ? v : undefined;
    }, 20_000, 100).catch(async (err: unknown) => {
      console.log(JSON.stringify(await scale(name), null, 1));
      throw err;
    });
    expect(s.lag.total).toBe(0);
    const offsets = await rt.eventLog.offsets(`faas.${name}`, topic);
    expect(offsets.map((p) => p.committed)).toEqual(offsets.map((p) => p.end)); // past the markers
  });
});
