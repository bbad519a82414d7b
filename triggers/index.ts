/**
 * The trigger plugins, one per trigger type: the type makes a missing or duplicate entry a compile
 * error. `null` marks a type that is declared in the manifest schema but not available yet.
 */
import type { TriggerPlugins } from '../scheduler/trigger-source.ts';
import { cronTrigger } from './cron.ts';
import { lagTrigger } from './lag.ts';
import { topicTrigger } from './topic.ts';
import { webhookTrigger } from './webhook.ts';

export const TRIGGER_PLUGINS: TriggerPlugins = {
  topic: topicTrigger,
  cron: cronTrigger,
  webhook: webhookTrigger,
  lag: lagTrigger,
};
