// Model lifecycle routes: the registry, the history of promotions and rollbacks, allocation
// history, and the manual stage changes (POST /strategy/promote, including retiring a model, and
// POST /strategy/rollback; token required). Every route declares its schema; bad input is a
// 4xx JSON body naming the field.
import type { FastifyPluginAsync } from 'fastify';
import type { Allocator } from '../../portfolio/allocator.js';
import type { CanaryManager } from '../../lifecycle/canaryManager.js';
import { errorSchema } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import { actorOf } from '../../http/auth.js';
import { STAGES, type StrategyRegistry } from '../../lifecycle/strategyRegistry.js';
import type { ModelStage } from '../../lifecycle/modelStage.js';

// GET /strategy/status (read.ts) ranks with the same tracker through attachLeaderboardSource.
const security = [{ opsToken: [] }];
/** What a stage change answers (promote, demote, retire, rollback). */
const transitionSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    action: { type: 'string' },
    model: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    counterpart: { type: ['string', 'null'] },
    weights: { type: 'object', additionalProperties: { type: 'number' } },
    history: { type: 'array', items: anyObject },
  },
} as const;
const LIMIT_PATTERN = '^([1-9][0-9]{0,2}|1000)$';

/** What the lifecycle routes use, and nothing else (Fastify register options). */
export interface StrategyRouteOptions {
  readonly registry: Pick<StrategyRegistry, 'history' | 'current'>;
  readonly canary: Pick<CanaryManager, 'promote' | 'rollback'>;
  readonly allocator: Pick<Allocator, 'all' | 'recentHistory'>;
}

export const strategyRoutes: FastifyPluginAsync<StrategyRouteOptions> = async (app, deps) => {
  app.get('/strategy/history', {
    schema: {
      summary: 'Stage changes (promotions, rollbacks, demotions, registrations), newest first',
      querystring: {
        type: 'object', additionalProperties: false,
        // Query values arrive as strings and the API does not coerce types: a pattern checks the range.
        properties: { limit: { type: 'string', pattern: LIMIT_PATTERN, description: '1 to 1000 (default 100)' }, model: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
      },
      response: { 200: { type: 'object', properties: { history: { type: 'array', items: anyObject } } }, 400: errorSchema },
    },
  }, async (req) => {
    const { limit, model } = req.query as { limit?: string; model?: string };
    return { history: deps.registry.history(Number(limit ?? 100), model) };
  });

  app.get('/strategy/registry', {
    schema: {
      summary: 'ops/strategy_registry.json: every model with id, kind, version, stage, created time and metrics',
      response: { 200: { type: 'object', properties: { format: { type: 'integer' }, updated_at: { type: 'string' }, models: { type: 'array', items: anyObject } } } },
    },
  }, async () => {
    const doc = deps.registry.current;
    // The tracker's resume state is bookkeeping, not something an operator reads.
    return { format: doc.format, updated_at: doc.updated_at, models: doc.models.map(({ tracking: _t, ...rest }) => rest) };
  });

  app.get('/strategy/allocations', {
    schema: {
      summary: 'Recent capital quota changes (ops/capital_allocations_history.json), newest first',
      querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: LIMIT_PATTERN, description: '1 to 1000 (default 50)' } } },
      response: { 200: { type: 'object', properties: { capital_quota_usd: { type: 'object', additionalProperties: { type: 'number' } }, history: { type: 'array', items: anyObject } } }, 400: errorSchema },
    },
  }, async (req) => {
    const { limit } = req.query as { limit?: string };
    return { capital_quota_usd: { ...deps.allocator.all() }, history: deps.allocator.recentHistory(Number(limit ?? 50)) };
  });

  app.post('/strategy/promote', {
    config: { auth: true },
    schema: {
      summary: 'Move a model to another stage (default: the next one up: shadow → canary → live). Promoting to live demotes the current live model to shadow.',
      security,
      body: {
        type: 'object',
        required: ['model'],
        additionalProperties: false,
        properties: {
          model: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'registered model id' },
          stage: { type: 'string', enum: [...STAGES], description: 'target stage; default the next one up' },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: { 200: transitionSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema },
    },
  }, async (req) => {
    const b = req.body as { model: string; stage?: ModelStage; reason?: string };
    // A refused move throws CanaryError, a coded error the server answers with its status and field.
    const r = await deps.canary.promote(b.model, b.stage, actorOf(req), b.reason);
    return { ok: true, ...r };
  });

  app.post('/strategy/rollback', {
    config: { auth: true },
    schema: {
      summary: 'Roll a live model back: it goes to shadow (flattened) and the model it replaced is live again, as the rollback rule does. Without a model, the live one.',
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          model: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'the live model to roll back (default: the one live model)' },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: { 200: transitionSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema },
    },
  }, async (req) => {
    const b = (req.body ?? {}) as { model?: string; reason?: string };
    // A refused rollback (not live, nothing it replaced) throws CanaryError: 404 / 409 with the field.
    const r = await deps.canary.rollback(b.model, actorOf(req), b.reason);
    return { ok: true, ...r };
  });
};
