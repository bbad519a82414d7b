/** How a service was provided, in order of preference. */
export type How = 'env' | 'docker' | 'local';

export type Log = (msg: string) => void;

/** A service that answers at `address` (a redis:// URL, or comma-separated Kafka brokers). */
export interface StartedService {
  readonly address: string;
  readonly how: How;
  /** Stops what was started and removes its temp dirs; a no-op for an address given in env. */
  stop(): Promise<void>;
  /**
   * Freezes the service without closing its sockets (SIGSTOP of a local process, `docker pause` of a
   * container): clients see a server that stops answering. For tests of a broker that hangs; absent
   * for an address given in env (never ours to freeze).
   */
  pause?(): Promise<void>;
  /** Undoes pause() (SIGCONT, `docker unpause`). */
  resume?(): Promise<void>;
  /** Kills it at once (SIGKILL of a local process, `docker kill`): for tests of a crash. Absent for env. */
  crash?(): Promise<void>;
  /** Starts it again after crash(), on the same address and data. */
  restart?(): Promise<void>;
}

/** Whether a way of providing a service can be tried here; `reason` says why not. */
export type Availability = { ok: true } | { ok: false; reason: string };

/** One way of providing one service. */
export interface Provider {
  readonly how: How;
  available(): Promise<Availability>;
  start(log: Log): Promise<StartedService>;
}
