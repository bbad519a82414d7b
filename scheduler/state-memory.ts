/** In-memory StateStore: the embedded default (one process). Same rules as state/redis-state.ts. */
import { FaasError } from '../core/errors.ts';
import type { StateFence, StateStore, StateWrite } from './state-store.ts';
import { checkKey, checkWrites } from './state-store.ts';

type Entry = { kind: 'string'; value: string; expiresAt?: number } | { kind: 'hash'; fields: Map<string, string> };

const INTEGER = /^-?\d+$/;

export class MemoryStateStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly data = new Map<string, Entry>();
  private readonly fences = new Map<string, number>();

  async get(ns: string, key: string): Promise<string | null> {
    checkKey(key);
    const e = this.entry(ns, key);
    if (e === undefined) return null;
    if (e.kind !== 'string') throw typeError(key, 'a hash (use hget/hgetall)');
    return e.value;
  }

  async hget(ns: string, key: string, field: string): Promise<string | null> {
    checkKey(key);
    const e = this.entry(ns, key);
    if (e === undefined) return null;
    if (e.kind !== 'hash') throw typeError(key, 'not a hash');
    return e.fields.get(field) ?? null;
  }

  async hgetall(ns: string, key: string): Promise<Record<string, string>> {
    checkKey(key);
    const e = this.entry(ns, key);
    if (e === undefined) return {};
    if (e.kind !== 'hash') throw typeError(key, 'not a hash');
    return Object.fromEntries(e.fields);
  }

  async apply(ns: string, writes: StateWrite[], fence?: StateFence): Promise<boolean> {
    checkWrites(writes);
    const now = Date.now();
    if (fence !== undefined && (this.fences.get(fence.key) ?? 0) > now) return false;
    // Validate the whole set against what each write leaves behind, then apply: all or nothing.
    const virtual = new Map<string, { kind: 'none' | 'string' | 'hash'; integer: boolean }>();
    const kindOf = (w: StateWrite) => {
      const v = virtual.get(`${w.ns ?? ns}:${w.key}`);
      if (v !== undefined) return v;
      const e = this.entry(w.ns ?? ns, w.key);
      return e === undefined ? { kind: 'none' as const, integer: true } : e.kind === 'string' ? { kind: 'string' as const, integer: INTEGER.test(e.value) } : { kind: 'hash' as const, integer: false };
    };
    for (const w of writes) {
      const k = kindOf(w);
      const vk = `${w.ns ?? ns}:${w.key}`;
      switch (w.op) {
        case 'set':
          virtual.set(vk, { kind: 'string', integer: INTEGER.test(w.value) });
          break;
        case 'delete':
          virtual.set(vk, { kind: 'none', integer: true });
          break;
        case 'incr':
          if (k.kind === 'hash' || (k.kind === 'string' && !k.integer)) throw typeError(w.key, 'not an integer');
          virtual.set(vk, { kind: 'string', integer: true });
          break;
        case 'hset':
        case 'hdel':
          if (k.kind === 'string') throw typeError(w.key, 'not a hash');
          virtual.set(vk, { kind: w.op === 'hset' || k.kind === 'hash' ? 'hash' : 'none', integer: false });
          break;
      }
    }
    for (const w of writes) {
      const id = `${w.ns ?? ns}:${w.key}`;
      const e = this.entry(w.ns ?? ns, w.key);
      switch (w.op) {
        case 'set':
          this.data.set(id, { kind: 'string', value: w.value, ...(w.ttlMs !== undefined ? { expiresAt: now + w.ttlMs } : {}) });
          break;
        case 'delete':
          this.data.delete(id);
          break;
        case 'incr': {
          const current = e?.kind === 'string' ? Number(e.value) : 0;
          this.data.set(id, { kind: 'string', value: String(current + w.by), ...(e?.kind === 'string' && e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}) });
          break;
        }
        case 'hset': {
          const h = e?.kind === 'hash' ? e : { kind: 'hash' as const, fields: new Map<string, string>() };
          h.fields.set(w.field, w.value);
          this.data.set(id, h);
          break;
        }
        case 'hdel':
          if (e?.kind === 'hash') {
            e.fields.delete(w.field);
            if (e.fields.size === 0) this.data.delete(id);
          }
          break;
      }
    }
    if (fence !== undefined) this.fences.set(fence.key, now + fence.ttlMs);
    return true;
  }

  async close(): Promise<void> {}

  private entry(ns: string, key: string): Entry | undefined {
    const id = `${ns}:${key}`;
    const e = this.data.get(id);
    if (e?.kind === 'string' && e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.data.delete(id);
      return undefined;
    }
    return e;
  }
}

function typeError(key: string, what: string): FaasError {
  return new FaasError('FAAS_STATE_INVALID', `state key "${key}" is ${what}`);
}
