// Risk rails: the pre-trade checks every order passes before it can reach a venue.
// Pure: a decision from the order, the limits and a snapshot of the engine's state (its
// book: position, open and in-flight orders, exposure, equity, loss streak, trading state).
// Checks run in a fixed order and the first failure wins, so a rejection names one reason.
// An order that shrinks the position ("reducing") is never blocked by the rails that exist
// to stop risk from growing (REDUCING state, equity floor, drawdown, loss streak, caps):
// an operator must always be able to get out.
import { type Fixed, abs, mul, toDecimalString } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import { type Instrument, checkInstrumentRules } from '../core/instrument.js';
import type { OrderSide } from '../core/order.js';
import type { TradingState } from '../core/tradingState.js';

// The graded trading state lives in core (one document for the whole stack); re-exported here
// because the rails are where it is enforced.
export { type TradingState, TRADING_STATES, tradingStateRank, worstState } from '../core/tradingState.js';

export type RiskRejectReason =
  | 'TRADING_DISABLED'
  | 'TRADING_HALTED'
  | 'TRADING_REDUCING'
  | 'SYMBOL_NOT_ALLOWED'
  | 'UNKNOWN_SYMBOL'
  | 'NO_MARKET_DATA'
  | 'INVALID_QUANTITY'
  | 'QTY_STEP'
  | 'QTY_BELOW_MIN'
  | 'PRICE_TICK'
  | 'PRICE_BAND'
  | 'BELOW_VENUE_MIN_NOTIONAL'
  | 'MIN_NOTIONAL'
  | 'MAX_NOTIONAL'
  | 'EQUITY_FLOOR'
  | 'DRAWDOWN_BREAKER'
  | 'LOSS_STREAK_COOLDOWN'
  | 'EXPOSURE_SYMBOL_CAP'
  | 'EXPOSURE_TOTAL_CAP'
  | 'MAX_OPEN_ORDERS'
  | 'RATE_LIMIT';

/** Reasons that mean "the operator or governance stopped this", not "the order is wrong". */
export const STOPPED_REASONS: ReadonlySet<string> = new Set(['TRADING_DISABLED', 'TRADING_HALTED', 'TRADING_REDUCING', 'SYMBOL_NOT_ALLOWED']);

/** The limits an engine enforces. Whether it may trade at all is not a limit: that is the
 *  trading state (RiskState), which only the trading-state document changes. */
export interface RiskLimits {
  /** Allow-list; empty means every instrument the venue lists. */
  readonly tradeSymbols: ReadonlySet<string>;
  readonly minNotionalUsdt: Fixed;
  readonly maxNotionalUsdt: Fixed;
  readonly maxOrdersPerMin: number;
  // Rails in depth. Each is off when absent, null or zero, so a caller that predates them keeps working.
  /** Largest |position value| in one symbol after the order (EXPOSURE_CAP_SYMBOL_USD). */
  readonly exposureCapSymbolUsd?: Fixed | null;
  /** Largest Σ |position value| across symbols after the order (EXPOSURE_CAP_TOTAL_USD). */
  readonly exposureCapTotalUsd?: Fixed | null;
  /** Below this equity only reducing orders pass (EQUITY_FLOOR_USD). */
  readonly equityFloorUsd?: Fixed | null;
  /** Drawdown from peak equity, in percent, at which only reducing orders pass (MAX_DRAWDOWN_PCT). */
  readonly maxDrawdownPct?: number | null;
  /** Consecutive losing exits that start a cooldown (LOSS_STREAK_LIMIT). */
  readonly lossStreakLimit?: number | null;
  readonly lossStreakCooldownMs?: number | null;
  /** A limit price further than this percentage from the mark is refused (PRICE_BAND_PCT). */
  readonly priceBandPct?: number | null;
  /** Resting (limit) orders allowed at once (MAX_OPEN_ORDERS). */
  readonly maxOpenOrders?: number | null;
}

export interface RiskOrder {
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly qty: Fixed;
  readonly price: Fixed | null;
}

/** The engine's book as the rails need it, for the order's symbol and in total. */
export interface RiskBook {
  /** Signed position in the order's symbol. */
  readonly positionQty: Fixed;
  /** Remaining quantity of open and in-flight orders in the order's symbol, per side. */
  readonly openBuyQty: Fixed;
  readonly openSellQty: Fixed;
  /** |position| × mark in the order's symbol, and summed over every symbol. */
  readonly symbolExposureUsd: Fixed;
  readonly totalExposureUsd: Fixed;
  /** Open (resting or in-flight) orders at the engine. */
  readonly openOrders: number;
  readonly equityUsd: Fixed;
  readonly peakEquityUsd: Fixed;
  readonly lossStreak: number;
  /** Until when (epoch ms) the loss-streak cooldown holds, or null. */
  readonly lossCooldownUntil: number | null;
  readonly now: number;
}

export interface RiskState {
  readonly instrument: Instrument | undefined;
  readonly lastPrice: Fixed | undefined;
  /** Orders that passed the rails in the last 60 s. */
  readonly ordersLastMinute: number;
  /** The most restrictive trading state among global, this venue and the order's model. */
  readonly tradingState?: TradingState;
  /** Trading is disabled as a whole at this engine: the global HALTED (the kill switch), or the
   *  engine's own stop (TRADING_ENABLED=false at start, a ledger that cannot commit). Refused
   *  as TRADING_DISABLED, the runbook's answer to an order sent after a kill. */
  readonly tradingDisabled?: boolean;
  /** Without a book the depth rails cannot be judged; REDUCING then refuses everything. */
  readonly book?: RiskBook;
}

export type RiskDecision =
  | { readonly ok: true; readonly notional: Fixed; readonly reducing: boolean }
  | { readonly ok: false; readonly reason: RiskRejectReason; readonly message: string };

const reject = (reason: RiskRejectReason, message: string): RiskDecision => ({ ok: false, reason, message });
const usd = (x: Fixed): string => toDecimalString(x);
const on = (x: number | null | undefined): x is number => typeof x === 'number' && x > 0;
const onFx = (x: Fixed | null | undefined): x is Fixed => typeof x === 'bigint' && x > 0n;

/** Signed position after this order and every open order on the same side has filled. */
export function projectedPosition(order: RiskOrder, book: RiskBook): Fixed {
  return (order.side === 'BUY'
    ? book.positionQty + book.openBuyQty + order.qty
    : book.positionQty - book.openSellQty - order.qty) as Fixed;
}

/** True when the order (with the open orders already working on that side) only shrinks the
 *  position toward flat and never flips it. */
export function isReducingOrder(order: RiskOrder, book: RiskBook | undefined): boolean {
  if (!book || book.positionQty === 0n) return false;
  const after = projectedPosition(order, book);
  if (book.positionQty > 0n) return order.side === 'SELL' && after >= 0n;
  return order.side === 'BUY' && after <= 0n;
}

export function drawdownPct(equity: Fixed, peak: Fixed): number {
  if (peak <= 0n || equity >= peak) return 0;
  return (Number(peak - equity) / Number(peak)) * 100;
}

export function checkRiskRails(order: RiskOrder, limits: RiskLimits, state: RiskState): RiskDecision {
  if (state.tradingDisabled === true) return reject('TRADING_DISABLED', 'trading is disabled (kill switch)');
  const tradingState = state.tradingState ?? 'ACTIVE';
  if (tradingState === 'HALTED') return reject('TRADING_HALTED', 'trading is HALTED (global, venue or model state)');
  if (limits.tradeSymbols.size > 0 && !limits.tradeSymbols.has(order.symbol)) {
    return reject('SYMBOL_NOT_ALLOWED', `${order.symbol} is not in TRADE_SYMBOLS`);
  }
  const inst = state.instrument;
  if (!inst) return reject('UNKNOWN_SYMBOL', `the venue does not list ${order.symbol}`);
  if (order.qty <= 0n) return reject('INVALID_QUANTITY', 'quantity must be positive');
  const refPrice = order.price ?? state.lastPrice;
  if (refPrice === undefined) return reject('NO_MARKET_DATA', `no price for ${order.symbol} yet`);
  const violation = checkInstrumentRules(inst, order.qty, order.price, refPrice);
  if (violation) return reject(violation.code, violation.message);

  // Fat-finger guard on the aggressive side only: a BUY limit far above the mark (or a SELL far
  // below) would sweep the book at a price nobody meant. A passive limit far away cannot fill
  // worse than its own price, and the exposure it could add is the caps' business.
  if (order.price !== null && on(limits.priceBandPct)) {
    const mark = state.lastPrice;
    if (mark === undefined || mark <= 0n) return reject('NO_MARKET_DATA', `no mark price for ${order.symbol} to check the price band against`);
    const through = order.side === 'BUY' ? order.price - mark : mark - order.price;
    const distancePct = (Number(through) / Number(mark)) * 100;
    if (distancePct > limits.priceBandPct) {
      return reject('PRICE_BAND', `${order.side} limit ${usd(order.price)} is ${distancePct.toFixed(2)}% through the mark ${usd(mark)} (PRICE_BAND_PCT ${limits.priceBandPct})`);
    }
  }

  const notional = mul(order.qty, refPrice);
  if (notional < limits.minNotionalUsdt) {
    return reject('MIN_NOTIONAL', `notional ${usd(notional)} is below MIN_NOTIONAL_USDT ${usd(limits.minNotionalUsdt)}`);
  }
  if (notional > limits.maxNotionalUsdt) {
    return reject('MAX_NOTIONAL', `notional ${usd(notional)} is above MAX_NOTIONAL_USDT ${usd(limits.maxNotionalUsdt)}`);
  }

  const book = state.book;
  const reducing = isReducingOrder(order, book);
  if (!reducing) {
    if (tradingState === 'REDUCING') return reject('TRADING_REDUCING', 'trading is REDUCING: only orders that shrink a position pass');
    if (book) {
      if (onFx(limits.equityFloorUsd) && book.equityUsd < limits.equityFloorUsd) {
        return reject('EQUITY_FLOOR', `equity ${usd(book.equityUsd)} is below EQUITY_FLOOR_USD ${usd(limits.equityFloorUsd)}: only reducing orders pass`);
      }
      if (on(limits.maxDrawdownPct)) {
        const dd = drawdownPct(book.equityUsd, book.peakEquityUsd);
        if (dd >= limits.maxDrawdownPct) {
          return reject('DRAWDOWN_BREAKER', `drawdown ${dd.toFixed(2)}% from peak ${usd(book.peakEquityUsd)} reached MAX_DRAWDOWN_PCT ${limits.maxDrawdownPct}: only reducing orders pass`);
        }
      }
      if (book.lossCooldownUntil !== null && book.now < book.lossCooldownUntil) {
        return reject('LOSS_STREAK_COOLDOWN', `${limits.lossStreakLimit ?? ''} losing exits in a row: new exposure paused until ${new Date(book.lossCooldownUntil).toISOString()}`);
      }
    }
  }

  // Exposure caps judge the book after this order and the open orders on its side have filled.
  // An order that does not grow the symbol's exposure passes even when a cap is already
  // exceeded (prices moved): that is how a breach is worked off.
  if (book && (onFx(limits.exposureCapSymbolUsd) || onFx(limits.exposureCapTotalUsd))) {
    const mark = state.lastPrice ?? refPrice;
    const symbolAfter = mul(abs(projectedPosition(order, book)), mark);
    const grows = symbolAfter > book.symbolExposureUsd;
    if (grows && onFx(limits.exposureCapSymbolUsd) && symbolAfter > limits.exposureCapSymbolUsd) {
      return reject('EXPOSURE_SYMBOL_CAP', `${order.symbol} exposure would be ${usd(symbolAfter)} > EXPOSURE_CAP_SYMBOL_USD ${usd(limits.exposureCapSymbolUsd)}`);
    }
    const totalAfter = (book.totalExposureUsd - book.symbolExposureUsd + symbolAfter) as Fixed;
    if (grows && onFx(limits.exposureCapTotalUsd) && totalAfter > limits.exposureCapTotalUsd) {
      return reject('EXPOSURE_TOTAL_CAP', `total exposure would be ${usd(totalAfter)} > EXPOSURE_CAP_TOTAL_USD ${usd(limits.exposureCapTotalUsd)}`);
    }
  }

  if (order.price !== null && on(limits.maxOpenOrders) && book && book.openOrders >= limits.maxOpenOrders) {
    return reject('MAX_OPEN_ORDERS', `${book.openOrders} orders are open (MAX_OPEN_ORDERS ${limits.maxOpenOrders})`);
  }
  if (state.ordersLastMinute >= limits.maxOrdersPerMin) {
    return reject('RATE_LIMIT', `MAX_ORDERS_PER_MIN ${limits.maxOrdersPerMin} reached`);
  }
  return { ok: true, notional, reducing };
}

/** Consecutive losing exits. A fill that realizes a loss (net of its fee) extends the streak,
 *  a profitable exit ends it; reaching the limit starts a cooldown and resets the count, so
 *  after the cooldown a fresh streak is needed to pause again (Freqtrade's StoplossGuard). */
export class LossStreak {
  streak = 0;
  cooldownUntil: number | null = null;
  lastLossAt: number | null = null;

  /** `realizedNet` is the fill's realized PnL minus its fee; call only for fills that closed quantity. */
  record(realizedNet: Fixed, ts: number, limit: number | null | undefined, cooldownMs: number | null | undefined): boolean {
    if (realizedNet >= 0n) {
      if (realizedNet > 0n) this.streak = 0;
      return false;
    }
    this.streak++;
    this.lastLossAt = ts;
    if (on(limit) && this.streak >= limit && on(cooldownMs)) {
      this.cooldownUntil = ts + cooldownMs;
      this.streak = 0;
      return true;
    }
    return false;
  }

  cooldownActive(now: number): boolean {
    return this.cooldownUntil !== null && now < this.cooldownUntil;
  }
}

/** Realized PnL net of fee for a fill that reduced an existing position; null for a fill that
 *  only opened or added. `before`/`after` are the position quantities around the fill. */
export function closingPnl(beforeQty: Fixed, afterQty: Fixed, realizedDelta: Fixed, fee: Fixed): Fixed | null {
  const closed = beforeQty !== 0n && (abs(afterQty) < abs(beforeQty) || (beforeQty > 0n) !== (afterQty > 0n));
  return closed ? ((realizedDelta - fee) as Fixed) : null;
}

/** Sliding 60-second window of accepted order times, for MAX_ORDERS_PER_MIN. */
export class OrderRateWindow {
  private readonly times: number[] = [];
  private head = 0;

  constructor(private readonly windowMs = 60_000) {}

  count(now: number): number {
    while (this.head < this.times.length && this.times[this.head]! <= now - this.windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  record(now: number): void {
    this.times.push(now);
  }
}
