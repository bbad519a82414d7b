/**
 * The consumer-lag trigger: a topic consumer that runs only while its group has lag and scales with
 * it (triggers/lag-scaler.ts). Records are processed exactly as by the topic trigger (the
 * PartitionProcessor: commit after success, retries, dead letter, key-ordered parallelism).
 */
import { FaasError } from '../core/errors.ts';
import type { TriggerPlugin } from '../scheduler/trigger-source.ts';
import { LagScaler } from './lag-scaler.ts';
import { groupOf, topicTrigger } from './topic.ts';

export const lagTrigger: TriggerPlugin<'lag'> = {
  type: 'lag',
  consumerGroups: (ctx) => [groupOf(ctx.fn, ctx.spec, ctx.index, ctx.manifest)],
  validate(spec, where, env) {
    topicTrigger.validate({ ...spec, type: 'topic' }, where);
    if (spec.lagPerInstance !== undefined && spec.targetDrainSeconds !== undefined) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}: give lagPerInstance or targetDrainSeconds, not both`);
    }
    const manifest = env?.manifest;
    const max = spec.maxInstances ?? manifest?.scaling.maxInstances;
    if (max !== undefined && spec.minInstances > max) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}.minInstances: ${spec.minInstances} is above maxInstances ${max}`);
    }
    if (manifest === undefined) return;
    if (spec.maxInstances !== undefined && spec.maxInstances > manifest.scaling.maxInstances) {
      throw new FaasError(
        'FAAS_MANIFEST_INVALID',
        `${where}.maxInstances: ${spec.maxInstances} is above scaling.maxInstances ${manifest.scaling.maxInstances} (the sandbox instances this function may use on a node); raise scaling.maxInstances`,
      );
    }
    if (manifest.triggers.filter((t) => t.type === 'lag').length > 1) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `${where}: a function has at most one lag trigger (its scaling view is the function's)`);
    }
  },
  async start(ctx) {
    const scaler = new LagScaler({ fn: ctx.fn, manifest: ctx.manifest, spec: ctx.spec, groupId: groupOf(ctx.fn, ctx.spec, ctx.index, ctx.manifest), deps: ctx.deps });
    await scaler.start();
    return scaler;
  },
};
