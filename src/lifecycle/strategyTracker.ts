// The strategy tracker: measures every running model once per bar, in market time, and keeps
// its performance figures (Sharpe, Sortino, drawdown, win rate, trades, exposure time) over
// its whole life and since its last stage change, plus the evidence behind them
// (ModelEvidence: per-bar returns as Moments, the per-bar difference against the live model,
// bars and trades) that ranking, allocation and promotion read.
//
// Sampling: one observation per bar timestamp, taken when every symbol has delivered its bar
// for that timestamp (or a later bar arrives), marked at those bars' closes. Never on a
// wall-clock interval: a feed that runs a minute of market per wall second, or a replay that
// runs a year in seconds, gives the same figures for the same bars.
//
// Books: a model with weight > 0 is measured on its engine book — seeded from
// EngineHandle.modelPositions at start and kept by its fills on the bus, so a bar's sample is
// synchronous and deterministic — a model with weight 0 on the shadow book.
//
// Capital at work: a model's return on a bar is its PnL change (net of fees) divided by its
// sizing budget at the start of the bar — quota × weight live, quota × paper weight in shadow —
// the amount its signals are sized from (order notional = quota × weight × strength). An idle
// bar is a 0 return on that budget, so a model that sits out half the bars is not flattered
// against one that trades through them, and a canary at a tenth of its weight and a shadow
// model at full paper weight compare on the same footing. (Returns on the notional actually
// deployed would be undefined when flat and inflate a model that is rarely in the market.)
// No return is taken across a change of book or from a book with no budget.
//
// PnL over a model's life: both books are cumulative (the engine keeps a model's realized PnL
// and fees after it closes; the shadow book keeps its paper PnL after the flatten on promotion),
// so a report's `pnl` is their sum — paper PnL earned in shadow plus real PnL earned as canary
// or live — and a stage change moves money from one part to the other, never the line to $0.
// `live_pnl` (real, engine book) and `shadow_pnl` (paper) say which part is which. Returns and
// evidence stay per book and per stage: a paper dollar never enters a live return.
//
// State is saved into the registry (the accumulators and the vs-live moments) so figures and
// evidence resume after a restart. How often it is saved is about what a crash may lose, which
// is wall time: the saves run on a wall clock of their own (a replay on a SimClock would
// otherwise write the registry several times per bar) and once more on stop; the stack's Clock
// stamps them.
//
// Replicas (ops/cluster): a fill is booked once by its event id — the outbox's `event_id` when
// the payload carries one, else venue and trade id — so a fill seen twice (a relay's retry, a new
// leader replaying the stream after its predecessor's snapshot) counts once. snapshot()/restore()
// carry the whole state to another replica; start({ subscribe: false }) leaves feeding it to the
// caller (the control plane's derived-state fold, which decides when this replica folds events).
import { type Fixed, fx, toNumber } from '../core/decimal.js';
import { WallClock, type Clock, type TimerHandle } from '../core/clock.js';
import { clientOrderId, modelId, symbol as toSymbol, venueId, type Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, type Position, applyFill, emptyPortfolio } from '../core/portfolio.js';
import type { Bus } from '../bus/bus.js';
import type { FillPayload } from '../bus/topics.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import { addObservation, emptyMoments, reviveMoments, type ModelEvidence, type Moments } from './evidence.js';
import { DEFAULT_EVIDENCE_POLICY, type EvidencePolicy } from './evidencePolicy.js';
import { PerformanceAccumulator, reviveState, type PerformanceMetrics, type PerformanceState } from './performance.js';
import { decodeBook, encodeBook, type EncodedBook, type ShadowBook } from './shadowBook.js';
import { StrategyRegistry, type RegistryMetrics } from './strategyRegistry.js';
import { RecentIds } from '../util/recentIds.js';

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
  /** Bar interval (ms of market time) figures are annualised with; default: the mean gap
   *  between the bars observed (right for any venue timeframe without configuring it). */
  readonly barIntervalMs?: number;
  /** The evidence minimum (ops/policies.yaml `evidence:`); default the shipped one. */
  readonly evidencePolicy?: () => EvidencePolicy;
  /** The stack's clock (stamps saved figures); default the wall clock. */
  readonly clock?: Clock;
  /** Wall-clock ms between saves into the registry (default 5000). */
  readonly persistEveryMs?: number;
  /** Weight a shadow model is sized at in the shadow book (its capital base). */
  readonly paperWeight?: number;
}

export type Source = 'live' | 'shadow';

export interface ModelReport {
  readonly model: string;
  readonly source: Source;
  readonly total: PerformanceMetrics;
  readonly window: PerformanceMetrics;
  /** The model's PnL over its life (USD): live_pnl + shadow_pnl, continuous across stage
   *  changes. realized_pnl + unrealized_pnl − fees of both books. */
  readonly pnl: number;
  /** Real: its engine book (what it earned with weight > 0, canary or live). */
  readonly live_pnl: number;
  /** Paper: its shadow book (what it earned in shadow). */
  readonly shadow_pnl: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  /** Open positions of the book it is in now (`source`), at the latest marks. */
  readonly exposure_usd: number;
  /** The canary policy's score metric over the model's life (0 while its figure is withheld;
   *  for `pnl`, the lifetime `pnl`). */
  readonly score: number;
  /** What the figures rest on, in market time (the same object evidence(model) returns). */
  readonly evidence: ModelEvidence;
  /** Whether this is the model the others are compared against (vsLive). */
  readonly is_live: boolean;
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
  vsLive: Moments;
  last: { source: Source; pnl: number; base: number } | null;
  live: BookFigures;
  shadow: BookFigures;
}

/** The tracker's whole state as JSON (another replica restores it exactly). */
export interface TrackerSnapshot {
  readonly tracks: Readonly<Record<string, {
    total: PerformanceState; window: PerformanceState; windowSince: string; vsLive: Moments;
    last: { source: Source; pnl: number; base: number } | null; live: BookFigures; shadow: BookFigures;
  }>>;
  readonly mirrors: Readonly<Record<string, EncodedBook>>;
  readonly marks: Readonly<Record<string, number>>;
  readonly barTs: Readonly<Record<string, number>>;
  readonly pendingTs: number | null;
  /** null = nothing sampled yet. */
  readonly sampledTs: number | null;
  /** Ids of the fills booked lately, oldest first (the duplicate check's window). */
  readonly fills: readonly string[];
}

/** How many booked fill ids the duplicate check remembers (far more than a replay repeats). */
const FILL_WINDOW = 2_000;

/** A fill's identity: the outbox's event id when it carries one, else its venue and trade id. */
function fillEventId(f: FillPayload): string {
  const eventId = (f as { event_id?: unknown }).event_id;
  return typeof eventId === 'string' && eventId !== '' ? eventId : `${f.venue}:${f.tradeId}`;
}

const ZERO_FIGURES: BookFigures = { pnl: 0, realized: 0, unrealized: 0, fees: 0, exposure: 0 };

export function scoreOf(metric: ScoreMetric, m: PerformanceMetrics, pnl: number): number {
  switch (metric) {
    case 'sharpe': return m.sharpe ?? 0;
    case 'sortino': return m.sortino ?? 0;
    case 'return_pct': return m.return_pct;
    case 'pnl': return Math.round(pnl * 100) / 100;
  }
}

export class StrategyTracker {
  private readonly tracks = new Map<string, ModelTrack>();
  /** Engine books per model, from the engines at start and every fill on the bus since. */
  private readonly mirrors = new Map<string, Portfolio>();
  /** Latest close per symbol and the timestamp of its latest bar (market time). */
  private readonly marks = new Map<string, number>();
  private readonly barTs = new Map<string, number>();
  /** The bar timestamp waiting for the rest of its symbols, and the last one sampled. */
  private pendingTs: number | null = null;
  private sampledTs = -Infinity;
  private readonly clock: Clock;
  private readonly paperWeight: number;
  private unsubscribe: (() => void)[] = [];
  private persistTimer: TimerHandle | null = null;
  private readonly saveClock = new WallClock();
  private readonly fillIds = new RecentIds(FILL_WINDOW);

  constructor(private readonly deps: TrackerDeps) {
    this.clock = deps.clock ?? new WallClock();
    this.paperWeight = deps.paperWeight ?? 1;
  }

  private policy(): EvidencePolicy {
    return this.deps.evidencePolicy?.() ?? DEFAULT_EVIDENCE_POLICY;
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
        vsLive: reviveMoments(entry?.tracking?.vs_live),
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

  /** Whether the books have been read at a bar since start: before that every model's figures
   *  are zeros, not its PnL (the dashboard does not draw them). */
  get hasSampled(): boolean {
    return this.sampledTs > -Infinity;
  }

  /** Seeds the engine books from the engines' per-model positions, then follows fills and bars. */
  async start(opts: { readonly subscribe?: boolean } = {}): Promise<void> {
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
    if (opts.subscribe !== false) {
      this.unsubscribe.push(this.deps.bus.subscribe('trade.fill', (f) => this.onLiveFill(f)));
      this.unsubscribe.push(this.deps.bus.subscribe('market.bar', (bar) => this.onBar(bar)));
    }
    this.persistTimer = this.saveClock.setInterval(() => this.persist(), this.deps.persistEveryMs ?? 5000);
  }

  /**
   * A bar: its close marks the symbol; the bar timestamp is sampled once every symbol seen so
   * far has a bar at it (or when a later bar shows the step is over). A bar at or before the
   * last sampled timestamp only updates its mark.
   */
  onBar(bar: Bar): void {
    if (!(bar.close > 0)) return;
    if (this.pendingTs !== null && bar.ts > this.pendingTs) this.flush();
    const seen = this.barTs.get(bar.symbol);
    if (seen !== undefined && bar.ts < seen) return; // a stale bar never moves the mark back
    this.marks.set(bar.symbol, bar.close);
    this.barTs.set(bar.symbol, bar.ts);
    if (bar.ts <= this.sampledTs) return;
    this.pendingTs = Math.max(this.pendingTs ?? -Infinity, bar.ts);
    for (const ts of this.barTs.values()) if (ts < this.pendingTs) return;
    this.flush();
  }

  /** Books an engine fill once (by fillEventId); false when it was booked already. */
  onLiveFill(f: FillPayload): boolean {
    if (f.model === null) return false;
    if (!this.fillIds.add(fillEventId(f))) return false;
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
    return true;
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

  /**
   * Figures as of the latest bar: takes the sample of a bar timestamp still waiting for other
   * symbols' bars. Figures advance only with bars; this never adds an observation of its own.
   */
  sample(): Promise<void> {
    this.flush();
    return Promise.resolve();
  }

  private flush(): void {
    const ts = this.pendingTs;
    this.pendingTs = null;
    if (ts === null || ts <= this.sampledTs) return;
    this.sampledTs = ts;
    this.sampleAt(ts);
  }

  /** The model the others are compared against: the registry's live model (the heaviest if
   *  several), else the heaviest weighted model; null when nothing trades. */
  liveModel(): string | null {
    let best: string | null = null;
    let bestKey = -Infinity;
    for (const m of this.deps.models()) {
      const w = this.deps.weight(m);
      if (!(w > 0)) continue;
      const key = (this.deps.registry.get(m)?.stage === 'live' ? 2 : 1) + w / 2;
      if (key > bestKey) {
        best = m;
        bestKey = key;
      }
    }
    return best;
  }

  private sampleAt(ts: number): void {
    const rets = new Map<string, number>();
    for (const model of this.deps.models()) {
      const t = this.track(model);
      const weight = this.deps.weight(model);
      const source: Source = weight > 0 ? 'live' : 'shadow';
      t.live = this.bookFigures(model);
      const sv = this.deps.shadow.view(model, (sym) => this.marks.get(sym));
      t.shadow = { pnl: sv.pnl, realized: sv.realized_pnl, unrealized: sv.unrealized_pnl, fees: sv.fees, exposure: sv.exposure_usd };
      const fig = source === 'live' ? t.live : t.shadow;
      const base = this.deps.quota(model) * (source === 'live' ? weight : this.paperWeight);
      const ret = t.last !== null && t.last.source === source && t.last.base > 0 ? (fig.pnl - t.last.pnl) / t.last.base : null;
      const exposed = fig.exposure > 1e-9;
      t.total.addSample(ret, exposed, ts);
      t.window.addSample(ret, exposed, ts);
      t.last = { source, pnl: fig.pnl, base };
      if (ret !== null && Number.isFinite(ret)) rets.set(model, Math.max(ret, -1));
    }
    // Paired differences against the live model, over the bars both have a return on.
    const live = this.liveModel();
    const liveRet = live === null ? undefined : rets.get(live);
    if (liveRet === undefined) return;
    for (const [model, r] of rets) if (model !== live) addObservation(this.track(model).vsLive, r - liveRet);
  }

  /** A model's engine book marked at the latest bar closes (its average price before any bar). */
  private bookFigures(model: string): BookFigures {
    const book = this.mirrors.get(model);
    const f = { ...ZERO_FIGURES };
    if (!book) return f;
    for (const p of book.positions.values()) {
      const qty = toNumber(p.qty);
      const avg = toNumber(p.avgPrice);
      const mark = this.marks.get(p.symbol) ?? avg;
      const realized = toNumber(p.realizedPnl);
      const fees = toNumber(p.fees);
      const unrealized = qty * (mark - avg);
      f.realized += realized;
      f.fees += fees;
      f.unrealized += unrealized;
      f.pnl += realized + unrealized - fees;
      f.exposure += Math.abs(qty * mark);
    }
    return f;
  }

  /** What ranking, allocation and promotion read: the model's evidence, or null if it is not
   *  running. */
  evidence(model: string): ModelEvidence | null {
    if (!this.deps.models().includes(model)) return null;
    return this.evidenceOf(model);
  }

  evidenceAll(): ReadonlyMap<string, ModelEvidence> {
    const live = this.liveModel();
    return new Map(this.deps.models().map((m) => [m, this.evidenceOf(m, live)]));
  }

  /** `live`: the model others are compared against (liveModel()), when the caller has it. */
  private evidenceOf(model: string, live = this.liveModel()): ModelEvidence {
    const t = this.track(model);
    const s = t.total.state;
    return {
      bars: s.returns.n,
      trades: s.trades,
      marketMs: s.sumDtMs,
      returns: { ...s.returns },
      vsLive: model === live ? emptyMoments() : { ...t.vsLive },
    };
  }

  report(model: string): ModelReport {
    const t = this.track(model);
    const source: Source = this.deps.weight(model) > 0 ? 'live' : 'shadow';
    const here = source === 'live' ? t.live : t.shadow;
    const both = (k: keyof BookFigures) => t.live[k] + t.shadow[k];
    const opts = { barIntervalMs: this.deps.barIntervalMs, evidence: this.policy() };
    const live = this.liveModel();
    const total = t.total.metrics(opts);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const livePnl = r2(t.live.pnl);
    const shadowPnl = r2(t.shadow.pnl);
    return {
      model, source, total, window: t.window.metrics(opts),
      // The sum of the parts as shown, so pnl = live_pnl + shadow_pnl to the cent.
      pnl: r2(livePnl + shadowPnl), live_pnl: livePnl, shadow_pnl: shadowPnl,
      realized_pnl: r2(both('realized')), unrealized_pnl: r2(both('unrealized')), fees: r2(both('fees')), exposure_usd: r2(here.exposure),
      score: scoreOf(this.deps.scoreMetric(), total, both('pnl')),
      evidence: this.evidenceOf(model, live),
      is_live: model === live,
    };
  }

  reports(): ModelReport[] {
    return this.deps.models().map((m) => this.report(m));
  }

  /** report(model).window.max_drawdown_pct without the rest of the report, or null when the
   *  model is not running. */
  windowDrawdownPct(model: string): number | null {
    if (!this.deps.models().includes(model)) return null;
    return this.track(model).window.maxDrawdownPct();
  }

  snapshot(): TrackerSnapshot {
    const tracks: Record<string, TrackerSnapshot['tracks'][string]> = {};
    for (const [m, t] of this.tracks) {
      tracks[m] = {
        total: t.total.snapshot(), window: t.window.snapshot(),
        windowSince: t.windowSince, vsLive: { ...t.vsLive }, last: t.last && { ...t.last }, live: { ...t.live }, shadow: { ...t.shadow },
      };
    }
    const mirrors: Record<string, EncodedBook> = {};
    for (const [m, b] of this.mirrors) mirrors[m] = encodeBook(b);
    return {
      tracks, mirrors, marks: Object.fromEntries(this.marks), barTs: Object.fromEntries(this.barTs), pendingTs: this.pendingTs,
      sampledTs: Number.isFinite(this.sampledTs) ? this.sampledTs : null, fills: this.fillIds.toArray(),
    };
  }

  /** Replaces the whole state with another replica's snapshot. */
  restore(s: TrackerSnapshot): void {
    this.tracks.clear();
    for (const [m, t] of Object.entries(s.tracks)) {
      this.tracks.set(m, {
        total: new PerformanceAccumulator(reviveState(t.total)), window: new PerformanceAccumulator(reviveState(t.window)), windowSince: t.windowSince,
        vsLive: reviveMoments(t.vsLive), last: t.last && { ...t.last }, live: { ...ZERO_FIGURES, ...t.live }, shadow: { ...ZERO_FIGURES, ...t.shadow },
      });
    }
    this.mirrors.clear();
    for (const [m, b] of Object.entries(s.mirrors)) this.mirrors.set(m, decodeBook(b));
    this.marks.clear();
    for (const [sym, v] of Object.entries(s.marks)) this.marks.set(sym, v);
    this.barTs.clear();
    for (const [sym, v] of Object.entries(s.barTs)) this.barTs.set(sym, v);
    this.pendingTs = s.pendingTs;
    this.sampledTs = s.sampledTs ?? -Infinity;
    this.fillIds.reset(s.fills);
  }

  /** Saves figures, accumulator state and vs-live moments into the registry (one atomic write). */
  persist(): void {
    const models = new Set(this.deps.models());
    if (models.size === 0) return;
    const ts = new Date(this.clock.now()).toISOString();
    try {
      this.deps.registry.commit((draft) => {
        for (const e of draft.models) {
          if (!models.has(e.id)) continue;
          const t = this.track(e.id);
          const r = this.report(e.id);
          const metrics: RegistryMetrics = { total: r.total, window: r.window, pnl: r.pnl, live_pnl: r.live_pnl, shadow_pnl: r.shadow_pnl, score: r.score, updated_at: ts };
          StrategyRegistry.patch(draft, e.id, {
            metrics,
            tracking: { total: t.total.snapshot(), window: t.window.snapshot(), vs_live: { ...t.vsLive } },
          });
        }
      });
    } catch (err) {
      this.deps.log.error({ err }, `[CANARY] saving model metrics to the registry failed: ${(err as Error).message}`);
    }
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.saveClock.clear(this.persistTimer);
    this.persistTimer = null;
    this.flush();
    this.persist();
  }
}
