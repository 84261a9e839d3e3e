// Owns the gauges that describe the stack as a whole rather than one event: model weights,
// capital quotas, the HMM regime posterior per model and state, per-model PnL, equity /
// exposure / drawdown per venue and for the portfolio, engine reachability, the global
// trading flag. They are refreshed from the control plane's own view (OpsContext, engine
// handles) on a timer, so a remote engine is measured exactly like an embedded one.
// Event counters that come from the bus (governance.action, alert) are counted here too.
import type { FastifyInstance } from 'fastify';
import { drawdownRatio } from '../core/drawdown.js';
import type { OpsContext } from './context.js';
import { decodeDrawdownStatement } from './governance/drawdownStatement.js';
import { buildLeaderboard } from '../lifecycle/leaderboard.js';
import { withTimeout } from '../util/withTimeout.js';

export interface MetricsCollectorOptions {
  /** How often the gauges are refreshed (default 2 s: fresher than any sensible scrape interval). */
  readonly intervalMs?: number;
  /** Longest an engine may take to answer before it counts as down for this refresh. */
  readonly engineTimeoutMs?: number;
}

const POSTERIOR_KEY = /^posterior_(\d{1,2})$/;
const ALERT_SEVERITIES = ['INFO', 'WARNING', 'CRITICAL'] as const;

export class MetricsCollector {
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  /** Equity peaks per engine (drawdown's reference): the starting capital until equity rises
   *  above it. The portfolio's drawdown is governance's own statement once it has made one
   *  (metrics.update drawdown_pct with peak_equity, its peak kept across restarts), so
   *  hmm_drawdown_ratio{scope="portfolio"} is the figure governance escalates on, not one that
   *  restarts at 0 with the process; before it, the same formula from the starting capital. */
  private readonly peaks = new Map<string, number>();
  private governance: { readonly drawdownPct: number; readonly peak: number } | null = null;
  private readonly intervalMs: number;
  private readonly engineTimeoutMs: number;

  constructor(private readonly ctx: OpsContext, opts: MetricsCollectorOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 2000;
    this.engineTimeoutMs = opts.engineTimeoutMs ?? 2000;
  }

  start(): void {
    if (this.timer) return;
    const m = this.ctx.metrics;
    // Zero-valued series exist from the start, so rate() and alerts work before the first event.
    for (const severity of ALERT_SEVERITIES) m.alerts.inc({ severity }, 0);
    this.unsubscribe.push(
      this.ctx.bus.subscribe('governance.action', (p) => m.governanceEvents.inc({ action: typeof p.action === 'string' && p.action !== '' ? p.action : 'unknown' })),
      this.ctx.bus.subscribe('alert', (p) => m.alerts.inc({ severity: ALERT_SEVERITIES.includes(p.severity) ? p.severity : 'INFO' })),
      // Governance states its drawdown with its peak (an operator's injected metrics usually
      // carry neither; ones that do are what governance itself reads, until its next round).
      // The gauge is a fraction of the peak: a statement from a peak ≤ 0 is none to replace
      // the collector's own with.
      this.ctx.bus.subscribe('metrics.update', (p) => {
        const s = decodeDrawdownStatement(p);
        if (s !== null && s.peak_equity > 0) this.governance = { drawdownPct: Math.max(0, s.drawdown_pct), peak: s.peak_equity };
      }),
    );
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const u of this.unsubscribe.splice(0)) u();
    await this.inflight;
  }

  /** One refresh of every gauge; concurrent calls share the one in flight. */
  refresh(): Promise<void> {
    this.inflight ??= this.doRefresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async doRefresh(): Promise<void> {
    this.refreshModels();
    await this.refreshEngines();
    await this.refreshModelPnl();
  }

  private fail(source: string, err: unknown): void {
    this.ctx.metrics.collectorErrors.inc({ source });
    this.ctx.log.debug({ err, source }, `[OPS] metrics refresh of ${source} failed: ${(err as Error).message}`);
  }

  /** Weights, quotas and the regime posterior: synchronous reads of the stack's own state. */
  private refreshModels(): void {
    const m = this.ctx.metrics;
    try {
      m.tradingEnabled.set({ scope: 'global' }, this.ctx.killSwitch.enabled ? 1 : 0);
      const weights = this.ctx.weights.current.weights;
      const models = this.ctx.models();
      // Reset, then set, in one synchronous block: a scrape never sees the gap, and a model
      // that left the runtime (or an HMM refit with fewer states) leaves no stale series.
      m.regimePosterior.reset();
      m.regime.reset();
      for (const model of models) {
        m.modelWeight.set({ model: model.id }, weights[model.id] ?? 0);
        m.capitalQuota.set({ model: model.id }, this.ctx.allocator.quota(model.id));
        // Diagnostics are read generically: any model exporting posterior_<i> is a regime model.
        for (const [key, value] of Object.entries(model.diagnostics)) {
          if (typeof value !== 'number' || !Number.isFinite(value)) continue;
          const match = POSTERIOR_KEY.exec(key);
          if (match) m.regimePosterior.set({ model: model.id, state: match[1]! }, value);
          else if (key === 'regime') m.regime.set({ model: model.id }, value);
        }
      }
    } catch (err) {
      this.fail('models', err);
    }
  }

  private async refreshEngines(): Promise<void> {
    const m = this.ctx.metrics;
    let total = 0;
    let baseline = 0;
    let complete = true;
    for (const e of this.ctx.engines()) {
      try {
        const [health, v] = await withTimeout(Promise.all([e.health(), e.valuation()]), this.engineTimeoutMs, `engine ${e.name} timed out after ${this.engineTimeoutMs} ms`);
        m.engineUp.set({ engine: e.name }, 1);
        m.openOrders.set({ venue: e.name }, health.open_orders);
        m.tradingEnabled.set({ scope: e.name }, health.trading_enabled ? 1 : 0);
        m.equity.set({ venue: e.name }, v.equity);
        m.cash.set({ venue: e.name }, v.cash);
        m.realizedPnl.set({ venue: e.name }, v.realizedPnl);
        m.unrealizedPnl.set({ venue: e.name }, v.unrealizedPnl);
        m.feesPaid.set({ venue: e.name }, v.fees);
        for (const p of v.positions) {
          m.exposure.set({ venue: e.name, symbol: p.symbol }, Math.abs(p.marketValue));
          m.netExposure.set({ venue: e.name, symbol: p.symbol }, p.marketValue);
        }
        const startingCapital = this.ctx.baselineEquity(e.name);
        this.drawdown(e.name, v.equity, startingCapital);
        total += v.equity;
        baseline += startingCapital;
      } catch (err) {
        complete = false;
        m.engineUp.set({ engine: e.name }, 0);
        this.fail('engine', err);
      }
    }
    // The portfolio's drawdown only from a complete picture: a missing engine is not a loss.
    if (!complete || this.ctx.engines().length === 0) return;
    if (this.governance === null) {
      this.drawdown('portfolio', total, baseline);
    } else {
      this.ctx.metrics.equityPeak.set({ scope: 'portfolio' }, this.governance.peak);
      this.ctx.metrics.drawdown.set({ scope: 'portfolio' }, this.governance.drawdownPct / 100);
    }
  }

  private drawdown(scope: string, equity: number, reference: number): void {
    const peak = Math.max(this.peaks.get(scope) ?? reference, equity);
    this.peaks.set(scope, peak);
    this.ctx.metrics.equityPeak.set({ scope }, peak);
    this.ctx.metrics.drawdown.set({ scope }, drawdownRatio(peak, equity));
  }

  private async refreshModelPnl(): Promise<void> {
    try {
      const rows = await withTimeout(buildLeaderboard(this.ctx), this.engineTimeoutMs, `leaderboard timed out after ${this.engineTimeoutMs} ms`);
      for (const r of rows) {
        this.ctx.metrics.modelPnl.set({ model: r.model }, r.pnl);
        this.ctx.metrics.modelExposure.set({ model: r.model }, r.exposure_usd);
      }
    } catch (err) {
      this.fail('leaderboard', err);
    }
  }
}

/**
 * The collector as an Ops API plugin: registering it starts the refresh loop, and closing the
 * server stops it (before the engines close), so the stack wires it with one line.
 */
export function metricsCollectorPlugin(ctx: OpsContext, opts: MetricsCollectorOptions = {}) {
  return async (app: FastifyInstance) => {
    const collector = new MetricsCollector(ctx, opts);
    collector.start();
    app.addHook('onClose', async () => collector.stop());
  };
}
