/**
 * Records as handler events: decoding a record's value per the trigger's encoding, the
 * CloudEvents-style envelope, and the dead-letter record. A value that does not decode is a failed
 * record (FAAS_RECORD_UNDECODABLE, not retried), never a crash.
 */
import { isUtf8 } from 'node:buffer';
import { FaasError } from '../core/errors.ts';
import { JsonText } from '../scheduler/json-text.ts';
import { ColumnsBuilder } from '../scheduler/record-columns.ts';
import type { RecordRun } from '../scheduler/record-run.ts';
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
  const info = checkedInfo(record);
  const event: InvokeInput = { data: value, record: info };
  const correlationId = record.headers['faas-correlation-id'];
  const parent = record.headers['faas-source-invocation'];
  if (correlationId) event.correlationId = correlationId;
  if (parent) event.parentInvocationId = parent;
  return event;
}

/** A record's metadata; throws FAAS_RECORD_UNDECODABLE when its timestamp is not one a Date holds. */
export function checkedInfo(record: LogRecord): RecordInfo {
  const info = recordInfo(record);
  if (!validTimestamp(info.timestamp)) {
    throw new FaasError('FAAS_RECORD_UNDECODABLE', `record ${where(record)} has no valid timestamp (${record.timestamp})`);
  }
  return info;
}

/** Whether an event can carry this record timestamp (epoch ms): a Date must hold it. */
export function validTimestamp(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS;
}

/**
 * The event of a batch: data is an array of { value, ...record metadata }. Throws
 * FAAS_RECORD_UNDECODABLE for a record without a valid timestamp (the caller dead-letters it alone).
 */
export function batchEvent(records: { record: LogRecord; value: unknown }[]): InvokeInput {
  const infos = records.map(({ record }) => checkedInfo(record));
  return { data: records.map(({ value }, i) => ({ value, ...infos[i] })), ...batchAttributes(records.map((r) => r.record)) };
}

/**
 * A batch in a series (PartitionProcessor, batch mode): its records' metadata and values, JSON
 * values left as text; the guest builds the same event as batchEvent (recordBatchEvent in
 * sandbox/guest/bootstrap.ts). Undefined when a record does not decode here (the single path
 * dead-letters it).
 */
export function batchSeriesInput(records: LogRecord[], encoding: Encoding): InvokeInput | undefined {
  const infos: RecordInfo[] = [];
  const values: unknown[] = [];
  for (const record of records) {
    const decoded = decodeValueDeferred(record, encoding);
    if (!decoded.ok) return undefined;
    try {
      infos.push(checkedInfo(record));
    } catch {
      return undefined;
    }
    values.push(decoded.value);
  }
  return { data: null, batch: { records: infos, values }, ...batchAttributes(records) };
}

function batchAttributes(records: LogRecord[]): Pick<InvokeInput, 'eventId' | 'source' | 'type' | 'time' | 'extensions'> {
  const first = records[0] as LogRecord;
  const last = records[records.length - 1] as LogRecord;
  return {
    eventId: `${first.topic}/${first.partition}/${first.offset}-${last.offset}`,
    source: `kafka://${first.topic}/${first.partition}`,
    type: 'faas.kafka.batch',
    time: new Date(Number(last.timestamp)).toISOString(),
    extensions: { kafka: { topic: first.topic, partition: first.partition, firstOffset: first.offset, lastOffset: last.offset, count: records.length } },
  };
}

/**
 * A run of one partition's records for a series, built from the records themselves: their columns
 * (scheduler/record-columns.ts) and JSON texts, without an event object per record. Items are
 * records, or with `batchSize` batches of that many records (batch mode). The run ends before the
 * first item with a record that does not decode (the single path takes it: a record is
 * dead-lettered alone) and before it would pass `max` records (its first item always fits).
 * Inputs are built only for the items that need one (`inputOf(first record, count)`: the single
 * path's event); the guest builds every item's event from the columns, equal to that input's
 * (test/integration/record-event.test.ts).
 */
export function recordRun(records: readonly LogRecord[], from: number, o: { max: number; encoding: Encoding; batchSize?: number }, inputOf: (from: number, count: number) => InvokeInput): RecordRun {
  const first = records[from] as LogRecord;
  const size = o.batchSize ?? 1;
  const columns = new ColumnsBuilder();
  const texts: string[] = [];
  const textLengths: number[] = [];
  const correlation: Record<number, string> = {};
  const linked: number[] = [];
  const batches: number[] = [];
  const starts: number[] = [];
  const values: unknown[] = [];
  for (let j = from; j < records.length && (starts.length === 0 || columns.length + size <= o.max); j += size) {
    const end = Math.min(records.length, j + size);
    values.length = 0;
    for (let k = j; k < end; k++) {
      const record = records[k] as LogRecord;
      const decoded = validTimestamp(Number(record.timestamp)) ? decodeValueDeferred(record, o.encoding) : undefined;
      if (decoded === undefined || !decoded.ok) break;
      values.push(decoded.value);
    }
    if (values.length < end - j) break; // a record of this item does not decode
    const item = starts.length;
    starts.push(j - from);
    if (o.batchSize !== undefined) batches.push(end - j);
    for (let k = j; k < end; k++) {
      const record = records[k] as LogRecord;
      let data = values[k - j];
      if (data instanceof JsonText) {
        texts.push(data.text);
        textLengths.push(data.text.length);
        data = null;
      } else textLengths.push(-1);
      columns.add(record.offset, Number(record.timestamp), record.key === null ? null : record.key.toString('utf8'), record.headers, data);
      if (o.batchSize !== undefined) continue; // a batch's event carries no correlation of its own (batchEvent)
      const correlationId = record.headers['faas-correlation-id'];
      if (correlationId) correlation[item] = correlationId;
      if (correlationId || record.headers['faas-source-invocation']) linked.push(item);
    }
  }
  const inputs: InvokeInput[] = [];
  return {
    length: starts.length,
    at: { topic: first.topic, partition: first.partition },
    columns: columns.build(),
    texts: texts.join(''),
    textLengths,
    correlation,
    linked,
    ...(o.batchSize !== undefined ? { batches } : {}),
    input: (i) => (inputs[i] ??= inputOf(from + (starts[i] as number), batches[i] ?? 1)),
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
