/**
 * StateStore in Redis. Keys: `<prefix>state:<namespace>:<key>`; a namespace is `fn:<function>` or
 * `shared:<store>`, and neither a function name nor a store name contains ':', so no key of one
 * namespace can spell another's.
 *
 * A write set is one Lua script: it first checks every write against the type each earlier write
 * leaves behind (Redis does not roll a script back when it fails halfway), then applies them all and
 * records the fence in the same atomic step. A script that meets its fence returns 0 and writes
 * nothing.
 */
import type { Redis } from 'ioredis';
import { FaasError } from '../core/errors.ts';
import type { StateFence, StateStore, StateWrite } from '../scheduler/state-store.ts';
import { checkKey, checkWrites } from '../scheduler/state-store.ts';

const APPLY = `
local ops = cjson.decode(ARGV[1])
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local virt = {}
local function kind(i)
  if virt[i] then return virt[i] end
  local t = redis.call('TYPE', KEYS[i]).ok
  local int = true
  if t == 'string' then int = string.match(redis.call('GET', KEYS[i]), '^%-?%d+$') ~= nil end
  return { t = t, int = int }
end
for n, o in ipairs(ops) do
  local k = kind(o.k)
  if o.op == 'set' then virt[o.k] = { t = 'string', int = string.match(o.v, '^%-?%d+$') ~= nil }
  elseif o.op == 'delete' then virt[o.k] = { t = 'none', int = true }
  elseif o.op == 'incr' then
    if k.t == 'hash' or (k.t == 'string' and not k.int) then return redis.error_reply('FAAS_STATE_TYPE ' .. n .. ' not an integer') end
    virt[o.k] = { t = 'string', int = true }
  else
    if k.t == 'string' then return redis.error_reply('FAAS_STATE_TYPE ' .. n .. ' not a hash') end
    virt[o.k] = { t = (o.op == 'hset' or k.t == 'hash') and 'hash' or 'none', int = false }
  end
end
for _, o in ipairs(ops) do
  local key = KEYS[o.k]
  if o.op == 'set' then
    if o.ttl then redis.call('SET', key, o.v, 'PX', o.ttl) else redis.call('SET', key, o.v) end
  elseif o.op == 'delete' then redis.call('DEL', key)
  elseif o.op == 'incr' then redis.call('INCRBY', key, o.by)
  elseif o.op == 'hset' then redis.call('HSET', key, o.f, o.v)
  else redis.call('HDEL', key, o.f) end
end
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], '1', 'PX', ARGV[2]) end
return 1`;

export class RedisStateStore implements StateStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, options: { prefix: string }) {
    this.redis = redis;
    this.prefix = options.prefix;
  }

  async get(ns: string, key: string): Promise<string | null> {
    checkKey(key);
    return this.guard(key, () => this.redis.get(this.key(ns, key)));
  }

  async hget(ns: string, key: string, field: string): Promise<string | null> {
    checkKey(key);
    return this.guard(key, () => this.redis.hget(this.key(ns, key), field));
  }

  async hgetall(ns: string, key: string): Promise<Record<string, string>> {
    checkKey(key);
    return this.guard(key, () => this.redis.hgetall(this.key(ns, key)));
  }

  async apply(ns: string, writes: StateWrite[], fence?: StateFence): Promise<boolean> {
    checkWrites(writes);
    const keys: string[] = [];
    const index = new Map<string, number>();
    const slot = (key: string) => {
      let i = index.get(key);
      if (i === undefined) {
        keys.push(key);
        i = keys.length + 1; // KEYS[1] is the fence
        index.set(key, i);
      }
      return i;
    };
    const ops = writes.map((w) => {
      const k = slot(this.key(w.ns ?? ns, w.key));
      switch (w.op) {
        case 'set':
          return { op: w.op, k, v: w.value, ...(w.ttlMs !== undefined ? { ttl: w.ttlMs } : {}) };
        case 'delete':
          return { op: w.op, k };
        case 'incr':
          return { op: w.op, k, by: w.by };
        case 'hset':
          return { op: w.op, k, f: w.field, v: w.value };
        case 'hdel':
          return { op: w.op, k, f: w.field };
      }
    });
    const fenceKey = fence === undefined ? '' : `${this.prefix}state-fence:${fence.key}`;
    const result = await this.guard(writes[0]?.key ?? '', () =>
      this.redis.eval(APPLY, keys.length + 1, fenceKey, ...keys, JSON.stringify(ops), String(fence?.ttlMs ?? 0)),
    );
    return result === 1;
  }

  async close(): Promise<void> {}

  private key(ns: string, key: string): string {
    return `${this.prefix}state:${ns}:${key}`;
  }

  private async guard<T>(key: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const message = (err as Error).message;
      if (/^FAAS_STATE_TYPE/.test(message) || /WRONGTYPE/.test(message)) {
        throw new FaasError('FAAS_STATE_INVALID', `state key "${key}": ${message.replace(/^FAAS_STATE_TYPE \d+ /, '').replace(/^WRONGTYPE /, '')}`);
      }
      throw new FaasError('FAAS_STATE_UNAVAILABLE', `state store (Redis) failed: ${message}`, { cause: err });
    }
  }
}
