// Sizing at the engine: the control plane decides money (how many USD to buy or sell, or what
// the model's position in a symbol should be worth) and the engine turns it into a quantity
// against its own last price and the model's own position. The engine sizes in the same
// synchronous run in which its risk rails check the order and the venue call starts (see
// Engine.submitNotional), so the price and position an order is sized on are the ones the
// rails saw, with no read-then-write gap between two processes. Pure functions only: the
// engine passes in what it reads.
import { type Fixed, ZERO, abs, div, floorToStep, min as fmin, mul } from '../core/decimal.js';
import type { ModelId, Symbol } from '../core/ids.js';
import type { OrderSide } from '../core/order.js';

/** The money a signal commits, as the control plane decided it (quota × weight × strength ×
 *  governance multiplier, or the quote an external signal names). */
export type NotionalIntent =
  /** Buy or sell this many USD worth (a SELL never sells more than the model holds). */
  | { readonly kind: 'notional'; readonly side: OrderSide; readonly notionalUsd: Fixed }
  /** Trade the model's position toward this USD value; 0 means flat: sell exactly what it holds. */
  | { readonly kind: 'target'; readonly targetUsd: Fixed };

/** A market order stated in money, sized by the engine that places it. */
export interface NotionalOrderRequest {
  readonly clientOrderId?: string;
  readonly symbol: Symbol;
  /** Whose position a SELL or a target is measured against. */
  readonly model: ModelId;
  readonly intent: NotionalIntent;
  /** The control plane's clip (MAX_NOTIONAL_USDT): a larger order is shrunk to it, not refused. */
  readonly maxNotionalUsd: Fixed;
  /** Below this (MIN_NOTIONAL_USDT) nothing is placed: the model is at its target already. */
  readonly minNotionalUsd: Fixed;
}

export type NotSizedReason = 'NO_MARKET_DATA' | 'UNKNOWN_SYMBOL' | 'BELOW_MIN_NOTIONAL';

/** A notional order the engine did not place: nothing is booked, nothing reaches the venue. */
export interface NotSized {
  readonly kind: 'not_sized';
  readonly reason: NotSizedReason;
  readonly message: string;
  /** The order's worth had it been placed (quantity × last price), 0 without a price. */
  readonly notionalUsd: Fixed;
}

/** What the engine knows when it sizes: its last price, the model's signed position, the
 *  instrument's lot step (undefined when it does not trade the symbol). */
export interface SizingMarket {
  readonly price: Fixed | undefined;
  readonly held: Fixed;
  readonly stepSize: Fixed | undefined;
}

export interface QtyRules {
  readonly price: Fixed;
  readonly held: Fixed;
  readonly stepSize: Fixed;
  readonly maxNotionalUsd: Fixed;
}

/** Side and quantity for an intent: a target trades the difference to the model's position;
 *  the notional is clipped to the maximum and rounded down to the step so an order never
 *  exceeds its budget; a SELL never sells more than the model holds (spot: no shorts). */
export function qtyForIntent(intent: NotionalIntent, r: QtyRules): { side: OrderSide; qty: Fixed } {
  let side: OrderSide;
  let notional: Fixed;
  if (intent.kind === 'target') {
    const delta = (intent.targetUsd - mul(r.held, r.price)) as Fixed;
    side = delta >= 0n ? 'BUY' : 'SELL';
    notional = abs(delta);
  } else {
    side = intent.side;
    notional = intent.notionalUsd;
  }
  notional = fmin(notional, r.maxNotionalUsd);
  let qty = floorToStep(div(notional, r.price, 'down'), r.stepSize);
  if (side === 'SELL') {
    const available = r.held > 0n ? r.held : ZERO;
    // Selling to flat takes the whole position, even the part below one step of notional.
    if (intent.kind === 'target' && intent.targetUsd <= 0n && mul(available, r.price) <= r.maxNotionalUsd) qty = available;
    qty = fmin(qty, available);
  }
  return { side, qty };
}

export type Sizing =
  | { readonly kind: 'sized'; readonly side: OrderSide; readonly qty: Fixed; readonly notionalUsd: Fixed }
  | NotSized;

/** Sizes a notional order against what the engine reads now; below the minimum (or nothing to
 *  trade) it is not placed at all, as the router skipped it before the engine sized. */
export function sizeNotional(req: NotionalOrderRequest, m: SizingMarket): Sizing {
  if (m.stepSize === undefined) return notSized('UNKNOWN_SYMBOL', `this engine does not trade ${req.symbol}`, ZERO);
  if (m.price === undefined || m.price <= 0n) return notSized('NO_MARKET_DATA', `no price for ${req.symbol} yet`, ZERO);
  const { side, qty } = qtyForIntent(req.intent, { price: m.price, held: m.held, stepSize: m.stepSize, maxNotionalUsd: req.maxNotionalUsd });
  const notionalUsd = mul(qty, m.price);
  if (qty <= 0n || notionalUsd < req.minNotionalUsd) {
    return notSized('BELOW_MIN_NOTIONAL', 'order would be below MIN_NOTIONAL_USDT (already at target)', notionalUsd);
  }
  return { kind: 'sized', side, qty, notionalUsd };
}

function notSized(reason: NotSizedReason, message: string, notionalUsd: Fixed): NotSized {
  return { kind: 'not_sized', reason, message, notionalUsd };
}
