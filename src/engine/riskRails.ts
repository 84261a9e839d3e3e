// Risk rails: the pre-trade checks every order passes before it can reach a venue.
// Pure: a decision from the order, the limits and a snapshot of the engine's state.
// Checks run in a fixed order and the first failure wins, so a rejection names one reason.
import { type Fixed, mul, toDecimalString } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import { type Instrument, checkInstrumentRules } from '../core/instrument.js';
import type { OrderSide } from '../core/order.js';

export type RiskRejectReason =
  | 'TRADING_DISABLED'
  | 'SYMBOL_NOT_ALLOWED'
  | 'UNKNOWN_SYMBOL'
  | 'NO_MARKET_DATA'
  | 'INVALID_QUANTITY'
  | 'QTY_STEP'
  | 'QTY_BELOW_MIN'
  | 'PRICE_TICK'
  | 'BELOW_VENUE_MIN_NOTIONAL'
  | 'MIN_NOTIONAL'
  | 'MAX_NOTIONAL'
  | 'RATE_LIMIT';

export interface RiskLimits {
  readonly tradingEnabled: boolean;
  /** Allow-list; empty means every instrument the venue lists. */
  readonly tradeSymbols: ReadonlySet<string>;
  readonly minNotionalUsdt: Fixed;
  readonly maxNotionalUsdt: Fixed;
  readonly maxOrdersPerMin: number;
}

export interface RiskOrder {
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly qty: Fixed;
  readonly price: Fixed | null;
}

export interface RiskState {
  readonly instrument: Instrument | undefined;
  readonly lastPrice: Fixed | undefined;
  /** Orders that passed the rails in the last 60 s. */
  readonly ordersLastMinute: number;
}

export type RiskDecision =
  | { readonly ok: true; readonly notional: Fixed }
  | { readonly ok: false; readonly reason: RiskRejectReason; readonly message: string };

const reject = (reason: RiskRejectReason, message: string): RiskDecision => ({ ok: false, reason, message });

export function checkRiskRails(order: RiskOrder, limits: RiskLimits, state: RiskState): RiskDecision {
  if (!limits.tradingEnabled) return reject('TRADING_DISABLED', 'trading is disabled (kill switch)');
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
  const notional = mul(order.qty, refPrice);
  if (notional < limits.minNotionalUsdt) {
    return reject('MIN_NOTIONAL', `notional ${toDecimalString(notional)} is below MIN_NOTIONAL_USDT ${toDecimalString(limits.minNotionalUsdt)}`);
  }
  if (notional > limits.maxNotionalUsdt) {
    return reject('MAX_NOTIONAL', `notional ${toDecimalString(notional)} is above MAX_NOTIONAL_USDT ${toDecimalString(limits.maxNotionalUsdt)}`);
  }
  if (state.ordersLastMinute >= limits.maxOrdersPerMin) {
    return reject('RATE_LIMIT', `MAX_ORDERS_PER_MIN ${limits.maxOrdersPerMin} reached`);
  }
  return { ok: true, notional };
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
