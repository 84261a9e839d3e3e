// The execution engine for one venue: the order router (idempotency → risk rails → venue
// adapter → OMS → portfolio), the ledger it commits to before acknowledging, the audit log,
// and the portfolio snapshot. Nothing else writes this venue's orders, fills or portfolio.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Fixed, fx, toDecimalString, div, floorToStep } from '../core/decimal.js';
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
import { Ledger } from './ledger.js';
import { OrderLog, type OrderLogLine } from './orderLog.js';
import { type RiskLimits, OrderRateWindow, checkRiskRails } from './riskRails.js';
import { PortfolioSnapshotWriter } from './snapshot.js';
import { EngineStatsCollector, type EngineStats } from './engineStats.js';
import type { ModelPositionView } from './engineHandle.js';

export interface EngineOptions {
  readonly name: string;
  readonly venue: Venue;
  readonly ledger: Ledger;
  readonly orderLog: OrderLog;
  readonly snapshotPath: string | null;
  readonly startingCash: Fixed;
  readonly limits: Omit<RiskLimits, 'tradingEnabled'>;
  readonly tradingEnabled: boolean;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics | null;
  readonly now?: () => number;
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
}

export interface RecoveryReport {
  readonly recovered: boolean;
  readonly at: string;
  readonly fills_replayed: number;
  readonly orders: number;
  readonly open_orders: number;
  readonly positions: number;
}

const RESOLVED = Promise.resolve();

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
  readonly recovery: RecoveryReport;

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
    this.limits = { ...opts.limits, tradingEnabled: opts.tradingEnabled };

    // Recovery: the portfolio is whatever the ledger's fills say, never the snapshot.
    const startingCash = this.ledger.startingCash(opts.startingCash);
    this.portfolio = replayFills(startingCash, this.ledger.fills());
    for (const f of this.ledger.fills()) this.bookForModel(f);
    for (const o of this.ledger.openOrders()) this.openOrders.set(o.clientOrderId, o);
    const counts = this.ledger.counts();
    this.recovery = {
      recovered: counts.orders > 0,
      at: new Date(this.now()).toISOString(),
      fills_replayed: this.portfolio.fillCount,
      orders: counts.orders,
      open_orders: this.openOrders.size,
      positions: [...this.portfolio.positions.values()].filter((p) => p.qty !== 0n).length,
    };
    if (this.recovery.recovered) {
      this.log.info({ engine: this.name, ...this.recovery }, `[RECON] ${this.name} recovered from the ledger: ${counts.orders} orders, ${this.portfolio.fillCount} fills, ${this.openOrders.size} open`);
    }
    this.snapshot = opts.snapshotPath ? new PortfolioSnapshotWriter(opts.snapshotPath, () => this.snapshotDocument()) : null;
    this.venue.onEvent((e) => this.onVenueEvent(e));
    this.snapshot?.writeNow();
    this.updateGauges();
  }

  get tradingEnabled(): boolean {
    return this.limits.tradingEnabled;
  }

  setTradingEnabled(enabled: boolean, actor: string, reason: string): void {
    if (this.limits.tradingEnabled === enabled) return;
    this.limits = { ...this.limits, tradingEnabled: enabled };
    this.log.warn({ engine: this.name, actor, reason }, `[RISK] ${this.name} trading ${enabled ? 'ENABLED' : 'DISABLED'} by ${actor}: ${reason}`);
    this.metrics?.tradingEnabled.set({ scope: this.name }, enabled ? 1 : 0);
  }

  riskLimits(): RiskLimits {
    return this.limits;
  }

  lastPrice(symbol: Symbol): Fixed | undefined {
    return this.venue.lastPrice(symbol);
  }

  instrument(symbol: Symbol) {
    return this.venue.instruments().get(symbol);
  }

  instruments() {
    return this.venue.instruments();
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

    const inflight = this.inflight.get(id);
    if (inflight) return this.asDuplicate(await inflight, hash);
    const stored = this.ledger.getOrder(id);
    if (stored) return this.replay(stored.order, stored.requestHash, hash);

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
    let order: Order = {
      ...intent,
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
    });
    if (!decision.ok) {
      return this.bookRejection(order, hash, decision.reason, decision.message, intake, 'risk');
    }
    this.rateWindow.record(now);
    this.ledger.insertOrder(order, hash);
    this.metrics?.ordersSubmitted.inc({ venue: this.name, model: order.model ?? 'manual' });
    this.counters.submitted++;

    let result;
    try {
      result = await this.venue.submit(intent);
    } catch (err) {
      // The venue's answer is unknown; the order stays NEW for reconciliation to resolve.
      this.metrics?.venueErrors.inc({ venue: this.name, kind: 'submit' });
      this.log.error({ err, engine: this.name, clientOrderId: id }, `[RISK] ${this.name} venue submit failed for ${id}; order left for reconciliation`);
      throw err;
    }
    const routingTimeMs = performance.now() - intake;
    this.metrics?.routingSeconds.observe({ venue: this.name }, routingTimeMs / 1000);
    this.counters.routing(routingTimeMs);

    if (result.kind === 'rejected') {
      const next = transition(order, 'REJECTED', result.ts, { rejectReason: `${result.code}: ${result.message}` });
      if (isTransitionError(next)) throw new Error(`OMS: ${next.from} → ${next.to}`);
      this.ledger.updateOrder(next);
      this.logOrder('order.rejected', next, { routing_time: routingTimeMs, reason: result.code, message: result.message });
      this.afterRejection(next, result.code, result.message);
      return { kind: 'rejected', reason: result.code, message: result.message, order: orderView(next), duplicate: false, routingTimeMs };
    }

    const accepted = transition(order, 'ACCEPTED', result.ts, { venueOrderId: result.venueOrderId });
    if (isTransitionError(accepted)) throw new Error(`OMS: ${accepted.from} → ${accepted.to}`);
    order = accepted;
    const fills: Fill[] = [];
    this.ledger.transaction(() => {
      this.ledger.updateOrder(order);
      for (const e of result.events) order = this.applyEvent(order, e, fills);
    });
    this.logOrder('order.accepted', accepted, { routing_time: routingTimeMs });
    this.publishOrderProgress(order, fills);
    if (TERMINAL_STATUSES.has(order.status)) this.openOrders.delete(id);
    else this.openOrders.set(id, order);
    this.drainPending(id);
    this.afterChange();
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
      if (!this.ledger.insertFill(fill)) return order; // duplicate trade id: already booked
      const next = applyFillToOrder(order, fill);
      if (isTransitionError(next)) {
        this.log.error({ engine: this.name, fill: fill.tradeId }, `[RECON] fill ${fill.tradeId} does not fit order ${order.clientOrderId} (${next.from} → ${next.to}); flagged`);
        return order;
      }
      this.ledger.updateOrder(next);
      this.portfolio = applyFill(this.portfolio, fill);
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
    const res = await this.venue.cancel(stored.clientOrderId);
    if (res.kind === 'canceled') {
      this.onVenueEvent({ type: 'canceled', clientOrderId: stored.clientOrderId, ts: res.ts, reason: 'CANCELED_BY_USER' });
    }
    const current = this.openOrders.get(id) ?? this.ledger.getOrder(id)?.order ?? stored;
    if (current.status === 'CANCELED') return { kind: 'canceled', order: orderView(current) };
    if (res.kind === 'not_found') return { kind: 'not_found', message: res.message };
    return { kind: 'not_open', order: orderView(current), message: `order ${id} is ${current.status} at the venue` };
  }

  async cancelAllOpen(actor: string): Promise<number> {
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
      engine: 'ok', venue: this.name, trading_enabled: this.limits.tradingEnabled,
      open_orders: this.openOrders.size, orders: c.orders, fills: c.fills, recovered: this.recovery,
    };
  }

  /** Called by the market-data loop: re-marks gauges and the snapshot on new prices. */
  onMarketData(): void {
    this.afterChange();
  }

  private afterChange(): void {
    this.snapshot?.schedule();
    this.updateGauges();
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
    m.tradingEnabled.set({ scope: this.name }, this.limits.tradingEnabled ? 1 : 0);
  }

  private snapshotDocument() {
    const v = this.valuation();
    return {
      venue: this.name,
      seq: this.portfolio.fillCount,
      ts: new Date(this.now()).toISOString(),
      ts_ms: this.now(),
      trading_enabled: this.limits.tradingEnabled,
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
      reason: null,
      ...extra,
    });
  }

  private newClientOrderId(): ClientOrderId {
    return toClientOrderId(`${this.name}-${this.now().toString(36)}-${(++this.seq).toString(36)}`);
  }

  async close(): Promise<void> {
    this.snapshot?.writeNow();
    this.snapshot?.stop();
    await RESOLVED;
  }
}

function conflict(order: Order): SubmitOutcome {
  return { kind: 'conflict', message: `client order id ${order.clientOrderId} was already used for a different order`, order: orderView(order) };
}

function requestHash(r: SubmitOrderRequest): string {
  return createHash('sha256')
    .update([r.symbol, r.side, r.type, r.qty.toString(), r.type === 'MARKET' ? '' : (r.price ?? '').toString(), r.timeInForce ?? '', r.model ?? ''].join('|'))
    .digest('hex')
    .slice(0, 32);
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
