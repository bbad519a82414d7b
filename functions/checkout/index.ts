/**
 * Orchestration, as a saga: checkout calls each step with ctx.invoke and awaits its answer, so the
 * whole flow reads top to bottom in one place (compare order-router/order-status: choreography over
 * topics). Each call runs with checkout's correlation id and at most its remaining time.
 *
 *   validate (order-validate) → reserve (inventory) → charge (payments) → ship (shipping)
 *
 * When a step fails, the steps already done are undone newest first: payments refund, inventory
 * release (both idempotent). See saga.ts for the outcomes and the state kept per order.
 */
import type { Handler, Json } from 'faas-runtime/sdk';
import { Saga, type SagaResult } from './saga.ts';

type Order = {
  orderId: string;
  items: { sku: string; qty: number; price: number }[];
  card: string;
  address: string;
};

const handler: Handler<Order | { lookup: string }, SagaResult | Json> = async (event, ctx): Promise<SagaResult | Json> => {
  if (event.data !== null && 'lookup' in event.data) return ctx.state.hgetall<Json>(`order:${event.data.lookup}`);
  const order = event.data;
  // The saga is filed under the order id: without one there is nothing to track (an error answer).
  if (typeof order?.orderId !== 'string' || order.orderId === '') throw new Error('an order needs an orderId');
  const saga = new Saga(ctx, order.orderId);

  const previous = await saga.previous();
  if (previous !== null) return previous; // the same order posted again: same answer, nothing re-run

  try {
    const { total } = await saga.step<{ total: number }>('validate', 'order-validate', order);
    const { orderId, items, card, address } = order;
    const lines = items.map(({ sku, qty }) => ({ sku, qty }));
    await saga.step('reserve', 'inventory', { action: 'reserve', orderId, items: lines }, { action: 'release', orderId });
    const { chargeId } = await saga.step<{ chargeId: string }>('charge', 'payments', { action: 'charge', orderId, amount: total, card }, { action: 'refund', orderId });
    const { trackingId } = await saga.step<{ trackingId: string }>('ship', 'shipping', { action: 'ship', orderId, address, items: lines });
    return await saga.confirm({ total, chargeId, trackingId });
  } catch (err) {
    return saga.abort(err);
  }
};

export default handler;
