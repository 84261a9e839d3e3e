// The strategy runtime: feeds each closed bar to every model subscribed to its symbol and
// publishes their signals on the bus. Models are isolated: one that throws is logged and
// skipped for that bar, never takes the others down. It also remembers each model's last
// signal per symbol (its current stance), so a model that changes book — shadow to live on
// promotion, live to shadow on rollback — can re-state its view to the new book at once
// instead of waiting for its next change of mind.
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Model } from './model.js';

export class StrategyRuntime {
  private readonly models: Model[] = [];
  private unsubscribe: (() => void) | null = null;
  private readonly lastErrorAt = new Map<string, number>();
  private readonly stance = new Map<string, Map<string, Signal>>();

  constructor(private readonly bus: Bus, private readonly log: Logger) {}

  add(model: Model): void {
    if (this.models.some((m) => m.id === model.id)) throw new Error(`model ${model.id} is already registered`);
    this.models.push(model);
  }

  /** Stops feeding a model (retired); returns whether it was running. */
  remove(id: string): boolean {
    const i = this.models.findIndex((m) => m.id === id);
    if (i < 0) return false;
    this.models.splice(i, 1);
    this.stance.delete(id);
    return true;
  }

  list(): readonly Model[] {
    return this.models;
  }

  get(id: string): Model | undefined {
    return this.models.find((m) => m.id === id);
  }

  /** The model's last signal per symbol (HOLDs without a target excluded: they say "keep"). */
  lastSignals(id: string): Signal[] {
    return [...(this.stance.get(id)?.values() ?? [])];
  }

  /** Feeds history without publishing, so models start warm. */
  warmup(bars: Iterable<Bar>, only?: Model): void {
    const models = only ? [only] : this.models;
    for (const bar of bars) for (const m of models) if (m.symbols.includes(bar.symbol)) this.safeOnBar(m, bar);
  }

  start(): void {
    this.unsubscribe = this.bus.subscribe('market.bar', (bar) => this.onBar(bar));
  }

  onBar(bar: Bar): Signal[] {
    const out: Signal[] = [];
    for (const m of this.models) {
      if (!m.symbols.includes(bar.symbol)) continue;
      const s = this.safeOnBar(m, bar);
      if (s) {
        out.push(s);
        this.bus.publish('signal', s);
      }
    }
    return out;
  }

  private safeOnBar(m: Model, bar: Bar): Signal | null {
    try {
      const s = m.onBar(bar);
      if (s !== null && (s.action !== 'HOLD' || s.targetExposure !== undefined)) {
        let bySymbol = this.stance.get(m.id);
        if (!bySymbol) this.stance.set(m.id, (bySymbol = new Map()));
        bySymbol.set(s.symbol, s);
      }
      return s;
    } catch (err) {
      const now = Date.now();
      if (now - (this.lastErrorAt.get(m.id) ?? 0) > 60_000) {
        this.lastErrorAt.set(m.id, now);
        this.log.error({ err, model: m.id }, `[STRAT] model ${m.id} failed on a ${bar.symbol} bar: ${(err as Error).message}`);
      }
      return null;
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
