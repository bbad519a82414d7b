/**
 * Benchmark dispatcher: `npm run bench -- <name> [args]` runs bench/<name>.ts; `npm run bench` lists
 * them. A benchmark is one file here exporting `description` and `run(args)`; adding the file is all
 * it takes. Every benchmark measures its baseline in the same run and prints PASS/FAIL per bar; the
 * exit code is non-zero only when a benchmark crashes.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Benchmark {
  description: string;
  run(args: string[]): Promise<void>;
}

const dir = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

async function load(name: string): Promise<Benchmark> {
  return (await import(new URL(`./${name}.ts`, import.meta.url).href)) as Benchmark;
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined || !names.includes(name)) {
  if (name !== undefined) console.error(`unknown benchmark "${name}"\n`);
  console.log('usage: npm run bench -- <name> [args]\n\nbenchmarks:');
  for (const n of names) console.log(`  ${n.padEnd(14)} ${(await load(n)).description}`);
  process.exitCode = name === undefined ? 0 : 2;
} else {
  await (await load(name)).run(args);
}
