import type { Handler } from 'faas-runtime/sdk';

interface Order {
  id: string;
  total: number;
  items: { sku: string; qty: number }[];
}

const handler: Handler<Order> = async (event, ctx) => {
  const order = event.data;
  await ctx.emit('payment.requests', { orderId: order.id, amount: order.total }, { key: order.id });
  await ctx.emit('stock.requests', { orderId: order.id, items: order.items }, { key: order.id });
  ctx.log.info(`routed ${order.id}`);
  return null;
};

export default handler;
