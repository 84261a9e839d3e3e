// Each model's own book at one engine (zero cash): what it holds, for sizing its exits and
// attributing PnL. Rebuilt from the ledger's fills at start and kept by the engine's fill path;
// a fill without a model (manual) belongs to no model book.
import { fx, toDecimalString } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, applyFill, emptyPortfolio } from '../core/portfolio.js';
import type { ModelPositionView } from './views.js';

export class ModelBooks {
  private readonly books = new Map<string, Portfolio>();

  /** Models with a book. */
  get size(): number {
    return this.books.size;
  }

  book(f: Fill): void {
    if (f.model === null) return;
    this.books.set(f.model, applyFill(this.books.get(f.model) ?? emptyPortfolio(fx(0)), f));
  }

  get(model: string): Portfolio | undefined {
    return this.books.get(model);
  }

  /** The model's signed position in a symbol, as a decimal string ('0' when it holds none). */
  qty(model: string, symbol: string): string {
    const q = this.books.get(model)?.positions.get(symbol as Symbol)?.qty;
    return q === undefined ? '0' : toDecimalString(q);
  }

  positions(): ModelPositionView[] {
    const out: ModelPositionView[] = [];
    for (const [model, book] of this.books) {
      for (const p of book.positions.values()) {
        out.push({ model, symbol: p.symbol, qty: toDecimalString(p.qty), avgPrice: toDecimalString(p.avgPrice), realizedPnl: toDecimalString(p.realizedPnl), fees: toDecimalString(p.fees) });
      }
    }
    return out;
  }
}
