/**
 * Two topics' consumers run concurrently, so each writes its own field (state writes are atomic
 * per invocation, not serialised across invocations: no read-modify-write of a shared object).
 * Invoked over HTTP (no event.kafka), it answers the view: { "<orderId>": { payment, stock } }.
 */
import type { Handler, Json } from 'faas-runtime/sdk';

const handler: Handler<{ orderId: string } | null> = async (event, ctx) => {
  const kafka = event.kafka;
  if (kafka === undefined) {
    const view: Record<string, Json> = {};
    for (const id of Object.keys(await ctx.state.hgetall('orders'))) view[id] = await ctx.state.hgetall('order:' + id);
    return view;
  }
  const orderId = event.data?.orderId ?? 'unknown';
  await ctx.state.hset('order:' + orderId, kafka.topic === 'payment.requests' ? 'payment' : 'stock', 'requested');
  await ctx.state.hset('orders', orderId, true);
  return null;
};

export default handler;
