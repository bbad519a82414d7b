import type { Handler, Json } from 'faas-runtime/sdk';

interface DrainedRecord {
  key: string | null;
  value: Json;
  partition: number;
  offset: string;
  timestamp: string;
  headers: Record<string, string>;
}

interface Drain {
  scheduledTime: string;
  topic: string;
  records: DrainedRecord[];
  /** True when maxRecords cut this drain short; the rest comes on the next tick. */
  more: boolean;
}

/**
 * Summarise the audit events of one period: counts per actor (the record key) and action (the
 * value's `action`). Throwing makes the next tick retry them all.
 */
const handler: Handler<Drain> = async (event, ctx) => {
  const byAction: Record<string, number> = {};
  const actors = new Set<string>();
  for (const r of event.data.records) {
    const v = r.value;
    const action = v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v.action === 'string' ? v.action : 'unknown';
    byAction[action] = (byAction[action] ?? 0) + 1;
    if (r.key !== null) actors.add(r.key);
  }
  if (event.data.records.length > 0) ctx.log.info(`audit: ${event.data.records.length} events from ${actors.size} actors`);
  return { until: event.data.scheduledTime, events: event.data.records.length, actors: actors.size, byAction, more: event.data.more };
};

export default handler;
