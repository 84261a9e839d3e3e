// The operator's hands on positions and orders (dashboard, Telegram, curl): each model's
// positions at each engine, a force-exit of one (sold at market through the engine's rails:
// a HALTED state refuses it like any order, REDUCING lets it through), the open orders, and
// canceling one of them or all. Ops reaches engines only through their EngineHandle; mutating
// routes need X-OPS-TOKEN and are audited like every control action.
import type { FastifyPluginAsync } from 'fastify';
import type { Fixed } from '../../core/decimal.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { actorOf } from '../../http/auth.js';
import { HttpError, errorSchema } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import { statusOf } from '../../http/status.js';
import type { Logger } from '../../obs/logger.js';
import { forceExit } from '../forceExit.js';

/** What the position and order routes use, and nothing else (Fastify register options). */
export interface TradingRouteOptions {
  readonly engines: () => readonly EngineHandle[];
  /** MAX_NOTIONAL_USDT: a force-exit sells in chunks no larger. */
  readonly maxNotionalUsd: Fixed;
  readonly log: Logger;
  readonly now: () => number;
}

const security = [{ opsToken: [] }];
const ID = '^[A-Za-z0-9._-]{1,64}$';
const outcomeSchema = {
  type: 'object',
  properties: {
    engine: { type: 'string' }, model: { type: 'string' }, symbol: { type: 'string' }, held: { type: 'string' }, sold: { type: 'string' },
    orders: { type: 'array', items: { type: 'string' } },
    stopped: { type: ['object', 'null'], properties: { reason: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;

export interface PositionRow {
  readonly engine: string;
  readonly model: string;
  readonly symbol: string;
  readonly qty: number;
  readonly avg_price: number;
  readonly last_price: number | null;
  readonly value_usd: number;
  readonly unrealized_pnl: number;
  readonly realized_pnl: number;
  readonly fees: number;
}

/** Every model's open position at every engine, marked at the engine's last price. */
export async function modelPositionRows(engines: readonly EngineHandle[]): Promise<PositionRow[]> {
  const rows: PositionRow[] = [];
  for (const e of engines) {
    for (const p of await e.modelPositions()) {
      const qty = Number(p.qty);
      if (qty === 0) continue;
      const lastText = await e.lastPrice(p.symbol);
      const last = lastText === null ? null : Number(lastText);
      const avg = Number(p.avgPrice);
      const mark = last ?? avg;
      const r2 = (x: number) => Math.round(x * 100) / 100;
      rows.push({
        engine: e.name, model: p.model, symbol: p.symbol, qty, avg_price: avg, last_price: last, value_usd: r2(qty * mark),
        unrealized_pnl: r2(qty * (mark - avg)), realized_pnl: r2(Number(p.realizedPnl)), fees: r2(Number(p.fees)),
      });
    }
  }
  rows.sort((a, b) => Math.abs(b.value_usd) - Math.abs(a.value_usd) || a.model.localeCompare(b.model));
  return rows;
}

export const tradingRoutes: FastifyPluginAsync<TradingRouteOptions> = async (app, o) => {
  app.get('/positions', {
    schema: {
      summary: 'Open positions by model, symbol and engine, marked at the engine\'s last price (what POST /positions/force-exit sells)',
      response: { 200: { type: 'object', properties: { positions: { type: 'array', items: anyObject }, ts: { type: 'string' } } } },
    },
  }, async () => ({ positions: await modelPositionRows(o.engines()), ts: new Date(o.now()).toISOString() }));

  app.post('/positions/force-exit', {
    config: { auth: true },
    schema: {
      summary: 'Sell what a model holds in a symbol at market now (in chunks within MAX_NOTIONAL_USDT), at every engine that holds it or the one named. Goes through the risk rails: refused while HALTED (REDUCING lets it through).',
      security,
      body: {
        type: 'object',
        required: ['model', 'symbol'],
        additionalProperties: false,
        properties: {
          model: { type: 'string', pattern: ID },
          symbol: { type: 'string', pattern: '^[A-Za-z0-9]{2,20}$' },
          engine: { type: 'string', pattern: ID, description: 'only at this engine (default: every engine holding it)' },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: {
        200: { type: 'object', properties: { ok: { type: 'boolean' }, sold: { type: 'string' }, exits: { type: 'array', items: outcomeSchema } } },
        400: errorSchema, 401: errorSchema, 403: errorSchema, 409: errorSchema, 422: errorSchema, 429: errorSchema,
      },
    },
  }, async (req) => {
    const b = req.body as { model: string; symbol: string; engine?: string; reason?: string };
    // One force-exit for the route and Telegram's /forceexit (ops/forceExit.ts).
    const { ok, sold, exits } = await forceExit(o, { ...b, actor: actorOf(req) });
    return { ok, sold, exits };
  });

  app.get('/orders/open', {
    schema: {
      summary: 'Open orders (NEW, ACCEPTED, PARTIALLY_FILLED) at every engine',
      response: { 200: { type: 'object', properties: { orders: { type: 'array', items: anyObject } } } },
    },
  }, async () => {
    const all = (await Promise.all(o.engines().map((e) => e.openOrders()))).flat();
    all.sort((a, b) => b.updated_at - a.updated_at);
    return { orders: all };
  });

  app.post('/orders/cancel', {
    config: { auth: true },
    schema: {
      summary: 'Cancel one open order (client_order_id) or every open order at every engine (all: true)',
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          client_order_id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
          all: { type: 'boolean', const: true },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: {
        200: { type: 'object', properties: { ok: { type: 'boolean' }, canceled: { type: 'integer' }, order: anyObject, engines: { type: 'object', additionalProperties: { type: 'integer' } } } },
        400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema,
      },
    },
  }, async (req) => {
    const b = (req.body ?? {}) as { client_order_id?: string; all?: true; reason?: string };
    if ((b.client_order_id === undefined) === (b.all === undefined)) {
      throw new HttpError(400, 'name one order (client_order_id) or all open orders (all: true), not both and not neither', [{ field: b.all === undefined ? 'client_order_id' : 'all', message: 'exactly one of client_order_id and all' }]);
    }
    const actor = actorOf(req);
    if (b.all) {
      const engines: Record<string, number> = {};
      let canceled = 0;
      for (const e of o.engines()) {
        engines[e.name] = await e.cancelAllOpen(actor);
        canceled += engines[e.name]!;
      }
      o.log.warn({ actor, canceled }, `[RISK] cancel of every open order by ${actor}${b.reason ? ` (${b.reason})` : ''}: ${canceled} canceled`);
      return { ok: true, canceled, engines };
    }
    const id = b.client_order_id!;
    for (const e of o.engines()) {
      if ((await e.getOrder(id)) === undefined) continue;
      const r = await e.cancel(id);
      if (r.kind === 'canceled') {
        o.log.warn({ actor, order: id }, `[RISK] ${id} canceled at ${e.name} by ${actor}${b.reason ? ` (${b.reason})` : ''}`);
        return { ok: true, canceled: 1, order: r.order, engines: { [e.name]: 1 } };
      }
      throw new HttpError(statusOf(r), r.message, [{ field: 'client_order_id', message: r.kind }], r.kind === 'not_open' ? 'HMM_OPS_ORDER_NOT_OPEN' : 'HMM_OPS_ORDER_NOT_FOUND');
    }
    throw new HttpError(404, `no engine knows order ${id}`, [{ field: 'client_order_id', message: 'not found' }], 'HMM_OPS_ORDER_NOT_FOUND');
  });
};
