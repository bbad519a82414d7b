/**
 * kafkajs 2.2.4 on Node 24: its request queue starts with `throttledUntil = -1`, so when it is not
 * throttled it schedules `setTimeout(fn, -1 - Date.now())`. Node ≥ 23 then prints a
 * TimeoutNegativeWarning (older Nodes clamped to 1 ms silently; the behaviour is the same). Every
 * process that loads kafkajs runs with --disable-warning=TimeoutNegativeWarning (package.json
 * scripts, vitest, the Dockerfile). This test fails when kafkajs changes that code, so the flag can
 * be dropped, and proves the flag silences exactly that warning.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('kafkajs negative timeout on Node 24', () => {
  it('kafkajs still computes the delay as throttledUntil - Date.now() from -1', () => {
    const file = createRequire(import.meta.url).resolve('kafkajs/src/network/requestQueue/index.js');
    const source = readFileSync(file, 'utf8');
    expect(source).toContain('this.throttledUntil = -1');
    expect(source).toContain('let scheduleAt = this.throttledUntil - Date.now()');
  });

  it('the flag silences that warning and only that one', async () => {
    const script = 'setTimeout(() => {}, -1 - Date.now()); process.emitWarning("other", "SomeOtherWarning")';
    const plain = await run(process.execPath, ['-e', script]);
    expect(plain.stderr).toContain('TimeoutNegativeWarning');
    const flagged = await run(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '-e', script]);
    expect(flagged.stderr).not.toContain('TimeoutNegativeWarning');
    expect(flagged.stderr).toContain('SomeOtherWarning');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain('--disable-warning=TimeoutNegativeWarning');
  });
});
