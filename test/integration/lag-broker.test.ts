/**
 * Lag triggers when the broker misbehaves, on a real Kafka broker of this file's own (pausing the
 * shared one would stall every other test file; see test/support/dedicated-kafka.ts).
 *
 * - A broker that stops answering (SIGSTOP of its JVM, or `docker pause`): the view reports
 *   unhealthy within seconds, /metrics says faas_lag_watcher_up 0, and the last decision holds (no
 *   scale to zero while blind), also when it stops while the consumer is still joining the group.
 *   Once it answers again the burst drains, none lost, and the function returns to zero.
 * - A topic deleted and re-created: reported missing; other functions keep working; Kafka drops
 *   the group's offsets with the topic, so the re-created partitions start from the start policy
 *   and are pinned there again; new records are processed. A consumer running when its topic is
 *   deleted does not stay broken.
 * - Two nodes of one cluster: each scales on the partitions it owns; together they own all.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { ScaleStatus } from '../../scheduler/scale-registry.ts';
import { startDedicatedKafka, type DedicatedKafka } from '../support/dedicated-kafka.ts';
import { testRedisUrl } from '../support/env.ts';
import { FAST_LAG, lagHelpers } from '../support/lag.ts';
import { deployBody, eventually, startRuntime, uniqueName } from '../support/runtime.ts';

/** Sleeps event.data.ms per record and logs its number. */
const HANDLER = `
export default async (event) => {
  if (event.data.ms) await new Promise((r) => setTimeout(r, event.data.ms));
  console.log(JSON.stringify({ n: event.data.n, p: event.kafka.partition }));
  return null;
};`;

const FAST = FAST_LAG;

let kafka: DedicatedKafka;
let rt: Runtime & { url: string };
let admin: Admin;
let client: Kafka;
let paused = false;

beforeAll(async () => {
  kafka = await startDedicatedKafka((msg) => console.log(`[lag-broker] ${msg}`));
  rt = await startRuntime({ KAFKA_BROKERS: kafka.brokers.join(','), FAAS_LOG_RETENTION: '100000' });
  client = new Kafka({ clientId: 'lag-broker-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  admin = client.admin();
  await admin.connect();
}, 180_000);

afterAll(async () => {
  if (paused) await kafka.resume();
  await admin?.disconnect();
  await rt?.stop();
  await kafka?.stop();
}, 60_000);

const { deploy, scale, processed } = lagHelpers(() => rt, HANDLER);

async function metrics(): Promise<string> {
  return (await rt.gateway.inject({ method: 'GET', url: '/metrics' })).body;
}

async function produce(topic: string, records: { value: unknown; partition: number }[]): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    await rt.eventLog.produce(topic, records.slice(i, i + 500).map((r, j) => ({ key: `k${i + j}`, value: JSON.stringify(r.value), partition: r.partition })));
  }
}

/** Every number 0..n-1 was processed (duplicates allowed: at least once). */
async function allProcessed(name: string, n: number, timeoutMs: number): Promise<Set<number>> {
  return eventually(async () => {
    const seen = new Set(await processed(name));
    return seen.size >= n ? seen : undefined;
  }, timeoutMs, 100).catch(async (err: unknown) => {
    const seen = new Set(await processed(name));
    throw new Error(`${seen.size} of ${n} processed; view: ${JSON.stringify(await scale(name))}`, { cause: err });
  });
}

describe('lag trigger on a broker that stops answering', () => {
  /**
   * Deploys on a 4-partition topic, produces a burst, pauses the broker once `ready(view)`, and checks
   * the blind period and the recovery. Answers what it measured, for the log.
   */
  async function pauseDuringBurst(ready: (s: ScaleStatus, processed: number) => boolean): Promise<string> {
    const name = uniqueName('lag-pause');
    const topic = uniqueName('lag-pause');
    await rt.eventLog.ensureTopic(topic, 4);
    await deploy(name, { topic, lagPerInstance: 10 });
    expect(await scale(name)).toMatchObject({ healthy: true, instances: { current: 0 } });

    const N = 800;
    await produce(topic, Array.from({ length: N }, (_, n) => ({ value: { n, ms: 10 }, partition: n % 4 })));
    const busy = await eventually(async () => {
      const s = await scale(name);
      return s.instances.current >= 2 && ready(s, s.decisions.length > 0 ? (await processed(name)).length : 0) ? s : undefined;
    }, 20_000, 5);
    await kafka.pause();
    paused = true;
    const pausedAt = Date.now();
    try {
      expect(busy.lag.total).toBeGreaterThan(0);
      const blind = await eventually(async () => {
        const s = await scale(name);
        return s.healthy ? undefined : s;
      }, 10_000, 50);
      const noticedMs = Date.now() - pausedAt;
      const held = blind.instances.current;
      expect(blind.error).toMatch(/no answer within \d+ ms/);
      expect(held).toBeGreaterThanOrEqual(2);
      expect(noticedMs).toBeLessThan(5000); // pollMs 100: a read times out after 1000 ms
      expect(await metrics()).toContain(`faas_lag_watcher_up{function="${name}"} 0`);

      // Blind for several cooldowns and stabilisation windows: the count does not move, least of all to zero.
      const decisionsBefore = blind.decisions.length;
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        const s = await scale(name);
        expect(s.healthy).toBe(false);
        expect(s.instances.current).toBe(held);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await scale(name)).decisions.length).toBe(decisionsBefore);

      await kafka.resume();
      paused = false;
      const resumedAt = Date.now();
      await eventually(async () => ((await scale(name)).healthy ? true : undefined), 30_000, 50);
      const healthyAfterMs = Date.now() - resumedAt;
      expect(await metrics()).toContain(`faas_lag_watcher_up{function="${name}"} 1`);

      const seen = await allProcessed(name, N, 60_000);
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, n) => n));
      const zero = await eventually(async () => {
        const s = await scale(name);
        return s.instances.current === 0 && s.decisions.at(-1)?.to === 0 ? s : undefined;
      }, 30_000, 50);
      expect(zero).toMatchObject({ healthy: true, lag: { total: 0 } });
      const offsets = await rt.eventLog.offsets(`faas.${name}`, topic);
      expect(offsets.map((p) => p.committed)).toEqual(offsets.map((p) => p.end));
      await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
      return `unhealthy ${noticedMs} ms after the pause, healthy ${healthyAfterMs} ms after the resume, held ${held} instances, ${busy.decisions.length === 0 ? 'paused while the consumer joined' : 'paused while consuming'}`;
    } finally {
      if (paused) {
        await kafka.resume();
        paused = false;
      }
    }
  }

  it('paused as soon as it scales out (usually while its consumer still joins): unhealthy within seconds, holds its instances, then drains everything and returns to zero', async () => {
    const what = await pauseDuringBurst(() => true);
    console.log(`[lag-broker] broker ${kafka.how}: ${what}`);
  }, 150_000);

  it('paused while consuming: unhealthy within seconds, holds its instances, then drains everything and returns to zero', async () => {
    const what = await pauseDuringBurst((s, n) => s.decisions.length > 0 && n >= 20);
    expect(what).toMatch(/paused while consuming$/);
    console.log(`[lag-broker] broker ${kafka.how}: ${what}`);
  }, 150_000);
});

describe('lag trigger on a topic deleted and re-created', () => {
  /**
   * Records produced by another service (its own client): the runtime's producer never names the
   * topic. A producer per call: a kafkajs producer that once named a topic since deleted fails
   * every send to any topic until it exists again, and that client is the test's, not under test.
   */
  async function produceElsewhere(topic: string, records: { value: unknown; partition: number }[]): Promise<void> {
    const outside = client.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await outside.connect();
    try {
      await outside.send({ topic, acks: -1, messages: records.map((r, i) => ({ key: `k${i}`, value: JSON.stringify(r.value), partition: r.partition })) });
    } finally {
      await outside.disconnect();
    }
  }

  function undeployWhenDone(name: string): void {
    onTestFinished(async () => {
      await rt.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
    });
  }

  async function atZero(name: string): Promise<ScaleStatus> {
    return eventually(async () => {
      const s = await scale(name);
      return s.instances.current === 0 && s.decisions.at(-1)?.to === 0 ? s : undefined;
    }, 20_000, 50);
  }

  it('at zero: reports the topic missing and holds; other functions are unaffected; after re-creation new records are processed', async () => {
    const name = uniqueName('lag-del');
    const topic = uniqueName('lag-del');
    await rt.eventLog.ensureTopic(topic, 2);
    await deploy(name, { topic, lagPerInstance: 10 }); // start: latest (the default)
    undeployWhenDone(name); // also when the test fails: a function left on a deleted topic would poll it
    await produceElsewhere(topic, Array.from({ length: 40 }, (_, n) => ({ value: { n }, partition: n % 2 })));
    await allProcessed(name, 40, 30_000);
    const before = await atZero(name);
    expect(before.lag.partitions.map((p) => p.committed)).toEqual(['20', '20']);

    await admin.deleteTopics({ topics: [topic] });
    // Reported missing once kafkajs gives up on the topic; on a loaded machine a read can first
    // outlast its timeout ("got no answer within …"), which is reported as such meanwhile.
    const missing = await eventually(async () => {
      const s = await scale(name);
      expect(s.instances.current).toBe(0); // the decision holds throughout
      return s.healthy || s.error !== `topic "${topic}" does not exist (deleted?)` ? undefined : s;
    }, 10_000, 50);
    expect(missing.instances.current).toBe(0);
    expect(await metrics()).toContain(`faas_lag_watcher_up{function="${name}"} 0`);

    // While it is missing, another lag function on another topic deploys, reads its lag and runs,
    // and the runtime produces to a topic it had not seen (kafkajs' admin client failed all of these
    // until the deleted topic existed again).
    const other = uniqueName('lag-other');
    const otherTopic = uniqueName('lag-other');
    await deploy(other, { topic: otherTopic, lagPerInstance: 10 });
    undeployWhenDone(other);
    await produce(otherTopic, Array.from({ length: 5 }, (_, n) => ({ value: { n }, partition: 0 })));
    await allProcessed(other, 5, 20_000);
    expect(await scale(other)).toMatchObject({ healthy: true });
    expect(await scale(name)).toMatchObject({ healthy: false, error: `topic "${topic}" does not exist (deleted?)`, instances: { current: 0 } });

    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const back = await eventually(async () => {
      const s = await scale(name);
      return s.healthy ? s : undefined;
    }, 10_000, 50);
    // Kafka dropped the group's offsets with the topic: nothing is left ahead of the new log; the
    // partitions start over from the start policy ("latest": the new end), then are pinned there.
    expect(back.lag.partitions).toHaveLength(2);
    for (const p of back.lag.partitions) {
      expect(p.position).not.toBe('ahead-of-log');
      expect(p.committed === null ? p.position : p.committed).toMatch(/^(start-policy|0)$/);
    }
    await eventually(async () => {
      const s = await scale(name);
      return s.lag.partitions.every((p) => p.committed === '0') ? s : undefined;
    }, 15_000, 50);
    await produceElsewhere(topic, Array.from({ length: 10 }, (_, i) => ({ value: { n: 100 + i }, partition: i % 2 })));
    await eventually(async () => {
      const seen = new Set(await processed(name));
      return Array.from({ length: 10 }, (_, i) => 100 + i).every((n) => seen.has(n)) ? true : undefined;
    }, 30_000, 100).catch(async (err: unknown) => {
      throw new Error(`not processed after re-creation; view: ${JSON.stringify(await scale(name))}`, { cause: err });
    });
    const after = await atZero(name);
    expect(after.lag.partitions.map((p) => p.committed)).toEqual(['5', '5']);
  }, 120_000);

  it('while its consumer runs: the consumer does not stay broken; records produced afterwards are processed', async () => {
    const name = uniqueName('lag-run');
    const topic = uniqueName('lag-run');
    await rt.eventLog.ensureTopic(topic, 2);
    await deploy(name, { topic, lagPerInstance: 10, minInstances: 1 });
    undeployWhenDone(name);
    await produceElsewhere(topic, Array.from({ length: 20 }, (_, n) => ({ value: { n }, partition: n % 2 })));
    await allProcessed(name, 20, 30_000);
    expect(await scale(name)).toMatchObject({ instances: { current: 1 } });

    await admin.deleteTopics({ topics: [topic] });
    // The running kafkajs consumer asks for the topic's metadata as soon as its fetch fails, and a
    // broker with auto.create.topics.enable (Kafka's default) creates it again at once, with the
    // broker's default partition count. Re-created by hand if it is not back.
    await new Promise((r) => setTimeout(r, 2000));
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }).catch((err: unknown) => {
      if (!/already exists/i.test((err as Error).message)) throw err;
    });
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0;
    console.log(`[lag-broker] topic deleted under a running consumer: back with ${partitions} partition(s)`);
    await produceElsewhere(topic, Array.from({ length: 10 }, (_, i) => ({ value: { n: 100 + i }, partition: 0 })));
    await eventually(async () => {
      const seen = new Set(await processed(name));
      return Array.from({ length: 10 }, (_, i) => 100 + i).every((n) => seen.has(n)) ? true : undefined;
    }, 30_000, 100).catch(async (err: unknown) => {
      throw new Error(`not processed after the deletion; view: ${JSON.stringify(await scale(name))}`, { cause: err });
    });
    const s = await eventually(async () => {
      const v = await scale(name);
      return v.healthy && v.lag.total === 0 ? v : undefined;
    }, 20_000, 50);
    expect(s.lag.partitions).toHaveLength(partitions);
    expect(s.instances).toMatchObject({ current: 1, partitions });
  }, 120_000);
});

describe('lag trigger on two nodes of one cluster', () => {
  let a: Runtime & { url: string };
  let b: Runtime & { url: string };

  beforeAll(async () => {
    const env = {
      KAFKA_BROKERS: kafka.brokers.join(','),
      REDIS_URL: testRedisUrl(),
      FAAS_REDIS_PREFIX: `faas-test-${randomBytes(4).toString('hex')}:`,
      FAAS_CLUSTER: `lag-${randomBytes(4).toString('hex')}`,
      FAAS_LOG_RETENTION: '100000',
    };
    [a, b] = await Promise.all([startRuntime(env), startRuntime(env)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  }, 60_000);

  async function viewOn(node: Runtime, name: string): Promise<ScaleStatus | undefined> {
    const res = await node.gateway.inject({ method: 'GET', url: `/v1/scale/${name}` });
    return res.statusCode === 200 ? res.json<ScaleStatus>() : undefined;
  }

  it('each node scales on the partitions it owns; together they own all of them; none lost', async () => {
    const name = uniqueName('lag-two');
    const topic = uniqueName('lag-two');
    await a.eventLog.ensureTopic(topic, 8);
    // A cooldown long enough for a second burst to find both nodes still in the group.
    const trigger = { type: 'lag', topic, lagPerInstance: 10, ...FAST, cooldownMs: 6000 };
    const res = await a.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, HANDLER, { triggers: [trigger], scaling: { maxInstances: 8 } }) });
    expect(res.statusCode, res.body).toBeLessThan(300);
    await eventually(async () => ((await viewOn(a, name)) && (await viewOn(b, name)) ? true : undefined), 20_000, 50);

    const snapshots: { a: ScaleStatus; b: ScaleStatus; burst: number }[] = [];
    let burst = 1;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [va, vb] = await Promise.all([viewOn(a, name), viewOn(b, name)]);
        if (va && vb) snapshots.push({ a: va, b: vb, burst });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const owned = (v: ScaleStatus) => v.lag.partitions.filter((p) => p.owned).map((p) => p.partition);
    const isSplit = (s: { a: ScaleStatus; b: ScaleStatus }) =>
      s.a.instances.current > 0 && s.b.instances.current > 0 && owned(s.a).length < 8 && owned(s.b).length < 8 && new Set([...owned(s.a), ...owned(s.b)]).size === 8 && owned(s.a).length + owned(s.b).length === 8;
    const processedAll = async (n: number) =>
      eventually(async () => {
        const logs = await a.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` });
        const got = new Set(
          logs
            .json<{ entries: { level: string; message: string }[] }>()
            .entries.filter((e) => e.level === 'info' && e.message.startsWith('{'))
            .map((e) => (JSON.parse(e.message) as { n: number }).n),
        );
        return got.size >= n ? got : undefined;
      }, 90_000, 200);
    const records = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i).map((n) => ({ key: `k${n}`, value: JSON.stringify({ n, ms: 10 }), partition: n % 8 }));

    // Burst 1 from zero: both nodes see the whole lag and may wake. A kafkajs member lets a new one
    // in only between batches, so the burst is mostly drained by the node that joined first; by its
    // end both are in the group, each with part of the partitions.
    await a.eventLog.produce(topic, records(0, 800));
    await processedAll(800);
    const joined = await eventually(async () => {
      const [va, vb] = await Promise.all([viewOn(a, name), viewOn(b, name)]);
      return va && vb && isSplit({ a: va, b: vb }) ? { a: va, b: vb } : undefined;
    }, 20_000, 50);
    // Burst 2 while both consume: each node's count follows the lag of the partitions it owns.
    burst = 2;
    await a.eventLog.produce(topic, records(800, 800));
    const seen = await processedAll(1600);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 1600 }, (_, n) => n));
    await eventually(async () => {
      const [va, vb] = await Promise.all([viewOn(a, name), viewOn(b, name)]);
      return va?.instances.current === 0 && vb?.instances.current === 0 ? true : undefined;
    }, 30_000, 50);
    watching = false;
    await watcher;

    const views = snapshots.flatMap((s) => [s.a, s.b]).filter((v) => v.readAt !== undefined); // read at least once
    for (const v of views) {
      expect(v.lag.partitions).toHaveLength(8);
      expect(v.instances.partitions).toBe(owned(v).length);
      expect(v.lag.owned).toBe(v.lag.partitions.filter((p) => p.owned).reduce((sum, p) => sum + p.lag, 0));
      // A count decided on this very sample never exceeds the partitions the node owns.
      if (/^(up|steady|holding \d+|down):/.test(v.reason) && v.instances.partitions > 0) expect(v.instances.current).toBeLessThanOrEqual(v.instances.partitions);
    }
    const second = snapshots.filter((s) => s.burst === 2);
    const compact = (v: ScaleStatus) => [owned(v).join(''), v.instances.current, v.lag.owned, v.lag.total, v.reason];
    // Decisions made on the node's own lag, not the group's, on both nodes.
    for (const node of ['a', 'b'] as const) {
      const onOwned = second.map((s) => s[node]).find((v) => v.instances.partitions < 8 && v.lag.owned > 0 && v.lag.owned < v.lag.total && new RegExp(`^(up|steady|holding \\d+|down): lag ${v.lag.owned} `).test(v.reason));
      expect(onOwned, `node ${node}: no decision on its own lag during burst 2: ${JSON.stringify(second.map((s) => compact(s[node])))}`).toBeDefined();
    }
    const decided = [...(await viewOn(a, name))!.decisions, ...(await viewOn(b, name))!.decisions];
    console.log(`[lag-broker] two nodes: ${snapshots.length} snapshots; split ${JSON.stringify([owned(joined.a), owned(joined.b)])}; decisions ${decided.map((d) => `${d.from}→${d.to}`).join(' ')}`);

    const offsets = await a.eventLog.offsets(`faas.${name}`, topic);
    expect(offsets.map((p) => p.committed)).toEqual(offsets.map((p) => p.end));
    await a.gateway.inject({ method: 'DELETE', url: `/v1/functions/${name}` });
  }, 150_000);
});
