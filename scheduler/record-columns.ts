/**
 * One partition's records in a series as RecordColumns: what the guest needs to build each
 * record's event, relative or sparse where most series allow it. The inverse is recordEvent in
 * sandbox/guest/bootstrap.ts; test/integration/record-event.test.ts pins that the events it builds
 * equal the host's.
 */
import type { KafkaInfo } from '../sdk/index.ts';

/**
 * One partition's records in a series, by column, for the guest to build their events
 * (recordEvent in sandbox/guest/bootstrap.ts). Most series are contiguous offsets, close
 * timestamps and no keys or headers, so most columns are relative or sparse: parsing a row per
 * record ([offset, key, headers, timestamp, data]) took a third of a trivial handler's series.
 */
export interface RecordColumns {
  /** Item i's offset: `String(base + i)`, `String(base + steps[i])`, or, past 2^53, `strings[i]`. */
  base: number;
  steps: number[] | null;
  strings?: string[];
  /** Item i's timestamp: `time + times[i]`, or `time` for all when times is null. */
  time: number;
  times: number[] | null;
  /** Item i's key; null when no item has one. */
  keys: (string | null)[] | null;
  /** The headers of the items that have any, by item (the others get `{}`). */
  headers: Record<number, Record<string, string>>;
  /** The data of the items whose data is neither in `texts` nor null, by item. */
  data: Record<number, unknown>;
}

/** RecordColumns one record at a time, in order. */
export class ColumnsBuilder {
  private n = 0;
  private base = 0;
  private time = 0;
  private steps: number[] | null = null;
  private strings: string[] | undefined;
  private times: number[] | null = null;
  private keys: (string | null)[] | null = null;
  private readonly headers: Record<number, Record<string, string>> = {};
  private readonly data: Record<number, unknown> = {};

  get length(): number {
    return this.n;
  }

  /** `data`: the record's data when it travels in the columns (not as JSON text), else null. */
  add(offset: string, timestamp: number, key: string | null, headers: Record<string, string>, data: unknown): void {
    const i = this.n++;
    if (i === 0) {
      this.base = Number(offset);
      this.time = timestamp;
    }
    if (this.strings !== undefined) this.strings.push(offset);
    else {
      const value = Number(offset);
      if (!Number.isSafeInteger(value)) {
        this.strings = Array.from({ length: i }, (_, j) => this.offsetOf(j));
        this.strings.push(offset);
        this.steps = null;
      } else if (this.steps !== null) this.steps.push(value - this.base);
      else if (value !== this.base + i) this.steps = [...Array.from({ length: i }, (_, j) => j), value - this.base];
    }
    if (this.times !== null) this.times.push(timestamp - this.time);
    else if (timestamp !== this.time) this.times = [...new Array<number>(i).fill(0), timestamp - this.time];
    if (this.keys !== null) this.keys.push(key);
    else if (key !== null) this.keys = [...new Array<null>(i).fill(null), key];
    for (const _ in headers) {
      this.headers[i] = headers;
      break;
    }
    if (data !== null && data !== undefined) this.data[i] = data;
  }

  build(): RecordColumns {
    const { base, steps, strings, time, times, keys, headers, data } = this;
    return { base, steps, ...(strings !== undefined ? { strings } : {}), time, times, keys, headers, data };
  }

  /** Item j's offset while all offsets so far are safe integers. */
  private offsetOf(j: number): string {
    return String(this.base + (this.steps === null ? j : (this.steps[j] as number)));
  }
}

/** `data[i]`: item i's data when it travels here (not as JSON text in the series' `texts`), else null. */
export function recordColumns(records: readonly KafkaInfo[], data: readonly unknown[]): RecordColumns {
  const b = new ColumnsBuilder();
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as KafkaInfo;
    b.add(r.offset, r.timestamp, r.key, r.headers, data[i]);
  }
  return b.build();
}
