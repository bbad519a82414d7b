/**
 * State layout: charge:<orderId> = { chargeId, orderId, amount, last4, status: 'charged' | 'refunded' }.
 * One charge per order: charging an order again answers the charge it already has.
 */
import type { Handler } from 'faas-runtime/sdk';

/** Like the card networks' test numbers: this card is always declined. */
export const DECLINED_CARD = '4000000000000002';

type Charge = { chargeId: string; orderId: string; amount: number; last4: string; status: 'charged' | 'refunded' };
type Request =
  | { action: 'charge'; orderId: string; amount: number; card: string }
  | { action: 'refund'; orderId: string }
  | { action: 'get'; orderId: string };
type Answer = { chargeId: string; amount: number } | { refunded: boolean; chargeId?: string } | Charge | null;

const handler: Handler<Request, Answer> = async (event, ctx) => {
  const req = event.data;
  const key = `charge:${req.orderId}`;
  switch (req.action) {
    case 'charge': {
      if (req.card === DECLINED_CARD) throw new Error('card declined');
      if (typeof req.amount !== 'number' || !(req.amount > 0)) throw new Error(`invalid amount: ${String(req.amount)}`);
      const existing = await ctx.state.get<Charge>(key);
      if (existing !== null) return { chargeId: existing.chargeId, amount: existing.amount };
      const charge: Charge = { chargeId: `ch_${ctx.invocationId}`, orderId: req.orderId, amount: req.amount, last4: req.card.slice(-4), status: 'charged' };
      await ctx.state.set(key, charge);
      ctx.log.info(`charged ${req.amount} to card …${charge.last4} for ${req.orderId}`);
      return { chargeId: charge.chargeId, amount: charge.amount };
    }
    case 'refund': {
      const charge = await ctx.state.get<Charge>(key);
      if (charge === null) return { refunded: false }; // never charged: nothing to undo
      if (charge.status === 'charged') {
        await ctx.state.set(key, { ...charge, status: 'refunded' });
        ctx.log.info(`refunded ${charge.chargeId} (${req.orderId})`);
      }
      return { refunded: true, chargeId: charge.chargeId };
    }
    case 'get':
      return ctx.state.get<Charge>(key);
    default:
      throw new Error(`unknown action: ${String((req as { action?: unknown }).action)}`);
  }
};

export default handler;
