/**
 * The benchmarks' "floor" sandbox process: the least any runtime must do to run a handler the way
 * DESIGN.md requires (an isolated-vm isolate in a supervised process). Started by FloorSandboxes
 * (floor.ts). It answers { id, lane, valuesJson } (a JSON array of events) with
 * { id, resultsJson } after calling a trivial handler once per event in the lane's isolate: one
 * process hop and one isolate call per message (made the cheapest way isolated-vm allows, as the
 * runtime does: synchronously), and nothing else (no envelope, no ids, no state, no metrics, no
 * retries, no deadline).
 */
import ivm from 'isolated-vm';

/** The lane's isolate: `begin(valuesJson)` starts the handler over the values; `take()` answers the results once settled. */
interface Lane {
  begin: ivm.Reference<(valuesJson: string) => void>;
  take: ivm.Reference<() => string | null>;
  wait: ivm.Reference<() => Promise<string>>;
}
const lanes = new Map<number, Lane>();

function laneFor(id: number): Lane {
  let lane = lanes.get(id);
  if (lane === undefined) {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const context = isolate.createContextSync();
    const source = `const handler = async (event) => ({ ok: true });
      let done = null, pending = null;
      ({
        begin(valuesJson) {
          done = null;
          pending = (async () => {
            const values = JSON.parse(valuesJson);
            const results = [];
            for (let i = 0; i < values.length; i++) results.push(await handler({ data: values[i] }));
            return JSON.stringify(results);
          })();
          pending.then((r) => { done = r; });
        },
        take() { return done; },
        wait() { return pending; },
      })`;
    const api = isolate.compileScriptSync(source).runSync(context, { reference: true }) as ivm.Reference<Record<string, unknown>>;
    const ref = <F>(name: string) => api.getSync(name, { reference: true }) as ivm.Reference<F>;
    lane = { begin: ref('begin'), take: ref('take'), wait: ref('wait') };
    lanes.set(id, lane);
  }
  return lane;
}

/**
 * As the runtime's sync-first path (sandbox/isolate-instance.ts): two synchronous calls, which the
 * trivial handler always settles in; the asynchronous wait is there for completeness.
 */
async function run(lane: Lane, valuesJson: string): Promise<string> {
  lane.begin.applySync(undefined, [valuesJson]);
  return lane.take.applySync(undefined, []) ?? ((await lane.wait.apply(undefined, [], { result: { promise: true } })) as string);
}

process.on('message', (m: { id: number; lane: number; valuesJson: string }) => {
  run(laneFor(m.lane), m.valuesJson).then(
    (resultsJson) => process.send?.({ id: m.id, resultsJson }),
    (err: unknown) => {
      console.error('floor sandbox:', err);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
