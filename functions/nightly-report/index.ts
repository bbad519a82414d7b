import type { Handler } from 'faas-runtime/sdk';

/** What a cron tick carries: the tick it runs for (not when it happened to start). */
interface Tick {
  /** The scheduled instant, UTC ISO 8601. */
  scheduledTime: string;
  /** The same instant in the schedule's time zone, e.g. 2025-06-01T02:30:00+09:00. */
  localTime: string;
  /** When this node started it; later than scheduledTime for a catch-up run. */
  firedAt: string;
}

/** The report covers the period that ended at the scheduled tick, whenever the run actually starts. */
const handler: Handler<Tick> = async (event) => {
  const end = Date.parse(event.data.scheduledTime);
  const start = end - 60_000;
  return {
    report: 'activity',
    period: { from: new Date(start).toISOString(), to: event.data.scheduledTime, local: event.data.localTime },
    tick: event.id,
    /** More than a few seconds: a catch-up run after downtime (catchUp: latest). */
    lateMs: Date.parse(event.data.firedAt) - end,
  };
};

export default handler;
