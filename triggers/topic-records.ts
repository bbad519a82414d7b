/**
 * Records as handler events: decoding a record's value per the trigger's encoding, the
 * CloudEvents-style envelope, and the dead-letter record. A value that does not decode is a failed
 * record (FAAS_RECORD_UNDECODABLE, not retried), never a crash.
 */
import { isUtf8 } from 'node:buffer';
import { FaasError } from '../core/errors.ts';
import { JsonText } from '../scheduler/json-text.ts';
import type { KafkaInfo } from '../sdk/index.ts';
import type { InvokeInput } from '../scheduler/invoker.ts';
import type { LogRecord, ProducedRecord } from '../scheduler/event-log.ts';

/** The largest epoch ms a Date holds (ECMA-262): beyond it an event's time cannot be written. */
const MAX_DATE_MS = 8.64e15;

export type Encoding = 'json' | 'string' | 'bytes';

/** The record metadata every topic-triggered event carries (event.kafka, and each item in batch mode). */
export type RecordInfo = KafkaInfo;

export type Decoded = { ok: true; value: unknown } | { ok: false; error: FaasError };

export function decodeValue(record: LogRecord, encoding: Encoding): Decoded {
  const raw = record.value;
  if (raw === null) return { ok: true, value: null };
  if (encoding === 'bytes') return { ok: true, value: raw.toString('base64') };
  if (!isUtf8(raw)) {
    return { ok: false, error: new FaasError('FAAS_RECORD_UNDECODABLE', `record ${where(record)} is not valid UTF-8 (encoding "${encoding}"; use "bytes" for binary values)`) };
  }
  const str = raw.toString('utf8');
  if (encoding === 'string') return { ok: true, value: str };
  try {
    return { ok: true, value: JSON.parse(str) as unknown };
  } catch (err) {
    return { ok: false, error: new FaasError('FAAS_RECORD_UNDECODABLE', `record ${where(record)} is not valid JSON: ${(err as Error).message}`) };
  }
}

/**
 * As decodeValue, but a JSON value stays text (JsonText) for the sandbox to parse: the series path,
 * where the host only forwards records. A value that is not JSON then fails in the guest, before
 * its handler, and the record takes the single path, which dead-letters it.
 */
export function decodeValueDeferred(record: LogRecord, encoding: Encoding): Decoded {
  const raw = record.value;
  if (encoding !== 'json' || raw === null || !isUtf8(raw)) return decodeValue(record, encoding);
  return { ok: true, value: new JsonText(raw.toString('utf8')) };
}

export function recordInfo(record: LogRecord): RecordInfo {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key === null ? null : record.key.toString('utf8'),
    headers: record.headers,
    timestamp: Number(record.timestamp),
  };
}

/**
 * The event of one record (record mode): the record's metadata, from which the invoker (or, in a
 * series, the guest) derives the envelope; its id is stable across redeliveries.
 */
export function recordEvent(record: LogRecord, value: unknown): InvokeInput {
  const info = recordInfo(record);
  if (!Number.isFinite(info.timestamp) || Math.abs(info.timestamp) > MAX_DATE_MS) {
    throw new FaasError('FAAS_RECORD_UNDECODABLE', `record ${where(record)} has no valid timestamp (${record.timestamp})`);
  }
  const event: InvokeInput = { data: value, record: info };
  const correlationId = record.headers['faas-correlation-id'];
  const parent = record.headers['faas-source-invocation'];
  if (correlationId) event.correlationId = correlationId;
  if (parent) event.parentInvocationId = parent;
  return event;
}

/** The event of a batch: data is an array of { value, ...record metadata }. */
export function batchEvent(records: { record: LogRecord; value: unknown }[]): InvokeInput {
  const first = records[0]?.record as LogRecord;
  const last = records[records.length - 1]?.record as LogRecord;
  return {
    data: records.map(({ record, value }) => ({ value, ...recordInfo(record) })),
    eventId: `${first.topic}/${first.partition}/${first.offset}-${last.offset}`,
    source: `kafka://${first.topic}/${first.partition}`,
    type: 'faas.kafka.batch',
    time: new Date(Number(last.timestamp)).toISOString(),
    extensions: { kafka: { topic: first.topic, partition: first.partition, firstOffset: first.offset, lastOffset: last.offset, count: records.length } },
  };
}

/** The dead-letter copy: original key, value and headers, plus why and where it came from. */
export function deadLetterRecord(record: LogRecord, fn: string, error: { code: string; message: string }, attempts: number): ProducedRecord {
  return {
    key: record.key === null ? null : record.key.toString('utf8'),
    value: record.value,
    headers: {
      ...record.headers,
      'faas-error-code': error.code,
      'faas-error-message': error.message.slice(0, 1000),
      'faas-attempts': String(attempts),
      'faas-function': fn,
      'faas-source-topic': record.topic,
      'faas-source-partition': String(record.partition),
      'faas-source-offset': record.offset,
      'faas-failed-at': new Date().toISOString(),
    },
  };
}

function where(record: LogRecord): string {
  return `${record.topic}/${record.partition}@${record.offset}`;
}
