/**
 * State layout (this function's own namespace):
 *   stock:<sku>            units the SKU started with; missing = DEFAULT_STOCK (ctx.env)
 *   taken:<sku>            units held by live reservations (incr/decr only)
 *   reservation:<orderId>  { items: [{ sku, qty }], status: 'reserved' | 'released' }
 * The level on hand is stock - taken.
 *
 * `taken` only changes by incr/decr, which commit as deltas: concurrent reservations and releases
 * of one SKU never lose each other's updates. (The check before taking is not serialised across
 * invocations, so two racing orders for the last units could both pass it: fine for an example.)
 */
import type { Context, Handler } from 'faas-runtime/sdk';

type Line = { sku: string; qty: number };
type Reservation = { items: Line[]; status: 'reserved' | 'released' };
type Request =
  | { action: 'reserve'; orderId: string; items: Line[] }
  | { action: 'release'; orderId: string }
  | { action: 'stock'; skus: string[] };
type Answer = { reserved: Line[] } | { released: Line[] } | Record<string, number>;

const defaultStock = (ctx: Context): number => Number(ctx.env['DEFAULT_STOCK'] ?? '10');

async function level(ctx: Context, sku: string): Promise<number> {
  const stock = (await ctx.state.get<number>(`stock:${sku}`)) ?? defaultStock(ctx);
  return stock - ((await ctx.state.get<number>(`taken:${sku}`)) ?? 0);
}

/** One line per SKU, so an order listing a SKU twice is checked against its total quantity. */
function merge(items: Line[]): Line[] {
  const qty = new Map<string, number>();
  for (const { sku, qty: n } of items) qty.set(sku, (qty.get(sku) ?? 0) + n);
  return [...qty].map(([sku, n]) => ({ sku, qty: n }));
}

const handler: Handler<Request, Answer> = async (event, ctx) => {
  const req = event.data;
  switch (req.action) {
    case 'reserve': {
      const key = `reservation:${req.orderId}`;
      const existing = await ctx.state.get<Reservation>(key);
      if (existing?.status === 'reserved') return { reserved: existing.items }; // a retried call
      if (existing?.status === 'released') throw new Error(`reservation ${req.orderId} was released`);
      const items = merge(req.items);
      // Check every line before taking any (a throw discards this invocation's writes anyway).
      for (const { sku, qty } of items) if ((await level(ctx, sku)) < qty) throw new Error(`out of stock: ${sku}`);
      for (const { sku, qty } of items) await ctx.state.incr(`taken:${sku}`, qty);
      await ctx.state.set(key, { items, status: 'reserved' });
      ctx.log.info(`reserved ${req.orderId}: ${items.map((l) => `${l.qty} × ${l.sku}`).join(', ')}`);
      return { reserved: items };
    }
    case 'release': {
      const key = `reservation:${req.orderId}`;
      const r = await ctx.state.get<Reservation>(key);
      if (r === null || r.status === 'released') return { released: [] }; // nothing (more) to give back
      for (const { sku, qty } of r.items) await ctx.state.decr(`taken:${sku}`, qty);
      await ctx.state.set(key, { items: r.items, status: 'released' });
      ctx.log.info(`released ${req.orderId}`);
      return { released: r.items };
    }
    case 'stock': {
      const levels: Record<string, number> = {};
      for (const sku of req.skus) levels[sku] = await level(ctx, sku);
      return levels;
    }
    default:
      throw new Error(`unknown action: ${String((req as { action?: unknown }).action)}`);
  }
};

export default handler;
