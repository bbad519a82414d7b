/**
 * A sandbox process: hosts isolates for the runtime, which supervises it over IPC. If V8 aborts or
 * the process runs out of memory, only this process dies: the host fails its in-flight invocations
 * with a retriable error and starts a replacement. Started with --no-node-snapshot (isolated-vm
 * needs it). It exits when its parent goes away.
 */
import type { ErrorData } from '../../core/errors.ts';
import { CodeCache } from '../code-cache.ts';
import { InitError, IsolateInstance, primeBootstrap } from '../isolate-instance.ts';
import { Coalescer } from '../coalescer.ts';
import type { HostEnvelope, HostMessage, InvokeMessage, LoadMessage, SeriesMessage, WorkerMessage } from '../protocol.ts';

const cache = new CodeCache();
const code = new Map<string, string>();
const instances = new Map<number, Promise<IsolateInstance>>();
/** What each instance was loaded from, to load it again after a run was cut off (IsolateInstance.invoke). */
const loads = new Map<number, LoadMessage>();

const outbox = new Coalescer<WorkerMessage>((m) => {
  if (process.connected) process.send?.(m);
});

function send(msg: WorkerMessage): void {
  outbox.push(msg);
}

function load(msg: LoadMessage): void {
  if (msg.code !== undefined) code.set(msg.digest, msg.code);
  loads.set(msg.instanceId, msg);
  const started = performance.now();
  const pending = start(msg);
  pending.then(
    () => send({ t: 'loaded', instanceId: msg.instanceId, ok: true, initMs: performance.now() - started }),
    (err: unknown) => {
      forget(msg.instanceId);
      send({ t: 'loaded', instanceId: msg.instanceId, ok: false, error: initErrorData(err) });
    },
  );
}

function forget(instanceId: number): void {
  instances.delete(instanceId);
  loads.delete(instanceId);
}

/** A new isolate for instance `msg.instanceId`, registered as it. */
function start(msg: LoadMessage): Promise<IsolateInstance> {
  const source = code.get(msg.digest);
  const pending = source === undefined
    ? Promise.reject(new InitError({ code: 'FAAS_INTERNAL', message: `sandbox process has no code for ${msg.digest}` }))
    : IsolateInstance.create({ name: msg.name, version: msg.version, digest: msg.digest, code: source, memoryMb: msg.memoryMb, env: msg.env, initTimeoutMs: msg.initTimeoutMs }, cache, (callId, invocationId, op, args) =>
        send({ t: 'call', instanceId: msg.instanceId, invocationId, callId, op, args }),
      );
  instances.set(msg.instanceId, pending);
  return pending;
}

async function invoke(msg: InvokeMessage): Promise<void> {
  const started = performance.now();
  const pending = instances.get(msg.instanceId);
  let instance: IsolateInstance;
  try {
    if (pending === undefined) throw new InitError({ code: 'FAAS_INTERNAL', message: `no sandbox instance ${msg.instanceId}` });
    instance = await pending;
  } catch (err) {
    send({ t: 'result', invocationId: msg.invocationId, ok: false, error: initErrorData(err), logs: [], durationMs: performance.now() - started, lost: true });
    return;
  }
  let out = await instance.invoke(msg);
  if (!out.ok && out.sliced) out = await again(msg);
  const durationMs = performance.now() - started;
  if (out.ok) {
    send({ t: 'result', invocationId: msg.invocationId, ok: true, resultJson: out.resultJson, logs: out.logs, durationMs });
    // Once per version compiled twice here: its code cache again, with what ran, after the outcome left.
    if (instance.recacheDue) setImmediate(() => instance.recacheCode());
  } else {
    if (out.lost) forget(msg.instanceId);
    send({ t: 'result', invocationId: msg.invocationId, ok: false, error: out.error, logs: out.logs, durationMs, lost: out.lost });
  }
}

async function series(msg: SeriesMessage): Promise<void> {
  const started = performance.now();
  let instance: IsolateInstance;
  try {
    const pending = instances.get(msg.instanceId);
    if (pending === undefined) throw new InitError({ code: 'FAAS_INTERNAL', message: `no sandbox instance ${msg.instanceId}` });
    instance = await pending;
  } catch (err) {
    send({ t: 'seriesResult', seriesId: msg.seriesId, outcomeJson: '[]', lost: true, error: initErrorData(err), durationMs: performance.now() - started });
    return;
  }
  const out = await instance.invokeSeries(msg);
  if (out.lost) forget(msg.instanceId);
  const durationMs = performance.now() - started;
  send(out.lost ? { t: 'seriesResult', seriesId: msg.seriesId, outcomeJson: '[]', lost: true, error: out.error, durationMs } : { t: 'seriesResult', seriesId: msg.seriesId, outcomeJson: out.outcomeJson, lost: false, durationMs });
}

/**
 * An invocation whose synchronous part was cut off: its isolate is gone (with whatever the cut-off
 * run changed), so it runs again in a new one for the same instance, asynchronously (its function
 * version is marked slow).
 */
async function again(msg: InvokeMessage): Promise<Awaited<ReturnType<IsolateInstance['invoke']>>> {
  const spec = loads.get(msg.instanceId);
  try {
    if (spec === undefined) throw new InitError({ code: 'FAAS_INTERNAL', message: `no sandbox instance ${msg.instanceId}` });
    return await (await start(spec)).invoke(msg);
  } catch (err) {
    return { ok: false, error: initErrorData(err), logs: [], lost: true };
  }
}

function initErrorData(err: unknown): ErrorData {
  if (err instanceof InitError) return err.data;
  return { code: 'FAAS_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

async function stats(rid: number): Promise<void> {
  let heapBytes = 0;
  for (const p of instances.values()) {
    const inst = await p.catch(() => undefined);
    heapBytes += inst?.heapBytes() ?? 0;
  }
  send({ t: 'stats', rid, rssBytes: process.memoryUsage.rss(), instances: instances.size, heapBytes });
}

process.on('message', (envelope: HostEnvelope) => {
  if (envelope.t === 'batch') for (const msg of envelope.msgs) dispatch(msg);
  else dispatch(envelope);
});

function dispatch(msg: HostMessage): void {
  switch (msg.t) {
    case 'load':
      load(msg);
      break;
    case 'invoke':
      invoke(msg).catch((err: unknown) => {
        send({ t: 'result', invocationId: msg.invocationId, ok: false, error: { code: 'FAAS_INTERNAL', message: String(err) }, logs: [], durationMs: 0, lost: true });
      });
      break;
    case 'series':
      series(msg).catch((err: unknown) => {
        send({ t: 'seriesResult', seriesId: msg.seriesId, outcomeJson: '[]', lost: true, error: { code: 'FAAS_INTERNAL', message: String(err) }, durationMs: 0 });
      });
      break;
    case 'dispose': {
      const p = instances.get(msg.instanceId);
      forget(msg.instanceId);
      p?.then((i) => i.dispose(), () => undefined);
      break;
    }
    case 'callResult':
      instances.get(msg.instanceId)?.then((i) => i.resolveCall(msg.callId, msg.ok, msg.payload), () => undefined);
      break;
    case 'forget':
      code.delete(msg.digest);
      cache.delete(msg.digest);
      break;
    case 'stats':
      stats(msg.rid).catch(() => send({ t: 'stats', rid: msg.rid, rssBytes: process.memoryUsage.rss(), instances: instances.size, heapBytes: 0 }));
      break;
  }
}

// No orphans: when the runtime goes, so does its sandbox process.
process.on('disconnect', () => process.exit(0));

// Pay the process's one-time costs (building the bootstrap, producing its code cache, isolated-vm's
// first isolate) before saying ready, so the first real cold start costs what later ones do.
await primeBootstrap(cache).catch(() => undefined);
process.send?.({ t: 'ready', pid: process.pid } satisfies WorkerMessage);
