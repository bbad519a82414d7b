/**
 * A topic record's event is built in two places: on the host for a single invocation (the
 * invoker's attributes(), used when a record is retried or runs alone) and in the guest for a
 * series of one partition's records (recordEvent in sandbox/guest/bootstrap.ts, so the host only
 * forwards the record), from either an input per record or a run built from the records themselves
 * (recordRun: the topic trigger's way). The handler must not be able to tell them apart: same
 * attributes, same values, same key order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { LogRecord } from '../../scheduler/event-log.ts';
import type { InvokeInput } from '../../scheduler/invoker.ts';
import type { RecordRun } from '../../scheduler/record-run.ts';
import { batchEvent, batchSeriesInput, decodeValue, decodeValueDeferred, recordEvent, recordRun, type Encoding } from '../../triggers/topic-records.ts';
import { deployFunction, startRuntime, uniqueName } from '../support/runtime.ts';

let rt: Runtime & { url: string };
const name = uniqueName('echo');

beforeAll(async () => {
  rt = await startRuntime();
  await deployFunction(rt, name, 'export default (event) => { console.log(JSON.stringify(event)); return null; };');
});
afterAll(async () => {
  await rt?.stop();
});

const record = (offset: number, value: string | null, more: Partial<LogRecord> = {}): LogRecord => ({
  topic: 'orders.v1',
  partition: 3,
  offset: String(offset),
  key: Buffer.from(`k-${offset}`),
  value: value === null ? null : Buffer.from(value),
  headers: { 'x-trace': `t-${offset}`, 'faas-correlation-id': 'corr-1' },
  timestamp: String(1_767_225_600_000 + offset),
  ...more,
});

/** The event as the handler saw it (its logged JSON text, key order included), alone and in a series. */
async function bothWays(records: LogRecord[], encoding: Encoding): Promise<{ alone: string[]; series: string[] }> {
  const alone: string[] = [];
  for (const r of records) {
    const decoded = decodeValue(r, encoding);
    if (!decoded.ok) throw decoded.error;
    const out = await rt.invoker.invoke(name, recordEvent(r, decoded.value));
    expect(out.error).toBeUndefined();
    alone.push(...(await logged([out.invocationId])));
  }
  const inputs = records.map((r) => {
    const decoded = decodeValueDeferred(r, encoding);
    if (!decoded.ok) throw decoded.error;
    return recordEvent(r, decoded.value);
  });
  const series = await inSeries(inputs, records.length);
  // The topic trigger's own series: a run built from the records (no input per record).
  const run = recordRun(records, 0, { max: records.length, encoding }, (j) => inputs[j] as InvokeInput);
  expect(run.length).toBe(records.length);
  expect(await inSeries(run, records.length)).toEqual(series);
  return { alone, series };
}

async function inSeries(items: InvokeInput[] | RecordRun, n: number): Promise<string[]> {
  const before = new Set((await entries()).map((e) => e.invocationId));
  const out = await rt.invoker.invokeSeries(name, items);
  expect(out).toMatchObject({ done: n });
  const series = (await entries()).filter((e) => !before.has(e.invocationId));
  expect(new Set(series.map((e) => e.invocationId)).size).toBe(n); // one invocation each
  return series.map((e) => e.message);
}

/** The function's log lines, oldest first. */
async function entries(): Promise<{ invocationId: string; message: string }[]> {
  const res = await rt.gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=1000` });
  return res.json<{ entries: { invocationId: string; message: string }[] }>().entries;
}

async function logged(ids: string[]): Promise<string[]> {
  return (await entries()).filter((e) => ids.includes(e.invocationId)).map((e) => e.message);
}

describe('a record event, alone or in a series', () => {
  it('is the same event, attribute for attribute and in the same order (json values)', async () => {
    const records = [
      record(7, '{"n":1,"nested":{"a":[1,2]}}'),
      record(8, '"text"'),
      record(9, null, { key: null, headers: {} }),
      record(10, '[1,"two",null]'),
      record(11, '1', { timestamp: '1767225600999' }), // the last millisecond of a second
      record(12, '2', { timestamp: '1767225601000' }), // the next second
      record(13, '3', { timestamp: '-1500' }), // before 1970
      record(14, '4', { timestamp: '0' }),
    ];
    const { alone, series } = await bothWays(records, 'json');
    expect(series).toEqual(alone);
    expect(JSON.parse(series[0] as string)).toEqual({
      kafka: { topic: 'orders.v1', partition: 3, offset: '7', key: 'k-7', headers: { 'x-trace': 't-7', 'faas-correlation-id': 'corr-1' }, timestamp: 1_767_225_600_007 },
      id: 'orders.v1/3/7',
      source: 'kafka://orders.v1/3',
      type: 'faas.kafka.record',
      time: '2026-01-01T00:00:00.007Z',
      data: { n: 1, nested: { a: [1, 2] } },
    });
    expect(JSON.parse(series[2] as string)).toMatchObject({ kafka: { key: null, headers: {} }, data: null });
    expect(series.slice(4).map((e) => (JSON.parse(e) as { time: string }).time)).toEqual(['2026-01-01T00:00:00.999Z', '2026-01-01T00:00:01.000Z', '1969-12-31T23:59:58.500Z', '1970-01-01T00:00:00.000Z']);
  });

  it('is the same event with string and bytes encodings', async () => {
    const records = [record(1, 'plain "quoted" text'), record(2, '{"not":"parsed"}')];
    for (const encoding of ['string', 'bytes'] as const) {
      const { alone, series } = await bothWays(records, encoding);
      expect(series).toEqual(alone);
      expect(JSON.parse(series[1] as string).data).toBe(encoding === 'string' ? '{"not":"parsed"}' : Buffer.from('{"not":"parsed"}').toString('base64'));
    }
  });

  it('is the same event when offsets have gaps or pass 2^53, and keys and headers start later (the series carries them by column)', async () => {
    const bare = { key: null, headers: {} };
    const gaps = [record(100, '1', bare), record(103, '2', bare), record(104, '3', { headers: { h: 'v' } }), record(110, '4', { headers: {} })];
    const huge = ['9007199254740991', '9007199254740992', '9007199254740993', '9223372036854775806'].map((offset, i) => record(i, String(i), { offset, timestamp: String(1_767_225_600_000 - i) }));
    const seen: string[][] = [];
    for (const records of [gaps, huge]) {
      const { alone, series } = await bothWays(records, 'json');
      expect(series).toEqual(alone);
      expect(series.map((e) => (JSON.parse(e) as { kafka: { offset: string } }).kafka.offset)).toEqual(records.map((r) => r.offset));
      seen.push(series);
    }
    expect(JSON.parse(seen[0]?.[2] as string)).toMatchObject({ kafka: { key: 'k-104', headers: { h: 'v' } } });
    expect(JSON.parse(seen[0]?.[3] as string)).toMatchObject({ kafka: { key: 'k-110', headers: {} } });
  });

  it('a batch event (batch mode) is the same built by the host alone or by the guest in a series of batches', async () => {
    const records = [
      record(20, '{"n":1}'),
      record(21, '"text"', { key: null, headers: {} }),
      record(22, null),
      record(24, '[1,2]', { timestamp: '1767225601000' }),
      record(25, '5', { headers: { h: 'v' } }),
    ];
    for (const encoding of ['json', 'string', 'bytes'] as const) {
      const batches = [records.slice(0, 2), records.slice(2, 4), records.slice(4)];
      const alone: string[] = [];
      for (const batch of batches) {
        const out = await rt.invoker.invoke(name, batchEvent(batch.map((r) => ({ record: r, value: (decodeValue(r, encoding) as { value: unknown }).value }))));
        expect(out.error).toBeUndefined();
        alone.push(...(await logged([out.invocationId])));
      }
      const inputs = batches.map((b) => batchSeriesInput(b, encoding));
      expect(inputs.every((x) => x?.batch !== undefined)).toBe(true);
      const before = new Set((await entries()).map((e) => e.invocationId));
      const out = await rt.invoker.invokeSeries(name, inputs as InvokeInput[]);
      expect(out).toMatchObject({ done: 3 });
      const series = (await entries()).filter((e) => !before.has(e.invocationId)).map((e) => e.message);
      expect(series).toEqual(alone);
      // The trigger's own series of batches: a run built from the records (sizes 2, 2, 1).
      const run = recordRun(records, 0, { max: 100, encoding, batchSize: 2 }, (from, count) => batchSeriesInput(records.slice(from, from + count), encoding) as InvokeInput);
      expect(run).toMatchObject({ length: 3, batches: [2, 2, 1] });
      expect(await inSeries(run, 3)).toEqual(alone);
      if (encoding === 'json') {
        expect(JSON.parse(series[1] as string)).toEqual({
          kafka: { topic: 'orders.v1', partition: 3, firstOffset: '22', lastOffset: '24', count: 2 },
          id: 'orders.v1/3/22-24',
          source: 'kafka://orders.v1/3',
          type: 'faas.kafka.batch',
          time: '2026-01-01T00:00:01.000Z',
          data: [
            { value: null, topic: 'orders.v1', partition: 3, offset: '22', key: 'k-22', headers: { 'x-trace': 't-22', 'faas-correlation-id': 'corr-1' }, timestamp: 1_767_225_600_022 },
            { value: [1, 2], topic: 'orders.v1', partition: 3, offset: '24', key: 'k-24', headers: { 'x-trace': 't-24', 'faas-correlation-id': 'corr-1' }, timestamp: 1_767_225_601_000 },
          ],
        });
      }
    }
  });

  it('a batch with a value that is not JSON fails in the guest before its handler (the single path dead-letters that record)', async () => {
    const inputs = [batchSeriesInput([record(30, '1'), record(31, '2')], 'json'), batchSeriesInput([record(32, '3'), record(33, '{not json')], 'json')] as InvokeInput[];
    const before = new Set((await entries()).map((e) => e.invocationId));
    const out = await rt.invoker.invokeSeries(name, inputs);
    expect(out).toMatchObject({ done: 1, failure: { code: 'FAAS_RECORD_UNDECODABLE' } });
    const handled = (await entries()).filter((e) => !before.has(e.invocationId) && e.message.startsWith('{"kafka"'));
    expect(handled.map((e) => (JSON.parse(e.message) as { id: string }).id)).toEqual(['orders.v1/3/30-31']); // the second batch's handler never ran
    expect(batchSeriesInput([record(40, '1', { timestamp: '9000000000000000' })], 'json')).toBeUndefined();
  });

  it('a run of records (or batches) ends before the first that does not decode (the single path takes it), and at its size', () => {
    const inputOf = (): InvokeInput => {
      throw new Error('no input is built for a run');
    };
    const notUtf8 = record(3, null, { value: Buffer.from([0x7b, 0xff, 0x7d]) });
    const noTime = record(3, '3', { timestamp: '9000000000000000' });
    expect(recordRun([record(1, '1'), record(2, '2'), noTime, record(4, '4')], 0, { max: 10, encoding: 'json' }, inputOf).length).toBe(2);
    expect(recordRun([record(1, '1'), record(2, '2'), notUtf8], 0, { max: 10, encoding: 'string' }, inputOf).length).toBe(2);
    expect(recordRun([record(1, '1'), notUtf8], 0, { max: 10, encoding: 'bytes' }, inputOf).length).toBe(2); // bytes take any value
    expect(recordRun([record(1, '1'), record(2, '2'), record(3, '3'), record(4, '4')], 1, { max: 2, encoding: 'json' }, inputOf)).toMatchObject({ length: 2, columns: { base: 2 }, textLengths: [1, 1] });
    // Not JSON under "json": decided in the guest, which fails that item before its handler.
    expect(recordRun([record(1, '1'), record(2, '{not json')], 0, { max: 10, encoding: 'json' }, inputOf).length).toBe(2);
    // Records that carry a correlation id or a parent invocation are the run's trace candidates.
    // Batches: a run ends before the batch with such a record, and at `max` records (its first batch always fits).
    const five = [1, 2, 3, 4, 5].map((n) => record(n, String(n)));
    expect(recordRun([...five.slice(0, 3), noTime, five[4] as LogRecord], 0, { max: 10, encoding: 'json', batchSize: 2 }, inputOf)).toMatchObject({ length: 1, batches: [2] });
    expect(recordRun(five, 0, { max: 4, encoding: 'json', batchSize: 2 }, inputOf)).toMatchObject({ length: 2, batches: [2, 2] });
    expect(recordRun(five, 0, { max: 1, encoding: 'json', batchSize: 3 }, inputOf)).toMatchObject({ length: 1, batches: [3] });
    expect(recordRun(five, 0, { max: 10, encoding: 'json', batchSize: 2 }, inputOf)).toMatchObject({ length: 3, batches: [2, 2, 1], correlation: {}, linked: [] });
    const linked = recordRun([record(1, '1', { headers: {} }), record(2, '2'), record(3, '3', { headers: { 'faas-source-invocation': 'p' } })], 0, { max: 10, encoding: 'json' }, inputOf);
    expect(linked).toMatchObject({ linked: [1, 2], correlation: { 1: 'corr-1' } });
  });

  it('a record without a valid timestamp is undecodable, not a crash', () => {
    expect(() => recordEvent(record(1, '1', { timestamp: 'x' }), 1)).toThrow(expect.objectContaining({ code: 'FAAS_RECORD_UNDECODABLE' }));
    expect(() => recordEvent(record(1, '1', { timestamp: '9000000000000000' }), 1)).toThrow(expect.objectContaining({ code: 'FAAS_RECORD_UNDECODABLE' }));
  });
});
