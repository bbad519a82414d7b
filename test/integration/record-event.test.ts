/**
 * A topic record's event is built in two places: on the host for a single invocation (the
 * invoker's attributes(), used when a record is retried or runs alone) and in the guest for a
 * series of one partition's records (recordEvent in sandbox/guest/bootstrap.ts, so the host only
 * forwards the record). The handler must not be able to tell them apart: same attributes, same
 * values, same key order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { LogRecord } from '../../scheduler/event-log.ts';
import { decodeValue, decodeValueDeferred, recordEvent, type Encoding } from '../../triggers/topic-records.ts';
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
  const before = new Set((await entries()).map((e) => e.invocationId));
  const out = await rt.invoker.invokeSeries(name, inputs);
  expect(out).toMatchObject({ done: records.length });
  const series = (await entries()).filter((e) => !before.has(e.invocationId));
  expect(new Set(series.map((e) => e.invocationId)).size).toBe(records.length); // one invocation each
  return { alone, series: series.map((e) => e.message) };
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

  it('a record without a valid timestamp is undecodable, not a crash', () => {
    expect(() => recordEvent(record(1, '1', { timestamp: 'x' }), 1)).toThrow(expect.objectContaining({ code: 'FAAS_RECORD_UNDECODABLE' }));
    expect(() => recordEvent(record(1, '1', { timestamp: '9000000000000000' }), 1)).toThrow(expect.objectContaining({ code: 'FAAS_RECORD_UNDECODABLE' }));
  });
});
