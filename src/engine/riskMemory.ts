// What the risk rails remember and see at one engine, beside the order path: the peak equity
// (for the drawdown rail), the loss streak and its cooldown, and the book an order is judged
// against (positions marked at the venue, open and reserved quantities). Pure bookkeeping over
// the engine's state; riskRails.ts decides, the engine alerts.
import { type Fixed, abs, max as fmax, mul, ZERO } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import type { Fill, OrderSide } from '../core/order.js';
import type { Portfolio } from '../core/portfolio.js';
import { type RiskBook, type RiskLimits, LossStreak, closingPnl } from './riskRails.js';

type PriceOf = (symbol: Symbol) => Fixed | undefined;
type OpenQty = { readonly symbol: Symbol; readonly side: OrderSide; readonly qty: Fixed };

/** Equity with every position marked at the venue's last price (its average price if none). */
export function markedEquity(portfolio: Portfolio, priceOf: PriceOf): Fixed {
  let equity = portfolio.cash;
  for (const p of portfolio.positions.values()) {
    if (p.qty !== 0n) equity = (equity + mul(p.qty, priceOf(p.symbol) ?? p.avgPrice)) as Fixed;
  }
  return equity;
}

export class RiskMemory {
  peakEquity: Fixed = ZERO;
  lossStreak = new LossStreak();

  /** Before a rebuild from the ledger: peak equity starts at the starting cash (or the peak
   *  already seen), the loss streak from nothing; the replay of the ledger's fills then gives
   *  each fill to recordExit, in ledger order. */
  startRebuild(startingCash: Fixed): void {
    this.peakEquity = fmax(startingCash, this.peakEquity);
    this.lossStreak = new LossStreak();
  }

  /** Records a fill that closed quantity; returns when new exposure is paused until, if this
   *  fill tripped a loss-streak cooldown that still runs at `now`, else null. */
  recordExit(f: Fill, before: Portfolio, after: Portfolio, limits: RiskLimits, now: number): number | null {
    const pnl = closingPnl(before.positions.get(f.symbol)?.qty ?? ZERO, after.positions.get(f.symbol)?.qty ?? ZERO, (after.realizedPnl - before.realizedPnl) as Fixed, f.fee);
    if (pnl === null) return null;
    const tripped = this.lossStreak.record(pnl, f.ts, limits.lossStreakLimit, limits.lossStreakCooldownMs);
    const until = this.lossStreak.cooldownUntil;
    return tripped && until !== null && until > now ? until : null;
  }

  observeEquity(equity: Fixed): void {
    this.peakEquity = fmax(this.peakEquity, equity);
  }

  /** The book the depth rails judge an order in `symbol` against (exact money, venue marks).
   *  Orders still awaiting the venue count as open (check-and-reserve). */
  book(symbol: Symbol, now: number, portfolio: Portfolio, priceOf: PriceOf, open: Iterable<OpenQty & { readonly filledQty: Fixed }>, openCount: number, pending: Iterable<OpenQty>, pendingCount: number): RiskBook {
    let total = ZERO, symbolExposure = ZERO, marketValue = ZERO;
    for (const p of portfolio.positions.values()) {
      const value = mul(p.qty, priceOf(p.symbol) ?? p.avgPrice);
      marketValue = (marketValue + value) as Fixed;
      total = (total + abs(value)) as Fixed;
      if (p.symbol === symbol) symbolExposure = abs(value);
    }
    let openBuy = ZERO, openSell = ZERO;
    const count = (o: OpenQty, filled: Fixed) => {
      if (o.symbol !== symbol) return;
      const remaining = (o.qty - filled) as Fixed;
      if (o.side === 'BUY') openBuy = (openBuy + remaining) as Fixed;
      else openSell = (openSell + remaining) as Fixed;
    };
    for (const o of open) count(o, o.filledQty);
    for (const o of pending) count(o, ZERO);
    const equity = (portfolio.cash + marketValue) as Fixed;
    this.observeEquity(equity);
    return {
      positionQty: portfolio.positions.get(symbol)?.qty ?? ZERO,
      openBuyQty: openBuy,
      openSellQty: openSell,
      symbolExposureUsd: symbolExposure,
      totalExposureUsd: total,
      openOrders: openCount + pendingCount,
      equityUsd: equity,
      peakEquityUsd: this.peakEquity,
      lossStreak: this.lossStreak.streak,
      lossCooldownUntil: this.lossStreak.cooldownUntil,
      now,
    };
  }
}
