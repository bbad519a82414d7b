/**
 * What every lag-scaled function on this node reports about its scaling: read by `GET /v1/scale`
 * (KEDA's metrics-api scaler), by `/metrics` at scrape time, and by `faas status`. Lag triggers
 * register a live view when they start and remove it when they stop.
 */

export interface PartitionScale {
  partition: number;
  /** The group's committed offset; null when it never committed there. */
  committed: string | null;
  /** The first offset still in the log, and the offset the next record will get. */
  start: string;
  end: string;
  /** Records between the group's position and the end. */
  lag: number;
  /** Owned by this node's consumer (or, while at zero, watched by it). */
  owned: boolean;
  /** Lag that has not moved for stuckAfterMs while a consumer ran. */
  stuck: boolean;
  /** Why the position is not the committed offset: no commit yet, or the commit is outside the log (retention, a re-created topic). */
  position?: 'start-policy' | 'behind-log' | 'ahead-of-log';
}

export interface ScaleDecisionRecord {
  at: string;
  from: number;
  to: number;
  reason: string;
}

export interface ScaleStatus {
  function: string;
  topic: string;
  group: string;
  /** False while the lag cannot be read (broker down, topic missing): the last decision holds. */
  healthy: boolean;
  error?: string;
  /** When the lag was last read successfully. */
  readAt?: string;
  lag: {
    /** Lag of the whole group over every partition (what KEDA should scale the cluster on). */
    total: number;
    /** Lag of the partitions this node owns. */
    owned: number;
    partitions: PartitionScale[];
  };
  rates: {
    /** Records/s appended to the topic, processed by the group, and the lag's change (averages with a 1 s half-life). */
    produced: number;
    processed: number;
    lagChange: number;
    /** Estimated seconds to drain the lag at the current rates; null when it is not shrinking. */
    drainSeconds: number | null;
  };
  instances: {
    current: number;
    /** Partition batches being processed right now. */
    active: number;
    min: number;
    max: number;
    /** Partitions this node may process (owned, or all while at zero). */
    partitions: number;
  };
  target: { lagPerInstance?: number; targetDrainSeconds?: number; activationLag: number };
  /** The reason behind the current count, re-evaluated at every poll. */
  reason: string;
  /** The last changes of the instance count, newest last. */
  decisions: ScaleDecisionRecord[];
}

export class ScaleRegistry {
  private readonly views = new Map<string, () => ScaleStatus>();

  register(fn: string, view: () => ScaleStatus): () => void {
    this.views.set(fn, view);
    return () => {
      if (this.views.get(fn) === view) this.views.delete(fn);
    };
  }

  get(fn: string): ScaleStatus | undefined {
    return this.views.get(fn)?.();
  }

  all(): ScaleStatus[] {
    return [...this.views.values()].map((v) => v()).sort((a, b) => a.function.localeCompare(b.function));
  }
}
