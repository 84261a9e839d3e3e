// The shadow book: paper positions for models with weight 0, so the leaderboard judges them
// on the terms they would trade on before they trade. A shadow signal is sized by the same
// pure sizeOrder as the live router (quota × paper weight × target), subject to the same
// MIN/MAX_NOTIONAL, and filled by walking the same synthetic book the sim venue offers a
// market order (level prices, slippage, taker fee and volume share from the sim venue
// config), with exact fixed-point money booked by the same applyFill as the engine's
// per-model books. Persisted to ops/shadow_book.json so paper PnL survives a restart.
// A signal executed under its id is executed once (execute(signal, id)): a new ops leader
// replaying the bus stream after its predecessor's last snapshot (ops/cluster) may meet signals
// the predecessor already paper-filled. snapshot()/restore() carry the whole book, exactly
// (raw fixed-point integers), between replicas.
import { readFileSync } from 'node:fs';
import { type Fixed, ZERO, fromRaw, fx, mul, roundToStep, toDecimalString, toNumber } from '../core/decimal.js';
import { clientOrderId, modelId, symbol as toSymbol, venueId, type Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, type Position, applyFill, emptyPortfolio } from '../core/portfolio.js';
import type { Signal } from '../core/signal.js';
import type { Logger } from '../obs/logger.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { reportStorageFault } from '../util/storageHealth.js';
import { RecentIds } from '../util/recentIds.js';
import { fillFee, fillNotional, volumeShareQty, walkBook, type BookSide } from '../venues/sim/matching.js';
import { sizeOrder } from '../portfolio/strategyRouter.js';

export interface ShadowInstrument {
  readonly stepSize: Fixed;
  readonly tickSize: Fixed;
}

export interface ShadowBookOptions {
  /** ops/shadow_book.json, or null to keep the book in memory only. */
  readonly path: string | null;
  readonly instruments: ReadonlyMap<string, ShadowInstrument>;
  /** The sim venue's fee and slippage (config.sim), so shadow and live pay the same. */
  readonly takerFeeBps: number;
  readonly slippageBps: number;
  /** The sim venue's synthetic book shape (its defaults unless configured otherwise). */
  readonly levels?: number;
  readonly levelSpacingBps?: number;
  readonly volumeShare?: number;
  readonly minNotionalUsd: Fixed;
  readonly maxNotionalUsd: Fixed;
  /** Capital quota the model would size against (USD). */
  readonly quota: (model: string) => number;
  /** The weight a shadow model is sized at: judged as if it traded at full weight. */
  readonly paperWeight?: number;
  readonly log: Logger;
  /** Called for every paper fill with the realized PnL net of fee (null when it opened). */
  readonly onFill?: (model: string, fill: Fill, realizedNet: number | null) => void;
}

export type ShadowOutcome =
  | { readonly outcome: 'filled'; readonly fills: readonly Fill[] }
  | { readonly outcome: 'skipped'; readonly reason: string };

interface MarketView {
  last: Fixed;
  levelQty: Fixed;
  ts: number;
}

export interface ShadowModelView {
  readonly pnl: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure_usd: number;
  readonly fills: number;
  readonly positions: { symbol: string; qty: string; avg_price: string }[];
}

/** A book as JSON, exactly: fixed-point amounts as their raw integers. */
export interface EncodedBook {
  readonly cash: string;
  readonly realized: string;
  readonly fees: string;
  readonly fills: number;
  readonly positions: readonly { symbol: string; qty: string; avg: string; realized: string; fees: string }[];
}

export function encodeBook(b: Portfolio): EncodedBook {
  return {
    cash: String(b.cash), realized: String(b.realizedPnl), fees: String(b.fees), fills: b.fillCount,
    positions: [...b.positions.values()].map((p) => ({ symbol: p.symbol, qty: String(p.qty), avg: String(p.avgPrice), realized: String(p.realizedPnl), fees: String(p.fees) })),
  };
}

export function decodeBook(e: EncodedBook): Portfolio {
  const positions = new Map<Symbol, Position>();
  for (const p of e.positions) {
    const sym = toSymbol(p.symbol);
    positions.set(sym, { symbol: sym, qty: fromRaw(p.qty), avgPrice: fromRaw(p.avg), realizedPnl: fromRaw(p.realized), fees: fromRaw(p.fees) });
  }
  return { cash: fromRaw(e.cash), positions, realizedPnl: fromRaw(e.realized), fees: fromRaw(e.fees), fillCount: Number(e.fills) || 0 };
}

/** The whole shadow book, for another replica (ops/cluster replicates the leader's). */
export interface ShadowSnapshot {
  readonly books: Readonly<Record<string, EncodedBook>>;
  readonly markets: Readonly<Record<string, { last: string; levelQty: string; ts: number }>>;
  readonly seq: number;
  /** Ids of the signals executed lately, oldest first (the duplicate check's window). */
  readonly applied: readonly string[];
}

/** How many executed signal ids the duplicate check remembers: far more than one snapshot
 *  interval of signals, which is all a replay can repeat. */
const APPLIED_WINDOW = 2_000;

export class ShadowBook {
  private readonly books = new Map<string, Portfolio>();
  private readonly markets = new Map<string, MarketView>();
  private readonly applied = new RecentIds(APPLIED_WINDOW);
  private readonly levels: number;
  private readonly spacing: number;
  private readonly volumeShare: number;
  private readonly paperWeight: number;
  private seq = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ShadowBookOptions) {
    this.levels = opts.levels ?? 5;
    this.spacing = opts.levelSpacingBps ?? 2;
    this.volumeShare = opts.volumeShare ?? 0.1;
    this.paperWeight = opts.paperWeight ?? 1;
    if (opts.path !== null) this.load(opts.path);
  }

  /** Market data: the last price on tick and this bar's liquidity per level. */
  onBar(bar: Bar): void {
    const inst = this.opts.instruments.get(bar.symbol);
    if (!inst || !(bar.close > 0)) return;
    // Rounded to tick exactly as the sim venue rounds its last price (conformPrice).
    const last = roundToStep(fx(bar.close), inst.tickSize);
    this.markets.set(bar.symbol, { last, levelQty: volumeShareQty(bar.volume, this.volumeShare / this.levels, inst.stepSize), ts: bar.ts });
  }

  lastPrice(sym: string): Fixed | undefined {
    return this.markets.get(sym)?.last;
  }

  /** Paper-trades a shadow model's signal; with an id, a signal already executed under it is
   *  skipped (DUPLICATE). */
  execute(signal: Signal, id?: string): ShadowOutcome {
    if (id !== undefined && !this.applied.add(id)) return { outcome: 'skipped', reason: 'DUPLICATE' };
    if (signal.action === 'HOLD' && signal.targetExposure === undefined) return { outcome: 'skipped', reason: 'HOLD' };
    const inst = this.opts.instruments.get(signal.symbol);
    const m = this.markets.get(signal.symbol);
    if (!inst) return { outcome: 'skipped', reason: 'NO_INSTRUMENT' };
    if (!m) return { outcome: 'skipped', reason: 'NO_MARKET_DATA' };
    const held = this.qty(signal.model, signal.symbol);
    const sizing = sizeOrder(signal, {
      weight: this.paperWeight, quotaUsd: this.opts.quota(signal.model), price: m.last, held,
      maxNotional: this.opts.maxNotionalUsd, stepSize: inst.stepSize,
    });
    if (sizing.qty <= 0n || mul(sizing.qty, m.last) < this.opts.minNotionalUsd) return { outcome: 'skipped', reason: 'BELOW_MIN_NOTIONAL' };
    return this.fill(signal.model, signal.symbol as Symbol, sizing.side, sizing.qty, m, inst, signal.ts);
  }

  /** Sells every paper position of a model at market (it leaves the shadow book). */
  flatten(model: string, ts = Date.now()): Fill[] {
    const book = this.books.get(model);
    if (!book) return [];
    const out: Fill[] = [];
    for (const p of book.positions.values()) {
      const m = this.markets.get(p.symbol);
      const inst = this.opts.instruments.get(p.symbol);
      if (p.qty <= 0n || !m || !inst) continue;
      const r = this.fill(model, p.symbol, 'SELL', p.qty, m, inst, ts);
      if (r.outcome === 'filled') out.push(...r.fills);
    }
    return out;
  }

  private fill(model: string, sym: Symbol, side: 'BUY' | 'SELL', qty: Fixed, m: MarketView, inst: ShadowInstrument, ts: number): ShadowOutcome {
    const book: BookSide = {
      last: m.last, tick: inst.tickSize, slippageBps: this.opts.slippageBps, levelSpacingBps: this.spacing,
      levels: this.levels, levelQty: m.levelQty, consumed: ZERO,
    };
    const plan = walkBook(book, side, qty, null);
    if (plan.length === 0) return { outcome: 'skipped', reason: 'NO_LIQUIDITY' };
    const fills: Fill[] = [];
    const id = clientOrderId(`shadow-${++this.seq}-${ts}`.slice(0, 64));
    for (const f of plan) {
      const fee = fillFee(fillNotional(f.qty, f.price), this.opts.takerFeeBps);
      const fill: Fill = {
        tradeId: `${id}-${fills.length}`, clientOrderId: id, venue: venueId('shadow'), symbol: sym, side, qty: f.qty, price: f.price,
        fee, liquidity: 'TAKER', model: modelId(model), ts,
      };
      const before = this.books.get(model) ?? emptyPortfolio(ZERO);
      const after = applyFill(before, fill);
      this.books.set(model, after);
      const prev = before.positions.get(sym);
      const reducing = prev !== undefined && prev.qty !== 0n && (prev.qty > 0n) !== (side === 'BUY');
      const realizedNet = reducing ? toNumber((after.realizedPnl - before.realizedPnl - fee) as Fixed) : null;
      this.opts.onFill?.(model, fill, realizedNet);
      fills.push(fill);
    }
    this.markDirty();
    return { outcome: 'filled', fills };
  }

  qty(model: string, sym: string): Fixed {
    return this.books.get(model)?.positions.get(sym as Symbol)?.qty ?? ZERO;
  }

  models(): string[] {
    return [...this.books.keys()];
  }

  /** PnL marked at the last bar (realized + unrealized − fees), exposure and positions.
   *  `mark` overrides the book's own marks (the tracker marks every book at the same bar's
   *  closes, whatever order the bar's subscribers run in). */
  view(model: string, mark?: (symbol: string) => number | undefined): ShadowModelView {
    const book = this.books.get(model);
    if (!book) return { pnl: 0, realized_pnl: 0, unrealized_pnl: 0, fees: 0, exposure_usd: 0, fills: 0, positions: [] };
    let unrealized = 0;
    let exposure = 0;
    const positions: ShadowModelView['positions'] = [];
    for (const p of book.positions.values()) {
      const given = mark?.(p.symbol);
      const px = given !== undefined && given > 0 ? fx(given) : (this.markets.get(p.symbol)?.last ?? p.avgPrice);
      unrealized += toNumber(mul(p.qty, (px - p.avgPrice) as Fixed));
      exposure += Math.abs(toNumber(mul(p.qty, px)));
      if (p.qty !== 0n) positions.push({ symbol: p.symbol, qty: toDecimalString(p.qty), avg_price: toDecimalString(p.avgPrice) });
    }
    const realized = toNumber(book.realizedPnl);
    const fees = toNumber(book.fees);
    return { pnl: realized + unrealized - fees, realized_pnl: realized, unrealized_pnl: unrealized, fees, exposure_usd: exposure, fills: book.fillCount, positions };
  }

  private markDirty(): void {
    if (this.opts.path === null) return;
    this.dirty = true;
    // Coalesce bursts of fills into one write a second; flush() on stop writes the rest.
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, 1000);
      this.timer.unref();
    }
  }

  snapshot(): ShadowSnapshot {
    const books: Record<string, EncodedBook> = {};
    for (const [m, b] of this.books) books[m] = encodeBook(b);
    const markets: Record<string, { last: string; levelQty: string; ts: number }> = {};
    for (const [sym, m] of this.markets) markets[sym] = { last: String(m.last), levelQty: String(m.levelQty), ts: m.ts };
    return { books, markets, seq: this.seq, applied: this.applied.toArray() };
  }

  /** Replaces the whole book with another replica's (and saves it as this replica's file). */
  restore(s: ShadowSnapshot): void {
    this.books.clear();
    for (const [m, b] of Object.entries(s.books)) this.books.set(m, decodeBook(b));
    this.markets.clear();
    for (const [sym, m] of Object.entries(s.markets)) this.markets.set(sym, { last: fromRaw(m.last), levelQty: fromRaw(m.levelQty), ts: m.ts });
    this.seq = s.seq;
    this.applied.reset(s.applied);
    this.markDirty();
  }

  flush(): void {
    if (this.opts.path === null || !this.dirty) return;
    this.dirty = false;
    const models: Record<string, unknown> = {};
    for (const [model, book] of this.books) {
      models[model] = {
        fills: book.fillCount,
        realized_pnl: toDecimalString(book.realizedPnl),
        fees: toDecimalString(book.fees),
        positions: [...book.positions.values()].map((p) => ({
          symbol: p.symbol, qty: toDecimalString(p.qty), avg_price: toDecimalString(p.avgPrice),
          realized_pnl: toDecimalString(p.realizedPnl), fees: toDecimalString(p.fees),
        })),
      };
    }
    try {
      writeJsonAtomic(this.opts.path, { format: 1, updated_at: new Date().toISOString(), models });
    } catch (err) {
      // A full disk is reported (new orders stop until writes succeed); said once, not every round.
      const storageFault = reportStorageFault(this.opts.path, err);
      this.dirty = true;
      if (!storageFault) this.opts.log.error({ err }, `[CANARY] writing the shadow book failed: ${(err as Error).message}`);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }

  private load(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    try {
      const doc = JSON.parse(text) as { models?: Record<string, { fills: number; realized_pnl: string; fees: string; positions: { symbol: string; qty: string; avg_price: string; realized_pnl: string; fees: string }[] }> };
      for (const [model, b] of Object.entries(doc.models ?? {})) {
        const positions = new Map<Symbol, Position>();
        for (const p of b.positions) {
          const sym = toSymbol(p.symbol);
          positions.set(sym, { symbol: sym, qty: fx(p.qty), avgPrice: fx(p.avg_price), realizedPnl: fx(p.realized_pnl), fees: fx(p.fees) });
        }
        this.books.set(model, { cash: fromRaw(0), positions, realizedPnl: fx(b.realized_pnl), fees: fx(b.fees), fillCount: Number(b.fills) || 0 });
      }
    } catch (err) {
      // Paper positions are not money: start flat rather than refuse to start, but say so.
      this.books.clear();
      this.opts.log.error({ path }, `[CANARY] ${path} is unreadable (${(err as Error).message}); shadow models start from a flat paper book`);
    }
  }
}
