/**
 * Invocation scopes: what a running invocation has asked of the runtime (ctx.state), kept on the
 * host until the invocation ends.
 *
 * - Writes are buffered per invocation and applied together, atomically, only if the invocation
 *   succeeds (a failed or timed-out invocation leaves no partial state). With a fence (topic records:
 *   group/topic/partition/offset), a redelivered record's writes are skipped: effectively-once state.
 * - Reads see the invocation's own writes first (read-your-writes), then the store.
 * - A call is trusted only for the function its sandbox instance runs (`call.fn`, set by the
 *   runner), and only for an invocation of that function that is still running.
 */
import { FaasError, toFaasError } from '../core/errors.ts';
import type { RuntimeCall, RuntimeCallHandler } from './ports.ts';
import { checkWrites, functionNamespace, sharedNamespace, STATE_LIMITS, type StateStore, type StateWrite } from './state-store.ts';

type Overlay = { kind: 'string'; value: string | null } | { kind: 'hash'; fields: Map<string, string | null> };

/** A record emitted by an invocation, published only if it succeeds. */
export interface EmittedRecord {
  topic: string;
  key: string | null;
  /** JSON text. */
  value: string;
  headers: Record<string, string>;
}

/** Who is running: what direct calls (ctx.invoke) and the hop trace need to know. */
export interface CallContext {
  invocationId: string;
  correlationId: string;
  /** Function names on the direct-call path, from the first caller down to this function. */
  chain: readonly string[];
  /** Epoch ms: the invocation's wall-clock deadline. */
  deadline: number;
  /** The input's fence (topic records, async calls): callees' fences derive from it. */
  fence?: string;
  /** Shared stores the function's manifest grants (`state.shared`). */
  sharedStores?: readonly string[];
}

/** The scopes of a series' items (InvocationScopes.openLazy): only those that made a runtime call. */
export interface LazyScopes {
  get(item: number): Scope | undefined;
  /** [item, scope] of the items that opened one, in item order. */
  opened(): [number, Scope][];
  close(): void;
}

/** A runtime call answered outside this module (ctx.invoke, ctx.invokeAsync): JSON text back. */
export type ScopeOp = (scope: Scope, args: unknown[]) => Promise<string>;

export interface Scope {
  fn: string;
  ns: string;
  ctx: CallContext;
  /** Direct calls made so far (numbers each call, for derived fences). */
  calls: number;
  writes: StateWrite[];
  overlay: Map<string, Overlay>;
  /** ctx.emit's outbox. */
  emits: EmittedRecord[];
  /**
   * The first runtime call that failed because a dependency did not answer (an outage error): if
   * the invocation then fails, its failure is put down to that (Invoker), not to the handler.
   */
  outage?: FaasError;
}

export const EMIT_LIMITS = { perInvocation: 1000, valueBytes: 1024 * 1024, keyBytes: 10_000, headers: 100 } as const;
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** Fences are remembered this long (longer than any redelivery of a record). */
export const FENCE_TTL_MS = 7 * 24 * 3600 * 1000;

export class InvocationScopes {
  private readonly scopes = new Map<string, Scope>();
  /** Series whose items' scopes open on their first runtime call (openLazy), by series id. */
  private readonly lazy = new Map<string, { fn: string; count: number; open(item: number): Scope }>();
  private readonly store: StateStore;
  private readonly ops = new Map<string, ScopeOp>();

  constructor(store: StateStore) {
    this.store = store;
  }

  /** Answer runtime call `op` with `handler` (how direct calls plug in without a cycle of imports). */
  extend(op: string, handler: ScopeOp): void {
    this.ops.set(op, handler);
  }

  open(fn: string, ctx: CallContext): Scope {
    const scope: Scope = { fn, ns: functionNamespace(fn), ctx, calls: 0, writes: [], overlay: new Map(), emits: [] };
    this.scopes.set(ctx.invocationId, scope);
    return scope;
  }

  close(invocationId: string): void {
    this.scopes.delete(invocationId);
  }

  /**
   * Scopes for the items of a series, whose invocation ids are `${seriesId}.${item}`: each opens on
   * the item's first runtime call, so an item that makes none (most record handlers) costs no scope
   * and no call context. `close` ends them all.
   */
  openLazy(fn: string, seriesId: string, count: number, ctxOf: (item: number) => CallContext): LazyScopes {
    const opened = new Map<number, Scope>();
    this.lazy.set(seriesId, {
      fn,
      count,
      open: (item) => {
        const scope = this.open(fn, ctxOf(item));
        opened.set(item, scope);
        return scope;
      },
    });
    return {
      get: (item) => opened.get(item),
      opened: () => [...opened].sort((a, b) => a[0] - b[0]),
      close: () => {
        this.lazy.delete(seriesId);
        for (const scope of opened.values()) this.scopes.delete(scope.ctx.invocationId);
      },
    };
  }

  /** Apply the scope's writes (fenced when `fence` is given); a fence already there means done. */
  async commit(scope: Scope, fence?: string): Promise<void> {
    if (scope.writes.length === 0) return;
    await this.store.apply(scope.ns, scope.writes, fence === undefined ? undefined : { key: `${scope.ns}/${fence}`, ttlMs: FENCE_TTL_MS });
  }

  readonly handle: RuntimeCallHandler = async (call) => {
    try {
      return { ok: true, payload: await this.dispatch(call) };
    } catch (err) {
      const error = toFaasError(err);
      if (error.outage) {
        const scope = this.scopes.get(call.invocationId);
        if (scope !== undefined) scope.outage ??= error;
      }
      return { ok: false, payload: JSON.stringify(error.toData()) };
    }
  };

  /** The scope of a series item making its first runtime call (openLazy), for its own function only. */
  private openPending(call: RuntimeCall): Scope | undefined {
    const dot = call.invocationId.lastIndexOf('.');
    const series = dot < 0 ? undefined : this.lazy.get(call.invocationId.slice(0, dot));
    if (series === undefined || series.fn !== call.fn) return undefined;
    const text = call.invocationId.slice(dot + 1);
    const item = Number(text);
    // Only the series' own items, written as the invoker writes them, get a scope.
    if (!Number.isInteger(item) || item < 0 || item >= series.count || String(item) !== text) return undefined;
    return series.open(item);
  }

  private async dispatch(call: RuntimeCall): Promise<string> {
    const scope = this.scopes.get(call.invocationId) ?? this.openPending(call);
    if (scope === undefined || scope.fn !== call.fn) {
      throw new FaasError('FAAS_STATE_INVALID', 'runtime calls are only answered while the invocation that makes them runs');
    }
    const args = JSON.parse(call.args) as unknown[];
    const extension = this.ops.get(call.op);
    if (extension !== undefined) return extension(scope, args);
    const str = (i: number) => {
      const v = args[i];
      if (typeof v !== 'string') throw new FaasError('FAAS_STATE_INVALID', `${call.op}: argument ${i + 1} must be a string`);
      return v;
    };
    if (call.op === 'emit') return this.emit(scope, args);
    // State calls: the first argument selects the store (null: the function's own).
    const ns = this.namespace(scope, args.shift());
    const key = str(0);
    const slot = `${ns}\u0000${key}`;
    const own = ns === scope.ns ? {} : { ns };
    switch (call.op) {
      case 'state.get': {
        const o = scope.overlay.get(slot);
        if (o?.kind === 'string') return o.value ?? 'null';
        return (await this.store.get(ns, key)) ?? 'null';
      }
      case 'state.set': {
        const ttl = args[2];
        this.write(scope, { op: 'set', key, value: str(1), ...(typeof ttl === 'number' ? { ttlMs: ttl } : {}), ...own });
        scope.overlay.set(slot, { kind: 'string', value: str(1) });
        return 'null';
      }
      case 'state.delete':
        this.write(scope, { op: 'delete', key, ...own });
        scope.overlay.set(slot, { kind: 'string', value: null });
        return 'null';
      case 'state.incr': {
        const by = args[1];
        if (typeof by !== 'number') throw new FaasError('FAAS_STATE_INVALID', 'incr/decr: the amount must be a number');
        const o = scope.overlay.get(slot);
        const text = o?.kind === 'string' ? o.value : await this.store.get(ns, key);
        if (text !== null && !/^-?\d+$/.test(text)) throw new FaasError('FAAS_STATE_INVALID', `state key "${key}" is not an integer`);
        this.write(scope, { op: 'incr', key, by, ...own });
        const next = String(Number(text ?? '0') + by);
        scope.overlay.set(slot, { kind: 'string', value: next });
        return next;
      }
      case 'state.hget': {
        const field = str(1);
        const o = scope.overlay.get(slot);
        if (o?.kind === 'hash' && o.fields.has(field)) return o.fields.get(field) ?? 'null';
        return (await this.store.hget(ns, key, field)) ?? 'null';
      }
      case 'state.hset':
      case 'state.hdel': {
        const field = str(1);
        if (call.op === 'state.hset') this.write(scope, { op: 'hset', key, field, value: str(2), ...own });
        else this.write(scope, { op: 'hdel', key, field, ...own });
        let o = scope.overlay.get(slot);
        if (o?.kind !== 'hash') scope.overlay.set(slot, (o = { kind: 'hash', fields: new Map() }));
        o.fields.set(field, call.op === 'state.hset' ? str(2) : null);
        return 'null';
      }
      case 'state.hgetall': {
        const stored = await this.store.hgetall(ns, key);
        const o = scope.overlay.get(slot);
        const merged = new Map(Object.entries(stored));
        if (o?.kind === 'hash') for (const [f, v] of o.fields) if (v === null) merged.delete(f); else merged.set(f, v);
        return `{${[...merged].map(([f, v]) => `${JSON.stringify(f)}:${v}`).join(',')}}`;
      }
      default:
        throw new FaasError('FAAS_STATE_INVALID', `unknown runtime call "${call.op}"`);
    }
  }

  /** The namespace a state call names: the function's own, or a shared store its manifest grants. */
  private namespace(scope: Scope, store: unknown): string {
    if (store === null || store === undefined) return scope.ns;
    if (typeof store !== 'string' || !(scope.ctx.sharedStores ?? []).includes(store)) {
      throw new FaasError('FAAS_STATE_FORBIDDEN', `function "${scope.fn}" has no grant for the shared store ${JSON.stringify(store)} (list it in the manifest's state.shared)`);
    }
    return sharedNamespace(store);
  }

  private emit(scope: Scope, args: unknown[]): string {
    const [topic, value, key, headers] = args;
    const bad = (why: string) => new FaasError('FAAS_EMIT_INVALID', `ctx.emit: ${why}`);
    if (typeof topic !== 'string' || !TOPIC.test(topic)) throw bad(`"${String(topic)}" is not a topic name (letters, digits, ".", "_", "-"; at most 249)`);
    if (typeof value !== 'string') throw bad('the value must be a JSON value');
    if (Buffer.byteLength(value) > EMIT_LIMITS.valueBytes) throw bad(`the value is over ${EMIT_LIMITS.valueBytes} bytes`);
    if (key !== null && (typeof key !== 'string' || Buffer.byteLength(key) > EMIT_LIMITS.keyBytes)) throw bad(`the key must be a string of at most ${EMIT_LIMITS.keyBytes} bytes`);
    const h = headers ?? {};
    if (typeof h !== 'object' || Array.isArray(h) || Object.values(h).some((v) => typeof v !== 'string') || Object.keys(h).length > EMIT_LIMITS.headers) {
      throw bad(`headers must be an object of at most ${EMIT_LIMITS.headers} string values`);
    }
    if (Object.keys(h).some((k) => k.startsWith('faas-'))) throw bad('headers starting with "faas-" are the runtime\'s');
    if (scope.emits.length >= EMIT_LIMITS.perInvocation) throw bad(`at most ${EMIT_LIMITS.perInvocation} records per invocation`);
    scope.emits.push({ topic, key, value, headers: h as Record<string, string> });
    return 'null';
  }

  private write(scope: Scope, w: StateWrite): void {
    checkWrites([w]);
    if (scope.writes.length >= STATE_LIMITS.writesPerInvocation) {
      throw new FaasError('FAAS_STATE_INVALID', `at most ${STATE_LIMITS.writesPerInvocation} state writes per invocation`);
    }
    scope.writes.push(w);
  }
}
