// The strategy router: turns a model's signal into a sized order for the engine that lists
// the symbol. Weights are both traffic shares (an external signal without a model goes to a
// live model chosen by weight) and size scalers (notional = quota × weight × strength), so
// lowering a weight shrinks that model's orders at once. Weight 0 means shadow: not traded.
import { type Fixed, fx, mul, div, floorToStep, toNumber, min as fmin } from '../core/decimal.js';
import { modelId, symbol as toSymbol, type ModelId } from '../core/ids.js';
import { signalOrderId } from '../core/orderIds.js';
import { Rng } from '../core/random.js';
import type { Signal } from '../core/signal.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { OrderView, SubmitOutcome } from '../engine/views.js';
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
  private readonly engineBySymbol = new Map<string, { engine: EngineHandle; step: Fixed }>();

  constructor(private readonly deps: RouterDeps) {
    this.rng = new Rng(deps.seed ?? 1);
  }

  async indexEngines(): Promise<void> {
    this.engineBySymbol.clear();
    for (const e of this.deps.engines()) {
      for (const i of await e.instruments()) if (!this.engineBySymbol.has(i.symbol)) this.engineBySymbol.set(i.symbol, { engine: e, step: fx(i.step_size) });
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
    const route = this.engineBySymbol.get(signal.symbol);
    if (!route) return this.counted(routeResult(base, 'rejected', null, 'NO_ENGINE', `no engine lists ${signal.symbol}`, 0));
    const engine = route.engine;
    const pxText = await engine.lastPrice(signal.symbol);
    if (pxText === null) return this.counted(routeResult(base, 'rejected', engine.name, 'NO_MARKET_DATA', `no price for ${signal.symbol} yet`, 0));
    const px = fx(pxText);
    const held = fx(await engine.modelQty(model, signal.symbol));

    const sizing = sizeOrder(signal, { weight, quotaUsd: quota, price: px, held, quoteUsd: opts.quoteUsd, maxNotional: this.deps.maxNotionalUsd, stepSize: route.step });
    if (sizing.qty <= 0n || mul(sizing.qty, px) < this.deps.minNotionalUsd) {
      return this.counted(routeResult(base, 'skipped', engine.name, 'BELOW_MIN_NOTIONAL', 'order would be below MIN_NOTIONAL_USDT (already at target)', toNumber(mul(sizing.qty, px))));
    }
    const submitted = engine.submit({
      clientOrderId: opts.clientOrderId ?? signalOrderId({ model, symbol: signal.symbol, ts: signal.ts }),
      symbol: toSymbol(signal.symbol),
      side: sizing.side,
      type: 'MARKET',
      qty: sizing.qty,
      price: null,
      model: modelId(model) as ModelId,
    });
    let out: SubmitOutcome;
    try {
      out = await submitted;
    } catch (err) {
      return this.counted(routeResult(base, 'rejected', engine.name, 'ENGINE_ERROR', (err as Error).message, toNumber(mul(sizing.qty, px))));
    }
    const notional = toNumber(mul(sizing.qty, px));
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

/** Pure sizing. With a target exposure the model trades toward quota × weight × target;
 *  otherwise a BUY adds and a SELL removes quota × weight × strength (or the given quote),
 *  never selling more than the model holds (spot). Clipped to MAX_NOTIONAL_USDT. */
export function sizeOrder(signal: Signal, s: SizingInput): { side: 'BUY' | 'SELL'; qty: Fixed } {
  const step = s.stepSize ?? fx('0.00001');
  const budget = fx(Math.max(0, s.quotaUsd * s.weight));
  let side: 'BUY' | 'SELL';
  let notional: Fixed;
  if (signal.targetExposure !== undefined) {
    const target = mul(budget, fx(Math.max(0, Math.min(1, signal.targetExposure)))); // spot: no shorts
    const current = mul(s.held, s.price);
    const delta = (target - current) as Fixed;
    side = delta >= 0n ? 'BUY' : 'SELL';
    notional = (delta < 0n ? -delta : delta) as Fixed;
  } else {
    side = signal.action === 'SELL' ? 'SELL' : 'BUY';
    notional = s.quoteUsd !== undefined ? fx(s.quoteUsd) : mul(budget, fx(Math.max(0, Math.min(1, signal.strength))));
  }
  notional = fmin(notional, s.maxNotional);
  let qty = floorToStep(div(notional, s.price, 'down'), step);
  if (side === 'SELL') {
    const available = s.held > 0n ? s.held : fx(0);
    // Selling to flat takes the whole position, even the part below one step of notional.
    if (signal.targetExposure !== undefined && signal.targetExposure <= 0 && mul(available, s.price) <= s.maxNotional) qty = available;
    qty = fmin(qty, available);
  }
  return { side, qty };
}
