// Mutating routes (all need X-OPS-TOKEN): kill switch (and a gradual resume), strategy weights, external signals,
// publishing onto the running stack's bus.
import type { FastifyPluginAsync } from 'fastify';
import { modelId, symbol as toSymbol } from '../../core/ids.js';
import { externalOrderId } from '../../core/orderIds.js';
import { isTopic, type Topic } from '../../bus/topics.js';
import { checkBusPayload } from '../../bus/inputBounds.js';
import type { Bus } from '../../bus/bus.js';
import { HttpError, errorSchema } from '../../http/errors.js';
import { signalStatusOf } from '../../http/status.js';
import { actorOf } from '../../http/auth.js';
import { ValidationError } from '../../config/watchedFile.js';
import { validateWeights, type StrategyWeights, type WeightsDoc } from '../../portfolio/strategyWeights.js';
import type { SignalGate } from '../../portfolio/signalGate.js';
import type { StrategyRouter } from '../../portfolio/strategyRouter.js';
import type { KillSwitch } from '../killSwitch.js';
import type { GovernanceDaemon } from '../governance/daemon.js';
import { OPERATOR_MULTIPLIER } from '../governance/policy.js';

/** Topics an operator may publish (the runbook's drawdown drill, alerts, governance notes);
 *  orders, fills and the rest belong to the engines. */
export const EXTERNAL_TOPICS = ['metrics.update', 'alert', 'governance.action'] as const satisfies readonly Topic[];

/** What the control routes use, and nothing else (Fastify register options). */
export interface ControlRouteOptions {
  readonly killSwitch: Pick<KillSwitch, 'set'>;
  /** Governance's exposure multiplier: a gradual resume starts trading again at a fraction of
   *  normal size, and governance's recovery steps it back up after each calm window. */
  readonly exposure: Pick<GovernanceDaemon, 'setMultiplier'>;
  readonly weights: Pick<StrategyWeights, 'current' | 'update'>;
  /** Ids of the models running here (for naming the known ones in an error). */
  readonly modelIds: () => readonly string[];
  /** Whether a model runs here (without building every model's diagnostics). */
  readonly hasModel: (id: string) => boolean;
  readonly router: Pick<StrategyRouter, 'pickModelByWeight' | 'route'>;
  readonly signalGate: Pick<SignalGate, 'run'>;
  readonly bus: Pick<Bus, 'publish'>;
}

/**
 * Sets weights as POST /strategy/weights answers it (Telegram's /weights calls it too): a model
 * not running here or a weight out of range is a 400 naming the field.
 */
export function setWeights(store: Pick<StrategyWeights, 'update'>, weights: Record<string, unknown>, modelIds: readonly string[], actor: string): WeightsDoc {
  const errors = validateWeights(weights, new Set(modelIds));
  if (errors.length > 0) throw new HttpError(400, errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
  try {
    return store.update(weights as Record<string, number>, actor);
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, err.message);
    throw err;
  }
}

const auth = { auth: true };
const routeResult = { type: 'object', additionalProperties: true, properties: { outcome: { type: 'string' }, model: { type: 'string' }, reason: { type: ['string', 'null'] } } } as const;
const security = [{ opsToken: [] }];

export const controlRoutes: FastifyPluginAsync<ControlRouteOptions> = async (app, o) => {
  app.post('/kill', {
    config: auth,
    schema: {
      summary: 'Pause or resume trading on every engine (TRADING_ENABLED: a pause is the global HALTED trading state, a resume lifts it)',
      security,
      body: {
        type: 'object',
        required: ['enabled'],
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'false pauses trading, true resumes it' },
          cancel_open: { type: 'boolean', description: 'also cancel open orders when pausing (halt and drain)' },
          reason: { type: 'string', maxLength: 200 },
          // The range POST /governance/exposure takes (0.000001 was taken here, raised silently to the floor).
          exposure_multiplier: {
            type: 'number', minimum: OPERATOR_MULTIPLIER.min, maximum: OPERATOR_MULTIPLIER.max,
            description: `gradual resume (with enabled true), ${OPERATOR_MULTIPLIER.min} to ${OPERATOR_MULTIPLIER.max}: new orders start at this fraction of normal size (raised to governance.min_multiplier when below it), and governance raises it by recovery.step after each calm recovery.window_sec`,
          },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            ok: { type: 'boolean' },
            exposure: { type: 'object', properties: { from: { type: 'number' }, to: { type: 'number' } }, description: 'the multiplier a gradual resume set' },
            state: { type: 'object', properties: { trading_enabled: { type: 'boolean' }, updated_at: { type: 'string' }, actor: { type: 'string' }, reason: { type: 'string' } } },
            canceled_orders: { type: 'integer' },
            unreachable_engines: { type: 'array', items: { type: 'string' }, description: 'engines that did not answer (they get the persisted state when they answer again)' },
          },
        },
        400: errorSchema,
        401: errorSchema,
      },
    },
  }, async (req) => {
    const body = req.body as { enabled: boolean; cancel_open?: boolean; reason?: string; exposure_multiplier?: number };
    const reason = body.reason ?? (body.enabled ? 'resume via POST /kill' : 'kill via POST /kill');
    if (body.exposure_multiplier !== undefined && !body.enabled) {
      throw new HttpError(400, 'exposure_multiplier goes with a resume ("enabled": true): a pause stops every order whatever their size', [{ field: 'exposure_multiplier', message: 'only with enabled true' }]);
    }
    // The smaller size is in force before the first order after the resume can be routed.
    const exposure = body.exposure_multiplier === undefined ? undefined : o.exposure.setMultiplier(body.exposure_multiplier, actorOf(req), `gradual resume: ${reason}`);
    const { state, canceled, unreachable } = await o.killSwitch.set(body.enabled, actorOf(req), reason, { cancelOpen: body.cancel_open === true });
    return { ok: unreachable.length === 0, state, ...(exposure ? { exposure } : {}), canceled_orders: canceled, unreachable_engines: unreachable };
  });

  app.get('/strategy/weights', {
    schema: {
      summary: 'Current model weights (ops/strategy_weights.json)',
      response: { 200: { type: 'object', properties: { weights: { type: 'object', additionalProperties: { type: 'number' } }, updated_at: { type: 'string' }, updated_by: { type: 'string' } } } },
    },
  }, async () => o.weights.current);

  app.post('/strategy/weights', {
    config: auth,
    schema: {
      summary: 'Set model weights (each a finite number in [0, 1]; unnamed models keep theirs)',
      security,
      body: {
        type: 'object',
        required: ['weights'],
        additionalProperties: false,
        // Ranges here too (the handler's validateWeights names unknown models).
        properties: { weights: { type: 'object', maxProperties: 256, additionalProperties: { type: 'number', minimum: 0, maximum: 1 } } },
      },
      response: {
        200: { type: 'object', properties: { status: { type: 'string' }, weights: { type: 'object', additionalProperties: { type: 'number' } }, updated_at: { type: 'string' } } },
        400: errorSchema,
        401: errorSchema,
      },
    },
  }, async (req) => {
    const { weights } = req.body as { weights: Record<string, unknown> };
    const doc = setWeights(o.weights, weights, o.modelIds(), actorOf(req));
    return { status: 'success', weights: doc.weights, updated_at: doc.updated_at };
  });

  app.post('/strategy/signal', {
    config: { auth: true, audit: 'refusals' },
    schema: {
      summary: 'Route an external signal; without a model it goes to a live model chosen by weight',
      security,
      body: {
        type: 'object',
        required: ['symbol', 'side'],
        additionalProperties: false,
        properties: {
          symbol: { type: 'string', pattern: '^[A-Za-z0-9]{2,20}$' },
          side: { type: 'string', enum: ['BUY', 'SELL', 'buy', 'sell'] },
          model: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
          strength: { type: 'number', minimum: 0, maximum: 1 },
          quote_usd: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
          client_order_id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
        },
      },
      // 429: the engine's rate rail refused the order (a route result) or the signal queue is
      // full (an error body); routeResult's open shape carries either.
      response: { 200: routeResult, 400: errorSchema, 401: errorSchema, 403: routeResult, 409: routeResult, 422: routeResult, 429: routeResult, 503: routeResult },
    },
  }, async (req, reply) => {
    const b = req.body as { symbol: string; side: string; model?: string; strength?: number; quote_usd?: number; client_order_id?: string };
    if (b.model !== undefined && !o.hasModel(b.model)) {
      const known = o.modelIds();
      throw new HttpError(400, `unknown model "${b.model}"`, [{ field: 'model', message: `unknown model (known: ${known.join(', ')})` }]);
    }
    const model = b.model ?? o.router.pickModelByWeight();
    if (model === null) throw new HttpError(409, 'no live model (every weight is 0): nothing to route to');
    const signal = {
      model: modelId(model), symbol: toSymbol(b.symbol.toUpperCase()), action: b.side.toUpperCase() as 'BUY' | 'SELL',
      strength: b.strength ?? 1, ts: Date.now(), reason: 'external',
    };
    // A full signal queue throws SignalQueueFull, a coded error the server answers with 429.
    const result = await o.signalGate.run(() => o.router.route(signal, { quoteUsd: b.quote_usd, clientOrderId: b.client_order_id ?? externalOrderId() }));
    // The router's result is ours to extend (a spread followed by a new key is V8's slow path).
    return reply.code(signalStatusOf(result)).send(Object.assign(result, { signal }));
  });

  app.post('/bus/publish', {
    config: auth,
    schema: {
      summary: 'Publish an event on the running stack\'s bus (e.g. the runbook\'s governance test)',
      security,
      body: {
        type: 'object',
        required: ['topic', 'payload'],
        additionalProperties: false,
        properties: { topic: { type: 'string', enum: [...EXTERNAL_TOPICS], description: 'orders, fills and the rest belong to the engines and cannot be published from outside' }, payload: { type: 'object' } },
      },
      response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, topic: { type: 'string' } } }, 400: errorSchema, 401: errorSchema },
    },
  }, async (req) => {
    const { topic, payload } = req.body as { topic: string; payload: Record<string, unknown> };
    if (!isTopic(topic) || !(EXTERNAL_TOPICS as readonly string[]).includes(topic)) throw new HttpError(400, `topic ${topic} cannot be published from outside; topics you can publish: ${EXTERNAL_TOPICS.join(', ')}`, [{ field: 'topic', message: `must be one of: ${EXTERNAL_TOPICS.join(', ')}` }]);
    if (topic === 'metrics.update') {
      const bad = Object.entries(payload).filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v));
      if (bad.length > 0) throw new HttpError(400, `metrics.update values must be finite numbers: ${bad.map(([k]) => `payload.${k}`).join(', ')}`, bad.map(([k]) => ({ field: `payload.${k}`, message: 'must be a finite number' })));
    }
    // The ranges the control plane's subscribers would refuse it by anyway: refused here, named.
    const outOfBounds = checkBusPayload(topic, payload);
    if (outOfBounds !== null) throw new HttpError(400, `${topic} payload refused: ${outOfBounds}`, [{ field: `payload.${outOfBounds.split(' ')[0]}`, message: outOfBounds }]);
    o.bus.publish(topic as 'metrics.update', payload as Record<string, number>);
    return { ok: true, topic };
  });
};
