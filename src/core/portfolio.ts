// Portfolio math: cash, positions, average price, realized PnL and fees, derived only from
// fills. Pure: the same fills in the same order give the same portfolio, to the last unit.
import { type Fixed, ZERO, mul, div, toNumber } from './decimal.js';
import type { Fill } from './order.js';
import type { Symbol } from './ids.js';

export interface Position {
  readonly symbol: Symbol;
  /** Signed base quantity (negative = short). */
  readonly qty: Fixed;
  /** Average entry price of the open quantity. */
  readonly avgPrice: Fixed;
  readonly realizedPnl: Fixed;
  readonly fees: Fixed;
}

export interface Portfolio {
  readonly cash: Fixed;
  readonly positions: ReadonlyMap<Symbol, Position>;
  readonly realizedPnl: Fixed;
  readonly fees: Fixed;
  readonly fillCount: number;
}

export function emptyPortfolio(startingCash: Fixed): Portfolio {
  return { cash: startingCash, positions: new Map(), realizedPnl: ZERO, fees: ZERO, fillCount: 0 };
}

/** Realized PnL is gross of fees; fees are booked separately so both are visible. */
export function applyFill(p: Portfolio, f: Fill): Portfolio {
  const signedQty = (f.side === 'BUY' ? f.qty : -f.qty) as Fixed;
  const notional = mul(f.qty, f.price);
  const cash = (p.cash - (f.side === 'BUY' ? notional : -notional) - f.fee) as Fixed;

  const prev = p.positions.get(f.symbol) ?? { symbol: f.symbol, qty: ZERO, avgPrice: ZERO, realizedPnl: ZERO, fees: ZERO };
  let qty = prev.qty;
  let avgPrice = prev.avgPrice;
  let realized: Fixed = ZERO;

  const sameDirection = qty === 0n || (qty > 0n) === (signedQty > 0n);
  if (sameDirection) {
    const newQty = (qty + signedQty) as Fixed;
    const absOld = qty < 0n ? -qty : qty;
    const absNew = newQty < 0n ? -newQty : newQty;
    // Weighted average entry; rounded to 8 places, which is what we store.
    avgPrice = div((mul(absOld as Fixed, avgPrice) + notional) as Fixed, absNew as Fixed);
    qty = newQty;
  } else {
    const absOld = (qty < 0n ? -qty : qty) as Fixed;
    const closing = (f.qty < absOld ? f.qty : absOld) as Fixed;
    const direction = qty > 0n ? 1n : -1n;
    realized = (mul(closing, (f.price - avgPrice) as Fixed) * direction) as Fixed;
    qty = (qty + signedQty) as Fixed;
    if (qty === 0n) avgPrice = ZERO;
    else if ((qty > 0n) !== (direction > 0n)) avgPrice = f.price; // flipped: remainder opened at this price
  }

  const positions = new Map(p.positions);
  positions.set(f.symbol, {
    symbol: f.symbol,
    qty,
    avgPrice,
    realizedPnl: (prev.realizedPnl + realized) as Fixed,
    fees: (prev.fees + f.fee) as Fixed,
  });
  return {
    cash,
    positions,
    realizedPnl: (p.realizedPnl + realized) as Fixed,
    fees: (p.fees + f.fee) as Fixed,
    fillCount: p.fillCount + 1,
  };
}

/** What a replay tells its reader at each fill: the account just before and just after it. */
export type FillStep = (fill: Fill, before: Portfolio, after: Portfolio) => void;

/**
 * The one replay of fills: in the order given (a ledger's booking order), from the starting
 * cash. A reader that derives more than the portfolio from the same fills (model books, the
 * loss streak, PnL per day) hears each step through `onFill` rather than reading them again.
 */
export function replayFills(startingCash: Fixed, fills: Iterable<Fill>, onFill?: FillStep): Portfolio {
  let p = emptyPortfolio(startingCash);
  for (const f of fills) {
    const before = p;
    p = applyFill(p, f);
    onFill?.(f, before, p);
  }
  return p;
}

export interface PositionValuation {
  readonly symbol: Symbol;
  readonly qty: number;
  readonly avgPrice: number;
  readonly lastPrice: number | null;
  readonly marketValue: number;
  readonly unrealizedPnl: number;
  readonly realizedPnl: number;
  readonly fees: number;
}

export interface Valuation {
  readonly cash: number;
  readonly equity: number;
  readonly exposure: number;
  readonly realizedPnl: number;
  readonly unrealizedPnl: number;
  readonly fees: number;
  readonly positions: PositionValuation[];
}

/** Marks positions to market. Unpriced positions are valued at their entry price. */
export function valuePortfolio(p: Portfolio, lastPrice: (s: Symbol) => Fixed | undefined): Valuation {
  let marketValue: Fixed = ZERO;
  let exposure: Fixed = ZERO;
  let unrealized: Fixed = ZERO;
  const positions: PositionValuation[] = [];
  for (const pos of p.positions.values()) {
    const px = lastPrice(pos.symbol);
    const mark = px ?? pos.avgPrice;
    const value = mul(pos.qty, mark);
    const upnl = mul(pos.qty, (mark - pos.avgPrice) as Fixed);
    marketValue = (marketValue + value) as Fixed;
    exposure = (exposure + (value < 0n ? -value : value)) as Fixed;
    unrealized = (unrealized + upnl) as Fixed;
    positions.push({
      symbol: pos.symbol,
      qty: toNumber(pos.qty),
      avgPrice: toNumber(pos.avgPrice),
      lastPrice: px === undefined ? null : toNumber(px),
      marketValue: toNumber(value),
      unrealizedPnl: toNumber(upnl),
      realizedPnl: toNumber(pos.realizedPnl),
      fees: toNumber(pos.fees),
    });
  }
  return {
    cash: toNumber(p.cash),
    equity: toNumber((p.cash + marketValue) as Fixed),
    exposure: toNumber(exposure),
    realizedPnl: toNumber(p.realizedPnl),
    unrealizedPnl: toNumber(unrealized),
    fees: toNumber(p.fees),
    positions,
  };
}
