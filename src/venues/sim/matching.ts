// The sim venue's money math, pure: order validation, the synthetic order book a taker
// walks, maker allocation from bar volume, fees and balance locks. The stateful SimVenue
// only applies what these return, so every price, quantity and fee here is testable with
// plain inputs.
import { type Fixed, ZERO, bps, fx, floorToStep, mul, roundToStep } from '../../core/decimal.js';
import { type Instrument, checkInstrumentRules } from '../../core/instrument.js';
import type { OrderSide } from '../../core/order.js';
import type { VenueOrderRequest } from '../venue.js';

export type SimRejectCode =
  | 'UNKNOWN_SYMBOL'
  | 'DUPLICATE_CLIENT_ORDER_ID'
  | 'INVALID_QTY'
  | 'INVALID_PRICE'
  | 'NO_MARKET_DATA'
  | 'QTY_STEP'
  | 'QTY_BELOW_MIN'
  | 'PRICE_TICK'
  | 'BELOW_VENUE_MIN_NOTIONAL'
  | 'INSUFFICIENT_BALANCE'
  | 'VENUE_CLOSED';

export interface SimReject {
  readonly code: SimRejectCode;
  readonly message: string;
}

/** Quote value of a fill. Truncated like order.ts's filledNotional, so the venue's ledger
 *  and the engine's agree to the unit (exact anyway when qty and price conform). */
export function fillNotional(qty: Fixed, price: Fixed): Fixed {
  return mul(qty, price, 'down');
}

/** Fee in quote currency. Rounded down: the sum of per-fill fees then never exceeds the fee
 *  reserved on the whole order, so a lock always covers its fills. */
export function fillFee(notional: Fixed, feeBps: number): Fixed {
  return bps(notional, feeBps, 'down');
}

/** Quote a resting or limit BUY reserves: its full value at the limit plus the larger fee. */
export function buyLockAmount(qty: Fixed, price: Fixed, maxFeeBps: number): Fixed {
  const notional = mul(qty, price, 'up');
  return (notional + bps(notional, maxFeeBps, 'up')) as Fixed;
}

/** Exchange-style checks of a request against an instrument and the last price. */
export function validateOrder(inst: Instrument, req: VenueOrderRequest, lastPrice: Fixed | undefined): SimReject | null {
  if (req.qty <= 0n) return { code: 'INVALID_QTY', message: `quantity must be positive, got ${req.qty}` };
  if (req.type === 'LIMIT' && (req.price === null || req.price <= 0n)) return { code: 'INVALID_PRICE', message: 'a LIMIT order needs a positive price' };
  if (req.type === 'MARKET' && req.price !== null) return { code: 'INVALID_PRICE', message: 'a MARKET order takes no price' };
  if (lastPrice === undefined) return { code: 'NO_MARKET_DATA', message: `no price for ${inst.symbol} yet` };
  const v = checkInstrumentRules(inst, req.qty, req.price, lastPrice);
  return v === null ? null : { code: v.code, message: v.message };
}

/** The synthetic book one side of the market offers a taker during the current bar. */
export interface BookSide {
  /** Last price, on tick. */
  readonly last: Fixed;
  readonly tick: Fixed;
  /** Distance of the first level from the last price. */
  readonly slippageBps: number;
  /** Each further level is this much worse. */
  readonly levelSpacingBps: number;
  readonly levels: number;
  /** Base quantity at each level (a step multiple). */
  readonly levelQty: Fixed;
  /** Already taken from this side during the bar: later takers start deeper in the book. */
  readonly consumed: Fixed;
}

/** Price of level k for a taker on `side`, rounded away from the taker; null if a sell
 *  level would be at or below zero. */
export function levelPrice(book: BookSide, side: OrderSide, k: number): Fixed | null {
  const offset = bps(book.last, book.slippageBps + k * book.levelSpacingBps, 'up');
  if (side === 'BUY') return roundToStep((book.last + offset) as Fixed, book.tick, 'up');
  const p = roundToStep((book.last - offset) as Fixed, book.tick, 'down');
  return p > 0n ? p : null;
}

export interface TakerFill {
  readonly qty: Fixed;
  readonly price: Fixed;
}

/** Walks the book level by level until qty is met, liquidity runs out or (for a limit) the
 *  next level is beyond the limit. Returns the fills in order; their sum may be short. */
export function walkBook(book: BookSide, side: OrderSide, qty: Fixed, limit: Fixed | null): TakerFill[] {
  const fills: TakerFill[] = [];
  if (book.levelQty <= 0n || book.levels <= 0) return fills;
  let remaining = qty;
  let level = Number(book.consumed / book.levelQty);
  let leftInLevel = (book.levelQty - (book.consumed % book.levelQty)) as Fixed;
  while (remaining > 0n && level < book.levels) {
    const price = levelPrice(book, side, level);
    if (price === null) break;
    if (limit !== null && (side === 'BUY' ? price > limit : price < limit)) break;
    const q = remaining < leftInLevel ? remaining : leftInLevel;
    fills.push({ qty: q, price });
    remaining = (remaining - q) as Fixed;
    level++;
    leftInLevel = book.levelQty;
  }
  return fills;
}

export function sumQty(fills: readonly TakerFill[]): Fixed {
  let s = 0n;
  for (const f of fills) s += f.qty;
  return s as Fixed;
}

/** Quote a BUY's taker fills cost including fees (what the balance check compares). */
export function takerBuyCost(fills: readonly TakerFill[], feeBps: number): Fixed {
  let s = 0n;
  for (const f of fills) {
    const n = fillNotional(f.qty, f.price);
    s += n + fillFee(n, feeBps);
  }
  return s as Fixed;
}

/** Base quantity a share of a bar's volume amounts to, on step; 0 for a non-finite or
 *  non-positive input (a bar with no volume offers no liquidity). */
export function volumeShareQty(volume: number, share: number, step: Fixed): Fixed {
  const q = volume * share;
  if (!(q > 0) || !Number.isFinite(q)) return ZERO;
  return floorToStep(fx(q), step);
}

/** Whether a bar traded through a resting limit: strictly beyond it, since touching the
 *  price says nothing about the order's place in the queue. */
export function barTradesThrough(side: OrderSide, limit: Fixed, barLow: Fixed, barHigh: Fixed): boolean {
  return side === 'BUY' ? barLow < limit : barHigh > limit;
}

export interface RestingView {
  readonly side: OrderSide;
  readonly price: Fixed;
  readonly seq: number;
  readonly remaining: Fixed;
}

/** Shares `available` base quantity among crossed resting orders of one side in
 *  price-time priority. Returns the quantity for each input order (same order as input). */
export function allocateMakerFills(orders: readonly RestingView[], available: Fixed): Fixed[] {
  const idx = orders.map((_, i) => i);
  idx.sort((a, b) => {
    const oa = orders[a]!;
    const ob = orders[b]!;
    if (oa.price !== ob.price) return (oa.side === 'BUY' ? oa.price > ob.price : oa.price < ob.price) ? -1 : 1;
    return oa.seq - ob.seq;
  });
  const out: Fixed[] = orders.map(() => ZERO);
  let left = available;
  for (const i of idx) {
    if (left <= 0n) break;
    const r = orders[i]!.remaining;
    const q = r < left ? r : left;
    out[i] = q;
    left = (left - q) as Fixed;
  }
  return out;
}
