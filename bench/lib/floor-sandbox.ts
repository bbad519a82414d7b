/**
 * The benchmarks' "floor" sandbox process: the least any runtime must do to run a handler the way
 * DESIGN.md requires (an isolated-vm isolate in a supervised process). Started by FloorSandboxes
 * (floor.ts). It answers { id, lane, valuesJson } (a JSON array of events) with
 * { id, resultsJson } after calling a trivial handler once per event in the lane's isolate: one
 * process hop and one isolate call per message, and nothing else (no envelope, no ids, no state,
 * no metrics, no retries, no deadline).
 */
import ivm from 'isolated-vm';

type Run = ivm.Reference<(valuesJson: string) => Promise<string>>;
const runs = new Map<number, Run>();

function runFor(lane: number): Run {
  let run = runs.get(lane);
  if (run === undefined) {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const context = isolate.createContextSync();
    const source = `const handler = async (event) => ({ ok: true });
      (async function run(valuesJson) {
        const values = JSON.parse(valuesJson);
        const results = [];
        for (let i = 0; i < values.length; i++) results.push(await handler({ data: values[i] }));
        return JSON.stringify(results);
      })`;
    run = isolate.compileScriptSync(source).runSync(context, { reference: true }) as Run;
    runs.set(lane, run);
  }
  return run;
}

process.on('message', (m: { id: number; lane: number; valuesJson: string }) => {
  runFor(m.lane)
    .apply(undefined, [m.valuesJson], { result: { promise: true, copy: true } })
    .then(
      (resultsJson) => process.send?.({ id: m.id, resultsJson }),
      (err: unknown) => {
        console.error('floor sandbox:', err);
        process.exit(1);
      },
    );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
