/**
 * Sends one queued mail per record of `mail.outbox` (keyed by recipient, so one recipient's mails
 * stay in order). The "send" is simulated: a few ms of waiting, as a call to a mail API would be.
 * A record is marked sent in state under its event id: if the offset commit is lost after a send
 * (a crash between the two), the redelivered record finds the mark and is not sent twice.
 */
import type { Handler } from 'faas-runtime/sdk';

interface Mail {
  to: string;
  subject: string;
  body?: string;
}

const handler: Handler<Mail> = async (event, ctx) => {
  const mail = event.data;
  if (typeof mail?.to !== 'string' || !mail.to.includes('@')) throw new Error(`not a mail address: ${JSON.stringify(mail?.to)}`);
  if ((await ctx.state.get(`sent:${event.id}`)) !== null) return { status: 'duplicate', id: event.id };
  await new Promise((resolve) => setTimeout(resolve, 5)); // the mail API's round trip
  await ctx.state.set(`sent:${event.id}`, { to: mail.to, at: new Date().toISOString() }, { ttlMs: 86_400_000 });
  await ctx.state.incr('sent');
  ctx.log.info(`sent "${mail.subject}" to ${mail.to}`);
  return { status: 'sent', id: event.id };
};

export default handler;
