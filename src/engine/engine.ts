// The execution engine for one venue: the order router (idempotency → risk rails → venue
// adapter → OMS → portfolio), the ledger it commits to before acknowledging, the audit log,
// and the portfolio snapshot. Nothing else writes this venue's orders, fills or portfolio.
import { hash } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type Fixed, fx, toDecimalString, div, floorToStep, mul, abs, max as fmax, ZERO } from '../core/decimal.js';
import { clientOrderId as toClientOrderId, type ClientOrderId, type ModelId, type Symbol, type VenueId } from '../core/ids.js';
import {
  type Fill, type Order, type OrderIntent, type OrderSide, type OrderType, type TimeInForce,
  TERMINAL_STATUSES, transition, applyFillToOrder, isTransitionError,
} from '../core/order.js';
import { type Portfolio, type Valuation, applyFill, emptyPortfolio, replayFills, valuePortfolio } from '../core/portfolio.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { Venue, VenueEvent } from '../venues/venue.js';
import type { Instrument } from '../core/instrument.js';
import { Ledger } from './ledger.js';
import { OrderLog, type OrderLogLine } from './orderLog.js';
import { type RiskBook, type RiskLimits, LossStreak, OrderRateWindow, checkRiskRails, closingPnl } from './riskRails.js';
import { type EngineTradingStates, type TradingState, type TradingStateDocument, engineView, tradingEnabledBy, worstState } from '../core/tradingState.js';
import { PortfolioSnapshotWriter, assessSnapshot, readSnapshot } from './snapshot.js';
import {
  type ReconcileAction, type ReconcileOptions, type ReconcileReport, type ReconcileState, type ReconcileSummary, type ReconcileTrigger,
  DEFAULT_RECONCILE_OPTIONS, ReconcileDaemon, decideOrder, describeReport, driftOf, gatherEvidence, reconcileMetrics, summarizeReport,
} from './reconcile.js';
import { EngineStatsCollector, type EngineStats } from './engineStats.js';
import type { ModelPositionView } from './engineHandle.js';
import { type NotSized, type NotionalOrderRequest, type Sizing, sizeNotional as sizeNotionalOrder } from './sizing.js';

export interface EngineOptions {
  readonly name: string;
  readonly venue: Venue;
  readonly ledger: Ledger;
  readonly orderLog: OrderLog;
  readonly snapshotPath: string | null;
  readonly startingCash: Fixed;
  readonly limits: RiskLimits;
  /** false: the engine starts stopped (TRADING_ENABLED=false, or the cluster's trading state
   *  unknown) until a trading-state document decided after this start resumes it. */
  readonly tradingEnabled: boolean;
  /** Why it starts stopped, and what lifts that stop (default: an operator's resume). */
  readonly startStop?: { readonly reason: string; readonly until: 'resume' | 'document' };
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics | null;
  readonly now?: () => number;
  /** Reconciliation with the venue (reconcile.ts); the defaults suit a live venue. */
  readonly reconcile?: Partial<ReconcileOptions>;
  /** What the stack knows about the previous run (a crash, a restore from backup). */
  readonly recoveryContext?: RecoveryContext;
}

export interface RecoveryContext {
  /** The previous run's lock was left behind: it did not stop cleanly. */
  readonly uncleanShutdown?: { readonly pid: number; readonly started_at: string } | null;
  /** `hmm restore` put this state in place (its marker). */
  readonly restoredFrom?: Readonly<Record<string, unknown>> | null;
}

/** An order request as it arrives at the engine, quantities already exact. */
export interface SubmitOrderRequest {
  readonly clientOrderId?: string;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly qty: Fixed;
  readonly price: Fixed | null;
  readonly timeInForce?: TimeInForce;
  readonly model?: ModelId | null;
}

export interface OrderView {
  readonly client_order_id: string;
  readonly venue: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly time_in_force: TimeInForce;
  readonly qty: string;
  readonly price: string | null;
  readonly status: string;
  readonly filled_qty: string;
  readonly avg_price: string | null;
  readonly fees: string;
  readonly venue_order_id: string | null;
  readonly reject_reason: string | null;
  readonly created_at: number;
  readonly updated_at: number;
}

export type SubmitOutcome =
  | { readonly kind: 'accepted'; readonly order: OrderView; readonly duplicate: boolean; readonly routingTimeMs: number }
  | { readonly kind: 'rejected'; readonly reason: string; readonly message: string; readonly order: OrderView; readonly duplicate: boolean; readonly routingTimeMs: number }
  | { readonly kind: 'conflict'; readonly message: string; readonly order: OrderView };

/** A notional order's answer: what submit() answers for the sized order, or why it was not
 *  placed; with the order's worth at sizing (quantity × last price) for the router's record. */
export interface NotionalOutcome {
  readonly outcome: SubmitOutcome | NotSized;
  readonly notionalUsd: Fixed;
}

export type CancelOutcome =
  | { readonly kind: 'canceled'; readonly order: OrderView }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'not_open'; readonly order: OrderView; readonly message: string };

export interface EngineHealth {
  readonly engine: 'ok';
  readonly venue: string;
  readonly trading_enabled: boolean;
  readonly open_orders: number;
  readonly orders: number;
  readonly fills: number;
  readonly recovered: RecoveryReport;
  /** The trading states this engine enforces (pushed by the control plane). */
  readonly trading_states?: EngineTradingStates;
  /** The trading-state document this engine applied: its version, and how many documents it
   *  applied and ignored (already applied: the same change by push and bus, or from N replicas). */
  readonly trading_state?: TradingStateApplication;
  /** Cumulative venue request counts, for the governance daemon's error-rate rule. */
  readonly venue_calls?: VenueCallStats;
  readonly risk?: { readonly peak_equity: string; readonly loss_streak: number; readonly loss_cooldown_until: string | null };
}

export type { EngineTradingStates } from '../core/tradingState.js';

export interface TradingStateApplication {
  /** The version of the last document applied (0: none yet). */
  readonly version: number;
  readonly applied: number;
  readonly ignored: number;
  /** The engine's own stop, if any (start-up override, a ledger that cannot commit). */
  readonly stopped: string | null;
}

/** The answer to one document: applied (a version not seen before) or ignored, and how many open
 *  orders a HALTED with cancel_open canceled here. */
export interface TradingStateApplied {
  readonly applied: boolean;
  readonly version: number;
  readonly canceled: number;
  readonly trading_enabled: boolean;
}

/** The engine's own stop, beside the document: `until` says what lifts it. */
interface EngineStop {
  readonly reason: string;
  readonly sinceMs: number;
  /** 'resume': a document whose global entry was set (not HALTED) after the stop; 'document':
   *  any document (the stop was "the state is unknown"); 'restart': nothing but a restart. */
  readonly until: 'resume' | 'document' | 'restart';
}

export interface VenueCallStats {
  readonly requests: number;
  readonly errors: number;
  readonly last_error: string | null;
  readonly last_error_at: number | null;
}

/** What start-up recovered, for `/status` → state.recovered / state.recovery. */
export interface RecoveryReport {
  /** True when the engine restarted over an existing ledger (after a stop, a crash or a restore). */
  readonly recovered: boolean;
  /** When this start recovered. */
  readonly at: string;
  readonly source: 'fresh' | 'ledger' | 'backup';
  readonly unclean_shutdown: { readonly pid: number; readonly started_at: string } | null;
  readonly restored_from: Readonly<Record<string, unknown>> | null;
  readonly fills_replayed: number;
  /** Orders found only in the intent journal (sent, or about to be, when the process died). */
  readonly journal_recovered: number;
  readonly fills: number;
  readonly orders: number;
  readonly open_orders: number;
  readonly positions: number;
  /** Models with their own book rebuilt from the ledger. */
  readonly models: number;
  /** The snapshot found at start, judged against the ledger replay (rebuilt unless ok). */
  readonly snapshot: { readonly status: string; readonly detail: string; readonly snapshot_seq: number | null; readonly ledger_seq: number; readonly rebuilt: boolean } | null;
  readonly ledger_check: { readonly ok: boolean; readonly problems: readonly string[] };
  /** The start-up reconciliation with the venue, once it ran. */
  readonly reconciliation: ReconcileSummary | null;
}


export class Engine {
  readonly name: string;
  readonly venueId: VenueId;
  private readonly venue: Venue;
  private readonly ledger: Ledger;
  private readonly orderLog: OrderLog;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly metrics: Metrics | null;
  private readonly now: () => number;
  private limits: RiskLimits;
  private portfolio: Portfolio;
  private readonly openOrders = new Map<string, Order>();
  private readonly inflight = new Map<string, Promise<SubmitOutcome>>();
  /** Venue events for orders whose submission is still being booked. */
  private readonly pendingEvents = new Map<string, VenueEvent[]>();
  private readonly rateWindow = new OrderRateWindow();
  private readonly snapshot: PortfolioSnapshotWriter | null;
  private seq = 0;
  /** Each model's own book (zero cash): what it holds, for sizing exits and attributing PnL. */
  private readonly modelBooks = new Map<string, Portfolio>();
  private readonly counters = new EngineStatsCollector();
  private readonly recoveryBase: Omit<RecoveryReport, 'reconciliation'>;
  // Reconciliation state (reconcile.ts decides, reconcileOrder applies).
  private readonly reconcileOpts: ReconcileOptions;
  private reconcileChain: Promise<unknown> = Promise.resolve();
  private reconcileRunning = false;
  private reconcileDaemon: ReconcileDaemon | null = null;
  /** Ids of venue events for orders the ledger did not know: the next pass looks them up. */
  private readonly unknownOrderIds = new Set<ClientOrderId>();
  /** Problems that could be a stale view of the venue: flagged only if seen twice in a row. */
  private reconcileSuspects = new Set<string>();
  private readonly alertedFlags = new Set<string>();
  private startupReconcile: ReconcileReport | null = null;
  private lastReconcile: ReconcileReport | null = null;
  private lastReconcileOkAt: number | null = null;
  private reconcilePasses = 0;
  private readonly reconcileHistory: ReconcileReport[] = [];
  private readonly reconcileTotals = { adopted: 0, accepted: 0, closed: 0, rejected_unsent: 0, fills_booked: 0, flagged: 0 };
  // The one trading state (core/tradingState.ts): the last document applied, the view of it that
  // applies here, and the engine's own stop. Only applyTradingState changes the first two.
  private tradingDoc: TradingStateDocument | null = null;
  private tradingView: EngineTradingStates = { global: 'ACTIVE', venue: 'ACTIVE', models: {} };
  private ownStop: EngineStop | null = null;
  private readonly tradingCounts = { applied: 0, ignored: 0 };
  private tradingChain: Promise<unknown> = Promise.resolve();
  /** Orders that passed the rails and await the venue's answer: they count as open for the
   *  exposure caps, so concurrent orders cannot all pass the same headroom (check-and-reserve). */
  private readonly pendingIntents = new Map<string, OrderIntent>();
  private peakEquity: Fixed = ZERO;
  private lossStreak = new LossStreak();
  private venueCalls = { requests: 0, errors: 0, last_error: null as string | null, last_error_at: null as number | null };

  constructor(opts: EngineOptions) {
    this.name = opts.name;
    this.venue = opts.venue;
    this.venueId = opts.venue.id;
    this.ledger = opts.ledger;
    this.orderLog = opts.orderLog;
    this.bus = opts.bus;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.now = opts.now ?? Date.now;
    this.limits = { ...opts.limits };
    if (!opts.tradingEnabled) this.ownStop = { reason: opts.startStop?.reason ?? 'trading disabled at start', sinceMs: this.now(), until: opts.startStop?.until ?? 'resume' };
    // If the ledger cannot commit, what we hold in memory is no longer on record: stop
    // trading at once; a restart recovers from what was committed.
    this.ledger.beforeCommit = () => this.orderLog.flush();
    this.ledger.onCommitFailure = (err) => {
      this.ownStop = { reason: `ledger commit failed: ${err.message}`, sinceMs: this.now(), until: 'restart' };
      this.metrics?.tradingEnabled.set({ scope: this.name }, 0);
      this.log.fatal({ err, engine: this.name }, `[RISK] ${this.name} ledger commit failed (${err.message}): trading DISABLED; restart to recover from the ledger`);
      this.bus.publish('alert', { severity: 'CRITICAL', title: 'Ledger commit failed', message: `${this.name}: ${err.message}; trading disabled`, key: `ledger:${this.name}`, ts: this.now() });
    };

    // Recovery: the portfolio is whatever the ledger's fills say, never the snapshot.
    const startingCash = this.ledger.startingCash(opts.startingCash);
    this.portfolio = replayFills(startingCash, this.ledger.fills());
    for (const f of this.ledger.fills()) this.bookForModel(f);
    this.rebuildRiskMemory(startingCash);
    for (const o of this.ledger.openOrders()) this.openOrders.set(o.clientOrderId, o);
    this.reconcileOpts = { ...DEFAULT_RECONCILE_OPTIONS, ...opts.reconcile };
    this.recoveryBase = this.recoverFromLedger(opts.snapshotPath, opts.recoveryContext ?? {});
    this.snapshot = opts.snapshotPath ? new PortfolioSnapshotWriter(opts.snapshotPath, () => this.snapshotDocument()) : null;
    this.venue.onEvent((e) => this.onVenueEvent(e));
    this.snapshot?.writeNow();
    this.metrics?.accountRefreshers.add(this.refreshGauges);
    this.updateGauges();
  }

  /** Sets the account gauges when they are read (registered with the metrics). */
  private readonly refreshGauges = (): void => this.updateGauges();

  /** TRADING_ENABLED at this engine: no global HALTED and no stop of its own. */
  get tradingEnabled(): boolean {
    return this.ownStop === null && this.tradingView.global !== 'HALTED';
  }

  /** Resolves once every submission in flight has its answer (after a kill: nothing is
   *  acknowledged later than the kill switch's own answer). */
  async quiesce(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
  }

  riskLimits(): RiskLimits {
    return this.limits;
  }

  /** Changes risk limits while running (engine API POST /risk/limits). Whether the engine trades
   *  at all is its trading state, which no limit patch can touch. */
  setRiskLimits(patch: Partial<RiskLimits>, actor: string): RiskLimits {
    this.limits = { ...this.limits, ...patch };
    this.log.warn({ engine: this.name, actor, changed: Object.keys(patch) }, `[RISK] ${this.name} risk limits changed by ${actor}: ${Object.keys(patch).join(', ')}`);
    return this.limits;
  }

  /**
   * Halt and drain, or resume: applies one trading-state document. A version at or below the one
   * applied is ignored (the same change arrives by push and by bus, and from every ops replica).
   * The new state holds from the next order on (set before anything awaits); the answer comes
   * after every submission in flight has its answer and, for a HALTED with cancel_open that
   * applies here, after the open orders are canceled.
   */
  applyTradingState(doc: TradingStateDocument): Promise<TradingStateApplied> {
    const previous = this.tradingDoc;
    if (previous !== null && doc.version <= previous.version) {
      this.tradingCounts.ignored++;
      // The drain of the version we applied may still be running: answer after it.
      return this.tradingChain.then(() => ({ applied: false, version: previous.version, canceled: 0, trading_enabled: this.tradingEnabled }));
    }
    const wasEnabled = this.tradingEnabled;
    this.tradingDoc = doc;
    this.tradingView = engineView(doc, this.name);
    this.tradingCounts.applied++;
    const stop = this.ownStop;
    if (stop !== null && (stop.until === 'document' || (stop.until === 'resume' && tradingEnabledBy(doc) && (Date.parse(doc.global.updated_at) || 0) >= stop.sinceMs))) {
      this.ownStop = null;
      this.log.warn({ engine: this.name, actor: doc.global.actor }, `[RISK] ${this.name} own stop (${stop.reason}) lifted by ${doc.global.actor}: ${doc.global.reason}`);
    }
    const enabled = this.tradingEnabled;
    const models = Object.entries(this.tradingView.models).map(([m, st]) => `${m} ${st}`).join(', ');
    const view = `trading state v${doc.version}: global ${this.tradingView.global}, venue ${this.tradingView.venue}${models ? `, models ${models}` : ''}`;
    if (enabled !== wasEnabled) this.log.warn({ engine: this.name, actor: doc.global.actor, version: doc.version }, `[RISK] ${this.name} trading ${enabled ? 'ENABLED' : 'DISABLED'} by ${doc.global.actor}: ${doc.global.reason} (${view})`);
    else this.log.info({ engine: this.name, version: doc.version }, `[RISK] ${this.name} ${view}`);
    this.metrics?.tradingEnabled.set({ scope: this.name }, enabled ? 1 : 0);
    const drain = (doc.global.state === 'HALTED' && doc.global.cancel_open === true) ? doc.global
      : (doc.venues[this.name]?.state === 'HALTED' && doc.venues[this.name]?.cancel_open === true) ? doc.venues[this.name]! : null;
    const run = this.tradingChain.then(async (): Promise<TradingStateApplied> => {
      await this.quiesce();
      const canceled = drain === null ? 0 : await this.cancelAllOpen(drain.actor);
      return { applied: true, version: doc.version, canceled, trading_enabled: this.tradingEnabled };
    });
    this.tradingChain = run.catch(() => undefined);
    return run;
  }

  /** The trading states this engine enforces (global, its venue, the models not ACTIVE). */
  get currentTradingStates(): EngineTradingStates {
    return this.tradingView;
  }

  /** The state one order is judged under: the most restrictive of global, venue and its model. */
  tradingStateFor(model: string | null): TradingState {
    const s = this.tradingView;
    return worstState(s.global, s.venue, model === null ? undefined : s.models[model]);
  }

  private tradingStateApplication(): TradingStateApplication {
    return { version: this.tradingDoc?.version ?? 0, applied: this.tradingCounts.applied, ignored: this.tradingCounts.ignored, stopped: this.ownStop?.reason ?? null };
  }

  /** The book the depth rails judge an order against (exact money, marks from the venue). */
  private riskBook(symbol: Symbol, now: number): RiskBook {
    let total = ZERO, symbolExposure = ZERO, marketValue = ZERO;
    for (const p of this.portfolio.positions.values()) {
      const value = mul(p.qty, this.venue.lastPrice(p.symbol) ?? p.avgPrice);
      marketValue = (marketValue + value) as Fixed;
      total = (total + abs(value)) as Fixed;
      if (p.symbol === symbol) symbolExposure = abs(value);
    }
    let openBuy = ZERO, openSell = ZERO;
    const count = (o: { symbol: Symbol; side: OrderSide; qty: Fixed }, filled: Fixed) => {
      if (o.symbol !== symbol) return;
      const remaining = (o.qty - filled) as Fixed;
      if (o.side === 'BUY') openBuy = (openBuy + remaining) as Fixed;
      else openSell = (openSell + remaining) as Fixed;
    };
    for (const o of this.openOrders.values()) count(o, o.filledQty);
    for (const o of this.pendingIntents.values()) count(o, ZERO);
    const equity = (this.portfolio.cash + marketValue) as Fixed;
    this.peakEquity = fmax(this.peakEquity, equity);
    return {
      positionQty: this.portfolio.positions.get(symbol)?.qty ?? ZERO,
      openBuyQty: openBuy,
      openSellQty: openSell,
      symbolExposureUsd: symbolExposure,
      totalExposureUsd: total,
      openOrders: this.openOrders.size + this.pendingIntents.size,
      equityUsd: equity,
      peakEquityUsd: this.peakEquity,
      lossStreak: this.lossStreak.streak,
      lossCooldownUntil: this.lossStreak.cooldownUntil,
      now,
    };
  }

  /** Peak equity starts at the starting cash; the loss streak is rebuilt from the ledger's fills. */
  private rebuildRiskMemory(startingCash: Fixed): void {
    this.peakEquity = fmax(startingCash, this.peakEquity);
    this.lossStreak = new LossStreak();
    let p = emptyPortfolio(startingCash);
    for (const f of this.ledger.fills()) {
      const before = p;
      p = applyFill(p, f);
      this.recordExit(f, before, p);
    }
  }

  private recordExit(f: Fill, before: Portfolio, after: Portfolio): void {
    const pnl = closingPnl(before.positions.get(f.symbol)?.qty ?? ZERO, after.positions.get(f.symbol)?.qty ?? ZERO, (after.realizedPnl - before.realizedPnl) as Fixed, f.fee);
    if (pnl === null) return;
    const tripped = this.lossStreak.record(pnl, f.ts, this.limits.lossStreakLimit, this.limits.lossStreakCooldownMs);
    if (tripped && this.lossStreak.cooldownUntil !== null && this.lossStreak.cooldownUntil > this.now()) {
      const until = new Date(this.lossStreak.cooldownUntil).toISOString();
      this.log.warn({ engine: this.name, until }, `[RISK] ${this.name} ${this.limits.lossStreakLimit} losing exits in a row: new exposure paused until ${until}`);
      this.bus.publish('alert', { severity: 'WARNING', title: 'Loss streak cooldown', message: `${this.name}: ${this.limits.lossStreakLimit} losing exits in a row; new exposure paused until ${until}`, key: `loss_streak:${this.name}`, ts: this.now() });
    }
  }

  lastPrice(symbol: Symbol): Fixed | undefined {
    return this.venue.lastPrice(symbol);
  }

  instrument(symbol: Symbol) {
    return this.venue.instruments().get(symbol);
  }

  /** What this engine trades: the venue's instruments, narrowed to TRADE_SYMBOLS when set
   *  (the router sends a symbol to the engine that trades it). */
  instruments(): ReadonlyMap<Symbol, Instrument> {
    const all = this.venue.instruments();
    const allowed = this.limits.tradeSymbols;
    if (allowed.size === 0) return all;
    return new Map([...all].filter(([s]) => allowed.has(s)));
  }

  /** Converts a quote amount (USDT) into a quantity the venue accepts, rounded down to the step. */
  qtyForQuote(symbol: Symbol, quote: Fixed, price: Fixed | null): Fixed | null {
    const inst = this.instrument(symbol);
    const px = price ?? this.lastPrice(symbol);
    if (!inst || px === undefined || px <= 0n) return null;
    return floorToStep(div(quote, px, 'down'), inst.stepSize);
  }

  async submit(req: SubmitOrderRequest): Promise<SubmitOutcome> {
    const intake = performance.now();
    const id = req.clientOrderId ? toClientOrderId(req.clientOrderId) : this.newClientOrderId();
    const hash = requestHash(req);
    return this.known(id, hash) ?? this.place(id, req, hash, intake);
  }

  /** A market order stated in money (the control plane's one call per signal): sized here
   *  against this engine's last price and the model's own position, then placed as submit()
   *  places an order. The request's hash is of the money, not of the quantity, so a retry of
   *  a lost answer replays even after the order's fill moved the position. */
  async submitNotional(req: NotionalOrderRequest): Promise<NotionalOutcome> {
    const intake = performance.now();
    const id = req.clientOrderId ? toClientOrderId(req.clientOrderId) : this.newClientOrderId();
    const hash = notionalRequestHash(req);
    const known = this.known(id, hash);
    if (known !== null) {
      const outcome = await known;
      return { outcome, notionalUsd: mul(fx(outcome.order.qty), this.lastPrice(req.symbol) ?? ZERO) };
    }
    // Sized now, and nothing awaits from here to route()'s risk rails and venue call: the
    // price and the model's position the quantity comes from are those the rails check.
    const sized = this.sizeNotional(req);
    if (sized.kind === 'not_sized') return { outcome: sized, notionalUsd: sized.notionalUsd };
    const outcome = await this.place(id, { clientOrderId: id, symbol: req.symbol, side: sized.side, type: 'MARKET', qty: sized.qty, price: null, model: req.model }, hash, intake);
    return { outcome, notionalUsd: sized.notionalUsd };
  }

  /** What a notional order would be sized to now (nothing is placed). */
  sizeNotional(req: NotionalOrderRequest): Sizing {
    // As instruments() narrows, without building its map on every order.
    const traded = this.limits.tradeSymbols.size === 0 || this.limits.tradeSymbols.has(req.symbol);
    return sizeNotionalOrder(req, {
      price: this.lastPrice(req.symbol),
      held: this.modelBooks.get(req.model)?.positions.get(req.symbol)?.qty ?? ZERO,
      stepSize: traded ? this.instrument(req.symbol)?.stepSize : undefined,
    });
  }

  /** The answer for a client order id already in flight or on record (a replay, or a conflict
   *  when the request differs); null for a new id. */
  private known(id: ClientOrderId, hash: string): Promise<SubmitOutcome> | SubmitOutcome | null {
    const inflight = this.inflight.get(id);
    if (inflight) return inflight.then((o) => this.asDuplicate(o, hash));
    const stored = this.ledger.getOrder(id);
    if (stored) return this.replay(stored.order, stored.requestHash, hash);
    return null;
  }

  private async place(id: ClientOrderId, req: SubmitOrderRequest, hash: string, intake: number): Promise<SubmitOutcome> {
    const work = this.route(id, req, hash, intake);
    this.inflight.set(id, work);
    try {
      return await work;
    } finally {
      this.inflight.delete(id);
    }
  }

  private asDuplicate(outcome: SubmitOutcome, hash: string): SubmitOutcome {
    const stored = this.ledger.getOrder(outcome.order.client_order_id);
    if (stored && stored.requestHash !== hash) return conflict(stored.order);
    this.metrics?.duplicateRequests.inc({ venue: this.name });
    this.counters.replays++;
    return outcome.kind === 'conflict' ? outcome : { ...outcome, duplicate: true };
  }

  private replay(order: Order, storedHash: string, hash: string): SubmitOutcome {
    if (storedHash !== hash) return conflict(order);
    this.metrics?.duplicateRequests.inc({ venue: this.name });
    this.counters.replays++;
    const view = orderView(order);
    if (order.status === 'REJECTED') {
      const [reason, ...rest] = (order.rejectReason ?? 'REJECTED').split(': ');
      return { kind: 'rejected', reason: reason ?? 'REJECTED', message: rest.join(': '), order: view, duplicate: true, routingTimeMs: 0 };
    }
    return { kind: 'accepted', order: view, duplicate: true, routingTimeMs: 0 };
  }

  private async route(id: ClientOrderId, req: SubmitOrderRequest, hash: string, intake: number): Promise<SubmitOutcome> {
    const now = this.now();
    const intent: OrderIntent = {
      clientOrderId: id,
      symbol: req.symbol,
      side: req.side,
      type: req.type,
      qty: req.qty,
      price: req.type === 'MARKET' ? null : req.price,
      timeInForce: req.timeInForce ?? (req.type === 'MARKET' ? 'IOC' : 'GTC'),
      model: req.model ?? null,
    };
    // Written out rather than spread from the intent: a spread followed by new keys takes
    // V8's slow path (several µs per order on Node 20).
    let order: Order = {
      clientOrderId: intent.clientOrderId,
      symbol: intent.symbol,
      side: intent.side,
      type: intent.type,
      qty: intent.qty,
      price: intent.price,
      timeInForce: intent.timeInForce,
      model: intent.model,
      venue: this.venueId,
      status: 'NEW',
      filledQty: fx(0),
      filledNotional: fx(0),
      fees: fx(0),
      venueOrderId: null,
      rejectReason: null,
      createdAt: now,
      updatedAt: now,
    };

    const decision = checkRiskRails(intent, this.limits, {
      instrument: this.instrument(req.symbol),
      lastPrice: this.lastPrice(req.symbol),
      ordersLastMinute: this.rateWindow.count(now),
      tradingState: this.tradingStateFor(intent.model),
      tradingDisabled: !this.tradingEnabled,
      book: this.riskBook(req.symbol, now),
    });
    if (!decision.ok) {
      const rejected = this.bookRejection(order, hash, decision.reason, decision.message, intake, 'risk');
      await this.ledger.durable();
      return rejected;
    }
    this.rateWindow.record(now);
    this.pendingIntents.set(id, intent);
    this.ledger.recordIntent(order, hash);
    this.metrics?.ordersSubmitted.inc({ venue: this.name, model: order.model ?? 'manual' });
    this.counters.submitted++;
    // The order is on record before the venue hears of it (the ledger's intent journal; its row
    // commits with the acknowledgement): a crash from here on leaves a NEW order that
    // reconciliation resolves with the venue by client order id. Nothing awaits between the
    // risk rails and the venue call, so a kill or HALT cannot land in between: an order
    // either reached the venue before the kill switch answered, or it is refused.
    let result;
    this.venueCalls.requests++;
    try {
      result = await this.venue.submit(intent);
    } catch (err) {
      // The venue's answer is unknown; the order stays NEW (open: it may be resting at the
      // venue, so it keeps counting against the caps) and is queued for reconciliation now,
      // which settles it by client order id once this submission has returned, instead of at
      // the next periodic pass, minutes away.
      this.pendingIntents.delete(id);
      this.ledger.insertOrder(order, hash);
      this.openOrders.set(id, order);
      this.unknownOrderIds.add(id);
      this.reconcileDaemon?.kick();
      this.venueCalls = { ...this.venueCalls, errors: this.venueCalls.errors + 1, last_error: (err as Error).message, last_error_at: this.now() };
      this.bus.publish('alert', { severity: 'WARNING', title: 'Venue error', message: `${this.name}: submit failed: ${(err as Error).message}`, key: `venue_error:${this.name}`, ts: this.now() });
      this.metrics?.venueErrors.inc({ venue: this.name, kind: 'submit' });
      this.log.error({ err, engine: this.name, clientOrderId: id }, `[RISK] ${this.name} venue submit failed for ${id}; order left for reconciliation`);
      throw err;
    }
    const routingTimeMs = performance.now() - intake;
    this.metrics?.routingSeconds.observe({ venue: this.name }, routingTimeMs / 1000);
    this.counters.routing(routingTimeMs);

    if (result.kind === 'rejected') {
      this.pendingIntents.delete(id);
      const next = transition(order, 'REJECTED', result.ts, { rejectReason: `${result.code}: ${result.message}` });
      if (isTransitionError(next)) throw new Error(`OMS: ${next.from} → ${next.to}`);
      this.ledger.transaction(() => {
        this.ledger.insertOrder(order, hash);
        this.ledger.updateOrder(next);
      });
      this.logOrder('order.rejected', next, { routing_time: routingTimeMs, reason: result.code, message: result.message });
      this.afterRejection(next, result.code, result.message);
      await this.ledger.durable();
      return { kind: 'rejected', reason: result.code, message: result.message, order: orderView(next), duplicate: false, routingTimeMs };
    }

    const submitted = order;
    const accepted = transition(order, 'ACCEPTED', result.ts, { venueOrderId: result.venueOrderId });
    if (isTransitionError(accepted)) throw new Error(`OMS: ${accepted.from} → ${accepted.to}`);
    order = accepted;
    const fills: Fill[] = [];
    this.ledger.transaction(() => {
      this.ledger.insertOrder(submitted, hash);
      this.ledger.updateOrder(order);
      for (const e of result.events) order = this.applyEvent(order, e, fills);
    });
    this.logOrder('order.accepted', accepted, { routing_time: routingTimeMs });
    this.publishOrderProgress(order, fills);
    this.pendingIntents.delete(id);
    if (TERMINAL_STATUSES.has(order.status)) this.openOrders.delete(id);
    else this.openOrders.set(id, order);
    this.drainPending(id);
    this.afterChange();
    await this.ledger.durable();
    return { kind: 'accepted', order: orderView(order), duplicate: false, routingTimeMs };
  }

  private bookRejection(order: Order, hash: string, reason: string, message: string, intake: number, source: 'risk' | 'venue'): SubmitOutcome {
    const rejected: Order = { ...order, status: 'REJECTED', rejectReason: `${reason}: ${message}` };
    this.ledger.insertOrder(rejected, hash);
    const routingTimeMs = performance.now() - intake;
    this.logOrder('order.rejected', rejected, { routing_time: routingTimeMs, reason, message });
    this.afterRejection(rejected, reason, message);
    if (source === 'risk') this.log.info({ engine: this.name, reason, clientOrderId: order.clientOrderId }, `[RISK] ${this.name} rejected ${order.side} ${order.symbol}: ${reason} (${message})`);
    return { kind: 'rejected', reason, message, order: orderView(rejected), duplicate: false, routingTimeMs };
  }

  private afterRejection(order: Order, reason: string, message: string): void {
    this.metrics?.ordersRejected.inc({ venue: this.name, reason });
    this.counters.reject(reason);
    this.bus.publish('risk.rejected', {
      venue: this.name, clientOrderId: order.clientOrderId, model: order.model, symbol: order.symbol,
      side: order.side, reason, message, ts: order.updatedAt,
    });
    this.bus.publish('order.update', orderEvent(this.name, order, reason));
  }

  /** Applies one venue event inside a ledger transaction; collects booked fills. */
  private applyEvent(order: Order, e: VenueEvent, fills: Fill[]): Order {
    if (e.type === 'fill') {
      const fill: Fill = { ...e.fill, venue: this.venueId, model: order.model };
      // A fill is the venue's word that it accepted the order: one still NEW here (recovered
      // from the intent journal after a crash, its acknowledgement lost) is accepted first.
      const base = order.status === 'NEW' ? transition(order, 'ACCEPTED', fill.ts) : order;
      const next = isTransitionError(base) ? base : applyFillToOrder(base, fill);
      if (isTransitionError(next)) {
        if (this.ledger.hasTrade(this.venueId, fill.tradeId)) return order; // already booked
        // Not booked: the ledger's fills and its order rows must agree; reconciliation decides.
        this.log.error({ engine: this.name, fill: fill.tradeId }, `[RECON] fill ${fill.tradeId} does not fit order ${order.clientOrderId} (${next.from} → ${next.to}); flagged`);
        this.unknownOrderIds.add(order.clientOrderId);
        return order;
      }
      if (!this.ledger.insertFill(fill)) return order; // duplicate trade id: already booked
      if (base !== order) this.ledger.updateOrder(base as Order, 'FILL_BEFORE_ACK');
      this.ledger.updateOrder(next);
      const before = this.portfolio;
      this.portfolio = applyFill(this.portfolio, fill);
      this.recordExit(fill, before, this.portfolio);
      this.bookForModel(fill);
      fills.push(fill);
      this.logOrder('trade.fill', next, { trade_id: fill.tradeId, fill_qty: toDecimalString(fill.qty), fill_price: toDecimalString(fill.price), fill_fee: toDecimalString(fill.fee) });
      return next;
    }
    const to = e.type === 'canceled' ? 'CANCELED' : 'EXPIRED';
    const next = transition(order, to, e.ts);
    if (isTransitionError(next)) return order;
    this.ledger.updateOrder(next, e.reason);
    this.logOrder(e.type === 'canceled' ? 'order.canceled' : 'order.expired', next, { reason: e.reason });
    return next;
  }

  private onVenueEvent(e: VenueEvent): void {
    const id = e.type === 'fill' ? e.fill.clientOrderId : e.clientOrderId;
    if (this.inflight.has(id)) {
      const queue = this.pendingEvents.get(id) ?? [];
      queue.push(e);
      this.pendingEvents.set(id, queue);
      return;
    }
    const order = this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order;
    if (!order) {
      this.log.error({ engine: this.name, clientOrderId: id, type: e.type }, `[RECON] ${this.name} venue event for unknown order ${id}; flagged for reconciliation`);
      this.unknownOrderIds.add(id);
      this.reconcileDaemon?.kick();
      return;
    }
    let next = order;
    const fills: Fill[] = [];
    this.ledger.transaction(() => {
      next = this.applyEvent(order, e, fills);
    });
    if (next === order) return;
    if (TERMINAL_STATUSES.has(next.status)) this.openOrders.delete(id);
    else this.openOrders.set(id, next);
    this.publishOrderProgress(next, fills);
    this.afterChange();
  }

  private drainPending(id: string): void {
    const queue = this.pendingEvents.get(id);
    if (!queue) return;
    this.pendingEvents.delete(id);
    for (const e of queue) this.onVenueEvent(e);
  }

  private publishOrderProgress(order: Order, fills: Fill[]): void {
    for (const f of fills) {
      this.metrics?.fills.inc({ venue: this.name, liquidity: f.liquidity });
      this.counters.fills++;
      this.bus.publish('trade.fill', {
        venue: this.name, tradeId: f.tradeId, clientOrderId: f.clientOrderId, model: f.model, symbol: f.symbol,
        side: f.side, qty: toDecimalString(f.qty), price: toDecimalString(f.price), fee: toDecimalString(f.fee),
        liquidity: f.liquidity, ts: f.ts,
      });
    }
    if (order.status === 'FILLED') {
      this.metrics?.ordersFilled.inc({ venue: this.name, model: order.model ?? 'manual' });
      this.counters.filled++;
    }
    this.bus.publish('order.update', orderEvent(this.name, order, null));
  }

  async cancel(id: string): Promise<CancelOutcome> {
    const stored = this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order;
    if (!stored) return { kind: 'not_found', message: `no order ${id}` };
    if (TERMINAL_STATUSES.has(stored.status)) return { kind: 'not_open', order: orderView(stored), message: `order ${id} is ${stored.status}` };
    this.venueCalls.requests++;
    const res = await this.venue.cancel(stored.clientOrderId);
    if (res.kind === 'canceled') {
      this.onVenueEvent({ type: 'canceled', clientOrderId: stored.clientOrderId, ts: res.ts, reason: 'CANCELED_BY_USER' });
    }
    await this.ledger.durable();
    const current = this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order ?? stored;
    if (current.status === 'CANCELED') return { kind: 'canceled', order: orderView(current) };
    if (res.kind === 'not_found') return { kind: 'not_found', message: res.message };
    return { kind: 'not_open', order: orderView(current), message: `order ${id} is ${current.status} at the venue` };
  }

  async cancelAllOpen(actor: string): Promise<number> {
    // Orders still awaiting the venue's answer would land in the book after this sweep and
    // survive a kill with cancel_open; wait for them so the sweep sees every open order.
    await Promise.allSettled([...this.inflight.values()]);
    let n = 0;
    for (const id of [...this.openOrders.keys()]) {
      const r = await this.cancel(id);
      if (r.kind === 'canceled') n++;
    }
    if (n > 0) this.log.warn({ engine: this.name, actor }, `[RISK] ${this.name} canceled ${n} open orders (${actor})`);
    return n;
  }

  getOrder(id: string): OrderView | undefined {
    const o = this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order;
    return o ? orderView(o) : undefined;
  }

  fillsForOrder(id: string): Fill[] {
    return this.ledger.fillsForOrder(id);
  }

  listOpenOrders(): OrderView[] {
    return [...this.openOrders.values()].map(orderView);
  }

  recentOrders(limit: number): OrderView[] {
    return this.ledger.recentOrders(limit).map(orderView);
  }

  private bookForModel(f: Fill): void {
    if (f.model === null) return;
    this.modelBooks.set(f.model, applyFill(this.modelBooks.get(f.model) ?? emptyPortfolio(fx(0)), f));
  }

  modelPositions(): ModelPositionView[] {
    const out: ModelPositionView[] = [];
    for (const [model, book] of this.modelBooks) {
      for (const p of book.positions.values()) {
        out.push({ model, symbol: p.symbol, qty: toDecimalString(p.qty), avgPrice: toDecimalString(p.avgPrice), realizedPnl: toDecimalString(p.realizedPnl), fees: toDecimalString(p.fees) });
      }
    }
    return out;
  }

  modelQty(model: string, symbol: string): string {
    const q = this.modelBooks.get(model)?.positions.get(symbol as Symbol)?.qty;
    return q === undefined ? '0' : toDecimalString(q);
  }

  modelBook(model: string): Portfolio | undefined {
    return this.modelBooks.get(model);
  }

  stats(): EngineStats {
    return this.counters.snapshot();
  }

  lastPriceString(symbol: string): string | null {
    const px = this.venue.lastPrice(symbol as Symbol);
    return px === undefined ? null : toDecimalString(px);
  }

  portfolioState(): Portfolio {
    return this.portfolio;
  }

  valuation(): Valuation {
    return valuePortfolio(this.portfolio, (s) => this.venue.lastPrice(s));
  }

  health(): EngineHealth {
    const c = this.ledger.counts();
    return {
      engine: 'ok', venue: this.name, trading_enabled: this.tradingEnabled,
      open_orders: this.openOrders.size, orders: c.orders, fills: c.fills, recovered: this.recovery,
      trading_states: this.tradingView,
      trading_state: this.tradingStateApplication(),
      venue_calls: { ...this.venueCalls },
      risk: {
        peak_equity: toDecimalString(this.peakEquity),
        loss_streak: this.lossStreak.streak,
        loss_cooldown_until: this.lossStreak.cooldownUntil === null ? null : new Date(this.lossStreak.cooldownUntil).toISOString(),
      },
    };
  }

  /** Called by the market-data loop: re-marks gauges and the snapshot on new prices. */
  onMarketData(): void {
    this.afterChange();
  }

  private afterChange(): void {
    this.peakEquity = fmax(this.peakEquity, this.equityNow());
    this.snapshot?.schedule();
  }

  private equityNow(): Fixed {
    let equity = this.portfolio.cash;
    for (const p of this.portfolio.positions.values()) {
      if (p.qty !== 0n) equity = (equity + mul(p.qty, this.venue.lastPrice(p.symbol) ?? p.avgPrice)) as Fixed;
    }
    return equity;
  }

  private updateGauges(): void {
    const m = this.metrics;
    if (!m) return;
    const v = this.valuation();
    m.equity.set({ venue: this.name }, v.equity);
    m.cash.set({ venue: this.name }, v.cash);
    m.realizedPnl.set({ venue: this.name }, v.realizedPnl);
    m.unrealizedPnl.set({ venue: this.name }, v.unrealizedPnl);
    m.feesPaid.set({ venue: this.name }, v.fees);
    for (const p of v.positions) m.exposure.set({ venue: this.name, symbol: p.symbol }, Math.abs(p.marketValue));
    m.openOrders.set({ venue: this.name }, this.openOrders.size);
    m.tradingEnabled.set({ scope: this.name }, this.tradingEnabled ? 1 : 0);
  }

  private snapshotDocument() {
    const v = this.valuation();
    return {
      venue: this.name,
      seq: this.portfolio.fillCount,
      ts: new Date(this.now()).toISOString(),
      ts_ms: this.now(),
      trading_enabled: this.tradingEnabled,
      cash: toDecimalString(this.portfolio.cash),
      equity: v.equity,
      exposure: v.exposure,
      pnl: { realized: toDecimalString(this.portfolio.realizedPnl), unrealized: v.unrealizedPnl, fees: toDecimalString(this.portfolio.fees) },
      positions: [...this.portfolio.positions.values()].filter((p) => p.qty !== 0n).map((p) => {
        const pv = v.positions.find((x) => x.symbol === p.symbol);
        return {
          symbol: p.symbol,
          qty: toDecimalString(p.qty),
          avg_price: toDecimalString(p.avgPrice),
          last_price: pv?.lastPrice ?? null,
          value_usd: pv?.marketValue ?? 0,
          unrealized_usd: pv?.unrealizedPnl ?? 0,
          realized_usd: toDecimalString(p.realizedPnl),
          fees_usd: toDecimalString(p.fees),
        };
      }),
      open_orders: this.openOrders.size,
    };
  }

  private logOrder(event: string, o: Order, extra: Partial<OrderLogLine>): void {
    this.orderLog.append({
      ts: new Date(this.now()).toISOString(),
      event,
      venue: this.name,
      client_order_id: o.clientOrderId,
      model: o.model,
      symbol: o.symbol,
      side: o.side,
      type: o.type,
      status: o.status,
      qty: toDecimalString(o.qty),
      price: o.price === null ? null : toDecimalString(o.price),
      filled_qty: toDecimalString(o.filledQty),
      avg_price: avgPrice(o),
      fees: toDecimalString(o.fees),
      reason: extra.reason ?? null,
      // Every key written out (JSON drops the undefined ones): spreading `extra` in added
      // new keys after a spread, V8's slow path.
      message: extra.message,
      routing_time: extra.routing_time,
      trade_id: extra.trade_id,
      fill_qty: extra.fill_qty,
      fill_price: extra.fill_price,
      fill_fee: extra.fill_fee,
    });
  }

  private newClientOrderId(): ClientOrderId {
    return toClientOrderId(`${this.name}-${this.now().toString(36)}-${(++this.seq).toString(36)}`);
  }

  // ---- recovery and reconciliation --------------------------------------------------------
  // Start-up recovery judges the snapshot and the ledger; reconcile.ts decides what the venue's
  // books mean for each order, and the methods below apply those decisions through the same
  // ledger transactions and events as live order flow.

  /** What start-up recovered; the start-up reconciliation is added once it has run. */
  get recovery(): RecoveryReport {
    return { ...this.recoveryBase, reconciliation: this.startupReconcile ? summarizeReport(this.startupReconcile) : null };
  }

  private recoverFromLedger(snapshotPath: string | null, ctx: RecoveryContext): Omit<RecoveryReport, 'reconciliation'> {
    const counts = this.ledger.counts();
    const recovered = this.ledger.existed;
    const positions = [...this.portfolio.positions.values()].filter((p) => p.qty !== 0n);
    const problems = recovered ? this.ledger.consistencyProblems() : [];
    let snapshot: RecoveryReport['snapshot'] = null;
    if (snapshotPath) {
      const a = assessSnapshot(readSnapshot(snapshotPath), {
        seq: this.portfolio.fillCount,
        cash: toDecimalString(this.portfolio.cash),
        positions: Object.fromEntries(positions.map((p) => [p.symbol, toDecimalString(p.qty)])),
      });
      snapshot = { ...a, rebuilt: a.status !== 'ok' };
    }
    const report: Omit<RecoveryReport, 'reconciliation'> = {
      recovered,
      at: new Date(this.now()).toISOString(),
      source: ctx.restoredFrom ? 'backup' : recovered ? 'ledger' : 'fresh',
      unclean_shutdown: ctx.uncleanShutdown ?? null,
      restored_from: ctx.restoredFrom ?? null,
      fills_replayed: this.portfolio.fillCount,
      journal_recovered: this.ledger.journalRecovered.length,
      fills: counts.fills,
      orders: counts.orders,
      open_orders: this.openOrders.size,
      positions: positions.length,
      models: this.modelBooks.size,
      snapshot,
      ledger_check: { ok: problems.length === 0, problems: problems.slice(0, 20) },
    };
    const fields = { engine: this.name, recovery: report };
    if (recovered) {
      this.log.info(fields, `[RECON] ${this.name} recovered from the ledger${ctx.restoredFrom ? ' (restored from a backup)' : ''}: ${counts.orders} orders, ${counts.fills} fills, ${this.openOrders.size} open orders, ${positions.length} positions, ${this.modelBooks.size} model books`);
    }
    if (ctx.uncleanShutdown) {
      this.log.warn(fields, `[RECON] ${this.name}: the previous run (pid ${ctx.uncleanShutdown.pid}, started ${ctx.uncleanShutdown.started_at}) did not stop cleanly; reconciling with the venue`);
    }
    for (const p of problems) this.log.error({ engine: this.name }, `[RECON] ${this.name} ledger inconsistency: ${p}`);
    const journaled = this.ledger.journalRecovered;
    if (journaled.length > 0) {
      this.log.warn({ engine: this.name, orders: journaled.slice(0, 20) }, `[RECON] ${this.name}: ${journaled.length} order(s) were journaled but not yet committed when the process stopped; recorded as NEW for reconciliation with the venue`);
    }
    if (snapshot && snapshotPath) {
      if (!recovered && snapshot.snapshot_seq !== null && snapshot.snapshot_seq > 0) {
        // A snapshot with history beside a brand-new ledger: the ledger was lost or moved.
        keepAside(snapshotPath);
        this.log.error(fields, `[RECON] ${this.name}: ${snapshotPath} records ${snapshot.snapshot_seq} fills but the ledger is new; the ledger was lost or moved. The old snapshot is kept as ${snapshotPath}.rejected; restore the ledger from a backup (\`hmm restore FILE\`)`);
      } else if (snapshot.status === 'corrupt' || snapshot.status === 'diverged') {
        keepAside(snapshotPath);
        this.log.error(fields, `[RECON] ${this.name}: snapshot ${snapshotPath} is ${snapshot.status} (${snapshot.detail}); kept as ${snapshotPath}.rejected and rebuilt from the ledger`);
      } else if (snapshot.status === 'stale') {
        this.log.warn(fields, `[RECON] ${this.name}: snapshot ${snapshotPath} is stale (${snapshot.detail}); rebuilt from the ledger`);
      } else if (snapshot.status === 'missing' && recovered) {
        this.log.warn(fields, `[RECON] ${this.name}: snapshot ${snapshotPath} is missing; rebuilt from the ledger`);
      }
    }
    return report;
  }

  /**
   * One reconciliation pass with the venue. Passes are serialised; each reads the venue first
   * and then decides and applies synchronously, so no order event interleaves with a decision.
   */
  reconcile(trigger: ReconcileTrigger = 'manual'): Promise<ReconcileReport> {
    const run = this.reconcileChain.then(() => this.reconcilePass(trigger));
    this.reconcileChain = run.catch(() => undefined);
    return run;
  }

  /** Starts the periodic reconciliation (after the start-up pass). */
  startReconcileDaemon(): void {
    if (this.reconcileDaemon) return;
    this.reconcileDaemon = new ReconcileDaemon((t) => this.reconcile(t), this.reconcileOpts);
    this.reconcileDaemon.start(this.lastReconcile);
  }

  reconcileState(): ReconcileState {
    const last = this.lastReconcileOkAt;
    return {
      engine: this.name,
      running: this.reconcileRunning,
      passes: this.reconcilePasses,
      interval_ms: this.reconcileOpts.intervalMs,
      last: this.lastReconcile,
      last_success_at: last === null ? null : new Date(last).toISOString(),
      lag_sec: last === null ? null : Math.max(0, Math.round((this.now() - last) / 100) / 10),
      startup: this.startupReconcile,
      totals: { ...this.reconcileTotals },
      history: [...this.reconcileHistory],
    };
  }

  private localOrder(id: string): Order | undefined {
    return this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order;
  }

  private async reconcilePass(trigger: ReconcileTrigger): Promise<ReconcileReport> {
    const started = this.now();
    const t0 = performance.now();
    this.reconcileRunning = true;
    try {
      const localOpen = [...this.openOrders.values()].filter((o) => !this.inflight.has(o.clientOrderId));
      const gathered = await gatherEvidence(this.venue, localOpen, [...this.unknownOrderIds], (id) => this.localOrder(id));
      const acc: ReconcileAccumulator = { adopted: [], accepted: [], closed: [], rejected_unsent: [], trade_ids: [], pending: [], flagged: [] };
      let venueOpenIds: string[] = [];
      const suspects = new Set<string>();
      if (gathered.ok) {
        venueOpenIds = gathered.venueOpen.map((o) => o.clientOrderId);
        for (const e of gathered.evidence) {
          if (this.inflight.has(e.clientOrderId)) continue; // being routed right now: not settled yet
          const local = this.localOrder(e.clientOrderId);
          const actions = decideOrder(local, e, {
            now: this.now(),
            newOrderGraceMs: this.reconcileOpts.newOrderGraceMs,
            isBooked: (tradeId) => this.ledger.hasTrade(this.venueId, tradeId),
          }).map((a): ReconcileAction => {
            if (a.kind !== 'flag' || !a.transient) return a;
            const key = `${a.clientOrderId}|${a.problem}`;
            suspects.add(key);
            return this.reconcileSuspects.has(key) ? a : { kind: 'pending', clientOrderId: a.clientOrderId, why: `${a.problem} (re-checking)` };
          });
          this.reconcileOrder(local, actions, acc);
          if (!actions.some((a) => a.kind === 'pending')) this.unknownOrderIds.delete(e.clientOrderId);
        }
        this.reconcileSuspects = suspects;
      }
      const engineOpen = [...this.openOrders.values()].filter((o) => !this.inflight.has(o.clientOrderId) && o.createdAt <= started).map((o) => o.clientOrderId as string);
      const venueSet = new Set(venueOpenIds);
      const sameOpen = engineOpen.length === venueSet.size && engineOpen.every((id) => venueSet.has(id));
      const base = {
        engine: this.name, trigger, started_at: new Date(started).toISOString(), finished_at: new Date(this.now()).toISOString(),
        duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
        ok: gathered.ok, error: gathered.ok ? null : gathered.error,
        checked: gathered.ok ? gathered.evidence.length : 0,
        venue_open: venueOpenIds.length, engine_open: engineOpen.length,
        adopted: acc.adopted, accepted: acc.accepted, closed: acc.closed, rejected_unsent: acc.rejected_unsent,
        fills_booked: acc.trade_ids.length, trade_ids: acc.trade_ids, pending: acc.pending, flagged: acc.flagged,
      };
      const report: ReconcileReport = { ...base, drift: driftOf(base), in_sync: gathered.ok && sameOpen && acc.flagged.length === 0 && acc.pending.length === 0 };
      this.afterReconcile(report);
      return report;
    } finally {
      this.reconcileRunning = false;
    }
  }

  /** Applies one order's actions in one ledger transaction, then publishes what changed. */
  private reconcileOrder(local: Order | undefined, actions: readonly ReconcileAction[], acc: ReconcileAccumulator): void {
    if (actions.length === 0) return;
    let order = local;
    const fills: Fill[] = [];
    let rejected = false;
    const now = this.now();
    this.ledger.transaction(() => {
      for (const a of actions) {
        const id = a.clientOrderId;
        if (a.kind === 'pending') {
          acc.pending.push({ client_order_id: id, why: a.why });
        } else if (a.kind === 'flag') {
          acc.flagged.push({ client_order_id: id, problem: a.problem });
        } else if (a.kind === 'adopt') {
          const v = a.state;
          order = {
            clientOrderId: id, venue: this.venueId, model: null, symbol: v.symbol, side: v.side, type: v.type,
            timeInForce: v.type === 'MARKET' ? 'IOC' : 'GTC', qty: v.qty, price: v.price, status: 'ACCEPTED',
            filledQty: ZERO, filledNotional: ZERO, fees: ZERO, venueOrderId: v.venueOrderId, rejectReason: null, createdAt: now, updatedAt: now,
          };
          // Adopted orders never match a client's request hash: re-using the id is a conflict.
          this.ledger.insertOrder(order, `adopted:${v.venueOrderId}`);
          this.logOrder('order.adopted', order, { reason: 'RECONCILED_FROM_VENUE' });
          acc.adopted.push(id);
        } else if (order === undefined) {
          acc.flagged.push({ client_order_id: id, problem: `cannot ${a.kind}: the order is not in the ledger` });
        } else if (a.kind === 'accept') {
          const next = transition(order, 'ACCEPTED', now, { venueOrderId: a.venueOrderId });
          if (isTransitionError(next)) {
            acc.flagged.push({ client_order_id: id, problem: `cannot accept: ${next.from} → ${next.to}` });
            continue;
          }
          order = next;
          this.ledger.updateOrder(next, 'RECONCILED');
          this.logOrder('order.accepted', next, { reason: 'RECONCILED' });
          acc.accepted.push(id);
        } else if (a.kind === 'book_fills') {
          for (const f of a.fills) {
            const before = fills.length;
            order = this.applyEvent(order, { type: 'fill', fill: f }, fills);
            if (fills.length > before) acc.trade_ids.push(f.tradeId);
          }
        } else if (a.kind === 'close') {
          const next = this.applyEvent(order, { type: a.to === 'CANCELED' ? 'canceled' : 'expired', clientOrderId: id, ts: now, reason: `RECONCILED: ${a.to} at the venue` }, fills);
          if (next === order) acc.flagged.push({ client_order_id: id, problem: `cannot close ${order.status} as ${a.to}` });
          else acc.closed.push({ client_order_id: id, status: a.to });
          order = next;
        } else if (a.kind === 'reject_unsent') {
          const next = transition(order, 'REJECTED', now, { rejectReason: 'NOT_SENT: the venue never received it (stopped or failed before its acknowledgement)' });
          if (isTransitionError(next)) {
            acc.flagged.push({ client_order_id: id, problem: `cannot reject: ${next.from} → ${next.to}` });
            continue;
          }
          order = next;
          this.ledger.updateOrder(next);
          this.logOrder('order.rejected', next, { reason: 'NOT_SENT', message: 'the venue never received it' });
          acc.rejected_unsent.push(id);
          rejected = true;
        }
      }
    });
    if (order === undefined || order === local) return;
    if (TERMINAL_STATUSES.has(order.status)) this.openOrders.delete(order.clientOrderId);
    else this.openOrders.set(order.clientOrderId, order);
    if (rejected) {
      this.metrics?.ordersRejected.inc({ venue: this.name, reason: 'NOT_SENT' });
      this.counters.reject('NOT_SENT');
    }
    this.publishOrderProgress(order, fills);
    this.afterChange();
  }

  private afterReconcile(r: ReconcileReport): void {
    this.reconcilePasses++;
    this.lastReconcile = r;
    if (r.trigger === 'startup' && this.startupReconcile === null) this.startupReconcile = r;
    this.reconcileHistory.unshift(r);
    if (this.reconcileHistory.length > 20) this.reconcileHistory.length = 20;
    const t = this.reconcileTotals;
    t.adopted += r.adopted.length;
    t.accepted += r.accepted.length;
    t.closed += r.closed.length;
    t.rejected_unsent += r.rejected_unsent.length;
    t.fills_booked += r.fills_booked;
    t.flagged += r.flagged.length;
    if (r.ok) this.lastReconcileOkAt = this.now();

    const m = this.metrics ? reconcileMetrics(this.metrics.registry) : null;
    if (m) {
      m.runs.inc({ venue: this.name, trigger: r.trigger, result: !r.ok ? 'venue_unavailable' : r.flagged.length ? 'flagged' : 'ok' });
      for (const [kind, n] of [['adopted', r.adopted.length], ['accepted', r.accepted.length], ['closed', r.closed.length], ['rejected_unsent', r.rejected_unsent.length], ['fills_booked', r.fills_booked]] as const) {
        if (n > 0) m.corrections.inc({ venue: this.name, kind }, n);
      }
      m.flagged.set({ venue: this.name }, r.flagged.length);
      if (r.ok) m.lastSuccess.set({ venue: this.name }, this.now() / 1000);
    }

    const line = `[RECON] ${describeReport(r)}`;
    const fields = { engine: this.name, reconcile: { trigger: r.trigger, drift: r.drift, in_sync: r.in_sync, adopted: r.adopted, accepted: r.accepted, closed: r.closed, rejected_unsent: r.rejected_unsent, trade_ids: r.trade_ids, pending: r.pending, flagged: r.flagged } };
    if (!r.ok || r.flagged.length > 0) this.log.error(fields, line);
    else if (r.drift > 0 || r.pending.length > 0) this.log.warn(fields, line);
    else if (r.trigger === 'periodic') this.log.debug(fields, line);
    else this.log.info(fields, line);

    const ts = this.now();
    if (!r.ok) {
      this.bus.publish('alert', { severity: 'WARNING', title: 'Reconciliation cannot read the venue', message: `${this.name}: ${r.error}; nothing was changed, retrying`, key: `recon_unavailable:${this.name}`, ts });
      return;
    }
    const fresh = r.flagged.filter((f) => !this.alertedFlags.has(`${f.client_order_id}|${f.problem}`));
    this.alertedFlags.clear();
    for (const f of r.flagged) this.alertedFlags.add(`${f.client_order_id}|${f.problem}`);
    if (fresh.length > 0) {
      this.bus.publish('alert', {
        severity: 'CRITICAL', title: 'Reconciliation found what it cannot explain',
        message: `${this.name}: ${fresh.map((f) => `${f.client_order_id}: ${f.problem}`).join('; ')}`, key: `recon_flagged:${this.name}`, ts,
      });
    } else if (r.drift > this.reconcileOpts.driftAlertThreshold) {
      this.bus.publish('alert', {
        severity: 'WARNING', title: 'Reconciliation corrected drift',
        message: `${this.name} (${r.trigger}): imported ${r.adopted.length}, closed ${r.closed.length}, accepted ${r.accepted.length}, unsent ${r.rejected_unsent.length}, booked ${r.fills_booked} fills`,
        key: `recon_drift:${this.name}`, ts,
      });
    }
  }

  async close(): Promise<void> {
    this.metrics?.accountRefreshers.delete(this.refreshGauges);
    this.reconcileDaemon?.stop();
    this.reconcileDaemon = null;
    await this.reconcileChain;
    await this.ledger.durable();
    this.snapshot?.writeNow();
    this.snapshot?.stop();
  }
}

function conflict(order: Order): SubmitOutcome {
  return { kind: 'conflict', message: `client order id ${order.clientOrderId} was already used for a different order`, order: orderView(order) };
}

/** Hashed in a space of its own ("N|"), so a quantity order and a notional order under one
 *  client order id conflict rather than replay each other. */
function notionalRequestHash(r: NotionalOrderRequest): string {
  const i = r.intent;
  const money = i.kind === 'target' ? `T|${i.targetUsd.toString()}` : `${i.side}|${i.notionalUsd.toString()}`;
  return hash('sha256', `N|${r.symbol}|${money}|${r.maxNotionalUsd.toString()}|${r.minNotionalUsd.toString()}|${r.model}`, 'hex').slice(0, 32);
}

function requestHash(r: SubmitOrderRequest): string {
  // crypto.hash: the one-shot form, without a Hash object per order.
  const price = r.type === 'MARKET' || r.price === null ? '' : r.price.toString();
  return hash('sha256', `${r.symbol}|${r.side}|${r.type}|${r.qty.toString()}|${price}|${r.timeInForce ?? ''}|${r.model ?? ''}`, 'hex').slice(0, 32);
}

function avgPrice(o: Order): string | null {
  return o.filledQty > 0n ? toDecimalString(div(o.filledNotional, o.filledQty)) : null;
}

export function orderView(o: Order): OrderView {
  return {
    client_order_id: o.clientOrderId,
    venue: o.venue,
    model: o.model,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    time_in_force: o.timeInForce,
    qty: toDecimalString(o.qty),
    price: o.price === null ? null : toDecimalString(o.price),
    status: o.status,
    filled_qty: toDecimalString(o.filledQty),
    avg_price: avgPrice(o),
    fees: toDecimalString(o.fees),
    venue_order_id: o.venueOrderId,
    reject_reason: o.rejectReason,
    created_at: o.createdAt,
    updated_at: o.updatedAt,
  };
}

function orderEvent(venue: string, o: Order, reason: string | null) {
  return {
    venue, clientOrderId: o.clientOrderId, model: o.model, symbol: o.symbol, side: o.side, type: o.type,
    status: o.status, qty: toDecimalString(o.qty), filledQty: toDecimalString(o.filledQty),
    price: o.price === null ? null : toDecimalString(o.price), reason, ts: o.updatedAt,
  };
}

interface ReconcileAccumulator {
  readonly adopted: string[];
  readonly accepted: string[];
  readonly closed: { client_order_id: string; status: string }[];
  readonly rejected_unsent: string[];
  readonly trade_ids: string[];
  readonly pending: { client_order_id: string; why: string }[];
  readonly flagged: { client_order_id: string; problem: string }[];
}

/** Keeps a snapshot that disagrees with the ledger beside it (evidence), before it is rewritten. */
function keepAside(path: string): void {
  try {
    copyFileSync(path, `${path}.rejected`);
  } catch { /* unreadable or gone: nothing to keep */ }
}
