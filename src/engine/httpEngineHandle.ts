// How the control plane reaches an engine in another process: the EngineHandle interface over
// the engine's HTTP API (engineApi.ts). `hmm ops` lists its engines in HMM_ENGINES
// ("engine_sim=http://engine_sim:8101,engine_binance=http://engine_binance:8101") and talks
// to each through one of these, exactly as the embedded stack talks to LocalEngineHandle.
//
// A distributed signal is one POST /orders stating money (submitNotional): the engine sizes it
// against its own price and the model's position, so no GET precedes it.
//
// Submits carry a client order id (one is made here when the caller gave none), so a submit
// whose HTTP answer was lost is retried once with the same id and the engine replays its
// outcome instead of placing a second order. Reads are retried once on a connection error;
// nothing else is retried. An engine that cannot be reached raises EngineUnreachableError; an
// engine that lacks a route this handle needs raises EngineRouteMissingError naming it.
import { timeOrderedOrderId } from '../core/orderIds.js';
import type { Valuation } from '../core/portfolio.js';
import { ZERO, fx, toDecimalString } from '../core/decimal.js';
import type { TradingStateDocument } from '../core/tradingState.js';
import type { CancelOutcome, EngineHealth, InstrumentView, ModelPositionView, NotionalOutcome, OrderView, SubmitOrderRequest, SubmitOutcome, StopAckOutcome, TradingStateApplied } from './views.js';
import type { NotSized, NotSizedReason, NotionalOrderRequest } from './sizing.js';
import type { EngineHandle } from './engineHandle.js';
import type { EngineStats } from './engineStats.js';
import type { ReconcileReport, ReconcileState } from './reconcile.js';
import { cancelKindOf, isNotSizedStatus, isStopAckRefused, refusalStatus, submitKindOf } from '../http/status.js';
import { EngineError } from './errors.js';

export class EngineUnreachableError extends EngineError {
  constructor(readonly engine: string, readonly url: string, cause: string) {
    super('HMM_ENGINE_UNREACHABLE', `engine ${engine} at ${url} is unreachable: ${cause}`);
  }
}

export class EngineHttpError extends EngineError {
  constructor(readonly engine: string, readonly status: number, readonly route: string, message: string) {
    super('HMM_ENGINE_HTTP', `engine ${engine} ${route}: HTTP ${status}: ${message}`);
  }
}

export class EngineRouteMissingError extends EngineError {
  constructor(readonly engine: string, readonly route: string) {
    super('HMM_ENGINE_ROUTE_MISSING', `engine ${engine} has no route ${route}; this engine API predates the HTTP handle's needs`);
  }
}

export interface HttpEngineHandleOptions {
  readonly name: string;
  /** e.g. http://engine_binance:8101 */
  readonly url: string;
  /** Operator token for mutating routes (X-OPS-TOKEN). */
  readonly token: string | null;
  /** Per request; default 5000. Submits and reconciliation get 6×. */
  readonly timeoutMs?: number;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export class HttpEngineHandle implements EngineHandle {
  readonly name: string;
  private readonly base: string;
  private readonly token: string | null;
  private readonly timeoutMs: number;

  constructor(opts: HttpEngineHandleOptions) {
    this.name = opts.name;
    this.base = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async submit(req: SubmitOrderRequest): Promise<SubmitOutcome> {
    const id = req.clientOrderId ?? timeOrderedOrderId(this.name, Date.now());
    const body: Record<string, unknown> = {
      client_order_id: id, symbol: req.symbol, side: req.side, type: req.type, quantity: toDecimalString(req.qty),
    };
    if (req.price !== null && req.type === 'LIMIT') body['price'] = toDecimalString(req.price);
    if (req.timeInForce !== undefined) body['time_in_force'] = req.timeInForce;
    if (req.model) body['model'] = req.model;
    // Safe to repeat: the same client order id makes the engine replay, not re-place.
    return this.submitOutcome(await this.call('POST', '/orders', body, { retry: true, timeoutMs: this.timeoutMs * 6 }));
  }

  /** One POST /orders carrying money, not a quantity: the engine reads its own price and the
   *  model's position as it sizes, so a signal needs no GET before it. */
  async submitNotional(req: NotionalOrderRequest): Promise<NotionalOutcome> {
    const body: Record<string, unknown> = {
      client_order_id: req.clientOrderId ?? timeOrderedOrderId(this.name, Date.now()), symbol: req.symbol, type: 'MARKET', model: req.model,
      max_notional_usd: toDecimalString(req.maxNotionalUsd), min_notional_usd: toDecimalString(req.minNotionalUsd),
    };
    if (req.intent.kind === 'target') body['target_usd'] = toDecimalString(req.intent.targetUsd);
    else {
      body['side'] = req.intent.side;
      body['notional_usd'] = toDecimalString(req.intent.notionalUsd);
    }
    const a = await this.call('POST', '/orders', body, { retry: true, timeoutMs: this.timeoutMs * 6 });
    const notionalUsd = typeof a.body['notional_usd'] === 'string' ? fx(a.body['notional_usd']) : ZERO;
    if (a.body['status'] === 'not_sized' && isNotSizedStatus(a.status)) {
      const outcome: NotSized = { kind: 'not_sized', reason: String(a.body['error']) as NotSizedReason, message: String(a.body['message'] ?? ''), notionalUsd };
      return { outcome, notionalUsd };
    }
    return { outcome: this.submitOutcome(a), notionalUsd };
  }

  private submitOutcome(a: Answer): SubmitOutcome {
    const order = a.body['order'] as OrderView;
    const routingTimeMs = Number(a.body['routing_time_ms'] ?? 0);
    // The status → outcome reading is the engine API's own table read backwards (src/http/status.ts).
    switch (submitKindOf(a.status)) {
      case 'accepted': return { kind: 'accepted', order, duplicate: a.body['duplicate'] === true, routingTimeMs };
      case 'conflict': return { kind: 'conflict', message: String(a.body['error'] ?? 'conflict'), order };
      case 'rejected': return { kind: 'rejected', reason: String(a.body['error']), message: String(a.body['message'] ?? ''), order, duplicate: a.body['duplicate'] === true, routingTimeMs };
      default: throw this.httpError(a, 'POST /orders');
    }
  }

  async cancel(clientOrderId: string): Promise<CancelOutcome> {
    const path = `/orders/${encodeURIComponent(clientOrderId)}`;
    const a = await this.call('DELETE', path, undefined, { retry: true });
    switch (cancelKindOf(a.status)) {
      case 'canceled': return { kind: 'canceled', order: a.body['order'] as OrderView };
      case 'not_found': return { kind: 'not_found', message: String(a.body['error'] ?? `no order ${clientOrderId}`) };
      case 'not_open': {
      const order = await this.getOrder(clientOrderId);
      if (order === undefined) return { kind: 'not_found', message: String(a.body['error']) };
      return { kind: 'not_open', order, message: String(a.body['error'] ?? `order ${clientOrderId} is ${order.status}`) };
    }
      default: throw this.httpError(a, `DELETE ${path}`);
    }
  }

  async cancelAllOpen(actor: string): Promise<number> {
    const a = await this.call('POST', '/orders/cancel-all', { actor }, { retry: true, timeoutMs: this.timeoutMs * 6 });
    if (a.status === 200) return Number(a.body['canceled'] ?? 0);
    if (a.status !== 404 || !isMissingRoute(a)) throw this.httpError(a, 'POST /orders/cancel-all');
    // An engine without the sweep route: cancel what it lists as open, one by one. (Its own
    // sweep also waits for orders still being routed; this cannot.)
    let n = 0;
    for (const o of await this.openOrders()) if ((await this.cancel(o.client_order_id)).kind === 'canceled') n++;
    return n;
  }

  async getOrder(clientOrderId: string): Promise<OrderView | undefined> {
    const path = `/orders/${encodeURIComponent(clientOrderId)}`;
    const a = await this.call('GET', path, undefined, { retry: true });
    if (a.status === 404) return undefined;
    return this.ok(a, `GET ${path}`)['order'] as OrderView;
  }

  async openOrders(): Promise<OrderView[]> {
    return this.ok(await this.call('GET', '/orders'), 'GET /orders')['orders'] as OrderView[];
  }

  async recentOrders(limit: number): Promise<OrderView[]> {
    // Not /orders/recent: that would be read as the order with client id "recent".
    const path = `/history/orders?limit=${Math.max(1, Math.floor(limit))}`;
    return this.ok(await this.call('GET', path, undefined, { retry: true }), `GET ${path}`, '/history/orders')['orders'] as OrderView[];
  }

  async valuation(): Promise<Valuation> {
    const b = this.ok(await this.call('GET', '/portfolio'), 'GET /portfolio');
    const { cash, equity, exposure, realizedPnl, unrealizedPnl, fees, positions } = b as unknown as Valuation;
    return { cash, equity, exposure, realizedPnl, unrealizedPnl, fees, positions };
  }

  async health(): Promise<EngineHealth> {
    return this.ok(await this.call('GET', '/health'), 'GET /health') as unknown as EngineHealth;
  }

  async stats(): Promise<EngineStats> {
    return this.ok(await this.call('GET', '/stats'), 'GET /stats') as unknown as EngineStats;
  }

  async applyTradingState(doc: TradingStateDocument): Promise<TradingStateApplied> {
    // Retried once: a document is applied once per version, so a second delivery is harmless.
    // A drain (HALTED with cancel_open) answers after the open orders are canceled, which may
    // take a while at a slow venue; anything else answers at once, so a hung engine does not
    // hold the kill's answer for long.
    const drains = (doc.global.state === 'HALTED' && doc.global.cancel_open === true) || (doc.venues[this.name]?.state === 'HALTED' && doc.venues[this.name]?.cancel_open === true);
    const b = this.ok(await this.call('POST', '/trading/state', doc, { retry: true, timeoutMs: drains ? this.timeoutMs * 6 : this.timeoutMs }), 'POST /trading/state');
    return { applied: b['applied'] === true, version: Number(b['version'] ?? 0), canceled: Number(b['canceled'] ?? 0), trading_enabled: b['trading_enabled'] === true };
  }

  async modelPositions(): Promise<ModelPositionView[]> {
    return this.ok(await this.call('GET', '/models/positions', undefined, { retry: true }), 'GET /models/positions', '/models/positions')['positions'] as ModelPositionView[];
  }

  async lastPrice(symbol: string): Promise<string | null> {
    const path = `/prices/${encodeURIComponent(symbol)}`;
    const a = await this.call('GET', path, undefined, { retry: true });
    if (a.status === 404 && !isMissingRoute(a)) return null; // unknown symbol
    const price = this.ok(a, `GET ${path}`, '/prices/:symbol')['price'];
    return typeof price === 'string' ? price : null;
  }

  async modelQty(model: string, symbol: string): Promise<string> {
    const p = (await this.modelPositions()).find((x) => x.model === model && x.symbol === symbol);
    return p?.qty ?? '0';
  }

  async instruments(): Promise<InstrumentView[]> {
    return this.ok(await this.call('GET', '/instruments'), 'GET /instruments')['instruments'] as InstrumentView[];
  }

  async reconcile(): Promise<ReconcileReport> {
    return this.ok(await this.call('POST', '/reconcile/manual', undefined, { timeoutMs: this.timeoutMs * 6 }), 'POST /reconcile/manual')['report'] as ReconcileReport;
  }

  async acknowledgeStop(actor: string, note: string | null): Promise<StopAckOutcome> {
    const a = await this.call('POST', '/stop/ack', { actor, ...(note ? { note } : {}) });
    if (isStopAckRefused(a.status)) return a.body as unknown as StopAckOutcome;
    return this.ok(a, 'POST /stop/ack', 'ack') as unknown as StopAckOutcome;
  }

  async reconcileReport(): Promise<ReconcileState> {
    return this.ok(await this.call('GET', '/reconcile/report'), 'GET /reconcile/report') as unknown as ReconcileState;
  }

  // ---- transport ------------------------------------------------------------------------

  private ok(a: Answer, route: string, needed?: string): Record<string, unknown> {
    if (a.status >= 200 && a.status < 300) return a.body;
    if (a.status === 404 && needed !== undefined && isMissingRoute(a)) throw new EngineRouteMissingError(this.name, route);
    throw this.httpError(a, route);
  }

  private httpError(a: Answer, route: string): EngineHttpError {
    return new EngineHttpError(this.name, a.status, route, String(a.body['error'] ?? 'unexpected answer'));
  }

  private async call(method: string, path: string, body?: unknown, opts: { retry?: boolean; timeoutMs?: number } = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers['x-ops-token'] = this.token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const attempts = opts.retry ? 2 : 1;
    let lastErr: Error | null = null;
    for (let i = 0; i < attempts; i++) {
      let res: Response;
      try {
        res = await fetch(`${this.base}${path}`, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
        });
      } catch (err) {
        lastErr = err as Error;
        continue;
      }
      const text = await res.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { error: text.slice(0, 200) };
      }
      if (res.status === 401) throw new EngineHttpError(this.name, 401, `${method} ${path}`, 'operator token refused (X-OPS-TOKEN)');
      // A 503 that refuses an order (STORAGE: the engine's disk refuses writes) is the engine's
      // answer, read as an outcome like any refusal, not a server error.
      if (res.status >= 500 && !(res.status === refusalStatus('STORAGE') && parsed['status'] === 'rejected')) throw new EngineHttpError(this.name, res.status, `${method} ${path}`, String(parsed['error'] ?? 'server error'));
      return { status: res.status, body: parsed };
    }
    const cause = lastErr?.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs ?? this.timeoutMs} ms` : (lastErr as { cause?: { code?: string } } | null)?.cause?.code ?? lastErr?.message ?? 'unknown';
    throw new EngineUnreachableError(this.name, this.base, cause);
  }
}

/** The HTTP layer's not-found handler (src/http/server.ts) answers "no route METHOD URL": a missing route, not a missing thing. */
function isMissingRoute(a: Answer): boolean {
  return typeof a.body['error'] === 'string' && a.body['error'].startsWith('no route ');
}
