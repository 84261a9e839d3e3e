// How the control plane reaches an engine: through this interface only, never by reaching
// into engine internals. The embedded stack uses LocalEngineHandle; a separate engine
// process is reached with an HTTP implementation of the same interface. The shapes it answers
// in are views.ts's; this file needs engine.ts only for LocalEngineHandle (engine.ts imports
// nothing from here, so the two are no longer a circle).
import type { Valuation } from '../core/portfolio.js';
import { toDecimalString } from '../core/decimal.js';
import type { TradingStateDocument } from '../core/tradingState.js';
import type { Engine } from './engine.js';
import type { EngineHealth, StopAckOutcome, InstrumentView, ModelPositionView, NotionalOutcome, OrderView, SubmitOrderRequest, SubmitOutcome, CancelOutcome, TradingStateApplied } from './views.js';
import type { NotionalOrderRequest } from './sizing.js';
import type { EngineStats } from './engineStats.js';
import type { ReconcileReport, ReconcileState } from './reconcile.js';

export interface EngineHandle {
  readonly name: string;
  submit(req: SubmitOrderRequest): Promise<SubmitOutcome>;
  /** A market order stated in money, sized by the engine against its own price and the
   *  model's position as its rails check it: a distributed signal's one round trip. */
  submitNotional(req: NotionalOrderRequest): Promise<NotionalOutcome>;
  cancel(clientOrderId: string): Promise<CancelOutcome>;
  cancelAllOpen(actor: string): Promise<number>;
  getOrder(clientOrderId: string): Promise<OrderView | undefined>;
  openOrders(): Promise<OrderView[]>;
  recentOrders(limit: number): Promise<OrderView[]>;
  valuation(): Promise<Valuation>;
  health(): Promise<EngineHealth>;
  stats(): Promise<EngineStats>;
  /** Applies the trading-state document (the kill is its global HALTED); resolves once the
   *  engine enforces it, its in-flight orders have their answers and, for a HALTED with
   *  cancel_open, its open orders are canceled. A version already applied is ignored. */
  applyTradingState(doc: TradingStateDocument): Promise<TradingStateApplied>;
  /** Quantity the model holds in a symbol at this engine (for sizing exits), as a decimal string. */
  modelPositions(): Promise<ModelPositionView[]>;
  lastPrice(symbol: string): Promise<string | null>;
  /** The model's signed position in a symbol at this engine, as a decimal string. */
  modelQty(model: string, symbol: string): Promise<string>;
  instruments(): Promise<InstrumentView[]>;
  /** Runs a reconciliation pass with the venue now (POST /reconcile/manual). Optional: an
   *  engine that cannot reconcile is reported as such. */
  reconcile?(): Promise<ReconcileReport>;
  /** The last passes, totals and lag (GET /reconcile/report). */
  reconcileReport?(): Promise<ReconcileState>;
  /** The operator acknowledges the cause of a stop the engine put on itself (POST /stop/ack):
   *  the only thing that lifts it. Answers acknowledged: false when there is nothing to
   *  acknowledge or the cause persists. */
  acknowledgeStop(actor: string, note: string | null): Promise<StopAckOutcome>;
}

export class LocalEngineHandle implements EngineHandle {
  constructor(readonly engine: Engine) {}
  get name(): string { return this.engine.name; }
  submit(req: SubmitOrderRequest) { return this.engine.submit(req); }
  submitNotional(req: NotionalOrderRequest) { return this.engine.submitNotional(req); }
  cancel(id: string) { return this.engine.cancel(id); }
  cancelAllOpen(actor: string) { return this.engine.cancelAllOpen(actor); }
  async getOrder(id: string) { return this.engine.getOrder(id); }
  async openOrders() { return this.engine.listOpenOrders(); }
  async recentOrders(limit: number) { return this.engine.recentOrders(limit); }
  async valuation() { return this.engine.valuation(); }
  async health() { return this.engine.health(); }
  async stats() { return this.engine.stats(); }
  applyTradingState(doc: TradingStateDocument) { return this.engine.applyTradingState(doc); }
  async modelPositions() { return this.engine.modelPositions(); }
  async lastPrice(symbol: string) { return this.engine.lastPriceString(symbol); }
  async modelQty(model: string, symbol: string) { return this.engine.modelQty(model, symbol); }
  reconcile() { return this.engine.reconcile('manual'); }
  async reconcileReport() { return this.engine.reconcileState(); }
  async acknowledgeStop(actor: string, note: string | null) { return this.engine.ack(actor, note); }
  async instruments() {
    return [...this.engine.instruments().values()].map((i) => ({
      symbol: i.symbol, base: i.base, quote: i.quote, step_size: toDecimalString(i.stepSize), tick_size: toDecimalString(i.tickSize),
      min_qty: toDecimalString(i.minQty), min_notional: toDecimalString(i.minNotional),
    }));
  }
}
