// Pure translation between ccxt's unified structures (markets, orders, trades) and ours
// (Instrument, VenueOrderState, Fill). ccxt hands out JavaScript numbers; every one of them
// goes through ccxt's own numberToString (no exponent notation) and then fx(), so a quantity,
// price or step is exact or refused — never silently rounded. Fees are the one exception:
// a fee finer than 8 decimals is rounded (half-even), because the fee is the venue's
// arithmetic, not ours, and refusing the fill over its ninth decimal would be worse.
import { type Fixed, SCALE, SCALE_DIGITS, ZERO, fx, mul } from '../../core/decimal.js';
import { type ClientOrderId, type Symbol, type VenueId, symbol as toSymbol } from '../../core/ids.js';
import type { Instrument } from '../../core/instrument.js';
import type { Fill, OrderSide } from '../../core/order.js';
import type { VenueOrderState } from '../venue.js';
import { MalformedVenueAnswerError } from '../errors.js';

/** ccxt's precision modes (ccxt/js/src/base/functions/number.js). */
export const DECIMAL_PLACES = 2;
export const SIGNIFICANT_DIGITS = 3;
export const TICK_SIZE = 4;

/** ccxt's exchange.numberToString: a number as a plain decimal string. */
export type NumberToString = (n: number) => string;

/** The subset of a ccxt market this module reads. */
export interface MarketLike {
  readonly id: string;
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly spot?: boolean;
  readonly active?: boolean | undefined;
  readonly precision: { readonly amount?: number | undefined; readonly price?: number | undefined };
  readonly limits: {
    readonly amount?: { readonly min?: number | undefined } | undefined;
    readonly cost?: { readonly min?: number | undefined } | undefined;
  };
}

export interface OrderLike {
  readonly id?: string | undefined;
  readonly clientOrderId?: string | undefined;
  readonly symbol?: string | undefined;
  readonly side?: string | undefined;
  readonly type?: string | undefined;
  readonly amount?: number | undefined;
  readonly price?: number | undefined;
  readonly filled?: number | undefined;
  readonly status?: string | undefined;
  readonly timestamp?: number | undefined;
  readonly trades?: readonly TradeLike[] | undefined;
}

export interface FeeLike {
  readonly cost?: number | string | undefined;
  readonly currency?: string | undefined;
}

export interface TradeLike {
  readonly id?: string | undefined;
  readonly order?: string | undefined;
  readonly symbol?: string | undefined;
  readonly side?: string | undefined;
  readonly amount?: number | undefined;
  readonly price?: number | undefined;
  readonly takerOrMaker?: string | undefined;
  readonly timestamp?: number | undefined;
  readonly fee?: FeeLike | undefined;
  readonly fees?: readonly FeeLike[] | undefined;
}

/** Exact decimal from a ccxt number (or numeric string); MalformedVenueAnswerError naming `what` otherwise. */
export function exactFixed(v: number | string | undefined | null, what: string, nts: NumberToString): Fixed {
  if (v === undefined || v === null) throw new MalformedVenueAnswerError(`${what} is missing`);
  const text = typeof v === 'number' ? (Number.isFinite(v) ? nts(v) : String(v)) : v;
  try {
    return fx(text);
  } catch (err) {
    throw new MalformedVenueAnswerError(`${what}: ${(err as Error).message}`);
  }
}

/** A decimal rounded half-even to 8 places (fees only: see the header). */
export function roundedFixed(v: number | string, nts: NumberToString): Fixed {
  const text = (typeof v === 'number' ? nts(v) : v).trim();
  const m = /^([+-])?(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new MalformedVenueAnswerError(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, int, frac = ''] = m;
  if (frac.length <= SCALE_DIGITS) return fx(text);
  let units = BigInt(int + frac.slice(0, SCALE_DIGITS));
  const rest = frac.slice(SCALE_DIGITS);
  const half = '5'.padEnd(rest.length, '0');
  if (rest > half || (rest === half && units % 2n === 1n)) units += 1n;
  return (sign === '-' ? -units : units) as Fixed;
}

/** Our symbol for a market: base and quote run together, as Binance names them (BTCUSDT). */
export function ourSymbolOf(m: Pick<MarketLike, 'base' | 'quote'>): string {
  return `${m.base}${m.quote}`.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/**
 * The increment a precision value stands for, under ccxt's precision mode: TICK_SIZE gives the
 * increment itself (Binance: 0.00001), DECIMAL_PLACES a count of decimals (8 → 0.00000001).
 * SIGNIFICANT_DIGITS has no fixed increment: null.
 */
export function incrementFromPrecision(p: number | undefined, mode: number, what: string, nts: NumberToString): Fixed | null {
  if (p === undefined || p === null || !Number.isFinite(p)) return null;
  if (mode === TICK_SIZE) {
    const step = exactFixed(p, what, nts);
    return step > 0n ? step : null;
  }
  if (mode === DECIMAL_PLACES) {
    if (!Number.isInteger(p) || p < 0 || p > SCALE_DIGITS) {
      throw new MalformedVenueAnswerError(`${what}: ${p} decimal places cannot be held in ${SCALE_DIGITS}-decimal money`);
    }
    return (SCALE / 10n ** BigInt(p)) as Fixed;
  }
  return null;
}

export type InstrumentResult = { readonly ok: true; readonly instrument: Instrument } | { readonly ok: false; readonly reason: string };

/** A spot market's trading rules as our Instrument, or why it cannot be traded here. */
export function instrumentFromMarket(m: MarketLike, precisionMode: number, nts: NumberToString): InstrumentResult {
  if (m.spot === false) return { ok: false, reason: `${m.symbol} is not a spot market` };
  if (m.active === false) return { ok: false, reason: `${m.symbol} is not trading (inactive at the venue)` };
  let symbolName: Symbol;
  try {
    symbolName = toSymbol(ourSymbolOf(m));
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  try {
    const stepSize = incrementFromPrecision(m.precision.amount, precisionMode, `${m.symbol} amount precision`, nts);
    const tickSize = incrementFromPrecision(m.precision.price, precisionMode, `${m.symbol} price precision`, nts);
    if (stepSize === null || tickSize === null) {
      return { ok: false, reason: `${m.symbol} has no fixed quantity step or price tick (precision mode ${precisionMode})` };
    }
    const minAmount = m.limits.amount?.min;
    const minCost = m.limits.cost?.min;
    const minQty = minAmount === undefined || minAmount === null ? stepSize : exactFixed(minAmount, `${m.symbol} minimum amount`, nts);
    const minNotional = minCost === undefined || minCost === null ? ZERO : exactFixed(minCost, `${m.symbol} minimum cost`, nts);
    return {
      ok: true,
      instrument: { symbol: symbolName, base: m.base, quote: m.quote, stepSize, tickSize, minQty: minQty > 0n ? minQty : stepSize, minNotional },
    };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

export function sideOf(side: string | undefined): OrderSide {
  if (side === undefined) throw new MalformedVenueAnswerError('side is missing');
  return side.toLowerCase() === 'sell' ? 'SELL' : 'BUY';
}

/** ccxt's unified order status → the venue status reconciliation reads. A 'closed' order that
 *  did not fill completely (a market order out of liquidity) ended as EXPIRED; 'rejected' after
 *  acceptance is reported as EXPIRED too: it will not fill any further. */
export function venueStatusOf(status: string | undefined, filled: Fixed, qty: Fixed): VenueOrderState['status'] {
  switch (status) {
    case 'closed':
      return filled >= qty ? 'FILLED' : 'EXPIRED';
    case 'canceled':
    case 'cancelled':
      return 'CANCELED';
    case 'expired':
    case 'rejected':
      return 'EXPIRED';
    default:
      return 'OPEN';
  }
}

export function orderStateFrom(o: OrderLike, clientOrderId: ClientOrderId, sym: Symbol, nts: NumberToString): VenueOrderState {
  if (o.id === undefined) throw new MalformedVenueAnswerError('order id is missing');
  const qty = exactFixed(o.amount, `order ${o.id} amount`, nts);
  const filledQty = o.filled === undefined || o.filled === null ? ZERO : exactFixed(o.filled, `order ${o.id} filled`, nts);
  const type = (o.type ?? '').toLowerCase() === 'market' ? 'MARKET' : 'LIMIT';
  return {
    clientOrderId,
    venueOrderId: o.id,
    symbol: sym,
    side: sideOf(o.side),
    type,
    qty,
    price: type === 'LIMIT' && o.price !== undefined && o.price !== null ? exactFixed(o.price, `order ${o.id} price`, nts) : null,
    filledQty,
    status: venueStatusOf(o.status, filledQty, qty),
  };
}

export interface FillContext {
  readonly clientOrderId: ClientOrderId;
  readonly venue: VenueId;
  readonly symbol: Symbol;
  readonly marketId: string;
  readonly base: string;
  readonly quote: string;
  /** The order's side: the fills inside an order response (Binance FULL) carry none. */
  readonly orderSide?: OrderSide;
  readonly nts: NumberToString;
  /** Price of one unit of `currency` in the quote currency, for fees paid in a third asset (BNB). */
  readonly quotePriceOf: (currency: string) => Fixed | undefined;
}

export interface FillConversion {
  readonly fill: Fill;
  /** Fee the venue took out of the base asset (a BUY on Binance without BNB): the base
   *  balance grew by qty − feeBase, which is what an exit can sell. */
  readonly feeBase: Fixed;
  /** Fees in a currency with no known price in quote: left out of fill.fee (and logged). */
  readonly unconverted: readonly { readonly currency: string; readonly amount: Fixed }[];
}

/**
 * A venue trade as our Fill. Fill.fee is in the quote currency: a fee charged in the base asset
 * is converted at the fill's own price, a fee in a third asset at its quote price when known.
 * Trade ids are prefixed with the market id: Binance numbers trades per symbol, and the ledger
 * de-duplicates per venue.
 */
export function fillFromTrade(t: TradeLike, ctx: FillContext): FillConversion {
  if (t.id === undefined || t.id === '') throw new MalformedVenueAnswerError('trade id is missing');
  const qty = exactFixed(t.amount, `trade ${t.id} amount`, ctx.nts);
  const price = exactFixed(t.price, `trade ${t.id} price`, ctx.nts);
  const fees = t.fees !== undefined && t.fees.length > 0 ? t.fees : t.fee !== undefined ? [t.fee] : [];
  let fee = ZERO;
  let feeBase = ZERO;
  const unconverted: { currency: string; amount: Fixed }[] = [];
  for (const f of fees) {
    if (f.cost === undefined || f.cost === null) continue;
    const amount = roundedFixed(f.cost, ctx.nts);
    if (amount === 0n) continue;
    const ccy = (f.currency ?? ctx.quote).toUpperCase();
    if (ccy === ctx.quote.toUpperCase()) {
      fee = (fee + amount) as Fixed;
    } else if (ccy === ctx.base.toUpperCase()) {
      feeBase = (feeBase + amount) as Fixed;
      fee = (fee + mul(amount, price)) as Fixed;
    } else {
      const px = ctx.quotePriceOf(ccy);
      if (px === undefined) unconverted.push({ currency: ccy, amount });
      else fee = (fee + mul(amount, px)) as Fixed;
    }
  }
  return {
    fill: {
      tradeId: `${ctx.marketId}-${t.id}`,
      clientOrderId: ctx.clientOrderId,
      venue: ctx.venue,
      symbol: ctx.symbol,
      side: t.side === undefined && ctx.orderSide !== undefined ? ctx.orderSide : sideOf(t.side),
      qty,
      price,
      fee,
      liquidity: t.takerOrMaker === 'maker' ? 'MAKER' : 'TAKER',
      model: null,
      ts: t.timestamp ?? 0,
    },
    feeBase,
    unconverted,
  };
}
