/**
 * The compiled code a sandbox process keeps per function version (sandbox/isolate-instance.ts uses
 * it for every isolate it makes). V8 code caches, by digest.
 */
import type ivm from 'isolated-vm';

/**
 * Compiled code per function version (by digest), shared by all isolates of one process. The first
 * cold start of a digest compiles without producing a cache (producing costs more than it saves
 * once); the second produces it; later ones consume it. Once a version has a cache, the next
 * invocation of it that settles synchronously produces it again from that isolate
 * (IsolateInstance.recacheCode), with the functions the invocation compiled. It also keeps what the process learnt of a version's
 * invocations: whether they run past SYNC_SLICE_MS synchronously (markSlow).
 */
export class CodeCache {
  private readonly entries = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
  private readonly seen = new Set<string>();
  private readonly slow = new Set<string>();
  private readonly ran = new Set<string>();
  /** Options for compiling `digest` now, per the policy above. */
  compileOptions(digest: string): ivm.CachedDataOptions {
    const data = this.entries.get(digest);
    if (data) return { cachedData: data };
    if (this.seen.has(digest)) return { produceCachedData: true };
    this.seen.add(digest);
    return {};
  }
  store(digest: string, data: ivm.ExternalCopy<ArrayBuffer> | undefined): void {
    if (data && !this.entries.has(digest)) this.entries.set(digest, data);
  }
  /**
   * Replaces `digest`'s entry with a cache produced after the code ran (IsolateInstance.recacheCode),
   * which holds the functions its runs compiled, not only the top level.
   */
  replace(digest: string, data: ivm.ExternalCopy<ArrayBuffer> | undefined): void {
    if (data === undefined) return;
    this.entries.get(digest)?.release();
    this.entries.set(digest, data);
    this.seen.add(digest);
    this.ran.add(digest);
  }
  /** A cache of `digest` is kept (its version was compiled at least twice here, or primed). */
  has(digest: string): boolean {
    return this.entries.has(digest);
  }
  /** `digest`'s entry was produced after its code ran (replace). */
  hasRunCache(digest: string): boolean {
    return this.ran.has(digest);
  }
  delete(digest: string): void {
    this.entries.get(digest)?.release();
    this.entries.delete(digest);
    this.seen.delete(digest);
    this.slow.delete(digest);
    this.ran.delete(digest);
  }
  /** `digest` ran past SYNC_SLICE_MS synchronously: its invocations skip the sync-first path in this process. */
  markSlow(digest: string): void {
    this.slow.add(digest);
  }
  isSlow(digest: string): boolean {
    return this.slow.has(digest);
  }
  get size(): number {
    return this.entries.size;
  }
  /** Bytes of `digest`'s cached code (0 when none). */
  byteLength(digest: string): number {
    return this.entries.get(digest)?.copy().byteLength ?? 0;
  }
}
