// The backtest's float mirror of the engine's book: cash and each symbol's quantity, copied
// from the engine's portfolio after every fill, and each symbol's last close, set on every
// bar; marked to market once per time step for the equity curve and the allocator. The
// exact valuation stays the engine's (the report's final figures come from it): marking a
// million bars through bigints would dominate the run.
//
// Everything that changes per bar is an object field, not a variable captured by a closure:
// V8 boxes a captured double afresh on every write (an allocation per bar), while an
// object's number field is updated in place.
import { toNumber } from '../core/decimal.js';
import type { Portfolio } from '../core/portfolio.js';

/** One symbol as the bar loop and the book see it. */
export interface SymbolMark {
  /** Last close (0 before the symbol's first bar). */
  last: number;
  /** The book's quantity, as of the last copy. */
  qty: number;
  /** Whether the book has ever held it (it then counts towards equity). */
  held: boolean;
  /** Whether the model trades it (gets its bars). */
  readonly traded: boolean;
}

export class FloatBook {
  cash: number;
  /** Cash plus positions at their last close, as of the last mark(). */
  equity: number;
  /** Sum of |position value|, as of the last mark(). */
  exposure = 0;
  private readonly marks = new Map<string, SymbolMark>();
  // The symbols ever held, in the order first held: the order equity sums them in.
  private readonly held: SymbolMark[] = [];

  constructor(cash: number, private readonly traded: readonly string[]) {
    this.cash = cash;
    this.equity = cash;
  }

  /** The symbol's mark, created on first sight. */
  symbol(s: string): SymbolMark {
    let m = this.marks.get(s);
    if (m === undefined) {
      m = { last: 0, qty: 0, held: false, traded: this.traded.includes(s) };
      this.marks.set(s, m);
    }
    return m;
  }

  /** Copies cash and quantities from the engine's portfolio (after a fill). */
  copy(p: Portfolio): void {
    this.cash = toNumber(p.cash);
    for (const pos of p.positions.values()) {
      const m = this.symbol(pos.symbol);
      if (!m.held) {
        m.held = true;
        this.held.push(m);
      }
      m.qty = toNumber(pos.qty);
    }
  }

  /** Values the book at the last closes into equity and exposure. */
  mark(): void {
    let value = 0;
    let exposure = 0;
    for (let i = 0; i < this.held.length; i++) {
      const m = this.held[i]!;
      if (m.qty === 0) continue;
      const v = m.qty * m.last;
      value += v;
      exposure += Math.abs(v);
    }
    this.equity = this.cash + value;
    this.exposure = exposure;
  }
}
