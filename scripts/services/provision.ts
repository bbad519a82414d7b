import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { hasKafkaLibs, KAFKA_VERSION, startKafkaDocker, startKafkaLocal, useKafkaFromEnv } from './kafka.ts';
import { startRedisDocker, startRedisLocal, useRedisFromEnv } from './redis.ts';
import type { How, Log, Provider, StartedService } from './types.ts';

export type { How, Log } from './types.ts';

export interface ProvisionOptions {
  kafka: boolean;
  redis: boolean;
  /** Receives one short line per decision; default: stderr. */
  log?: Log;
}

export interface ProvisionedServices {
  /** e.g. `redis://127.0.0.1:40123` */
  redisUrl?: string;
  /** Comma-separated, e.g. `127.0.0.1:40125` */
  kafkaBrokers?: string;
  how: { redis?: How; kafka?: How };
  /** Stops what was started (never a service given in env) and removes temp dirs. Idempotent. */
  stop(): Promise<void>;
}

/** What provisioning looks at on this machine; injectable so the preference order is testable. */
export interface Probes {
  env: Readonly<Record<string, string | undefined>>;
  /** True when a container runtime answers (testcontainers' own discovery). */
  dockerAvailable(): Promise<boolean>;
  /** Absolute path of an executable found on `env.PATH`, or undefined. */
  which(command: string): Promise<string | undefined>;
  /** Where downloaded jars are kept: `FAAS_CACHE_DIR`, default `~/.cache/faas`. */
  cacheDir: string;
}

export class ServicesUnavailableError extends Error {
  readonly code = 'FAAS_SERVICES_UNAVAILABLE';
  readonly retriable = false;
  override name = 'ServicesUnavailableError';
}

export function findExecutable(command: string, pathValue: string | undefined): Promise<string | undefined> {
  const dirs = (pathValue ?? '').split(delimiter).filter((d) => d.length > 0);
  return dirs.reduce<Promise<string | undefined>>(async (found, dir) => {
    const earlier = await found;
    if (earlier !== undefined) return earlier;
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      return undefined;
    }
  }, Promise.resolve(undefined));
}

async function probeDocker(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('container runtime probe timed out')), 10_000);
    });
    try {
      await Promise.race([getContainerRuntimeClient(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return true;
  } catch {
    return false;
  }
}

export function defaultProbes(env: Readonly<Record<string, string | undefined>> = process.env): Probes {
  let docker: Promise<boolean> | undefined;
  return {
    env,
    dockerAvailable: () => (docker ??= probeDocker()),
    which: (command) => findExecutable(command, env['PATH']),
    cacheDir: env['FAAS_CACHE_DIR'] ?? join(env['HOME'] ?? homedir(), '.cache', 'faas'),
  };
}

const NO_DOCKER = 'no container runtime answers';

function dockerProvider(start: (log: Log) => Promise<StartedService>, probes: Probes): Provider {
  return {
    how: 'docker',
    available: async () => ((await probes.dockerAvailable()) ? { ok: true } : { ok: false, reason: NO_DOCKER }),
    start,
  };
}

export function redisProviders(probes: Probes): Provider[] {
  const url = probes.env['REDIS_URL'];
  return [
    {
      how: 'env',
      available: async () => (url ? { ok: true } : { ok: false, reason: 'REDIS_URL not set' }),
      start: (log) => useRedisFromEnv(url ?? '', log),
    },
    dockerProvider(startRedisDocker, probes),
    {
      how: 'local',
      available: async () =>
        (await probes.which('redis-server')) ? { ok: true } : { ok: false, reason: 'redis-server not on PATH' },
      start: async (log) => {
        const binary = await probes.which('redis-server');
        if (binary === undefined) throw new Error('redis-server not on PATH');
        return startRedisLocal(binary, log);
      },
    },
  ];
}

async function findJava(probes: Probes): Promise<string | undefined> {
  const home = probes.env['JAVA_HOME'];
  if (home && existsSync(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  return probes.which('java');
}

export function kafkaProviders(probes: Probes): Provider[] {
  const brokers = probes.env['KAFKA_BROKERS'];
  return [
    {
      how: 'env',
      available: async () => (brokers ? { ok: true } : { ok: false, reason: 'KAFKA_BROKERS not set' }),
      start: (log) => useKafkaFromEnv(brokers ?? '', log),
    },
    dockerProvider(startKafkaDocker, probes),
    {
      how: 'local',
      available: async () => {
        if ((await findJava(probes)) === undefined) return { ok: false, reason: 'java not on PATH' };
        if (!hasKafkaLibs(probes.cacheDir) && (await probes.which('mvn')) === undefined) {
          return { ok: false, reason: `mvn not on PATH and no Kafka ${KAFKA_VERSION} jars in ${probes.cacheDir}` };
        }
        return { ok: true };
      },
      start: async (log) => {
        const java = await findJava(probes);
        if (java === undefined) throw new Error('java not on PATH');
        return startKafkaLocal({ java, mvn: await probes.which('mvn'), cacheDir: probes.cacheDir }, log);
      },
    },
  ];
}

export function unavailableMessage(reasons: Readonly<Record<string, readonly string[]>>): string {
  const lines = Object.entries(reasons).map(([service, why]) => `  ${service}: ${why.join('; ')}`);
  return [
    `No way to provide ${Object.keys(reasons).join(' and ')}:`,
    ...lines,
    'Any one of these fixes it:',
    '  1. set REDIS_URL (redis://host:port) and KAFKA_BROKERS (host:port,...) to services that already run;',
    `  2. start a Docker engine (or another container runtime testcontainers finds) to run redis:7-alpine and apache/kafka:${KAFKA_VERSION};`,
    '  3. install redis-server and Java 17 + Maven (apt-get install redis-server openjdk-17-jre-headless maven) to run them as local processes.',
  ].join('\n');
}

/** Tries the viable providers in order; a failing docker start falls through to the next one. */
async function startFirst(name: string, viable: readonly Provider[], log: Log): Promise<StartedService> {
  for (const [i, provider] of viable.entries()) {
    try {
      return await provider.start(log);
    } catch (err) {
      const next = viable[i + 1];
      if (provider.how !== 'docker' || next === undefined) throw err;
      log(`${name}: docker failed (${(err as Error).message.split('\n')[0]}); trying ${next.how}`);
    }
  }
  throw new Error(`${name}: no provider`);
}

/**
 * Provides the named services from the given providers, in parallel. All choices are made before
 * anything starts, so a missing service never leaves another one running.
 */
export async function provisionWith(
  providers: Readonly<Record<'redis' | 'kafka', readonly Provider[] | undefined>>,
  log: Log,
): Promise<ProvisionedServices> {
  const wanted = (['redis', 'kafka'] as const).filter((s) => providers[s] !== undefined);
  const viable = await Promise.all(
    wanted.map(async (service) => {
      const list = providers[service] ?? [];
      const checked = await Promise.all(list.map(async (p) => ({ p, a: await p.available() })));
      return {
        service,
        ok: checked.filter((c) => c.a.ok).map((c) => c.p),
        reasons: checked.flatMap((c) => (c.a.ok ? [] : [c.a.reason])),
      };
    }),
  );
  const missing = viable.filter((v) => v.ok.length === 0);
  if (missing.length > 0) {
    throw new ServicesUnavailableError(unavailableMessage(Object.fromEntries(missing.map((m) => [m.service, m.reasons]))));
  }
  const results = await Promise.allSettled(viable.map((v) => startFirst(v.service, v.ok, log)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw failed[0];
  }
  const byService = new Map(viable.map((v, i) => [v.service, started[i]]));
  const redis = byService.get('redis');
  const kafka = byService.get('kafka');
  let stopping: Promise<void> | undefined;
  return {
    ...(redis && { redisUrl: redis.address }),
    ...(kafka && { kafkaBrokers: kafka.address }),
    how: { ...(redis && { redis: redis.how }), ...(kafka && { kafka: kafka.how }) },
    stop: () =>
      (stopping ??= Promise.allSettled(started.map((s) => s.stop())).then((settled) => {
        const err = settled.find((s) => s.status === 'rejected');
        if (err) throw err.reason;
      })),
  };
}

const stderrLog: Log = (msg) => {
  process.stderr.write(`${msg}\n`);
};

/**
 * Provides Redis and/or Kafka, each from the first of: (1) its address in env (`REDIS_URL`,
 * `KAFKA_BROKERS`), verified; (2) Docker via testcontainers; (3) local processes (`redis-server`,
 * Kafka KRaft from Maven jars). Throws `ServicesUnavailableError` naming the three ways otherwise.
 */
export function provisionServices(
  opts: ProvisionOptions,
  probes: Partial<Probes> = {},
): Promise<ProvisionedServices> {
  const all: Probes = { ...defaultProbes(probes.env), ...probes };
  return provisionWith(
    {
      redis: opts.redis ? redisProviders(all) : undefined,
      kafka: opts.kafka ? kafkaProviders(all) : undefined,
    },
    opts.log ?? stderrLog,
  );
}
