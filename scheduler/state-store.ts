/**
 * The state port: keyed state of functions, outside the sandbox (functions are short-lived).
 *
 * - Every read and write names a namespace the runtime chose (`fn:<function>` or `shared:<store>`),
 *   never one a handler typed: a key is data inside its namespace, so no key can reach another
 *   function's state whatever it contains (dots, slashes, `*`, `:` or odd encodings).
 * - Writes of one invocation are applied together, atomically, at its end (`apply`). With a fence
 *   (e.g. group/topic/partition/offset of the record that triggered it), a write set is applied at
 *   most once: a redelivered record's writes are skipped. That is effectively-once state.
 * Implemented by scheduler/state-memory.ts (one process) and state/redis-state.ts (a cluster);
 * test/integration/state-store.test.ts runs one conformance suite against both.
 */
import { FaasError } from '../core/errors.ts';

/** Values are JSON text; a write's value is what JSON.stringify gave in the guest. */
export type StateWrite = (
  | { op: 'set'; key: string; value: string; ttlMs?: number }
  | { op: 'delete'; key: string }
  | { op: 'incr'; key: string; by: number }
  | { op: 'hset'; key: string; field: string; value: string }
  | { op: 'hdel'; key: string; field: string }
) & {
  /** Another namespace than apply's (a shared store the function was granted), same atomic step. */
  ns?: string;
};

export interface StateFence {
  /** Unique per input, e.g. `group/topic/partition/offset`. */
  key: string;
  /** How long the fence is remembered (longer than any redelivery). */
  ttlMs: number;
}

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  get(ns: string, key: string): Promise<string | null>;
  hget(ns: string, key: string, field: string): Promise<string | null>;
  hgetall(ns: string, key: string): Promise<Record<string, string>>;
  /**
   * Apply `writes` in order, all or nothing. With `fence`, only when the fence is new (it is
   * recorded in the same atomic step); resolves false when it was already there (nothing written).
   */
  apply(ns: string, writes: StateWrite[], fence?: StateFence): Promise<boolean>;
  close(): Promise<void>;
}

/** Limits applied before anything reaches a store. */
export const STATE_LIMITS = {
  keyBytes: 512,
  fieldBytes: 512,
  valueBytes: 256 * 1024,
  writesPerInvocation: 1000,
} as const;

export function functionNamespace(fn: string): string {
  return `fn:${fn}`;
}

const STORE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

export function sharedNamespace(store: string): string {
  // Like function names, store names never contain ':' (namespaces must not spell one another).
  if (!STORE_NAME.test(store)) throw new FaasError('FAAS_STATE_INVALID', `shared store names are lower-case letters, digits and dashes, got "${store}"`);
  return `shared:${store}`;
}

/** Refuses keys, fields and values that break the limits (FAAS_STATE_INVALID names which). */
export function checkWrites(writes: readonly StateWrite[]): void {
  if (writes.length > STATE_LIMITS.writesPerInvocation) {
    throw new FaasError('FAAS_STATE_INVALID', `at most ${STATE_LIMITS.writesPerInvocation} state writes per invocation (got ${writes.length})`);
  }
  for (const w of writes) {
    checkKey(w.key);
    if (w.op === 'hset' || w.op === 'hdel') checkPart('field', w.field, STATE_LIMITS.fieldBytes);
    if (w.op === 'set' || w.op === 'hset') {
      if (Buffer.byteLength(w.value) > STATE_LIMITS.valueBytes) {
        throw new FaasError('FAAS_STATE_INVALID', `state value of "${w.key}" is ${Buffer.byteLength(w.value)} bytes; the limit is ${STATE_LIMITS.valueBytes}`);
      }
    }
    if (w.op === 'incr' && !Number.isSafeInteger(w.by)) throw new FaasError('FAAS_STATE_INVALID', `incr of "${w.key}" needs a safe integer, got ${w.by}`);
    if (w.op === 'set' && w.ttlMs !== undefined && (!Number.isSafeInteger(w.ttlMs) || w.ttlMs < 1)) {
      throw new FaasError('FAAS_STATE_INVALID', `ttl of "${w.key}" must be a positive whole number of ms`);
    }
  }
}

export function checkKey(key: string): void {
  checkPart('key', key, STATE_LIMITS.keyBytes);
}

function checkPart(what: string, s: unknown, max: number): void {
  if (typeof s !== 'string' || s.length === 0) throw new FaasError('FAAS_STATE_INVALID', `state ${what} must be a non-empty string`);
  if (Buffer.byteLength(s) > max) throw new FaasError('FAAS_STATE_INVALID', `state ${what} is longer than ${max} bytes`);
  if (!s.isWellFormed()) throw new FaasError('FAAS_STATE_INVALID', `state ${what} is not well-formed Unicode`);
}
