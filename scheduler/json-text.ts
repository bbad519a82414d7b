/**
 * An event payload still in its encoded form: JSON text the sandbox parses (guest-side, on the
 * sandbox's core) instead of the host parsing it and encoding it again. Topic records in a series
 * carry their values this way: the host never decodes a record it only forwards.
 *
 * JSON.stringify writes it as a JSON string (toJSON), and the series transport marks the item so
 * the guest parses `data`. Text that does not parse fails its own item with
 * FAAS_RECORD_UNDECODABLE, before the handler is called; nothing is spliced into the envelope, so a
 * value cannot add or override event attributes.
 */
import { FaasError } from '../core/errors.ts';

export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  toJSON(): string {
    return this.text;
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
