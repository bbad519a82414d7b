import type { Handler } from 'faas-runtime/sdk';
import { label } from './label.ts';

let invocations = 0;

const handler: Handler = async (_event, ctx) => {
  invocations += 1;
  await new Promise((resolve) => setTimeout(resolve, 1)); // bounded timers exist in the sandbox
  return { instanceInvocations: invocations, label: label(invocations), remainingMs: ctx.remainingMs() > 0 };
};

export default handler;
