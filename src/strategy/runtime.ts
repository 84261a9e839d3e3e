// The strategy runtime: feeds each closed bar to every model subscribed to its symbol and
// publishes their signals on the bus. Models are isolated: one that throws is logged and
// skipped for that bar, never takes the others down.
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Model } from './model.js';

export class StrategyRuntime {
  private readonly models: Model[] = [];
  private unsubscribe: (() => void) | null = null;
  private readonly lastErrorAt = new Map<string, number>();

  constructor(private readonly bus: Bus, private readonly log: Logger) {}

  add(model: Model): void {
    if (this.models.some((m) => m.id === model.id)) throw new Error(`model ${model.id} is already registered`);
    this.models.push(model);
  }

  list(): readonly Model[] {
    return this.models;
  }

  /** Feeds history without publishing, so models start warm. */
  warmup(bars: Iterable<Bar>): void {
    for (const bar of bars) for (const m of this.models) if (m.symbols.includes(bar.symbol)) this.safeOnBar(m, bar);
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
      return m.onBar(bar);
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
