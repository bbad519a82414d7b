/**
 * In-memory function registry: the embedded default (one process). Same contract as the Redis
 * registry (state/redis-registry.ts); the registry conformance suite runs against both.
 */
import { EventEmitter } from 'node:events';
import type { FunctionRegistry, FunctionVersion, RegistryChange } from './ports.ts';

export class MemoryRegistry implements FunctionRegistry {
  readonly kind = 'memory' as const;
  private readonly fns = new Map<string, FunctionVersion>();
  private readonly versions = new Map<string, number>();
  private readonly events = new EventEmitter<{ change: [RegistryChange] }>();

  async put(fn: Omit<FunctionVersion, 'version' | 'deployedAt'>): Promise<FunctionVersion> {
    const version = (this.versions.get(fn.name) ?? 0) + 1;
    this.versions.set(fn.name, version);
    const stored: FunctionVersion = Object.freeze({ ...fn, version, deployedAt: new Date().toISOString() });
    this.fns.set(fn.name, stored);
    this.events.emit('change', { kind: 'deployed', fn: stored });
    return stored;
  }

  async get(name: string): Promise<FunctionVersion | undefined> {
    return this.fns.get(name);
  }

  cached(name: string): FunctionVersion | undefined {
    return this.fns.get(name);
  }

  async list(): Promise<FunctionVersion[]> {
    return [...this.fns.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(name: string): Promise<boolean> {
    const fn = this.fns.get(name);
    if (fn === undefined) return false;
    this.fns.delete(name);
    this.events.emit('change', { kind: 'deleted', name, version: fn.version });
    return true;
  }

  watch(listener: (change: RegistryChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async ready(): Promise<void> {}
  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}
