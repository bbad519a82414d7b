/**
 * Function registry in Redis: every node sees a deploy within milliseconds (pub/sub) and, should a
 * message be missed during a reconnect, within the resync interval (default 2 s).
 *
 * Keys (prefix `faas:`): `fn:<name>` hash {version, doc}; `fn:<name>:seq` version counter; `fns`
 * set of names; channel `registry`. A version is only ever replaced by a higher one (Lua), so two
 * racing deploys of one name settle on the later version everywhere.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { FaasError } from '../core/errors.ts';
import type { FunctionRegistry, FunctionVersion, RegistryChange } from '../scheduler/ports.ts';
import { waitReady } from './redis-connection.ts';

const PUT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], ARGV[4])
return 1`;

const DEL = `
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], cjson.encode({kind = 'deleted', name = ARGV[1], version = tonumber(v)}))
return 1`;

type Wire = { kind: 'deployed'; name: string; version: number } | { kind: 'deleted'; name: string; version: number };

export class RedisRegistry implements FunctionRegistry {
  readonly kind = 'redis' as const;
  private readonly cache = new Map<string, FunctionVersion>();
  private readonly events = new EventEmitter<{ change: [RegistryChange] }>();
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly resync: NodeJS.Timeout;
  private loaded: Promise<void> | undefined;

  constructor(redis: Redis, options: { prefix: string; resyncMs?: number }) {
    this.redis = redis;
    this.prefix = options.prefix;
    this.sub = redis.duplicate({ connectionName: 'faas-registry-sub' });
    this.sub.on('message', (_channel: string, message: string) => void this.onMessage(message));
    this.sub.on('ready', () => void this.sync().catch(() => undefined));
    this.sub.on('error', () => undefined); // reconnects by itself; resync covers the gap
    this.resync = setInterval(() => void this.sync().catch(() => undefined), options.resyncMs ?? 2000);
    this.resync.unref();
  }

  ready(): Promise<void> {
    this.loaded ??= (async () => {
      await Promise.all([waitReady(this.redis), waitReady(this.sub)]);
      await this.sub.subscribe(this.key('registry'));
      await this.sync();
    })();
    return this.loaded;
  }

  async put(fn: Omit<FunctionVersion, 'version' | 'deployedAt'>): Promise<FunctionVersion> {
    return this.guard(async () => {
      const version = await this.redis.incr(this.key(`fn:${fn.name}:seq`));
      const stored: FunctionVersion = Object.freeze({ ...fn, version, deployedAt: new Date().toISOString() });
      const wire: Wire = { kind: 'deployed', name: fn.name, version };
      await this.redis.eval(PUT, 3, this.key(`fn:${fn.name}`), this.key('fns'), this.key('registry'), String(version), JSON.stringify(stored), fn.name, JSON.stringify(wire));
      this.apply({ kind: 'deployed', fn: stored });
      return stored;
    });
  }

  async get(name: string): Promise<FunctionVersion | undefined> {
    return this.guard(async () => {
      const doc = await this.redis.hget(this.key(`fn:${name}`), 'doc');
      return doc === null ? undefined : (JSON.parse(doc) as FunctionVersion);
    });
  }

  cached(name: string): FunctionVersion | undefined {
    return this.cache.get(name);
  }

  async list(): Promise<FunctionVersion[]> {
    return this.guard(async () => {
      const names = await this.redis.smembers(this.key('fns'));
      if (names.length === 0) return [];
      const pipe = this.redis.pipeline();
      for (const n of names) pipe.hget(this.key(`fn:${n}`), 'doc');
      const docs = (await pipe.exec()) ?? [];
      return docs
        .map(([, doc]) => (typeof doc === 'string' ? (JSON.parse(doc) as FunctionVersion) : undefined))
        .filter((f): f is FunctionVersion => f !== undefined)
        .sort((a, b) => a.name.localeCompare(b.name));
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.guard(async () => {
      const prior = this.cache.get(name);
      const removed = (await this.redis.eval(DEL, 3, this.key(`fn:${name}`), this.key('fns'), this.key('registry'), name)) === 1;
      if (removed) this.apply({ kind: 'deleted', name, version: prior?.version ?? 0 });
      return removed;
    });
  }

  watch(listener: (change: RegistryChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close(): Promise<void> {
    clearInterval(this.resync);
    this.events.removeAllListeners();
    this.sub.disconnect();
  }

  /** Bring the cache in step with Redis: new and newer versions in, deleted ones out. */
  private async sync(): Promise<void> {
    const all = await this.list();
    const seen = new Set<string>();
    for (const fn of all) {
      seen.add(fn.name);
      this.apply({ kind: 'deployed', fn });
    }
    for (const [name, fn] of this.cache) if (!seen.has(name)) this.apply({ kind: 'deleted', name, version: fn.version });
  }

  private async onMessage(message: string): Promise<void> {
    const wire = JSON.parse(message) as Wire;
    const known = this.cache.get(wire.name);
    if (wire.kind === 'deleted') {
      if (known !== undefined && known.version <= wire.version) this.apply({ kind: 'deleted', name: wire.name, version: wire.version });
      return;
    }
    if (known !== undefined && known.version >= wire.version) return;
    const fn = await this.get(wire.name).catch(() => undefined);
    if (fn !== undefined) this.apply({ kind: 'deployed', fn });
  }

  /** Apply a change to the cache once, and tell listeners; stale or repeated changes are ignored. */
  private apply(change: RegistryChange): void {
    if (change.kind === 'deployed') {
      const known = this.cache.get(change.fn.name);
      if (known !== undefined && known.version >= change.fn.version) return;
      this.cache.set(change.fn.name, change.fn);
    } else {
      if (!this.cache.has(change.name)) return;
      this.cache.delete(change.name);
    }
    this.events.emit('change', change);
  }

  private key(k: string): string {
    return this.prefix + k;
  }

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof FaasError) throw err;
      throw new FaasError('FAAS_REGISTRY_UNAVAILABLE', `function registry (Redis) failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
