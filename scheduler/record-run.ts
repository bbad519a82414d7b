/**
 * A series of one partition's records (or batches of them) as the topic trigger hands it to the
 * invoker: no event object per record, only what the sandbox gets and the inputs on demand.
 */
import type { InvokeInput } from './invoker.ts';
import type { RecordColumns } from './record-columns.ts';

/**
 * A series of one partition's records, built from the records themselves (recordRun in
 * triggers/topic-records.ts) rather than from an InvokeInput per record: the columns and JSON texts
 * the sandbox gets, and the items' inputs on demand (for the few items that open a scope, emit, or
 * belong in a trace).
 */
export interface RecordRun {
  readonly length: number;
  readonly at: { topic: string; partition: number };
  readonly columns: RecordColumns;
  /** The items' JSON-text data, one after the other; per item its length, or -1 (SeriesPayload). */
  readonly texts: string;
  readonly textLengths: number[];
  /** Correlation ids carried by the records (header faas-correlation-id), by item. */
  readonly correlation: Record<number, string>;
  /** Items that carry a correlation id or a parent invocation (header faas-source-invocation), ascending. */
  readonly linked: readonly number[];
  /** Set: the items are batches (batch mode) of this many records each; columns and textLengths go by record. */
  readonly batches?: number[];
  /** Item i's input, as the single path builds it. */
  input(i: number): InvokeInput;
}
