import type { Handler } from 'faas-runtime/sdk';

interface Input {
  name?: string;
}

const handler: Handler<Input | null> = async (event, ctx) => {
  const name = event.data?.name ?? 'world';
  ctx.log.info(`greeting ${name}`);
  return { message: `${ctx.env.GREETING ?? 'Hello'}, ${name}!`, invocationId: ctx.invocationId };
};

export default handler;
