// The engine's wire views: the shapes an order, an outcome, the engine's health and its
// recovery take on the way out (engine API JSON, EngineHandle answers, bus events), and the
// mappers from the domain types to them. A field on the wire is added here, in the view and its
// mapper; the domain types (core/order.ts) stay camelCase. Both engine handles and the engine
// import this file, so neither depends on the other for a shape.
import { type Fixed, toDecimalString, div } from '../core/decimal.js';
import type { ModelId, Symbol } from '../core/ids.js';
import type { Order, OrderSide, OrderType, TimeInForce } from '../core/order.js';
import type { EngineTradingStates } from '../core/tradingState.js';
import type { ReconcileSummary } from './reconcile.js';
import type { OrderLogLine } from './orderLog.js';
import type { NotSized } from './sizing.js';
import type { StorageFault } from '../util/storageHealth.js';

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
  /** The storage fault this engine refuses orders for (STORAGE), or null while writes succeed. */
  readonly storage?: StorageFaultView | null;
  /** Why this engine stopped itself, when, and what lifts it (null: it has no stop of its own). */
  readonly stop?: EngineStopView | null;
}

/** A storage fault on the wire (util/storageHealth.ts StorageFault, its start as ISO time). */
export interface StorageFaultView {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly since: string;
  readonly failures: number;
}

/** The engine's own stop on the wire (GET /health, and the Ops API's /status per engine). */
export interface EngineStopView {
  readonly reason: string;
  /** Stable code of the cause (LEDGER_COMMIT_FAILED, TRADING_ENABLED_FALSE, ...). */
  readonly code: string;
  /** The underlying error's own code when there is one (SQLITE_FULL, SQLITE_CONSTRAINT_FOREIGNKEY, ...). */
  readonly error_code: string | null;
  readonly since: string;
  /** What lifts it: 'ack' = only `hmm engine ack <name>` (a resume does not); 'resume' = an
   *  operator's resume after it; 'document' = the cluster's trading state reaching the engine. */
  readonly lifted_by: 'ack' | 'resume' | 'document';
}

/** The answer to an acknowledgement (POST /stop/ack on the engine, /engines/:name/ack on ops). */
export interface StopAckOutcome {
  readonly acknowledged: boolean;
  /** The stop that was lifted, or the one still in force (not acknowledgeable, or its cause persists). */
  readonly stop: EngineStopView | null;
  readonly trading_enabled: boolean;
  readonly message: string;
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
  /** Journal lines that did not parse or validate, moved to `<journal>.damaged` (start-up went on). */
  readonly journal_damaged: number;
  /** Lines of engine/logs/orders.jsonl that were not order events, moved to `orders.jsonl.damaged`. */
  readonly order_log_damaged: number;
  /** Where each damaged line (journal, then order log) was and why (first 20); `client_order_id` when it could be read. */
  readonly damaged_lines: readonly { readonly file: string; readonly line: number; readonly reason: string; readonly client_order_id: string | null; readonly in_ledger: boolean }[];
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

export interface InstrumentView {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly step_size: string;
  readonly tick_size: string;
  readonly min_qty: string;
  readonly min_notional: string;
}

export interface ModelPositionView {
  readonly model: string;
  readonly symbol: string;
  readonly qty: string;
  readonly avgPrice: string;
  readonly realizedPnl: string;
  readonly fees: string;
}

export function storageFaultView(f: StorageFault): StorageFaultView {
  return { code: f.code, path: f.path, message: f.message, since: new Date(f.since).toISOString(), failures: f.failures };
}

export function avgPrice(o: Order): string | null {
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

/** The `order.update` bus event for an order as it stands. */
export function orderEvent(venue: string, o: Order, reason: string | null) {
  return {
    venue, clientOrderId: o.clientOrderId, model: o.model, symbol: o.symbol, side: o.side, type: o.type,
    status: o.status, qty: toDecimalString(o.qty), filledQty: toDecimalString(o.filledQty),
    price: o.price === null ? null : toDecimalString(o.price), reason, ts: o.updatedAt,
  };
}

/** The audit line (engine/logs/orders.jsonl) of one order event. */
export function orderLogLine(nowMs: number, event: string, venue: string, o: Order, extra: Partial<OrderLogLine>): OrderLogLine {
  return {
    ts: new Date(nowMs).toISOString(),
    event,
    venue,
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
  };
}
