// The engine's HTTP API (one engine, one venue): submit, get, cancel and list orders,
// portfolio, health, metrics, and the trading-state document the control plane pushes. Mutating routes
// need the operator token; bodies are validated by schema and errors name the field. It
// carries everything HttpEngineHandle needs, so a control plane in another process reaches
// this engine exactly as the embedded one reaches it in-process.
import { timeOrderedOrderId } from '../core/orderIds.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ZERO, fx, toDecimalString, type Fixed } from '../core/decimal.js';
import { modelId, symbol as toSymbol, type Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Engine } from './engine.js';
import type { OrderView, SubmitOutcome } from './views.js';
import { TRADING_STATES, type RiskLimits } from './riskRails.js';
import { type TradingStateDocument, parseTradingStateDocument } from '../core/tradingState.js';
import type { Registry } from '../obs/metrics.js';
import { HttpError, errorSchema, refuseBody } from '../http/errors.js';
import { anyObject } from '../http/schemas.js';
import { notSizedStatus, statusOf, stopAckStatusOf } from '../http/status.js';
import { createHttpServer, type HttpServerOptions } from '../http/server.js';
import { actorOf } from '../http/auth.js';
import { LocalEngineHandle } from './engineHandle.js';
import type { NotionalIntent, NotionalOrderRequest } from './sizing.js';

// Amounts are fixed-point with 8 decimals and the ledger binds them as 64-bit integers
// (≤ 9.2e18 raw): at most 10 integer digits, so an absurd amount is a 400 naming the field,
// never a failed bind answered with 500.
const decimalInput = { anyOf: [{ type: 'string', pattern: '^[0-9]{1,10}(\\.[0-9]{1,8})?$' }, { type: 'number', exclusiveMinimum: 0, maximum: 9_999_999_999 }] } as const;
const moneyInput = { anyOf: [{ type: 'string', pattern: '^[0-9]{1,10}(\\.[0-9]{1,8})?$' }, { type: 'number', minimum: 0, maximum: 9_999_999_999 }] } as const;

/** Who a sweep or a stop acknowledgement is recorded against. Every caller presents the
 *  operator token: a direct call is operator:<fingerprint>; one the Ops API relays names its
 *  own caller in the body's `actor`, recorded as that caller via the token that reached here. */
function relayedActor(req: FastifyRequest, actor: string | undefined): string {
  return actor ? `${actor} via ${actorOf(req)}` : actorOf(req);
}

function toFixed(value: string | number | undefined, field: string): Fixed | null {
  if (value === undefined) return null;
  try {
    const v = fx(value);
    if (v <= 0n) throw new RangeError('must be positive');
    return v;
  } catch (err) {
    throw new HttpError(400, `${field} ${(err as Error).message}`, [{ field, message: (err as Error).message }]);
  }
}

/** Why this process refuses new orders before they reach the engine (e.g. the bus is down). */
export interface AdmissionRefusal {
  readonly reason: string;
  readonly message: string;
}

export interface EngineRouteOptions {
  /** Checked before every new order (not before a replay of a known client order id): a
   *  refusal answers with the reason (its status from src/http/status.ts: the process stops
   *  taking orders, so 403), and nothing is booked (the venue never hears of it). */
  readonly admission?: () => AdmissionRefusal | null;
  /** Told of each order refused by admission (the process writes its orders.jsonl line). */
  readonly onRefused?: (order: OrderView, refusal: AdmissionRefusal) => void;
  /** Recent bars of this engine's market data (GET /bars, the control plane's warm-up). */
  readonly recentBars?: (limit: number) => readonly Bar[];
  /** Extra fields for GET /health (e.g. the bus connection). */
  readonly healthExtra?: () => Record<string, unknown>;
}

export function engineRoutes(engine: Engine, registry: Registry | null, opts: EngineRouteOptions = {}) {
  const handle = new LocalEngineHandle(engine);
  return async (app: FastifyInstance) => {
    app.post('/orders', {
      config: { auth: true, audit: 'refusals' },
      schema: {
        summary: `Submit an order to ${engine.name}`,
        security: [{ opsToken: [] }],
        headers: { type: 'object', properties: { 'x-idempotency-key': { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } } },
        body: {
          type: 'object',
          // side is required unless target_usd is given (the engine picks the side then).
          required: ['symbol'],
          additionalProperties: false,
          properties: {
            client_order_id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
            symbol: { type: 'string', pattern: '^[A-Za-z0-9]{2,20}$' },
            side: { type: 'string', enum: ['BUY', 'SELL', 'buy', 'sell'] },
            type: { type: 'string', enum: ['MARKET', 'LIMIT', 'market', 'limit'], default: 'MARKET' },
            quantity: decimalInput,
            quote_usd: decimalInput,
            // Money the engine sizes against its own price and the model's position (MARKET, with model).
            notional_usd: { ...moneyInput, description: 'buy or sell this many USD worth; a SELL never sells more than the model holds' },
            target_usd: { ...moneyInput, description: 'trade the model\'s position toward this USD value; 0 sells exactly what it holds' },
            max_notional_usd: { ...moneyInput, description: 'clip for notional_usd / target_usd (default: this engine\'s max_notional_usdt)' },
            min_notional_usd: { ...moneyInput, description: 'below this nothing is placed (default: this engine\'s min_notional_usdt)' },
            price: decimalInput,
            time_in_force: { type: 'string', enum: ['GTC', 'IOC', 'FOK'] },
            model: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
          },
        },
        response: { 200: anyObject, 201: anyObject, 400: errorSchema, 401: errorSchema, 403: anyObject, 409: anyObject, 422: anyObject, 429: anyObject, 503: anyObject },
      },
    }, async (req, reply) => {
      const b = req.body as {
        client_order_id?: string; symbol: string; side?: string; type: string; quantity?: string | number; quote_usd?: string | number; price?: string | number;
        time_in_force?: 'GTC' | 'IOC' | 'FOK'; model?: string; notional_usd?: string | number; target_usd?: string | number; max_notional_usd?: string | number; min_notional_usd?: string | number;
      };
      const type = b.type.toUpperCase() as 'MARKET' | 'LIMIT';
      const symbol = toSymbol(b.symbol.toUpperCase());
      const price = toFixed(b.price, 'price');
      if (type === 'LIMIT' && price === null) throw new HttpError(400, 'price is required for a LIMIT order', [{ field: 'price', message: 'required for LIMIT' }]);
      if (type === 'MARKET' && price !== null) throw new HttpError(400, 'price is not allowed on a MARKET order', [{ field: 'price', message: 'not allowed for MARKET' }]);
      const notional = notionalRequest(b, symbol, type, engine);
      // A notional order is sized inside the engine, in the same run as its rails; it is sized
      // here only to describe an order refused by admission below.
      const preview = notional === null || opts.admission === undefined ? null : engine.sizeNotional(notional);
      const side = (preview?.kind === 'sized' ? preview.side : notional?.intent.kind === 'target' ? 'SELL' : b.side?.toUpperCase()) as 'BUY' | 'SELL' | undefined;
      if (side === undefined) throw new HttpError(400, 'side is required (or target_usd, which sets it)', [{ field: 'side', message: 'required' }]);
      if (notional === null && (b.quantity === undefined) === (b.quote_usd === undefined)) throw new HttpError(400, 'give exactly one of quantity or quote_usd', [{ field: 'quantity', message: 'exactly one of quantity or quote_usd' }]);
      let qty = notional === null ? toFixed(b.quantity, 'quantity') : preview?.kind === 'sized' ? preview.qty : ZERO;
      if (qty === null) {
        qty = engine.qtyForQuote(symbol, toFixed(b.quote_usd, 'quote_usd')!, price);
        if (qty === null) throw new HttpError(422, `cannot size ${symbol}: unknown symbol or no price yet`, [{ field: 'quote_usd', message: 'no price to convert with' }]);
        if (qty <= 0n) throw new HttpError(422, 'quote_usd is below one quantity step', [{ field: 'quote_usd', message: 'below one step' }]);
      }
      const headerKey = req.headers['x-idempotency-key'];
      const clientOrderId = b.client_order_id ?? (typeof headerKey === 'string' ? headerKey : undefined);
      // A retry of a known id is a replay (nothing new is placed): only new orders are refused.
      const refusal = opts.admission?.() ?? null;
      if (refusal !== null && (clientOrderId === undefined || engine.getOrder(clientOrderId) === undefined)) {
        const now = Date.now();
        const order: OrderView = {
          client_order_id: clientOrderId ?? timeOrderedOrderId(`${engine.name}-refused`, Date.now()), venue: engine.venueId, model: b.model ?? null,
          symbol, side, type, time_in_force: b.time_in_force ?? (type === 'MARKET' ? 'IOC' : 'GTC'),
          qty: toDecimalString(qty), price: price === null ? null : toDecimalString(price), status: 'REJECTED', filled_qty: '0', avg_price: null, fees: '0',
          venue_order_id: null, reject_reason: `${refusal.reason}: ${refusal.message}`, created_at: now, updated_at: now,
        };
        opts.onRefused?.(order, refusal);
        return reply.code(statusOf({ kind: 'rejected', reason: refusal.reason })).send({ status: 'rejected', error: refusal.reason, message: refusal.message, order, duplicate: false, routing_time_ms: 0 });
      }
      if (notional !== null) {
        const n = await engine.submitNotional(clientOrderId === undefined ? notional : { ...notional, clientOrderId });
        const notionalUsd = toDecimalString(n.notionalUsd);
        const o = n.outcome;
        if (o.kind === 'not_sized') return reply.code(notSizedStatus(o.reason)).send({ status: 'not_sized', error: o.reason, message: o.message, notional_usd: notionalUsd });
        return reply.code(statusOf(o)).send({ ...outcomeBody(o), notional_usd: notionalUsd });
      }
      const out = await engine.submit({
        clientOrderId,
        symbol, side, type, qty, price, timeInForce: b.time_in_force,
        model: b.model === undefined ? null : modelId(b.model),
      });
      return reply.code(statusOf(out)).send(outcomeBody(out));
    });

    app.get('/orders/:id', {
      schema: { summary: 'One order with its fills', params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } } }, response: { 200: anyObject, 404: errorSchema } },
    }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const order = engine.getOrder(id);
      if (!order) return reply.code(404).send({ error: `order ${id} not found` });
      const fills = engine.fillsForOrder(id).map((f) => ({
        trade_id: f.tradeId, qty: toDecimalString(f.qty), price: toDecimalString(f.price), fee: toDecimalString(f.fee), liquidity: f.liquidity, ts: f.ts,
      }));
      return { order, fills };
    });

    app.delete('/orders/:id', {
      config: { auth: true },
      preValidation: refuseBody,
      schema: { summary: 'Cancel an open order', security: [{ opsToken: [] }], params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } } }, response: { 200: anyObject, 400: errorSchema, 404: errorSchema, 409: errorSchema, 401: errorSchema } },
    }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const r = await engine.cancel(id);
      return reply.code(statusOf(r)).send(r.kind === 'canceled' ? { status: 'canceled', order: r.order } : { error: r.message });
    });

    app.get('/orders', {
      schema: { summary: 'Open orders', response: { 200: { type: 'object', properties: { orders: { type: 'array', items: anyObject } } } } },
    }, async () => ({ orders: engine.listOpenOrders() }));

    app.post('/orders/cancel-all', {
      config: { auth: true },
      schema: {
        summary: 'Cancel every open order (waits for orders still being routed, so none survives the sweep)',
        security: [{ opsToken: [] }],
        body: { type: 'object', additionalProperties: false, properties: { actor: { type: 'string', minLength: 1, maxLength: 64 } } },
        response: { 200: { type: 'object', properties: { canceled: { type: 'integer' } } }, 400: errorSchema, 401: errorSchema },
      },
    }, async (req) => {
      const b = (req.body ?? {}) as { actor?: string };
      return { canceled: await engine.cancelAllOpen(relayedActor(req, b.actor)) };
    });

    // Not /orders/recent: that path is the order whose client id is "recent".
    app.get('/history/orders', {
      schema: {
        summary: 'Most recent orders from the ledger, newest first',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1 to 1000 (default 50)' } } },
        response: { 200: { type: 'object', properties: { orders: { type: 'array', items: anyObject } } }, 400: errorSchema },
      },
    }, async (req) => ({ orders: engine.recentOrders(Number((req.query as { limit?: string }).limit ?? 50)) }));

    app.get('/models/positions', {
      schema: { summary: 'Each model\'s own positions at this engine (for sizing exits and attributing PnL)', response: { 200: { type: 'object', properties: { positions: { type: 'array', items: anyObject } } } } },
    }, async () => ({ positions: engine.modelPositions() }));

    app.get('/prices/:symbol', {
      schema: {
        summary: 'The venue\'s last price for one symbol (null before the first market data)',
        params: { type: 'object', properties: { symbol: { type: 'string', pattern: '^[A-Za-z0-9]{2,20}$' } } },
        response: { 200: { type: 'object', properties: { symbol: { type: 'string' }, price: { type: ['string', 'null'] } } }, 400: errorSchema, 404: errorSchema },
      },
    }, async (req, reply) => {
      const sym = (req.params as { symbol: string }).symbol.toUpperCase();
      if (!engine.instruments().has(toSymbol(sym))) return reply.code(404).send({ error: `${engine.name} does not trade ${sym}` });
      return { symbol: sym, price: engine.lastPriceString(sym) };
    });

    app.get('/bars', {
      schema: {
        summary: 'Recent bars of this engine\'s market data, oldest first (the control plane warms its models with them)',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^([1-9][0-9]{0,3}|10000)$', description: '1 to 10000 (default 500)' } } },
        response: { 200: { type: 'object', properties: { bars: { type: 'array', items: anyObject } } }, 400: errorSchema },
      },
    }, async (req) => ({ bars: opts.recentBars?.(Number((req.query as { limit?: string }).limit ?? 500)) ?? [] }));

    app.get('/portfolio', { schema: { summary: 'Cash, positions, PnL and equity', response: { 200: anyObject } } }, async () => {
      const v = engine.valuation();
      return { venue: engine.name, ...v, ts: new Date().toISOString() };
    });

    app.get('/health', { schema: { summary: 'Engine health', response: { 200: anyObject } } }, async () => ({ ...engine.health(), ...opts.healthExtra?.() }));
    app.get('/stats', { schema: { summary: 'Order counters and routing latency', response: { 200: anyObject } } }, async () => engine.stats());
    app.get('/instruments', { schema: { summary: 'Instruments and their trading rules', response: { 200: anyObject } } }, async () => ({ instruments: await handle.instruments() }));

    // The one trading-state document (core/tradingState.ts) the control plane pushes; the kill
    // is its global HALTED. A version this engine already applied is answered, not re-applied.
    const stateSchema = { type: 'string', enum: [...TRADING_STATES] } as const;
    const entrySchema = {
      type: 'object', required: ['state'], additionalProperties: false,
      properties: { state: stateSchema, reason: { type: 'string', maxLength: 200 }, actor: { type: 'string', maxLength: 64 }, updated_at: { type: 'string', maxLength: 40 }, cancel_open: { type: 'boolean' } },
    } as const;
    app.post('/trading/state', {
      config: { auth: true },
      schema: {
        summary: 'Apply the trading-state document (global / venues / models, versioned); HALTED with cancel_open also cancels open orders',
        security: [{ opsToken: [] }],
        body: {
          type: 'object', required: ['version', 'global'], additionalProperties: false,
          properties: {
            // A safe integer: a version of 1e300 would outrank every later document for good.
            version: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, global: entrySchema,
            venues: { type: 'object', additionalProperties: entrySchema }, models: { type: 'object', additionalProperties: entrySchema },
          },
        },
        response: { 200: anyObject, 400: errorSchema, 401: errorSchema },
      },
    }, async (req) => {
      let doc: TradingStateDocument;
      try {
        doc = parseTradingStateDocument(req.body);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      const r = await engine.applyTradingState(doc);
      return { ok: true, ...r, trading_states: engine.currentTradingStates };
    });

    app.get('/risk/limits', { schema: { summary: 'The risk limits this engine enforces', response: { 200: anyObject } } }, async () => riskLimitsView(engine.riskLimits(), engine.tradingEnabled));

    // The same range as text or number: at most 12 integer digits (below 1e12), 8 decimals.
    const moneyLimit = { anyOf: [{ type: 'string', pattern: '^[0-9]{1,12}(\\.[0-9]{1,8})?$' }, { type: 'number', minimum: 0, maximum: 1e12 }] } as const;
    app.post('/risk/limits', {
      config: { auth: true },
      schema: {
        summary: 'Change risk limits while running (market disruption: smaller sizes, tighter caps); 0 turns a depth rail off',
        security: [{ opsToken: [] }],
        body: {
          type: 'object', additionalProperties: false, minProperties: 1,
          properties: {
            min_notional_usdt: moneyLimit, max_notional_usdt: moneyLimit,
            exposure_cap_symbol_usd: moneyLimit, exposure_cap_total_usd: moneyLimit, equity_floor_usd: moneyLimit,
            max_orders_per_min: { type: 'integer', minimum: 0, maximum: 100000 },
            max_drawdown_pct: { type: 'number', minimum: 0, maximum: 100 },
            loss_streak_limit: { type: 'integer', minimum: 0, maximum: 1000 },
            loss_streak_cooldown_sec: { type: 'integer', minimum: 0, maximum: 30 * 86400 },
            price_band_pct: { type: 'number', minimum: 0, maximum: 1000 },
            max_open_orders: { type: 'integer', minimum: 0, maximum: 100000 },
            reason: { type: 'string', maxLength: 200 },
          },
        },
        response: { 200: anyObject, 400: errorSchema, 401: errorSchema },
      },
    }, async (req) => {
      const b = req.body as Record<string, string | number | undefined>;
      const money = (k: string): Fixed | undefined => {
        const v = b[k];
        if (v === undefined) return undefined;
        try {
          return fx(v);
        } catch (err) {
          throw new HttpError(400, `${k} ${(err as Error).message}`, [{ field: k, message: (err as Error).message }]);
        }
      };
      const patch: { -readonly [K in keyof Omit<RiskLimits, 'tradeSymbols'>]?: RiskLimits[K] } = {};
      const set = <K extends keyof typeof patch>(k: K, v: (typeof patch)[K] | undefined) => { if (v !== undefined) patch[k] = v; };
      set('minNotionalUsdt', money('min_notional_usdt'));
      set('maxNotionalUsdt', money('max_notional_usdt'));
      set('exposureCapSymbolUsd', money('exposure_cap_symbol_usd'));
      set('exposureCapTotalUsd', money('exposure_cap_total_usd'));
      set('equityFloorUsd', money('equity_floor_usd'));
      set('maxOrdersPerMin', b.max_orders_per_min as number | undefined);
      set('maxDrawdownPct', b.max_drawdown_pct as number | undefined);
      set('lossStreakLimit', b.loss_streak_limit as number | undefined);
      set('lossStreakCooldownMs', b.loss_streak_cooldown_sec === undefined ? undefined : (b.loss_streak_cooldown_sec as number) * 1000);
      set('priceBandPct', b.price_band_pct as number | undefined);
      set('maxOpenOrders', b.max_open_orders as number | undefined);
      const current = engine.riskLimits();
      const min = patch.minNotionalUsdt ?? current.minNotionalUsdt;
      const max = patch.maxNotionalUsdt ?? current.maxNotionalUsdt;
      if (max < min) throw new HttpError(400, 'max_notional_usdt must be ≥ min_notional_usdt', [{ field: patch.maxNotionalUsdt !== undefined ? 'max_notional_usdt' : 'min_notional_usdt', message: 'max must be ≥ min' }]);
      if (Object.keys(patch).length === 0) throw new HttpError(400, 'name at least one limit to change', [{ field: 'body', message: 'no limit given' }]);
      const limits = engine.setRiskLimits(patch, typeof b.reason === 'string' ? `engine_api (${b.reason})` : 'engine_api');
      return { ok: true, limits: riskLimitsView(limits, engine.tradingEnabled) };
    });

    // A stop the engine put on itself (a ledger that could not commit) is lifted only here: the
    // operator says the cause is found. Audited (every call of an auth route is).
    app.post('/stop/ack', {
      config: { auth: true },
      schema: {
        summary: `Acknowledge the cause of a stop ${engine.name} put on itself (a resume does not lift it); 409 when there is none or the ledger still cannot commit`,
        security: [{ opsToken: [] }],
        body: { type: 'object', additionalProperties: false, properties: { actor: { type: 'string', maxLength: 64 }, note: { type: 'string', maxLength: 200 } } },
        response: { 200: anyObject, 401: errorSchema, 409: anyObject },
      },
    }, async (req, reply) => {
      const b = (req.body ?? {}) as { actor?: string; note?: string };
      const r = engine.ack(relayedActor(req, b.actor), b.note ?? null);
      return reply.code(stopAckStatusOf(r)).send(r);
    });

    // Reconciliation with the venue: run a pass now, or read what the passes found.
    app.post('/reconcile/manual', {
      config: { auth: true },
      preValidation: refuseBody,
      schema: { summary: `Reconcile ${engine.name}'s orders with its venue now`, security: [{ opsToken: [] }], response: { 200: anyObject, 400: errorSchema, 401: errorSchema } },
    }, async () => {
      const r = await engine.reconcile('manual');
      return { status: r.ok ? 'completed' : 'venue_unavailable', imported: r.adopted.length, closed: r.closed.length, report: r };
    });
    app.get('/reconcile/report', { schema: { summary: 'Reconciliation passes, totals and lag', response: { 200: anyObject } } }, async () => engine.reconcileState());

    if (registry) {
      app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));
    }
  };
}


/** Risk limits as JSON (exact decimals as strings, null when a depth rail is off), with the
 *  engine's TRADING_ENABLED beside them (its trading state, not a limit). */
export function riskLimitsView(l: RiskLimits, tradingEnabled: boolean) {
  const m = (x: Fixed | null | undefined) => (x === undefined || x === null || x <= 0n ? null : toDecimalString(x));
  const n = (x: number | null | undefined) => (x === undefined || x === null || x <= 0 ? null : x);
  return {
    trading_enabled: tradingEnabled,
    trade_symbols: [...l.tradeSymbols],
    min_notional_usdt: toDecimalString(l.minNotionalUsdt),
    max_notional_usdt: toDecimalString(l.maxNotionalUsdt),
    max_orders_per_min: l.maxOrdersPerMin,
    exposure_cap_symbol_usd: m(l.exposureCapSymbolUsd),
    exposure_cap_total_usd: m(l.exposureCapTotalUsd),
    equity_floor_usd: m(l.equityFloorUsd),
    max_drawdown_pct: n(l.maxDrawdownPct),
    loss_streak_limit: n(l.lossStreakLimit),
    loss_streak_cooldown_sec: l.lossStreakCooldownMs ? l.lossStreakCooldownMs / 1000 : null,
    price_band_pct: n(l.priceBandPct),
    max_open_orders: n(l.maxOpenOrders),
  };
}

/** The server an engine's API is registered onto: the HTTP layer's, with this API's docs. */
export function createEngineServer(opts: Omit<HttpServerOptions, 'title' | 'description' | 'logTag'>) {
  return createHttpServer({
    ...opts,
    title: 'hmm-stack Engine API',
    description: 'One engine (one venue): orders, portfolio, health, risk limits, trading state, reconciliation.',
    logTag: '[ENGINE]',
  });
}

// ---- POST /orders bodies: a quantity, a quote, or money the engine sizes (sizing.ts) ----

function outcomeBody(out: SubmitOutcome) {
  return out.kind === 'accepted'
    ? { status: 'accepted', order: out.order, duplicate: out.duplicate, routing_time_ms: out.routingTimeMs }
    : out.kind === 'rejected'
      ? { status: 'rejected', error: out.reason, message: out.message, order: out.order, duplicate: out.duplicate, routing_time_ms: out.routingTimeMs }
      : { status: 'conflict', error: out.message, order: out.order };
}

/** The notional order a POST /orders body states (notional_usd or target_usd), or null for a
 *  quantity order; the clip and floor default to this engine's own limits. */
function notionalRequest(
  b: { side?: string; model?: string; quantity?: unknown; quote_usd?: unknown; notional_usd?: string | number; target_usd?: string | number; max_notional_usd?: string | number; min_notional_usd?: string | number },
  symbol: Symbol, type: 'MARKET' | 'LIMIT', engine: Engine,
): NotionalOrderRequest | null {
  const given = [b.quantity, b.quote_usd, b.notional_usd, b.target_usd].filter((v) => v !== undefined).length;
  if (b.notional_usd === undefined && b.target_usd === undefined) return null;
  const field = b.target_usd !== undefined ? 'target_usd' : 'notional_usd';
  if (given !== 1) throw new HttpError(400, 'give exactly one of quantity, quote_usd, notional_usd or target_usd', [{ field, message: 'exactly one amount' }]);
  if (type !== 'MARKET') throw new HttpError(400, `${field} sizes a MARKET order only`, [{ field: 'type', message: 'MARKET only' }]);
  if (b.model === undefined) throw new HttpError(400, `${field} is sized against a model's position: model is required`, [{ field: 'model', message: 'required' }]);
  if (b.target_usd !== undefined && b.side !== undefined) throw new HttpError(400, 'target_usd sets the side itself: leave side out', [{ field: 'side', message: 'not allowed with target_usd' }]);
  // Never a default side: an amount without one is refused, whether or not an admission check
  // sizes the order first (it was a silent BUY there and a 400 without one).
  if (b.target_usd === undefined && b.side === undefined) throw new HttpError(400, 'side is required with notional_usd (or give target_usd, which sets it)', [{ field: 'side', message: 'required' }]);
  const limits = engine.riskLimits();
  const intent: NotionalIntent = b.target_usd !== undefined
    ? { kind: 'target', targetUsd: toMoney(b.target_usd, 'target_usd') }
    : { kind: 'notional', side: b.side!.toUpperCase() as 'BUY' | 'SELL', notionalUsd: toMoney(b.notional_usd!, 'notional_usd') };
  return {
    symbol, model: modelId(b.model), intent,
    maxNotionalUsd: toFixed(b.max_notional_usd, 'max_notional_usd') ?? limits.maxNotionalUsdt,
    minNotionalUsd: b.min_notional_usd === undefined ? limits.minNotionalUsdt : toMoney(b.min_notional_usd, 'min_notional_usd'),
  };
}

/** A money amount that may be 0 (a flat target, no floor, a signal of strength 0: a skip). */
function toMoney(value: string | number, field: string): Fixed {
  let v: Fixed;
  try {
    v = fx(value);
  } catch (err) {
    throw new HttpError(400, `${field} ${(err as Error).message}`, [{ field, message: (err as Error).message }]);
  }
  if (v < 0n) throw new HttpError(400, `${field} must not be negative`, [{ field, message: 'must not be negative' }]);
  return v;
}
