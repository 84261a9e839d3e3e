// The execution engine for one venue: the order router (idempotency → risk rails → venue
// adapter → OMS → portfolio), the ledger it commits to before acknowledging, the audit log,
// and the portfolio snapshot. Nothing else writes this venue's orders, fills or portfolio.
// Over the ~500 lines a file aims for, on purpose: the order path is one object because its
// invariants hold only inside it — nothing awaits between the risk rails and the venue call (a
// halt cannot land in between), an order's events and fills commit in one ledger transaction,
// the exposure the rails see includes orders still awaiting the venue, and a trading-state
// change (applyTradingState) holds from the next order on. The other ideas live beside it: wire
// views and the audit line (views.ts), start-up recovery (recovery.ts), reconciliation with the
// venue (reconciler.ts, through reconcileTarget()), model books (modelBooks.ts), what the rails
// remember (riskMemory.ts), the risk decision (riskRails.ts), the snapshot (snapshot.ts).
import { hash } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { performance } from 'node:perf_hooks';
import { type Fixed, ZERO, fx, toDecimalString, div, floorToStep, mul } from '../core/decimal.js';
import { clientOrderId as toClientOrderId, type ClientOrderId, type Symbol, type VenueId } from '../core/ids.js';
import {
  type Fill, type Order, type OrderIntent,
  TERMINAL_STATUSES, transition, applyFillToOrder, isTransitionError,
} from '../core/order.js';
import { type Portfolio, type Valuation, applyFill, replayFills, valuePortfolio } from '../core/portfolio.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { Venue, VenueEvent } from '../venues/venue.js';
import type { Instrument } from '../core/instrument.js';
import { Ledger } from './ledger.js';
import { OrderLog, type OrderLogLine } from './orderLog.js';
import { type RiskBook, type RiskLimits, OrderRateWindow, checkRiskRails } from './riskRails.js';
import { type EngineTradingStates, type TradingState, type TradingStateDocument, engineView, tradingEnabledBy, worstState } from '../core/tradingState.js';
import { timeOrderedOrderId } from '../core/orderIds.js';
import { RiskMemory, markedEquity } from './riskMemory.js';
import { PortfolioSnapshotWriter, portfolioSnapshotDocument } from './snapshot.js';
import { ModelBooks } from './modelBooks.js';
import type { ReconcileOptions, ReconcileReport, ReconcileState, ReconcileTrigger } from './reconcile.js';
import { Reconciler, type CorrectionPath, type ReconcileTarget } from './reconciler.js';
import { type RecoveryContext, recoverFromLedger } from './recovery.js';

/** Part of EngineOptions, so its callers take it from here. */
export type { RecoveryContext } from './recovery.js';
import { EngineStatsCollector, type EngineStats } from './engineStats.js';
import {
  type CancelOutcome, type EngineHealth, type EngineStopView, type StopAckOutcome, type ModelPositionView, type NotionalOutcome, type OrderView, type RecoveryReport, type SubmitOrderRequest,
  type SubmitOutcome, type TradingStateApplication, type TradingStateApplied, orderEvent, orderLogLine, orderView, storageFaultView,
} from './views.js';
import { OrderStateError } from './errors.js';
import { isStorageFault, reportStorageFault, type StorageFault } from '../util/storageHealth.js';
import { type NotionalOrderRequest, type Sizing, sizeNotional as sizeNotionalOrder } from './sizing.js';

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
  readonly startStop?: { readonly reason: string; readonly until: 'resume' | 'document'; readonly code?: string };
  /** Where a stop the engine put on itself is kept (engine/state/<name>.stop.json), so a restart
   *  does not lift it either: only an acknowledgement (ack()) does. null: kept in memory only. */
  readonly stopFile?: string | null;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics | null;
  readonly now?: () => number;
  /** Reconciliation with the venue (reconcile.ts); the defaults suit a live venue. */
  readonly reconcile?: Partial<ReconcileOptions>;
  /** What the stack knows about the previous run (a crash, a restore from backup). */
  readonly recoveryContext?: RecoveryContext;
  /** Whether the disk takes writes (util/storageHealth.ts): while it holds a fault, new orders
   *  are refused (STORAGE) before anything is written or sent. Absent: never refused for it. */
  readonly storage?: { readonly fault: StorageFault | null } | null;
}

/** The refusal reason while the disk refuses writes (HTTP 503: the same order may pass later). */
export const STORAGE_REFUSAL = 'STORAGE';

/** The engine's own stop, beside the document: `until` says what lifts it. */
interface EngineStop {
  readonly reason: string;
  /** Stable code of the cause (EngineStopView.code). */
  readonly code: string;
  /** The underlying error's code (SQLITE_…), when there is one. */
  readonly errorCode: string | null;
  readonly sinceMs: number;
  /** 'resume': a document whose global entry was set (not HALTED) after the stop; 'document':
   *  any document (the stop was "the state is unknown"); 'ack': only the operator's
   *  acknowledgement of the cause (ack()) — the engine stopped itself, and neither a resume nor
   *  a restart says the cause is gone. */
  readonly until: 'resume' | 'document' | 'ack';
}

/** Stable codes of the engine's own stops. */
export const STOP_CODES = {
  ledgerCommitFailed: 'LEDGER_COMMIT_FAILED',
  disabledAtStart: 'TRADING_ENABLED_FALSE',
  stateUnknown: 'TRADING_STATE_UNKNOWN',
} as const;

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
  /** Each model's own book (zero cash): what it holds, for sizing exits and attributing PnL. */
  private modelBooks = new ModelBooks();
  private readonly storage: { readonly fault: StorageFault | null } | null;
  /** A group commit the disk refused rolled back what this engine holds in memory: once writes
   *  succeed, the books are rebuilt from the ledger and the journal (resyncAfterStorageFault). */
  private lostCommit = false;
  private resyncRun: Promise<{ readonly recovered: number }> | null = null;
  private readonly startingCash: Fixed;
  private readonly counters = new EngineStatsCollector();
  private readonly recoveryBase: Omit<RecoveryReport, 'reconciliation'>;
  /** Brings this engine's orders in line with the venue's books, through reconcileTarget(). */
  private readonly reconciler: Reconciler;
  // The one trading state (core/tradingState.ts): the last document applied, the view of it that
  // applies here, and the engine's own stop. Only applyTradingState changes the first two.
  private tradingDoc: TradingStateDocument | null = null;
  private tradingView: EngineTradingStates = { global: 'ACTIVE', venue: 'ACTIVE', models: {} };
  private ownStop: EngineStop | null = null;
  private readonly stopFile: string | null;
  private readonly tradingCounts = { applied: 0, ignored: 0 };
  private tradingChain: Promise<unknown> = Promise.resolve();
  /** Orders that passed the rails and await the venue's answer: they count as open for the
   *  exposure caps, so concurrent orders cannot all pass the same headroom (check-and-reserve). */
  private readonly pendingIntents = new Map<string, OrderIntent>();
  /** Peak equity and the loss streak, and the book the rails see (riskMemory.ts). */
  private readonly risk = new RiskMemory();
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
    if (!opts.tradingEnabled) {
      const until = opts.startStop?.until ?? 'resume';
      this.ownStop = {
        reason: opts.startStop?.reason ?? 'trading disabled at start', code: opts.startStop?.code ?? (until === 'document' ? STOP_CODES.stateUnknown : STOP_CODES.disabledAtStart),
        errorCode: null, sinceMs: this.now(), until,
      };
    }
    // A stop the engine put on itself in an earlier run holds until it is acknowledged.
    this.stopFile = opts.stopFile ?? null;
    const kept = this.stopFile === null ? null : readKeptStop(this.stopFile, this.now());
    if (kept !== null) {
      this.ownStop = kept;
      this.log.error({ engine: this.name, code: kept.code }, `[RISK] ${this.name} starts STOPPED: it stopped itself at ${new Date(kept.sinceMs).toISOString()} (${kept.reason}); a resume does not lift this — find the cause, then \`hmm engine ack ${this.name}\``);
    }
    // If the ledger cannot commit, what we hold in memory is no longer on record: stop
    // trading at once, until the operator has found the cause and acknowledged it (ack()).
    this.ledger.beforeCommit = () => this.orderLog.flush();
    this.ledger.onCommitFailure = (err) => {
      if (reportStorageFault(this.ledger.path, err)) {
        // A full or failing disk: a state, not the end. New orders are refused while it lasts
        // (the storage fault), the rolled-back orders are still in the intent journal, and once
        // writes succeed the books are rebuilt from the ledger and reconciled with the venue.
        this.lostCommit = true;
        this.log.error({ engine: this.name, code: (err as { code?: string }).code }, `[RISK] ${this.name} ledger commit refused by the disk (${err.message}): new orders REFUSED (STORAGE) until writes succeed; the orders of that commit are settled with the venue then`);
        return;
      }
      const code: unknown = (err as Error & { code?: unknown }).code;
      const errorCode = typeof code === 'string' ? code : null;
      this.stopItself(STOP_CODES.ledgerCommitFailed, `ledger commit failed: ${err.message}`, errorCode);
      this.log.fatal({ err, engine: this.name, code: errorCode }, `[RISK] ${this.name} ledger commit failed (${err.message}): trading DISABLED until the cause is found and acknowledged (\`hmm engine ack ${this.name}\`; a resume does not lift it); a restart recovers from the ledger`);
      this.bus.publish('alert', { severity: 'CRITICAL', title: 'Ledger commit failed', message: `${this.name}: ${err.message}; trading disabled until acknowledged (hmm engine ack ${this.name})`, key: `ledger:${this.name}`, ts: this.now() });
    };

    // Recovery: the portfolio is whatever the ledger's fills say, never the snapshot.
    this.storage = opts.storage ?? null;
    this.startingCash = this.ledger.startingCash(opts.startingCash);
    this.portfolio = this.rebuildFromLedger();
    this.reconciler = new Reconciler({
      target: this.reconcileTarget(), venue: this.venue, bus: this.bus, logger: this.log, metrics: this.metrics, now: this.now, options: opts.reconcile,
    });
    this.recoveryBase = recoverFromLedger({
      name: this.name, ledger: this.ledger, portfolio: this.portfolio, openOrders: this.openOrders.size, models: this.modelBooks.size,
      snapshotPath: opts.snapshotPath, orderLogDamaged: this.orderLog.damaged, ctx: opts.recoveryContext ?? {}, log: this.log, now: this.now(),
    });
    // An order a damaged line may describe is settled with the venue by its client order id in
    // the start-up pass: ledger and venue decide, never the damaged text. Bounded to the lines the
    // report names (20): a file damaged throughout must not become thousands of venue calls.
    for (const d of this.recoveryBase.damaged_lines) if (d.client_order_id !== null) this.reconciler.flag(d.client_order_id as ClientOrderId);
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
    // A stop the engine put on itself ('ack') is not lifted by any document: see ack().
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

  /** Stops trading until the operator acknowledges the cause (ack()); kept on disk so a restart
   *  does not lift it (best effort: the disk may be the cause, and then it holds in memory). */
  private stopItself(code: string, reason: string, errorCode: string | null): void {
    // The first cause is the one to find: later failures of the same stop do not replace it.
    if (this.ownStop?.until !== 'ack') this.ownStop = { reason, code, errorCode, sinceMs: this.now(), until: 'ack' };
    this.metrics?.tradingEnabled.set({ scope: this.name }, 0);
    if (this.stopFile === null) return;
    try {
      writeJsonAtomic(this.stopFile, { engine: this.name, ...stopView(this.ownStop!) });
    } catch (err) {
      this.log.error({ err, engine: this.name }, `[RISK] ${this.name} could not keep its stop in ${this.stopFile} (${(err as Error).message}); it holds until acknowledged or the process restarts`);
    }
  }

  /**
   * The operator acknowledges the cause of a stop the engine put on itself: proves the ledger
   * commits again (writes the acknowledgement into it), then lifts the stop. Refused while the
   * ledger still cannot commit, and when there is no such stop (a halt is lifted by a resume).
   */
  ack(actor: string, note: string | null = null): StopAckOutcome {
    const stop = this.ownStop;
    if (stop === null || stop.until !== 'ack') {
      return { acknowledged: false, stop: stop === null ? null : stopView(stop), trading_enabled: this.tradingEnabled, message: stop === null ? `${this.name} has no stop of its own to acknowledge` : `${this.name}'s stop (${stop.reason}) is lifted by ${stop.until === 'resume' ? 'a resume' : 'the cluster\'s trading state'}, not by an acknowledgement` };
    }
    const at = this.now();
    try {
      this.ledger.transaction(() => this.ledger.setMeta('stop_acknowledged', JSON.stringify({ actor, note, at: new Date(at).toISOString(), stop: stopView(stop) })));
      this.ledger.flush();
    } catch (err) {
      return { acknowledged: false, stop: stopView(stop), trading_enabled: false, message: `the ledger still cannot commit (${(err as Error).message}): the stop stays` };
    }
    if (this.ledger.failing) return { acknowledged: false, stop: stopView(this.ownStop ?? stop), trading_enabled: false, message: `the ledger still cannot commit: the stop stays (${this.ownStop?.reason ?? stop.reason})` };
    this.ownStop = null;
    if (this.stopFile !== null) {
      try { unlinkSync(this.stopFile); } catch { /* not kept, or already gone */ }
    }
    this.metrics?.tradingEnabled.set({ scope: this.name }, this.tradingEnabled ? 1 : 0);
    this.log.warn({ engine: this.name, actor, code: stop.code }, `[RISK] ${this.name} own stop (${stop.reason}, since ${new Date(stop.sinceMs).toISOString()}) acknowledged by ${actor}${note ? `: ${note}` : ''}; trading ${this.tradingEnabled ? 'ENABLED' : `still DISABLED (global ${this.tradingView.global})`}`);
    return { acknowledged: true, stop: stopView(stop), trading_enabled: this.tradingEnabled, message: `${this.name}'s stop acknowledged by ${actor}` };
  }

  /** The engine's own stop, as the wire shows it (null: none). */
  get stop(): EngineStopView | null {
    return this.ownStop === null ? null : stopView(this.ownStop);
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
    return this.risk.book(symbol, now, this.portfolio, (s) => this.venue.lastPrice(s), this.openOrders.values(), this.openOrders.size, this.pendingIntents.values(), this.pendingIntents.size);
  }

  private recordExit(f: Fill, before: Portfolio, after: Portfolio, now = this.now()): void {
    const until = this.risk.recordExit(f, before, after, this.limits, now);
    if (until !== null) this.alertLossStreak(until);
  }

  private alertLossStreak(untilMs: number): void {
    const until = new Date(untilMs).toISOString();
    this.log.warn({ engine: this.name, until }, `[RISK] ${this.name} ${this.limits.lossStreakLimit} losing exits in a row: new exposure paused until ${until}`);
    this.bus.publish('alert', { severity: 'WARNING', title: 'Loss streak cooldown', message: `${this.name}: ${this.limits.lossStreakLimit} losing exits in a row; new exposure paused until ${until}`, key: `loss_streak:${this.name}`, ts: this.now() });
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
    const id = req.clientOrderId ? toClientOrderId(req.clientOrderId) : timeOrderedOrderId(this.name, this.now());
    const hash = requestHash(req);
    return this.known(id, hash) ?? this.place(id, req, hash, intake);
  }

  /** A market order stated in money (the control plane's one call per signal): sized here
   *  against this engine's last price and the model's own position, then placed as submit()
   *  places an order. The request's hash is of the money, not of the quantity, so a retry of
   *  a lost answer replays even after the order's fill moved the position. */
  async submitNotional(req: NotionalOrderRequest): Promise<NotionalOutcome> {
    const intake = performance.now();
    const id = req.clientOrderId ? toClientOrderId(req.clientOrderId) : timeOrderedOrderId(this.name, this.now());
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

    // The disk refuses writes: the order could not be put on record, so it is refused before
    // the venue hears of it (and not booked: the ledger is what cannot be written).
    const fault = this.storage?.fault ?? null;
    if (fault !== null) return this.storageRefusal(order, intake, `${fault.code} on ${fault.path} since ${new Date(fault.since).toISOString()}`);
    // Writes succeed again but a lost commit is not yet recovered: until its orders are back in
    // the ledger, a client's retry of one of them would look new here and reach the venue twice.
    if (this.lostCommit) return this.storageRefusal(order, intake, 'a ledger commit the disk refused is being recovered from the intent journal');
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
      return this.afterCommit(rejected, order, intake);
    }
    try {
      this.ledger.recordIntent(order, hash);
    } catch (err) {
      if (!reportStorageFault(this.ledger.path, err)) throw err;
      return this.storageRefusal(order, intake, `the intent journal write failed (${(err as Error).message})`);
    }
    this.rateWindow.record(now);
    this.pendingIntents.set(id, intent);
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
      this.openOrders.set(id, order);
      this.reconciler.lookUp(id);
      this.venueCalls = { ...this.venueCalls, errors: this.venueCalls.errors + 1, last_error: (err as Error).message, last_error_at: this.now() };
      this.ledger.transaction(() => {
        this.ledger.insertOrder(order, hash);
        this.bus.publish('alert', { severity: 'WARNING', title: 'Venue error', message: `${this.name}: submit failed: ${(err as Error).message}`, key: `venue_error:${this.name}`, ts: this.now() });
      });
      this.metrics?.venueErrors.inc({ venue: this.name, kind: 'submit' });
      this.log.error({ err, engine: this.name, clientOrderId: id }, `[RISK] ${this.name} venue submit failed for ${id}; order left for reconciliation`);
      // The venue could not put it on record for the disk (the sim venue's books share this
      // root): a STORAGE refusal, never an ack, as for a commit of our own the disk refused.
      if (isStorageFault(err)) return this.storageRefusal(order, intake, `the venue could not record it (${(err as Error).message}); what it did with the order is reconciled by client order id once writes succeed`);
      throw err;
    }
    const routingTimeMs = performance.now() - intake;
    this.metrics?.routingSeconds.observe({ venue: this.name }, routingTimeMs / 1000);
    this.counters.routing(routingTimeMs);

    if (result.kind === 'rejected') {
      this.pendingIntents.delete(id);
      const next = transition(order, 'REJECTED', result.ts, { rejectReason: `${result.code}: ${result.message}` });
      if (isTransitionError(next)) throw new OrderStateError(next.from, next.to);
      // Every event leaves inside the ledger transaction of the change it reports: on a shared
      // bus it is an outbox row of that transaction (outbox.ts).
      this.ledger.transaction(() => {
        this.ledger.insertOrder(order, hash);
        this.ledger.updateOrder(next);
        this.logOrder('order.rejected', next, { routing_time: routingTimeMs, reason: result.code, message: result.message });
        this.afterRejection(next, result.code, result.message);
      });
      return this.afterCommit({ kind: 'rejected', reason: result.code, message: result.message, order: orderView(next), duplicate: false, routingTimeMs }, next, intake);
    }

    const submitted = order;
    const accepted = transition(order, 'ACCEPTED', result.ts, { venueOrderId: result.venueOrderId });
    if (isTransitionError(accepted)) throw new OrderStateError(accepted.from, accepted.to);
    order = accepted;
    const fills: Fill[] = [];
    this.ledger.transaction(() => {
      this.ledger.insertOrder(submitted, hash);
      this.ledger.updateOrder(order);
      for (const e of result.events) order = this.applyEvent(order, e, fills);
      this.logOrder('order.accepted', accepted, { routing_time: routingTimeMs });
      this.pendingIntents.delete(id);
      if (TERMINAL_STATUSES.has(order.status)) this.openOrders.delete(id);
      else this.openOrders.set(id, order);
      this.publishOrderProgress(order, fills);
    });
    this.drainPending(id);
    this.afterChange();
    return this.afterCommit({ kind: 'accepted', order: orderView(order), duplicate: false, routingTimeMs }, order, intake);
  }

  /** The outcome once its commit is durable. A commit the disk refused is not an answer to
   *  give: the order is refused (STORAGE) — never acknowledged without being on record — and
   *  what the venue did with it is settled by client order id once writes succeed. */
  private async afterCommit(outcome: SubmitOutcome, order: Order, intake: number): Promise<SubmitOutcome> {
    try {
      await this.ledger.durable();
    } catch (err) {
      if (!isStorageFault(err)) throw err;
      return this.storageRefusal(order, intake, `the ledger commit failed (${(err as Error).message}); what the venue did with it is reconciled by client order id once writes succeed`);
    }
    return outcome;
  }

  /** An order refused because the disk refuses writes: not booked (the ledger is what cannot be
   *  written), counted, and answered 503 with reason STORAGE. */
  private storageRefusal(order: Order, intake: number, why: string): SubmitOutcome {
    const message = `storage fault: ${why}; new orders are refused until writes succeed`;
    this.metrics?.ordersRejected.inc({ venue: this.name, reason: STORAGE_REFUSAL });
    this.counters.reject(STORAGE_REFUSAL);
    const view = orderView({ ...order, status: 'REJECTED', rejectReason: `${STORAGE_REFUSAL}: ${message}` });
    return { kind: 'rejected', reason: STORAGE_REFUSAL, message, order: view, duplicate: false, routingTimeMs: performance.now() - intake };
  }

  /**
   * Writes succeed again (the storage probe cleared the fault). When a commit was lost, what this
   * engine holds in memory is ahead of its ledger: the orders of that commit are recorded from
   * the intent journal as NEW, the books are rebuilt from the ledger as at start-up, and one
   * reconciliation pass settles those orders with the venue by client order id (their fills are
   * booked then). Without a lost commit there is nothing to redo.
   */
  async resyncAfterStorageFault(): Promise<{ readonly recovered: number }> {
    if (!this.lostCommit) return { recovered: 0 };
    this.resyncRun ??= this.resync().finally(() => { this.resyncRun = null; });
    return this.resyncRun;
  }

  private async resync(): Promise<{ readonly recovered: number }> {
    await this.quiesce();
    const recovered = this.ledger.recoverUnsettled((id) => this.inflight.has(id));
    await this.ledger.durable();
    // On record again: new orders (and retries of the recovered ones, now answered from the
    // ledger) are taken. A commit that fails here leaves the flag set, and the next clear retries.
    this.lostCommit = false;
    this.portfolio = this.rebuildFromLedger();
    this.log.warn({ engine: this.name, recovered: recovered.length }, `[RECON] ${this.name} storage writes succeed again: books rebuilt from the ledger, ${recovered.length} order(s) of the lost commit recovered from the intent journal; reconciling with the venue`);
    await this.reconcile('manual');
    this.afterChange();
    return { recovered: recovered.length };
  }

  /** What this engine holds in memory, from the ledger's fills and orders alone (start-up, and
   *  after a lost commit): the model books, the rails' memory, the open orders; returns the
   *  portfolio, for the caller to assign. */
  private rebuildFromLedger(): Portfolio {
    // One read of the fills: the portfolio, the model books and the loss streak come from the
    // same replay, each fill taken as the fill path takes it (exit recorded, then booked).
    this.modelBooks = new ModelBooks();
    this.risk.startRebuild(this.startingCash);
    const now = this.now();
    const portfolio = replayFills(this.startingCash, this.ledger.fills(), (f, before, after) => {
      this.recordExit(f, before, after, now);
      this.modelBooks.book(f);
    });
    this.openOrders.clear();
    for (const o of this.ledger.openOrders()) this.openOrders.set(o.clientOrderId, o);
    return portfolio;
  }

  private bookRejection(order: Order, hash: string, reason: string, message: string, intake: number, source: 'risk' | 'venue'): SubmitOutcome {
    const rejected: Order = { ...order, status: 'REJECTED', rejectReason: `${reason}: ${message}` };
    const routingTimeMs = performance.now() - intake;
    this.ledger.transaction(() => {
      this.ledger.insertOrder(rejected, hash);
      this.logOrder('order.rejected', rejected, { routing_time: routingTimeMs, reason, message });
      this.afterRejection(rejected, reason, message);
    });
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
        this.reconciler.flag(order.clientOrderId);
        return order;
      }
      if (!this.ledger.insertFill(fill)) return order; // duplicate trade id: already booked
      if (base !== order) this.ledger.updateOrder(base as Order, 'FILL_BEFORE_ACK');
      this.ledger.updateOrder(next);
      const before = this.portfolio;
      this.portfolio = applyFill(this.portfolio, fill);
      this.recordExit(fill, before, this.portfolio);
      this.modelBooks.book(fill);
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
      this.reconciler.lookUp(id);
      return;
    }
    let next = order;
    const fills: Fill[] = [];
    this.ledger.transaction(() => {
      next = this.applyEvent(order, e, fills);
      if (next === order) return;
      if (TERMINAL_STATUSES.has(next.status)) this.openOrders.delete(id);
      else this.openOrders.set(id, next);
      this.publishOrderProgress(next, fills);
    });
    if (next === order) return;
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

  modelPositions(): ModelPositionView[] {
    return this.modelBooks.positions();
  }

  modelQty(model: string, symbol: string): string {
    return this.modelBooks.qty(model, symbol);
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
      storage: this.storage?.fault ? storageFaultView(this.storage.fault) : null,
      open_orders: this.openOrders.size, orders: c.orders, fills: c.fills, recovered: this.recovery,
      trading_states: this.tradingView,
      trading_state: this.tradingStateApplication(),
      venue_calls: { ...this.venueCalls },
      stop: this.stop,
      risk: {
        peak_equity: toDecimalString(this.risk.peakEquity),
        loss_streak: this.risk.lossStreak.streak,
        loss_cooldown_until: this.risk.lossStreak.cooldownUntil === null ? null : new Date(this.risk.lossStreak.cooldownUntil).toISOString(),
      },
    };
  }

  /** Called by the market-data loop: re-marks gauges and the snapshot on new prices. */
  onMarketData(): void {
    this.afterChange();
  }

  private afterChange(): void {
    this.risk.observeEquity(markedEquity(this.portfolio, (s) => this.venue.lastPrice(s)));
    this.snapshot?.schedule();
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
    return portfolioSnapshotDocument(this.name, this.portfolio, this.valuation(), this.tradingEnabled, this.openOrders.size, this.now());
  }

  private logOrder(event: string, o: Order, extra: Partial<OrderLogLine>): void {
    this.orderLog.append(orderLogLine(this.now(), event, this.name, o, extra));
  }

  // ---- recovery and reconciliation --------------------------------------------------------
  // recovery.ts judged the start; the reconciler (reconciler.ts) owns the passes with the venue
  // and reaches this engine only through reconcileTarget(): reads of its orders and the same
  // event path (ledger transaction, audit line, bus, books) as live order flow.

  /** What start-up recovered; the start-up reconciliation is added once it has run. */
  get recovery(): RecoveryReport {
    return { ...this.recoveryBase, reconciliation: this.reconciler.startupSummary() };
  }

  /** One reconciliation pass with the venue (passes are serialised by the reconciler). */
  reconcile(trigger: ReconcileTrigger = 'manual'): Promise<ReconcileReport> {
    return this.reconciler.reconcile(trigger);
  }

  /** Starts the periodic reconciliation (after the start-up pass). */
  startReconcileDaemon(): void {
    this.reconciler.startDaemon();
  }

  reconcileState(): ReconcileState {
    return { ...this.reconciler.state(), damaged_lines: this.ledger.journalDamaged.length + this.orderLog.damaged.length };
  }

  private reconcileTarget(): ReconcileTarget {
    return {
      name: this.name,
      venueId: this.venueId,
      settledOpenOrders: () => [...this.openOrders.values()].filter((o) => !this.inflight.has(o.clientOrderId)),
      isRouting: (id) => this.inflight.has(id),
      order: (id) => this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order,
      isBooked: (tradeId) => this.ledger.hasTrade(this.venueId, tradeId),
      correct: (local, apply) => this.correct(local, apply),
    };
  }

  /** Applies the reconciler's corrections to one order in one ledger transaction, then files
   *  and publishes the result exactly as a venue event would be. */
  private correct(local: Order | undefined, apply: (path: CorrectionPath) => Order | undefined): void {
    const fills: Fill[] = [];
    let rejected = false;
    const now = this.now();
    const path: CorrectionPath = {
      adopt: (order) => {
        // Adopted orders never match a client's request hash: re-using the id is a conflict.
        this.ledger.insertOrder(order, `adopted:${order.venueOrderId ?? ''}`);
        this.logOrder('order.adopted', order, { reason: 'RECONCILED_FROM_VENUE' });
      },
      accept: (order, venueOrderId) => {
        const next = transition(order, 'ACCEPTED', now, { venueOrderId });
        if (isTransitionError(next)) return next;
        this.ledger.updateOrder(next, 'RECONCILED');
        this.logOrder('order.accepted', next, { reason: 'RECONCILED' });
        return next;
      },
      apply: (order, event) => this.applyEvent(order, event, fills),
      rejectUnsent: (order) => {
        const next = transition(order, 'REJECTED', now, { rejectReason: 'NOT_SENT: the venue never received it (stopped or failed before its acknowledgement)' });
        if (isTransitionError(next)) return next;
        this.ledger.updateOrder(next);
        this.logOrder('order.rejected', next, { reason: 'NOT_SENT', message: 'the venue never received it' });
        rejected = true;
        return next;
      },
    };
    let order = local;
    const changed = (o: Order | undefined): o is Order => o !== undefined && o !== local;
    this.ledger.transaction(() => {
      const next = apply(path);
      order = next;
      if (!changed(next)) return;
      if (TERMINAL_STATUSES.has(next.status)) this.openOrders.delete(next.clientOrderId);
      else this.openOrders.set(next.clientOrderId, next);
      if (rejected) {
        this.metrics?.ordersRejected.inc({ venue: this.name, reason: 'NOT_SENT' });
        this.counters.reject('NOT_SENT');
      }
      this.publishOrderProgress(next, fills);
    });
    if (!changed(order)) return;
    this.afterChange();
  }

  async close(): Promise<void> {
    this.metrics?.accountRefreshers.delete(this.refreshGauges);
    await this.reconciler.stop();
    // Orders still on their way to the venue (a model's signal routed just before the stop)
    // book their fills before the last snapshot, so it matches the ledger it is derived from.
    await this.quiesce();
    await this.ledger.durable();
    this.snapshot?.writeNow();
    this.snapshot?.stop();
  }
}

function stopView(s: EngineStop): EngineStopView {
  return { reason: s.reason, code: s.code, error_code: s.errorCode, since: new Date(s.sinceMs).toISOString(), lifted_by: s.until };
}

/** A stop kept by an earlier run (null: none, or a file that does not read as one — then the
 *  engine says so and starts stopped anyway: a kept stop is never dropped silently). */
function readKeptStop(path: string, now: number): EngineStop | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<EngineStopView>;
    const since = Date.parse(String(v.since));
    return { reason: String(v.reason ?? 'unknown'), code: String(v.code ?? 'UNKNOWN'), errorCode: typeof v.error_code === 'string' ? v.error_code : null, sinceMs: Number.isFinite(since) ? since : now, until: 'ack' };
  } catch {
    return { reason: `${path} is unreadable; it records a stop the engine put on itself`, code: 'UNKNOWN', errorCode: null, sinceMs: now, until: 'ack' };
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


