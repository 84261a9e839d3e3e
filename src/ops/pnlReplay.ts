// The replay every PnL report from a ledger makes (the daily export, the day-start equity of
// `hmm status`, Telegram's daily PnL): the ledger's fills in ledger order (the order the
// engine's own portfolio uses, so the numbers agree with it to the unit), through the one
// replay of core/portfolio.ts, up to a time. Beside the account it keeps each model's book per
// symbol (manual fills in one 'manual' book), so a fill's realized PnL is the one its own
// model made, and each symbol's mark: the price of its latest trade by trade time.
import { type Fixed, fx } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, applyFill, emptyPortfolio, replayFills, valuePortfolio } from '../core/portfolio.js';

/** A model's book for one symbol: `model\u0000symbol`, the model 'manual' for a fill without one. */
export type BookKey = string;

export interface PnlReplay {
  /** The account from its starting cash. */
  readonly account: Portfolio;
  /** Each model's book per symbol (zero cash), by key. */
  readonly books: ReadonlyMap<BookKey, Portfolio>;
  /** The price of the symbol's latest trade by trade time (of those replayed). */
  markOf(symbol: Symbol): Fixed | undefined;
  /** The account's equity, positions at their marks. */
  equity(): number;
}

/** Splits a book key into its model and symbol. */
export function bookOf(key: BookKey): [model: string, symbol: Symbol] {
  return key.split('\u0000') as [string, Symbol];
}

/**
 * Replays the fills traded before `until` (ledger order; a later trade booked earlier is left
 * out, a late-booked earlier one is in). `onFill` hears each fill with its book and the
 * realized PnL it booked there (gross of fees).
 */
export function replayPnl(startingCash: Fixed, fills: Iterable<Fill>, until: number, onFill?: (fill: Fill, key: BookKey, realized: Fixed) => void): PnlReplay {
  const books = new Map<BookKey, Portfolio>();
  const marks = new Map<Symbol, { ts: number; price: Fixed }>();
  const account = replayFills(startingCash, tradedBefore(fills, until), (f) => {
    const mark = marks.get(f.symbol);
    if (!mark || f.ts >= mark.ts) marks.set(f.symbol, { ts: f.ts, price: f.price });
    const key = `${f.model ?? 'manual'}\u0000${f.symbol}`;
    const before = books.get(key) ?? emptyPortfolio(fx(0));
    const after = applyFill(before, f);
    books.set(key, after);
    onFill?.(f, key, (after.realizedPnl - before.realizedPnl) as Fixed);
  });
  const markOf = (s: Symbol) => marks.get(s)?.price;
  return { account, books, markOf, equity: () => valuePortfolio(account, markOf).equity };
}

function* tradedBefore(fills: Iterable<Fill>, until: number): Generator<Fill> {
  for (const f of fills) if (f.ts < until) yield f;
}
