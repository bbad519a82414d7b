/**
 * A Kafka broker of a test file's own, for tests that freeze, kill or break the broker (which would
 * disturb every other test file on the shared one). Started the way global-setup starts one, minus
 * KAFKA_BROKERS (a broker given in env is not ours to pause): Docker when a container runtime
 * answers, else a local KRaft JVM from the cached jars. Neither available: it throws, naming why, so
 * the test fails rather than skips.
 */
import { defaultProbes, kafkaProviders } from '../../scripts/services/provision.ts';
import type { StartedService } from '../../scripts/services/types.ts';

export interface DedicatedKafka {
  brokers: string[];
  how: StartedService['how'];
  /** The broker stops answering, its sockets stay open (SIGSTOP / docker pause). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** kill -9 of the broker (SIGKILL / docker kill). */
  crash(): Promise<void>;
  /** Starts it again after crash(), with its logs, on the same address. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDedicatedKafka(log: (msg: string) => void = () => undefined): Promise<DedicatedKafka> {
  const env = { ...process.env };
  delete env['KAFKA_BROKERS'];
  const providers = kafkaProviders(defaultProbes(env)).filter((p) => p.how !== 'env');
  const checked = await Promise.all(providers.map(async (p) => ({ p, a: await p.available() })));
  const viable = checked.filter((c) => c.a.ok).map((c) => c.p);
  if (viable.length === 0) {
    const why = checked.map((c) => `${c.p.how}: ${c.a.ok ? 'ok' : c.a.reason}`).join('; ');
    throw new Error(
      `this test needs a Kafka broker of its own that it can pause (Docker, or Java with the Kafka jars cached or mvn to fetch them), and none can be started here (${why})`,
    );
  }
  const failures: string[] = [];
  for (const provider of viable) {
    let started: StartedService;
    try {
      started = await provider.start(log);
    } catch (err) {
      failures.push(`${provider.how}: ${(err as Error).message.split('\n')[0] ?? ''}`);
      continue;
    }
    if (started.pause === undefined || started.resume === undefined || started.crash === undefined || started.restart === undefined) {
      await started.stop();
      failures.push(`${provider.how}: cannot be paused or crashed`);
      continue;
    }
    const service = started as Required<StartedService>;
    return {
      brokers: started.address.split(','),
      how: started.how,
      pause: () => service.pause(),
      resume: () => service.resume(),
      crash: () => service.crash(),
      restart: () => service.restart(),
      stop: () => service.stop(),
    };
  }
  throw new Error(`could not start a dedicated Kafka broker: ${failures.join('; ')}`);
}
