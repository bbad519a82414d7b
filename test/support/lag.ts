/** Helpers of the lag-trigger test files: deploy a lag-triggered function, read its view and what it logged. */
import { expect } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { ScaleStatus } from '../../scheduler/scale-registry.ts';
import { deployBody } from './runtime.ts';

/** Short polls and windows, so a test sees wake, scale-down and zero within seconds. */
export const FAST_LAG = { pollMs: 100, cooldownMs: 1000, scaleDownStabilizationMs: 500 };

/** Bound to the runtime `node()` answers at call time (test files assign theirs in beforeAll). */
export function lagHelpers(node: () => Runtime, handler: string) {
  return {
    deploy: async (name: string, trigger: Record<string, unknown>, manifest: Record<string, unknown> = {}): Promise<void> => {
      const rt = node();
      const res = await rt.gateway.inject({ method: 'PUT', url: `/v1/functions/${name}`, payload: deployBody(name, handler, { triggers: [{ type: 'lag', ...FAST_LAG, ...trigger }], scaling: { maxInstances: 8 }, ...manifest }) });
      expect(res.statusCode, res.body).toBeLessThan(300);
      await rt.triggers.settled(name);
    },
    scale: async (name: string): Promise<ScaleStatus> => {
      const res = await node().gateway.inject({ method: 'GET', url: `/v1/scale/${name}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<ScaleStatus>();
    },
    /** The `n` of every JSON line the handler logged (`console.log(JSON.stringify({ n, … }))`). */
    processed: async (name: string): Promise<number[]> => {
      const res = await node().gateway.inject({ method: 'GET', url: `/v1/functions/${name}/logs?limit=10000` });
      return res
        .json<{ entries: { level: string; message: string }[] }>()
        .entries.filter((e) => e.level === 'info' && e.message.startsWith('{'))
        .map((e) => (JSON.parse(e.message) as { n: number }).n);
    },
  };
}
