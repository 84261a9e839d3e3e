// Governance and security routes: graded trading states (global / venue / model), the
// governance daemon's status and exposure override, alert tests and digests, and operator
// token rotation. Every mutating route needs X-OPS-TOKEN and is written to the audit log.
import type { FastifyPluginAsync } from 'fastify';
import { TRADING_STATES, type TradingState } from '../../engine/riskRails.js';
import type { Bus } from '../../bus/bus.js';
import { actorOf } from '../../http/auth.js';
import { HttpError, errorSchema, refuseBody } from '../../http/errors.js';
import { anyObject } from '../../http/schemas.js';
import type { AlertManager } from '../alerts/alertManager.js';
import type { OpsTokenRing } from '../auth.js';
import type { GovernanceDaemon } from '../governance/daemon.js';
import { OPERATOR_MULTIPLIER } from '../governance/policy.js';
import type { TradingScope, TradingStates } from '../governance/tradingStates.js';

/** What the governance routes use, and nothing else (Fastify register options). */
export interface GovernanceRouteOptions {
  readonly tradingStates: TradingStates;
  readonly governance: Pick<GovernanceDaemon, 'status' | 'setMultiplier'>;
  readonly tokens: Pick<OpsTokenRing, 'origin' | 'list' | 'rotate'>;
  readonly alerts: Pick<AlertManager, 'sendDigest'>;
  readonly bus: Pick<Bus, 'publish'>;
  /** Engine names (a venue-scope target must be one). */
  readonly engineNames: () => readonly string[];
  /** Model ids (a model-scope target must be one). */
  readonly modelIds: () => readonly string[];
}

const security = [{ opsToken: [] }];
const auth = { auth: true };
const entrySchema = { type: 'object', properties: { state: { type: 'string' }, reason: { type: 'string' }, actor: { type: 'string' }, updated_at: { type: 'string' }, cancel_open: { type: 'boolean' } } } as const;
const statesSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' }, global: entrySchema, venues: { type: 'object', additionalProperties: entrySchema }, models: { type: 'object', additionalProperties: entrySchema },
    // The stack's own conditions (STORAGE while the disk refuses writes) and the state new orders meet.
    conditions: { type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, source: { type: 'string' }, reason: { type: 'string' }, since: { type: 'string' } } } },
    effective: { type: 'string' },
  },
} as const;

export const governanceRoutes: FastifyPluginAsync<GovernanceRouteOptions> = async (app, deps) => {
  app.get('/trading/state', {
    schema: { summary: 'Graded trading states (ACTIVE / REDUCING / HALTED): global, per venue, per model', response: { 200: statesSchema } },
  }, async () => deps.tradingStates.view);

  app.post('/trading/state', {
    config: auth,
    schema: {
      summary: 'Set a trading state. REDUCING lets only orders that shrink a position through; HALTED stops every order. Latched until set again.',
      security,
      body: {
        type: 'object',
        required: ['scope', 'state', 'reason'],
        additionalProperties: false,
        properties: {
          scope: { type: 'string', enum: ['global', 'venue', 'model'] },
          target: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'engine name (scope venue) or model id (scope model)' },
          state: { type: 'string', enum: [...TRADING_STATES] },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            ok: { type: 'boolean' }, changed: { type: 'boolean' }, scope: { type: 'string' }, target: { type: ['string', 'null'] }, previous: { type: ['string', 'null'] }, entry: entrySchema, trading_states: statesSchema,
            unreachable_engines: { type: 'array', items: { type: 'string' }, description: 'engines that did not answer (they get the state when they answer again)' },
          },
        },
        400: errorSchema,
        401: errorSchema,
      },
    },
  }, async (req) => {
    const b = req.body as { scope: TradingScope; target?: string; state: TradingState; reason: string };
    let target: string | null = null;
    if (b.scope === 'global') {
      if (b.target !== undefined) throw new HttpError(400, 'target is not allowed with scope global', [{ field: 'target', message: 'not allowed for scope global' }]);
    } else {
      if (b.target === undefined) throw new HttpError(400, `target is required for scope ${b.scope}`, [{ field: 'target', message: `required for scope ${b.scope}` }]);
      const known = b.scope === 'venue' ? deps.engineNames() : deps.modelIds();
      if (!known.includes(b.target)) throw new HttpError(400, `unknown ${b.scope} "${b.target}"`, [{ field: 'target', message: `unknown ${b.scope} (known: ${known.join(', ')})` }]);
      target = b.target;
    }
    const change = await deps.tradingStates.set(b.scope, target, b.state, actorOf(req), b.reason);
    return { ok: change.unreachable.length === 0, changed: change.changed, scope: b.scope, target, previous: change.previous?.state ?? null, entry: change.entry, trading_states: change.document, unreachable_engines: change.unreachable };
  });

  app.get('/governance/status', {
    schema: { summary: 'Governance daemon: exposure multiplier, recovery, metrics seen, recent actions, policy', response: { 200: anyObject } },
  }, async () => ({ ...deps.governance.status(), trading_states: deps.tradingStates.view }));

  app.post('/governance/exposure', {
    config: auth,
    schema: {
      summary: 'Set the exposure multiplier by hand (e.g. back to 1 after a drill); the rules still apply afterwards',
      security,
      body: {
        type: 'object', required: ['multiplier', 'reason'], additionalProperties: false,
        // 0.01 to 1: a multiplier of 1e-320 was taken (and silently raised to the policy's floor).
        properties: {
          multiplier: { type: 'number', minimum: OPERATOR_MULTIPLIER.min, maximum: OPERATOR_MULTIPLIER.max, description: `${OPERATOR_MULTIPLIER.min} to ${OPERATOR_MULTIPLIER.max} (raised to governance.min_multiplier when below it)` },
          reason: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, from: { type: 'number' }, to: { type: 'number' } } }, 400: errorSchema, 401: errorSchema },
    },
  }, async (req) => {
    const b = req.body as { multiplier: number; reason: string };
    const r = deps.governance.setMultiplier(b.multiplier, actorOf(req), b.reason);
    return { ok: true, ...r };
  });

  app.post('/alerts/test', {
    config: auth,
    schema: {
      summary: 'Send a test alert through every channel (runbook: "Telegram silent" — verify the token and chat)',
      security,
      body: { type: 'object', additionalProperties: false, properties: { message: { type: 'string', maxLength: 500 } } },
      response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } }, 400: errorSchema, 401: errorSchema },
    },
  }, async (req) => {
    const b = (req.body ?? {}) as { message?: string };
    deps.bus.publish('alert', { severity: 'WARNING', title: 'Test alert', message: b.message ?? `test alert from ${actorOf(req)}`, key: `test:${Date.now()}`, ts: Date.now() });
    return { ok: true };
  });

  app.post('/alerts/digest', {
    config: auth,
    preValidation: refuseBody,
    schema: { summary: 'Send the digest now', security, response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, text: { type: 'string' } } }, 400: errorSchema, 401: errorSchema } },
  }, async () => ({ ok: true, text: await deps.alerts.sendDigest('daily') }));

  app.get('/auth/tokens', {
    config: auth,
    schema: {
      summary: 'Valid operator tokens by fingerprint (never the tokens), with retiring ones and when they expire',
      security,
      response: { 200: { type: 'object', properties: { origin: { type: 'string' }, tokens: { type: 'array', items: anyObject } } }, 401: errorSchema },
    },
  }, async () => ({ origin: deps.tokens.origin, tokens: deps.tokens.list() }));

  app.post('/auth/rotate', {
    config: auth,
    preValidation: refuseBody,
    schema: {
      summary: 'Rotate the operator token: writes a new .ops_token and returns it once; the old token stays valid for OPS_TOKEN_GRACE_SEC',
      security,
      response: {
        200: { type: 'object', properties: { ok: { type: 'boolean' }, token: { type: 'string' }, fingerprint: { type: 'string' }, retired: { type: 'array', items: anyObject } } },
        400: errorSchema,
        401: errorSchema,
        409: errorSchema,
      },
    },
  }, async (req, reply) => {
    // With env tokens this throws RotateUnavailable, a coded error the server answers with 409.
    const r = deps.tokens.rotate(actorOf(req));
    return reply.header('cache-control', 'no-store').send({ ok: true, ...r });
  });
};
