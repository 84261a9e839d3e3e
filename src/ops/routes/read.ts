// Read-only routes: health, readiness, status, aggregates, strategy status, orders, metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { errorSchema } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import type { LeaderboardRow } from '../../lifecycle/leaderboard.js';
import type { Registry } from '../../obs/metrics.js';
import type { StrategyWeights } from '../../portfolio/strategyWeights.js';
import { aggregateExposure, aggregateMetrics, aggregatePortfolio } from '../aggregate.js';
import type { KillSwitch } from '../killSwitch.js';
import { LEADERBOARD_ROW_SCHEMA } from '../../lifecycle/leaderboard.js';

/** What the read routes use, and nothing else (Fastify register options). */
export interface ReadRouteOptions {
  readonly engines: () => readonly EngineHandle[];
  readonly baselineEquity: (engine: string) => number;
  readonly mode: string;
  /** The market data interval: data older than five of them (10 s at least) is stale. */
  readonly marketIntervalMs: number;
  readonly lastBarTs: () => number | null;
  readonly startedAt: number;
  readonly killSwitch: Pick<KillSwitch, 'enabled' | 'current'>;
  /** /status: graded trading states and the governance multiplier, where the stack has them. */
  readonly tradingStates?: () => unknown;
  readonly exposureMultiplier?: () => number;
  readonly weights: Pick<StrategyWeights, 'current'>;
  readonly models: () => readonly { readonly id: string; readonly kind: string; readonly symbols: readonly string[]; readonly diagnostics: Record<string, number> }[];
  readonly quota: (model: string) => number;
  readonly stageOf: (model: string) => string;
  readonly leaderboard: () => Promise<LeaderboardRow[]>;
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  /** Where the derived state behind /strategy/status stands (its fold's seq and bus stream id);
   *  two replicas at the same as_of answer the same. */
  readonly asOf?: () => { readonly seq: number; readonly stream_id: string | null };
}

export const readRoutes: FastifyPluginAsync<ReadRouteOptions> = async (app, o) => {
  app.get('/health', { schema: { summary: 'Liveness', response: { 200: { type: 'object', properties: { ops: { type: 'string' } } } } } }, async () => ({ ops: 'ok' }));
  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }));

  app.get('/readyz', {
    schema: { summary: 'Ready to trade: engines answer and market data is fresh', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } } }, 503: { type: 'object', properties: { ok: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } } } } },
  }, async (_req, reply) => {
    const reasons: string[] = [];
    for (const e of o.engines()) {
      try {
        await e.health();
      } catch (err) {
        reasons.push(`engine ${e.name}: ${(err as Error).message}`);
      }
    }
    const last = o.lastBarTs();
    const staleAfter = Math.max(10_000, o.marketIntervalMs * 5);
    if (last === null) reasons.push('no market data yet');
    else if (Date.now() - last > staleAfter) reasons.push(`market data stale (${Math.round((Date.now() - last) / 1000)} s old)`);
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ok: reasons.length === 0, reasons });
  });

  app.get('/status', {
    schema: {
      summary: 'Stack status: trading state, recovery, engines, uptime',
      response: {
        200: {
          type: 'object',
          properties: {
            ok: { type: 'boolean' },
            state: {
              type: 'object',
              properties: {
                mode: { type: 'string' },
                trading_enabled: { type: 'boolean' },
                trading_state: anyObject,
                trading_states: { type: ['object', 'null'], additionalProperties: true },
                exposure_multiplier: { type: ['number', 'null'] },
                recovered: { type: 'boolean' },
                recovered_at: { type: ['string', 'null'] },
                recovery: anyObject,
                engines: anyObject,
                uptime_sec: { type: 'number' },
                started_at: { type: 'string' },
                equity: { type: 'number' },
                cash: { type: 'number' },
                last_bar_at: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
    },
  }, async () => {
    const engines: Record<string, unknown> = {};
    const recovery: Record<string, unknown> = {};
    let recovered = false;
    let recoveredAt: string | null = null;
    for (const e of o.engines()) {
      let h;
      try {
        h = await e.health();
      } catch (err) {
        // One engine down must not hide the others' status.
        engines[e.name] = { engine: 'unreachable', error: (err as Error).message };
        continue;
      }
      engines[e.name] = h;
      recovery[e.name] = h.recovered;
      recovered ||= h.recovered.recovered;
      // When: the latest engine recovery (what: state.recovery.<engine>).
      if (h.recovered.recovered && (recoveredAt === null || h.recovered.at > recoveredAt)) recoveredAt = h.recovered.at;
    }
    const p = await aggregatePortfolio(o.engines(), o.baselineEquity);
    const last = o.lastBarTs();
    return {
      ok: true,
      state: {
        mode: o.mode,
        trading_enabled: o.killSwitch.enabled,
        trading_state: o.killSwitch.current,
        trading_states: o.tradingStates?.() ?? null,
        exposure_multiplier: o.exposureMultiplier?.() ?? null,
        recovered,
        recovered_at: recoveredAt,
        recovery,
        engines,
        uptime_sec: Math.round((Date.now() - o.startedAt) / 1000),
        started_at: new Date(o.startedAt).toISOString(),
        equity: p.equity,
        cash: p.cash,
        last_bar_at: last === null ? null : new Date(last).toISOString(),
      },
    };
  });

  app.get('/aggregate/portfolio', {
    schema: { summary: 'Equity, cash and gain in total and per venue', response: { 200: { type: 'object', additionalProperties: true, properties: { equity: { type: 'number' }, cash: { type: 'number' }, gain: { type: 'number' }, gain_pct: { type: 'number' }, venues: anyObject } } } },
  }, async () => aggregatePortfolio(o.engines(), o.baselineEquity));

  app.get('/aggregate/exposure', {
    schema: { summary: 'Exposure per symbol and venue (also written to ops/aggregate_exposure.json)', response: { 200: anyObject } },
  }, async () => aggregateExposure(o.engines()));

  app.get('/aggregate/metrics', {
    schema: { summary: 'Per-venue order and PnL summary', response: { 200: { type: 'object', properties: { venues: anyObject, ts: { type: 'string' } } } } },
  }, async () => aggregateMetrics(o.engines()));

  app.get('/strategy/status', {
    schema: {
        summary: 'Models, stages, weights, quotas and the leaderboard (models with evidence first, by probabilistic Sharpe ratio: leaderboard[0] is the leader); each row carries its evidence (bars, trades, status, psr, edge_vs_live) and a null Sharpe with its reason until the evidence policy is met',
        response: { 200: { type: 'object', properties: { weights: anyObject, models: { type: 'array', items: anyObject }, leaderboard: { type: 'array', items: LEADERBOARD_ROW_SCHEMA }, leader: { type: ['string', 'null'] }, as_of: { type: 'object', additionalProperties: true }, ts: { type: 'string' } } } },
    },
  }, async () => {
    const weights = o.weights.current.weights;
    const models = o.models().map((m) => ({
      id: m.id, kind: m.kind, symbols: m.symbols, weight: weights[m.id] ?? 0, stage: o.stageOf(m.id),
      capital_quota_usd: o.quota(m.id), diagnostics: m.diagnostics,
    }));
    const leaderboard = await o.leaderboard();
    return { weights, models, leaderboard, leader: leaderboard[0]?.model ?? null, ...(o.asOf ? { as_of: o.asOf() } : {}), ts: new Date().toISOString() };
  });

  app.get('/orders/recent', {
    schema: {
      summary: 'Most recent orders across engines',
      querystring: { type: 'object', properties: { limit: { type: 'string', pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$', description: '1 to 500 (default 50)' } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { orders: { type: 'array', items: anyObject } } }, 400: errorSchema },
    },
  }, async (req) => {
    const limit = Number((req.query as { limit?: string }).limit ?? 50);
    const all = (await Promise.all(o.engines().map((e) => e.recentOrders(limit)))).flat();
    all.sort((a, b) => b.updated_at - a.updated_at);
    return { orders: all.slice(0, limit) };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text format)', hide: false } }, async (_req, reply) => {
    const body = await o.registry.metrics();
    return reply.header('content-type', o.registry.contentType).send(body);
  });
};
