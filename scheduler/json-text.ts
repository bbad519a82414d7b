/**
 * An event payload still in its encoded form: JSON text the sandbox parses (guest-side, on the
 * sandbox's core) instead of the host parsing it and encoding it again. Topic records in a series
 * carry their values this way: the host never decodes a record it only forwards.
 *
 * A series sends the texts of its items side by side in one string, apart from the events, and
 * the guest cuts and parses each once (SeriesSpec.texts). Text that does not parse fails its own
 * item with FAAS_RECORD_UNDECODABLE, before the handler is called; nothing is spliced into the
 * events, so a value cannot add or override event attributes.
 */
import { FaasError } from '../core/errors.ts';

export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  /** The value, decoded on the host (the single-invocation path). */
  parse(): unknown {
    try {
      return JSON.parse(this.text) as unknown;
    } catch (err) {
      throw new FaasError('FAAS_RECORD_UNDECODABLE', `the value is not valid JSON: ${(err as Error).message}`);
    }
  }
}
