/**
 * A pure check: it throws on the first problem (the caller sees FAAS_HANDLER_ERROR with this
 * message) and otherwise answers the order's total, in the order's currency units, to the cent.
 */
import type { Handler } from 'faas-runtime/sdk';

interface Order {
  orderId?: unknown;
  items?: unknown;
  card?: unknown;
  address?: unknown;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

const handler: Handler<Order | null, { total: number }> = (event) => {
  const order = event.data ?? {};
  if (!nonEmpty(order.orderId)) throw new Error('invalid order: orderId is missing');
  if (!Array.isArray(order.items) || order.items.length === 0) throw new Error('invalid order: it has no items');
  let cents = 0;
  for (const [i, item] of (order.items as { sku?: unknown; qty?: unknown; price?: unknown }[]).entries()) {
    const sku = item?.sku;
    if (!nonEmpty(sku)) throw new Error(`invalid order: item ${i} has no sku`);
    if (typeof item.qty !== 'number' || !Number.isInteger(item.qty) || item.qty <= 0) throw new Error(`invalid order: qty of ${sku} must be a positive integer`);
    if (typeof item.price !== 'number' || !Number.isFinite(item.price) || item.price < 0) throw new Error(`invalid order: price of ${sku} must be a number ≥ 0`);
    cents += Math.round(item.price * 100) * item.qty;
  }
  if (!nonEmpty(order.card)) throw new Error('invalid order: card is missing');
  if (!nonEmpty(order.address)) throw new Error('invalid order: address is missing');
  return { total: cents / 100 };
};

export default handler;
