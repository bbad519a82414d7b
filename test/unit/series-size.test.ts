/**
 * How many records of a partition go to the sandbox in one series (triggers/partition-processor.ts):
 * as many as fit the series time budget at the handler's observed pace, growing at most twofold per
 * series, never more than the maximum, never fewer than one.
 */
import { describe, expect, it } from 'vitest';
import { nextSeriesSize, SERIES_MAX } from '../../triggers/partition-processor.ts';

/** [records that ran, the series' duration]. */
const ran = (n: number, msEach: number): [number, number] => [n, n * msEach];

describe('nextSeriesSize', () => {
  it('stays at the maximum while records are fast', () => {
    expect(nextSeriesSize(SERIES_MAX, ...ran(SERIES_MAX, 0.01))).toBe(SERIES_MAX);
  });

  it('shrinks at once to what fits the budget when records are slow', () => {
    expect(nextSeriesSize(256, ...ran(256, 10))).toBe(25); // 250 ms budget / 10 ms
    expect(nextSeriesSize(25, ...ran(25, 1000))).toBe(1); // slower than the budget: one at a time
  });

  it('grows back at most twofold per series once records are fast again', () => {
    expect(nextSeriesSize(25, ...ran(25, 0.01))).toBe(50);
    expect(nextSeriesSize(SERIES_MAX - 100, ...ran(SERIES_MAX - 100, 0.01))).toBe(SERIES_MAX);
  });

  it('keeps the size when nothing was timed', () => {
    expect(nextSeriesSize(64, ...ran(3, 0))).toBe(128);
    expect(nextSeriesSize(64, 0, 0)).toBe(128);
  });
});
