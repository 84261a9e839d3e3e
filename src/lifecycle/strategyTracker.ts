// The strategy tracker: samples every running model's PnL once per bar interval and keeps
// its performance figures (Sharpe, Sortino, drawdown, win rate, trades, exposure time) over
// its whole life and since its last stage change. A model with weight > 0 is measured from
// the engine's per-model book (EngineHandle.modelPositions, marked at the last price, plus
// its fills on the bus); a model with weight 0 from the shadow book. Returns are taken on
// the capital the model had at work (quota × weight, or × the paper weight in shadow), so a
// canary trading a tenth of its quota and a shadow model sized at full weight are compared
// on the same footing. State is saved into the registry so figures resume after a restart.
import { type Fixed, fx, toNumber } from '../core/decimal.js';
import { clientOrderId, modelId, symbol as toSymbol, venueId, type Symbol } from '../core/ids.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, type Position, applyFill, emptyPortfolio } from '../core/portfolio.js';
import type { Bus } from '../bus/bus.js';
import type { FillPayload } from '../bus/topics.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import { PerformanceAccumulator, reviveState, type PerformanceMetrics } from './performance.js';
import type { ShadowBook } from './shadowBook.js';
import { StrategyRegistry, type RegistryMetrics } from './strategyRegistry.js';

export type ScoreMetric = 'sharpe' | 'sortino' | 'return_pct' | 'pnl';

export interface TrackerDeps {
  readonly engines: () => readonly EngineHandle[];
  readonly shadow: ShadowBook;
  readonly registry: StrategyRegistry;
  readonly weight: (model: string) => number;
  readonly quota: (model: string) => number;
  /** Ids of the running (non-retired) models. */
  readonly models: () => readonly string[];
  readonly scoreMetric: () => ScoreMetric;
  readonly bus: Bus;
  readonly log: Logger;
  readonly sampleEveryMs: number;
  readonly persistEveryMs?: number;
  /** Weight a shadow model is sized at in the shadow book (its capital base). */
  readonly paperWeight?: number;
  readonly now?: () => number;
}

export type Source = 'live' | 'shadow';

export interface ModelReport {
  readonly model: string;
  readonly source: Source;
  readonly total: PerformanceMetrics;
  readonly window: PerformanceMetrics;
  /** PnL of the book the model is in now (USD): realized + unrealized − fees. */
  readonly pnl: number;
  readonly live_pnl: number;
  readonly shadow_pnl: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure_usd: number;
  readonly score: number;
}

interface BookFigures {
  pnl: number;
  realized: number;
  unrealized: number;
  fees: number;
  exposure: number;
}

interface ModelTrack {
  total: PerformanceAccumulator;
  window: PerformanceAccumulator;
  windowSince: string;
  last: { source: Source; pnl: number; base: number } | null;
  live: BookFigures;
  shadow: BookFigures;
}

const ZERO_FIGURES: BookFigures = { pnl: 0, realized: 0, unrealized: 0, fees: 0, exposure: 0 };

export function scoreOf(metric: ScoreMetric, m: PerformanceMetrics, pnl: number): number {
  switch (metric) {
    case 'sharpe': return m.sharpe;
    case 'sortino': return m.sortino;
    case 'return_pct': return m.return_pct;
    case 'pnl': return Math.round(pnl * 100) / 100;
  }
}

export class StrategyTracker {
  private readonly tracks = new Map<string, ModelTrack>();
  /** Live fills replayed per model, to tell a closing fill's realized PnL (win rate). */
  private readonly mirrors = new Map<string, Portfolio>();
  private readonly now: () => number;
  private readonly paperWeight: number;
  private unsubscribe: (() => void) | null = null;
  private sampleTimer: NodeJS.Timeout | null = null;
  private persistTimer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> | null = null;

  constructor(private readonly deps: TrackerDeps) {
    this.now = deps.now ?? Date.now;
    this.paperWeight = deps.paperWeight ?? 1;
  }

  private track(model: string): ModelTrack {
    let t = this.tracks.get(model);
    const entry = this.deps.registry.get(model);
    const since = entry?.stage_since ?? '';
    if (!t) {
      t = {
        total: new PerformanceAccumulator(entry?.tracking ? reviveState(entry.tracking.total) : undefined),
        window: new PerformanceAccumulator(entry?.tracking && since !== '' ? reviveState(entry.tracking.window) : undefined),
        windowSince: since,
        last: null,
        live: { ...ZERO_FIGURES },
        shadow: { ...ZERO_FIGURES },
      };
      this.tracks.set(model, t);
    } else if (t.windowSince !== since) {
      // A stage change starts a new window: the canary rule judges what a model did as canary.
      t.window = new PerformanceAccumulator();
      t.windowSince = since;
    }
    return t;
  }

  /** Seeds the live fill mirrors from the engines' per-model books, subscribes to fills and
   *  starts sampling. */
  async start(): Promise<void> {
    for (const e of this.deps.engines()) {
      for (const p of await e.modelPositions()) {
        const book = this.mirrors.get(p.model) ?? emptyPortfolio(fx(0));
        const positions = new Map(book.positions);
        const sym = toSymbol(p.symbol);
        const pos: Position = { symbol: sym, qty: fx(p.qty), avgPrice: fx(p.avgPrice), realizedPnl: fx(p.realizedPnl), fees: fx(p.fees) };
        positions.set(sym, pos);
        this.mirrors.set(p.model, { ...book, positions });
      }
    }
    this.unsubscribe = this.deps.bus.subscribe('trade.fill', (f) => this.onLiveFill(f));
    const tick = () => {
      this.sample().catch((err: Error) => this.deps.log.error({ err }, `[CANARY] strategy tracker sample failed: ${err.message}`));
    };
    this.sampleTimer = setInterval(tick, Math.max(10, this.deps.sampleEveryMs));
    this.sampleTimer.unref();
    this.persistTimer = setInterval(() => this.persist(), this.deps.persistEveryMs ?? 5000);
    this.persistTimer.unref();
  }

  onLiveFill(f: FillPayload): void {
    if (f.model === null) return;
    const fill: Fill = {
      tradeId: f.tradeId, clientOrderId: clientOrderId(f.clientOrderId), venue: venueId(f.venue), symbol: toSymbol(f.symbol),
      side: f.side === 'SELL' ? 'SELL' : 'BUY', qty: fx(f.qty), price: fx(f.price), fee: fx(f.fee), liquidity: f.liquidity === 'MAKER' ? 'MAKER' : 'TAKER',
      model: modelId(f.model), ts: f.ts,
    };
    const before = this.mirrors.get(f.model) ?? emptyPortfolio(fx(0));
    const after = applyFill(before, fill);
    this.mirrors.set(f.model, after);
    const prev = before.positions.get(fill.symbol as Symbol);
    const reducing = prev !== undefined && prev.qty !== 0n && (prev.qty > 0n) !== (fill.side === 'BUY');
    this.recordFill(f.model, reducing ? toNumber((after.realizedPnl - before.realizedPnl - fill.fee) as Fixed) : null);
  }

  /** A paper fill from the shadow book. */
  onShadowFill(model: string, _fill: Fill, realizedNet: number | null): void {
    this.recordFill(model, realizedNet);
  }

  private recordFill(model: string, realizedNet: number | null): void {
    const t = this.track(model);
    t.total.addFill(realizedNet);
    t.window.addFill(realizedNet);
  }

  /** One sample of every running model (serialised: a slow engine never overlaps samples). */
  sample(now = this.now()): Promise<void> {
    if (this.sampling) return this.sampling;
    this.sampling = this.sampleNow(now).finally(() => { this.sampling = null; });
    return this.sampling;
  }

  private async sampleNow(now: number): Promise<void> {
    const live = await this.liveFigures();
    for (const model of this.deps.models()) {
      const t = this.track(model);
      const weight = this.deps.weight(model);
      const source: Source = weight > 0 ? 'live' : 'shadow';
      t.live = live.get(model) ?? { ...ZERO_FIGURES };
      const sv = this.deps.shadow.view(model);
      t.shadow = { pnl: sv.pnl, realized: sv.realized_pnl, unrealized: sv.unrealized_pnl, fees: sv.fees, exposure: sv.exposure_usd };
      const fig = source === 'live' ? t.live : t.shadow;
      const base = this.deps.quota(model) * (source === 'live' ? weight : this.paperWeight);
      // No return across a change of book or from a book with no capital behind it.
      const ret = t.last !== null && t.last.source === source && t.last.base > 0 ? (fig.pnl - t.last.pnl) / t.last.base : null;
      const exposed = fig.exposure > 1e-9;
      t.total.addSample(ret, exposed, now);
      t.window.addSample(ret, exposed, now);
      t.last = { source, pnl: fig.pnl, base };
    }
  }

  private async liveFigures(): Promise<Map<string, BookFigures>> {
    const out = new Map<string, BookFigures>();
    for (const e of this.deps.engines()) {
      const positions = await e.modelPositions();
      const marks = new Map<string, number | null>();
      for (const p of positions) {
        if (!marks.has(p.symbol)) {
          const px = await e.lastPrice(p.symbol);
          marks.set(p.symbol, px === null ? null : Number(px));
        }
        const qty = Number(p.qty);
        const avg = Number(p.avgPrice);
        const mark = marks.get(p.symbol) ?? avg;
        const f = out.get(p.model) ?? { ...ZERO_FIGURES };
        const realized = Number(p.realizedPnl);
        const fees = Number(p.fees);
        const unrealized = qty * (mark - avg);
        f.realized += realized;
        f.fees += fees;
        f.unrealized += unrealized;
        f.pnl += realized + unrealized - fees;
        f.exposure += Math.abs(qty * mark);
        out.set(p.model, f);
      }
    }
    return out;
  }

  report(model: string): ModelReport {
    const t = this.track(model);
    const source: Source = this.deps.weight(model) > 0 ? 'live' : 'shadow';
    const fig = source === 'live' ? t.live : t.shadow;
    const total = t.total.metrics();
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      model, source, total, window: t.window.metrics(),
      pnl: r2(fig.pnl), live_pnl: r2(t.live.pnl), shadow_pnl: r2(t.shadow.pnl),
      realized_pnl: r2(fig.realized), unrealized_pnl: r2(fig.unrealized), fees: r2(fig.fees), exposure_usd: r2(fig.exposure),
      score: scoreOf(this.deps.scoreMetric(), total, fig.pnl),
    };
  }

  reports(): ModelReport[] {
    return this.deps.models().map((m) => this.report(m));
  }

  /** Saves figures and accumulator state into the registry (one atomic write). */
  persist(): void {
    const models = new Set(this.deps.models());
    if (models.size === 0) return;
    const ts = new Date(this.now()).toISOString();
    try {
      this.deps.registry.commit((draft) => {
        for (const e of draft.models) {
          if (!models.has(e.id)) continue;
          const t = this.track(e.id);
          const r = this.report(e.id);
          const metrics: RegistryMetrics = { total: r.total, window: r.window, pnl: r.pnl, live_pnl: r.live_pnl, shadow_pnl: r.shadow_pnl, score: r.score, updated_at: ts };
          StrategyRegistry.patch(draft, e.id, { metrics, tracking: { total: { ...t.total.state }, window: { ...t.window.state } } });
        }
      });
    } catch (err) {
      this.deps.log.error({ err }, `[CANARY] saving model metrics to the registry failed: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    if (this.persistTimer) clearInterval(this.persistTimer);
    this.sampleTimer = null;
    this.persistTimer = null;
    this.persist();
  }
}
