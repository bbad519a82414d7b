/**
 * POST /v1/topics/:topic/records: produce test events to a topic (embedded log or Kafka), the way
 * `faas publish` does. Values that are not strings are sent as JSON.
 */
import type { FastifyInstance } from 'fastify';
import type { EventLog } from '../scheduler/event-log.ts';

interface RecordBody {
  key?: string | null;
  value: unknown;
  headers?: Record<string, string>;
  partition?: number;
}

const recordSchema = {
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  properties: {
    key: { type: ['string', 'null'], maxLength: 10_000 },
    value: {},
    headers: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 100 },
    partition: { type: 'integer', minimum: 0 },
  },
} as const;

export async function topicRoutes(app: FastifyInstance, deps: { eventLog: EventLog }): Promise<void> {
  app.post<{ Params: { topic: string }; Body: { records: RecordBody[] } }>(
    '/v1/topics/:topic/records',
    {
      schema: {
        params: { type: 'object', required: ['topic'], properties: { topic: { type: 'string', pattern: '^[a-zA-Z0-9._-]{1,249}$' } } },
        body: { type: 'object', required: ['records'], additionalProperties: false, properties: { records: { type: 'array', minItems: 1, maxItems: 10_000, items: recordSchema } } },
      },
    },
    async (req) => {
      const produced = await deps.eventLog.produce(
        req.params.topic,
        req.body.records.map((r) => ({
          key: r.key ?? null,
          value: typeof r.value === 'string' ? r.value : JSON.stringify(r.value),
          ...(r.headers ? { headers: r.headers } : {}),
          ...(r.partition !== undefined ? { partition: r.partition } : {}),
        })),
      );
      return { topic: req.params.topic, records: produced };
    },
  );
}
