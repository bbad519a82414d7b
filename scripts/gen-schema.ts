/** Writes schema/function.schema.json from core/manifest.ts (a test checks it is up to date). */
import { writeFileSync } from 'node:fs';
import { manifestJsonSchema } from '../core/manifest.ts';

const out = new URL('../schema/function.schema.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out.pathname}`);
