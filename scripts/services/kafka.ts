import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from './free-port.ts';
import { guardTempDir, releaseTempDir, runToCompletion, spawnSupervised, waitUntilAnswers } from './supervise.ts';
import type { Log, StartedService } from './types.ts';

export const KAFKA_VERSION = '3.9.1';
const SLF4J_VERSION = '1.7.36';

/** Splits `KAFKA_BROKERS` ("host:port,host:port") into kafkajs' broker list. */
export function parseBrokers(value: string): string[] {
  return value.split(',').map((b) => b.trim()).filter((b) => b.length > 0);
}

/** Connects an admin client and lists topics once; rejects when the cluster does not answer in time. */
export async function probeKafka(brokers: readonly string[], timeoutMs = 5000): Promise<void> {
  const kafka = new Kafka({
    clientId: 'faas-provision',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

/** KAFKA_BROKERS given in env: verified, never stopped. */
export async function useKafkaFromEnv(value: string, log: Log): Promise<StartedService> {
  const brokers = parseBrokers(value);
  try {
    await probeKafka(brokers, 10_000);
  } catch (err) {
    throw new Error(`KAFKA_BROKERS=${value} does not answer: ${(err as Error).message}`, { cause: err });
  }
  log(`kafka: KAFKA_BROKERS ${brokers.join(',')}`);
  return { address: brokers.join(','), how: 'env', stop: async () => undefined };
}

/**
 * apache/kafka in KRaft mode through a plain GenericContainer (@testcontainers/kafka targets the
 * Confluent images). Clients outside the container need an advertised listener with the host's
 * address and port, known only after start for a random mapping, so the HOST listener is bound to a
 * free host port chosen beforehand.
 */
export async function startKafkaDocker(log: Log): Promise<StartedService> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const runtime = await getContainerRuntimeClient();
  const host = runtime.info.containerRuntime.host;
  const hostPort = await freePort();
  const container = await new GenericContainer(`apache/kafka:${KAFKA_VERSION}`)
    .withExposedPorts({ container: 19092, host: hostPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_LISTENERS: 'BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093,HOST://0.0.0.0:19092',
      KAFKA_ADVERTISED_LISTENERS: `BROKER://localhost:9092,HOST://${host}:${hostPort}`,
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_HEAP_OPTS: '-Xmx512m',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  const brokers = [`${host}:${hostPort}`];
  try {
    await probeKafka(brokers, 30_000);
  } catch (err) {
    await container.stop();
    throw err;
  }
  log(`kafka: docker apache/kafka:${KAFKA_VERSION} on ${brokers[0]}`);
  const handle = runtime.container.getById(container.getId());
  let paused = false;
  return {
    address: brokers.join(','),
    how: 'docker',
    stop: async () => {
      if (paused) await handle.unpause().catch(() => undefined);
      await container.stop();
    },
    pause: async () => {
      await handle.pause();
      paused = true;
    },
    resume: async () => {
      await handle.unpause();
      paused = false;
    },
    // Its host port is fixed (above) and its filesystem kept, so a started-again container is the
    // same broker with its logs.
    crash: async () => {
      await handle.kill({ signal: 'SIGKILL' });
    },
    restart: async () => {
      await handle.start();
      await probeKafka(brokers, 60_000);
    },
  };
}

export interface LocalKafkaTools {
  java: string;
  /** Needed only when the jars are not in the cache yet. */
  mvn: string | undefined;
  cacheDir: string;
}

export function kafkaLibsDir(cacheDir: string): string {
  return join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
}

export function hasKafkaLibs(cacheDir: string): boolean {
  const libs = kafkaLibsDir(cacheDir);
  return (
    existsSync(join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`)) &&
    existsSync(join(libs, `slf4j-reload4j-${SLF4J_VERSION}.jar`))
  );
}

const POM = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>faas.local</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;

/** Fetches the broker's jars from Maven Central into the cache, once; safe against concurrent fetches. */
async function fetchKafkaLibs(tools: LocalKafkaTools, log: Log): Promise<void> {
  if (hasKafkaLibs(tools.cacheDir)) return;
  if (tools.mvn === undefined) throw new Error('Kafka jars are not cached and mvn is not on PATH');
  log(`kafka: fetching Kafka ${KAFKA_VERSION} jars with Maven into ${kafkaLibsDir(tools.cacheDir)} (once)`);
  const work = await mkdtemp(join(tmpdir(), 'faas-kafka-pom-'));
  guardTempDir(work);
  const libs = kafkaLibsDir(tools.cacheDir);
  const staging = `${libs}.tmp-${process.pid}`;
  try {
    await writeFile(join(work, 'pom.xml'), POM);
    await mkdir(join(tools.cacheDir, `kafka-${KAFKA_VERSION}`), { recursive: true });
    await runToCompletion('mvn', tools.mvn, [
      '-q', '-B', '-f', join(work, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`,
    ]);
    await rm(libs, { recursive: true, force: true });
    await rename(staging, libs);
  } finally {
    await rm(staging, { recursive: true, force: true });
    await releaseTempDir(work);
  }
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(dir, 'data')}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  '',
].join('\n');

/** A KRaft single node (broker + controller) from the Maven jars, on free loopback ports, data in a temp dir. */
/** A KRaft cluster id: 16 random bytes, base64url (may start with "-"; see storageFormatArgs). */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Arguments of `kafka.tools.StorageTool format`. The id goes as `--cluster-id=<id>`: base64url ids
 * start with "-" one time in 64, and `-t <id>` then reads as an option ("expected one argument"),
 * which made local Kafka fail to start at random (pinned in test/integration/services.test.ts).
 */
export function storageFormatArgs(clusterId: string, propsPath: string): string[] {
  return ['kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '--config', propsPath];
}

export async function startKafkaLocal(tools: LocalKafkaTools, log: Log): Promise<StartedService> {
  await fetchKafkaLibs(tools, log);
  const classpath = `${kafkaLibsDir(tools.cacheDir)}/*`;
  let lastError: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'faas-kafka-'));
    guardTempDir(dir);
    const [port, controllerPort] = [await freePort(), await freePort()];
    const props = join(dir, 'server.properties');
    const log4j = join(dir, 'log4j.properties');
    await writeFile(props, serverProperties(dir, port, controllerPort));
    await writeFile(log4j, LOG4J);
    const jvm = ['-Xmx512m', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${log4j}`];
    const clusterId = newClusterId();
    const brokers = [`127.0.0.1:${port}`];
    let proc;
    try {
      await runToCompletion('kafka-storage format', tools.java, [
        ...jvm, '-cp', classpath, ...storageFormatArgs(clusterId, props),
      ]);
      proc = spawnSupervised('kafka', tools.java, [...jvm, '-cp', classpath, 'kafka.Kafka', props], { cwd: dir });
      await waitUntilAnswers(proc, () => probeKafka(brokers, 2000), 90_000);
    } catch (err) {
      lastError = err;
      await proc?.stop(0);
      await releaseTempDir(dir);
      // A port taken between freePort() and bind() is the one failure worth one retry.
      if (/in use/i.test((err as Error).message)) continue;
      break;
    }
    log(`kafka: local KRaft ${KAFKA_VERSION} on ${brokers[0]}`);
    let started = proc;
    const signal = (sig: NodeJS.Signals): void => {
      if (!started.hasExited()) process.kill(started.pid, sig);
    };
    return {
      address: brokers.join(','),
      how: 'local',
      stop: async () => {
        signal('SIGCONT'); // a stopped JVM would hold SIGTERM pending until the SIGKILL
        await started.stop(5000);
        await releaseTempDir(dir);
      },
      pause: async () => {
        signal('SIGSTOP');
      },
      resume: async () => {
        signal('SIGCONT');
      },
      crash: async () => {
        signal('SIGKILL');
        await started.exited;
      },
      restart: async () => {
        // The same configuration, port and log directory: the broker recovers its logs.
        started = spawnSupervised('kafka', tools.java, [...jvm, '-cp', classpath, 'kafka.Kafka', props], { cwd: dir });
        await waitUntilAnswers(started, () => probeKafka(brokers, 2000), 90_000);
      },
    };
  }
  throw new Error(`Kafka did not start: ${(lastError as Error).message}`, { cause: lastError });
}
