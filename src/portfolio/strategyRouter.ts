// The strategy router: turns a model's signal into money for the engine that lists the symbol,
// which sizes it (engine/sizing.ts) against its own price and the model's position in the
// same call that places it: one round trip per signal in either deployment. Weights are both
// traffic shares (an external signal without a model goes to a live model chosen by weight)
// and size scalers (notional = quota × weight × strength), so lowering a weight shrinks that
// model's orders at once. Weight 0 means shadow: not traded.
import { type Fixed, fx, mul, toNumber, min as fmin } from '../core/decimal.js';
import { modelId, symbol as toSymbol, type ModelId } from '../core/ids.js';
import { signalOrderId } from '../core/orderIds.js';
import { Rng } from '../core/random.js';
import type { Signal } from '../core/signal.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { NotionalOutcome, OrderView } from '../engine/views.js';
import { type NotionalIntent, qtyForIntent } from '../engine/sizing.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';

export type RouteOutcome = 'routed' | 'rejected' | 'shadow' | 'skipped' | 'conflict';

export interface RouteResult {
  readonly outcome: RouteOutcome;
  readonly model: string;
  readonly engine: string | null;
  readonly reason: string | null;
  readonly message: string | null;
  readonly weight: number;
  readonly capital_quota_usd: number;
  readonly notional_usd: number;
  readonly order: OrderView | null;
  readonly routing_time_ms: number | null;
  readonly duplicate: boolean;
}

export interface RouterDeps {
  readonly engines: () => readonly EngineHandle[];
  readonly weight: (model: string) => number;
  readonly quota: (model: string) => number;
  readonly liveModels: () => readonly string[];
  readonly minNotionalUsd: Fixed;
  readonly maxNotionalUsd: Fixed;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  readonly seed?: number;
}

export interface ExternalSignalOptions {
  readonly quoteUsd?: number;
  readonly clientOrderId?: string;
}

export class StrategyRouter {
  private readonly rng: Rng;
  private readonly engineBySymbol = new Map<string, EngineHandle>();

  constructor(private readonly deps: RouterDeps) {
    this.rng = new Rng(deps.seed ?? 1);
  }

  async indexEngines(): Promise<void> {
    this.engineBySymbol.clear();
    for (const e of this.deps.engines()) {
      for (const i of await e.instruments()) if (!this.engineBySymbol.has(i.symbol)) this.engineBySymbol.set(i.symbol, e);
    }
  }

  /** A live model drawn with probability proportional to its weight; null when none is live. */
  pickModelByWeight(): string | null {
    const live = this.deps.liveModels().filter((m) => this.deps.weight(m) > 0);
    if (live.length === 0) return null;
    return live[this.rng.categorical(live.map((m) => this.deps.weight(m)))]!;
  }

  async route(signal: Signal, opts: ExternalSignalOptions = {}): Promise<RouteResult> {
    const model = signal.model;
    const weight = this.deps.weight(model);
    const quota = this.deps.quota(model);
    const base: RouteBase = { model, weight, quota };
    if (signal.action === 'HOLD' && signal.targetExposure === undefined) {
      return this.counted(routeResult(base, 'skipped', null, 'HOLD', 'signal holds', 0));
    }
    if (weight <= 0) {
      return this.counted(routeResult(base, 'shadow', null, 'SHADOW', 'model weight is 0: tracked in shadow, not traded', 0));
    }
    const engine = this.engineBySymbol.get(signal.symbol);
    if (!engine) return this.counted(routeResult(base, 'rejected', null, 'NO_ENGINE', `no engine lists ${signal.symbol}`, 0));
    // One call: the engine sizes this money against its own price and the model's position
    // at the moment its rails check the order (no price or position is read from here).
    const intent = signalMoney(signal, { weight, quotaUsd: quota, quoteUsd: opts.quoteUsd });
    let sized: NotionalOutcome;
    try {
      sized = await engine.submitNotional({
        clientOrderId: opts.clientOrderId ?? signalOrderId({ model, symbol: signal.symbol, ts: signal.ts }),
        symbol: toSymbol(signal.symbol),
        model: modelId(model) as ModelId,
        intent,
        maxNotionalUsd: this.deps.maxNotionalUsd,
        minNotionalUsd: this.deps.minNotionalUsd,
      });
    } catch (err) {
      // The engine's sizing is unknown: the money asked for stands in for the order's worth.
      const asked = intent.kind === 'notional' ? toNumber(fmin(intent.notionalUsd, this.deps.maxNotionalUsd)) : 0;
      return this.counted(routeResult(base, 'rejected', engine.name, 'ENGINE_ERROR', (err as Error).message, asked));
    }
    const out = sized.outcome;
    const notional = toNumber(sized.notionalUsd);
    if (out.kind === 'not_sized') {
      // Below the minimum is a skip (already at target); no price or symbol is a refusal.
      return this.counted(routeResult(base, out.reason === 'BELOW_MIN_NOTIONAL' ? 'skipped' : 'rejected', engine.name, out.reason, out.message, notional));
    }
    if (out.kind === 'conflict') {
      return this.counted(routeResult(base, 'conflict', engine.name, 'IDEMPOTENCY_CONFLICT', out.message, notional, out.order));
    }
    if (out.kind === 'rejected') {
      return this.counted(routeResult(base, 'rejected', engine.name, out.reason, out.message, notional, out.order, out.routingTimeMs, out.duplicate));
    }
    return this.counted(routeResult(base, 'routed', engine.name, null, null, notional, out.order, out.routingTimeMs, out.duplicate));
  }

  private counted(r: RouteResult): RouteResult {
    this.deps.metrics?.signals.inc({ model: r.model, outcome: r.outcome });
    return r;
  }
}

/** What every result of one route() call shares. */
interface RouteBase {
  readonly model: string;
  readonly weight: number;
  readonly quota: number;
}

/** A RouteResult written out key by key (in the order clients have always seen), not spread
 *  from a shared base: in V8 an object spread followed by more keys takes a slow path that
 *  cost microseconds per signal, more than the sizing itself. */
function routeResult(
  b: RouteBase, outcome: RouteOutcome, engine: string | null, reason: string | null, message: string | null, notional: number,
  order: OrderView | null = null, routingTimeMs: number | null = null, duplicate = false,
): RouteResult {
  return {
    model: b.model, weight: b.weight, capital_quota_usd: b.quota, order, routing_time_ms: routingTimeMs, duplicate,
    outcome, engine, reason, message, notional_usd: notional,
  };
}

export interface SizingInput {
  readonly weight: number;
  readonly quotaUsd: number;
  readonly price: Fixed;
  /** The model's current position (base units, signed). */
  readonly held: Fixed;
  readonly quoteUsd?: number;
  readonly maxNotional: Fixed;
  /** Quantity increment for rounding; orders are rounded down so they never exceed the budget. */
  readonly stepSize?: Fixed;
}

/** The money a signal commits (the control plane's half of sizing). With a target exposure the
 *  model's position should be worth quota × weight × target (clamped to [0, 1]: spot, no
 *  shorts); otherwise a BUY adds and a SELL removes quota × weight × strength, or the quote an
 *  external signal names. The quota already carries governance's exposure multiplier. */
function signalMoney(signal: Signal, s: { readonly weight: number; readonly quotaUsd: number; readonly quoteUsd?: number | undefined }): NotionalIntent {
  const budget = fx(Math.max(0, s.quotaUsd * s.weight));
  if (signal.targetExposure !== undefined) {
    return { kind: 'target', targetUsd: mul(budget, fx(Math.max(0, Math.min(1, signal.targetExposure)))) };
  }
  const notionalUsd = s.quoteUsd !== undefined ? fx(s.quoteUsd) : mul(budget, fx(Math.max(0, Math.min(1, signal.strength))));
  return { kind: 'notional', side: signal.action === 'SELL' ? 'SELL' : 'BUY', notionalUsd };
}

/** Pure sizing, both halves in one call (the shadow book and tests size without an engine):
 *  the signal's money, then the quantity the engine would size it to (sizing.ts), clipped to
 *  MAX_NOTIONAL_USDT, never selling more than the model holds. */
export function sizeOrder(signal: Signal, s: SizingInput): { side: 'BUY' | 'SELL'; qty: Fixed } {
  return qtyForIntent(signalMoney(signal, s), { price: s.price, held: s.held, stepSize: s.stepSize ?? fx('0.00001'), maxNotionalUsd: s.maxNotional });
}
