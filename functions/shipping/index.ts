/**
 * The last step of the saga, so it has no undo: nothing after it can fail. Shipping an order
 * again answers the shipment it already has.
 */
import type { Handler, Json } from 'faas-runtime/sdk';

type Request = { action: 'ship'; orderId: string; address: string; items?: Json };

const handler: Handler<Request, { trackingId: string }> = async (event, ctx) => {
  const req = event.data;
  if (req.action !== 'ship') throw new Error(`unknown action: ${String(req.action)}`);
  if (req.address.trim().toLowerCase() === 'nowhere') throw new Error(`cannot ship to ${req.address}`);
  const key = `shipment:${req.orderId}`;
  const existing = await ctx.state.get<{ trackingId: string }>(key);
  if (existing !== null) return { trackingId: existing.trackingId };
  const trackingId = `trk_${ctx.invocationId.replaceAll('-', '').slice(0, 16)}`;
  await ctx.state.set(key, { trackingId, address: req.address, items: req.items ?? null });
  ctx.log.info(`shipping ${req.orderId} to ${req.address}: ${trackingId}`);
  return { trackingId };
};

export default handler;
