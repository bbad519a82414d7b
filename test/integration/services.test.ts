import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  provisionServices,
  provisionWith,
  ServicesUnavailableError,
  type Log,
} from '../../scripts/services/provision.ts';
import type { How, Provider, StartedService } from '../../scripts/services/types.ts';
import { testKafkaBrokers, testRedisUrl } from '../support/env.ts';

describe('provisioned Redis', () => {
  let redis: Redis | undefined;
  beforeAll(() => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('answers PING', async () => {
    expect(await redis!.ping()).toBe('PONG');
  });

  it('stores and returns a value', async () => {
    const key = `test:smoke:${randomUUID()}`;
    const client = redis!;
    await client.set(key, 'v1', 'EX', 60);
    expect(await client.get(key)).toBe('v1');
    await client.del(key);
  });

  it('is visible to workers through process.env too', () => {
    expect(process.env['REDIS_URL']).toBe(testRedisUrl());
    expect(process.env['KAFKA_BROKERS']?.split(',')).toEqual(testKafkaBrokers());
  });
});

describe('provisioned Kafka', () => {
  it('round-trips 10 records through a 3-partition topic and a fresh group', async () => {
    const kafka = new Kafka({ clientId: 'services-test', brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
    const topic = `test-smoke-${randomUUID()}`;
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: `test-smoke-${randomUUID()}` });
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]?.partitions).toHaveLength(3);

      await producer.connect();
      const sent = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
      await producer.send({ topic, messages: sent });

      const received: string[] = [];
      let allReceived!: () => void;
      const done = new Promise<void>((resolve) => {
        allReceived = resolve;
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          received.push(`${message.key?.toString() ?? ''}=${message.value?.toString() ?? ''}`);
          if (received.length >= sent.length) allReceived();
        },
      });
      await done;
      expect(received.sort()).toEqual(sent.map((m) => `${m.key}=${m.value}`).sort());
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});

describe('provisionServices preference order', () => {
  const silent: Log = () => undefined;

  function fake(how: How, opts: { available?: boolean; fails?: boolean; calls: string[] }): Provider {
    return {
      how,
      available: async () => (opts.available === false ? { ok: false, reason: `no ${how}` } : { ok: true }),
      start: async (): Promise<StartedService> => {
        opts.calls.push(`start ${how}`);
        if (opts.fails) throw new Error(`${how} broke`);
        return { address: how, how, stop: async () => void opts.calls.push(`stop ${how}`) };
      },
    };
  }

  it('names all three ways when there is no env, no container runtime and nothing on PATH', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'faas-empty-cache-'));
    try {
      const attempt = provisionServices(
        { kafka: true, redis: true, log: silent },
        { env: { PATH: '/nonexistent' }, dockerAvailable: async () => false, cacheDir },
      );
      await expect(attempt).rejects.toBeInstanceOf(ServicesUnavailableError);
      const message = await attempt.then(
        () => '',
        (err: unknown) => (err as Error).message,
      );
      expect(message).toMatch(/redis: REDIS_URL not set; no container runtime answers; redis-server not on PATH/);
      expect(message).toMatch(/kafka: KAFKA_BROKERS not set; no container runtime answers; java not on PATH/);
      for (const way of ['REDIS_URL', 'KAFKA_BROKERS', 'Docker engine', 'redis-server', 'Java 17', 'Maven']) {
        expect(message).toContain(way);
      }
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  it('prefers env over docker over local', async () => {
    const calls: string[] = [];
    const services = await provisionWith(
      {
        redis: [fake('env', { calls }), fake('docker', { calls }), fake('local', { calls })],
        kafka: [fake('env', { available: false, calls }), fake('docker', { calls }), fake('local', { calls })],
      },
      silent,
    );
    expect(services.how).toEqual({ redis: 'env', kafka: 'docker' });
    expect(calls.sort()).toEqual(['start docker', 'start env']);
    await services.stop();
  });

  it('falls back to local when the docker start fails, but never past a broken env address', async () => {
    const calls: string[] = [];
    const services = await provisionWith(
      { redis: [fake('docker', { fails: true, calls }), fake('local', { calls })], kafka: undefined },
      silent,
    );
    expect(services.how).toEqual({ redis: 'local' });
    await expect(
      provisionWith({ redis: [fake('env', { fails: true, calls }), fake('local', { calls })], kafka: undefined }, silent),
    ).rejects.toThrow('env broke');
    expect(calls).toEqual(['start docker', 'start local', 'start env']);
  });

  it('starts nothing when one service has no way, and stops the other when one fails to start', async () => {
    const calls: string[] = [];
    await expect(
      provisionWith({ redis: [fake('local', { available: false, calls })], kafka: [fake('local', { calls })] }, silent),
    ).rejects.toBeInstanceOf(ServicesUnavailableError);
    expect(calls).toEqual([]);
    await expect(
      provisionWith({ redis: [fake('local', { fails: true, calls })], kafka: [fake('env', { calls })] }, silent),
    ).rejects.toThrow('local broke');
    expect(calls.sort()).toEqual(['start env', 'start local', 'stop env']);
  });
});

describe('local Kafka storage format (a kafka-storage quirk)', () => {
  it('passes a cluster id that starts with "-" so the tool does not read it as an option', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { writeFile } = await import('node:fs/promises');
    const { hasKafkaLibs, kafkaLibsDir, storageFormatArgs } = await import('../../scripts/services/kafka.ts');
    const id = '-' + 'A'.repeat(21); // 22 base64url characters = 16 bytes, the shape that broke `-t <id>`
    const args = storageFormatArgs(id, '/x/server.properties');
    expect(args).toContain(`--cluster-id=${id}`);
    expect(args).not.toContain(id);
    const cache = process.env.FAAS_CACHE_DIR ?? join(process.env.HOME ?? '', '.cache', 'faas');
    // Where Kafka came from Docker or the environment, the jars are not here: the shape check stands.
    if (!hasKafkaLibs(cache)) return;
    const dir = await mkdtemp(join(tmpdir(), 'faas-format-'));
    try {
      const props = join(dir, 'server.properties');
      await writeFile(props, ['process.roles=broker,controller', 'node.id=1', 'controller.quorum.voters=1@127.0.0.1:1', `log.dirs=${join(dir, 'data')}`, 'listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:1', 'controller.listener.names=CONTROLLER'].join('\n'));
      const { stdout } = await promisify(execFile)('java', ['-cp', `${kafkaLibsDir(cache)}/*`, ...storageFormatArgs(id, props)], { timeout: 60_000 });
      expect(stdout).toMatch(/Formatting/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
