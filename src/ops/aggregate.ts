// Cross-venue views the control plane serves (/aggregate/*, /status, the dashboard):
// built from each engine's answers through EngineHandle, never from engine internals.
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Valuation } from '../core/portfolio.js';

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Asks every engine at once; an engine that does not answer is reported by name instead of
 *  failing the whole view (one venue down must not blind the operator to the others). */
async function askEach<T>(engines: readonly EngineHandle[], ask: (e: EngineHandle) => Promise<T>): Promise<{ answers: [EngineHandle, T][]; unreachable: Record<string, string> }> {
  const settled = await Promise.allSettled(engines.map(ask));
  const answers: [EngineHandle, T][] = [];
  const unreachable: Record<string, string> = {};
  settled.forEach((r, i) => {
    const e = engines[i]!;
    if (r.status === 'fulfilled') answers.push([e, r.value]);
    else unreachable[e.name] = (r.reason as Error)?.message ?? String(r.reason);
  });
  return { answers, unreachable };
}

export interface VenuePortfolio {
  readonly equity: number;
  readonly cash: number;
  readonly gain: number;
  readonly gain_pct: number;
  readonly baseline_equity: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure: number;
  readonly positions: Valuation['positions'];
}

export interface AggregatePortfolio {
  readonly equity: number;
  readonly cash: number;
  readonly gain: number;
  readonly gain_pct: number;
  readonly baseline_equity: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure: number;
  readonly venues: Record<string, VenuePortfolio>;
  /** Engines that did not answer (name → error); totals cover the others. */
  readonly unreachable: Record<string, string>;
  readonly ts: string;
}

export async function aggregatePortfolio(engines: readonly EngineHandle[], baseline: (engine: string) => number): Promise<AggregatePortfolio> {
  const venues: Record<string, VenuePortfolio> = {};
  let equity = 0, cash = 0, base = 0, realized = 0, unrealized = 0, fees = 0, exposure = 0;
  const { answers, unreachable } = await askEach(engines, (e) => e.valuation());
  for (const [e, v] of answers) {
    const b = baseline(e.name);
    venues[e.name] = {
      equity: r2(v.equity), cash: r2(v.cash), gain: r2(v.equity - b), gain_pct: b > 0 ? r2(((v.equity - b) / b) * 100) : 0,
      baseline_equity: b, realized_pnl: r2(v.realizedPnl), unrealized_pnl: r2(v.unrealizedPnl), fees: r2(v.fees), exposure: r2(v.exposure),
      positions: v.positions,
    };
    equity += v.equity; cash += v.cash; base += b; realized += v.realizedPnl; unrealized += v.unrealizedPnl; fees += v.fees; exposure += v.exposure;
  }
  return {
    equity: r2(equity), cash: r2(cash), gain: r2(equity - base), gain_pct: base > 0 ? r2(((equity - base) / base) * 100) : 0,
    baseline_equity: r2(base), realized_pnl: r2(realized), unrealized_pnl: r2(unrealized), fees: r2(fees), exposure: r2(exposure),
    venues, unreachable, ts: new Date().toISOString(),
  };
}

export interface ExposureView {
  readonly totals: { readonly gross_usd: number; readonly net_usd: number; readonly symbols: number; readonly venues: number };
  readonly by_symbol: Record<string, { qty: number; last_price: number | null; exposure_usd: number; net_usd: number; venues: Record<string, number> }>;
  readonly by_venue: Record<string, { gross_usd: number; net_usd: number }>;
  readonly unreachable: Record<string, string>;
  readonly ts: string;
}

export async function aggregateExposure(engines: readonly EngineHandle[]): Promise<ExposureView> {
  const bySymbol: ExposureView['by_symbol'] = {};
  const byVenue: ExposureView['by_venue'] = {};
  let gross = 0, net = 0;
  const { answers, unreachable } = await askEach(engines, (e) => e.valuation());
  for (const [e, v] of answers) {
    let vg = 0, vn = 0;
    for (const p of v.positions) {
      if (p.qty === 0) continue;
      const s = (bySymbol[p.symbol] ??= { qty: 0, last_price: p.lastPrice, exposure_usd: 0, net_usd: 0, venues: {} });
      s.qty += p.qty;
      s.exposure_usd = r2(s.exposure_usd + Math.abs(p.marketValue));
      s.net_usd = r2(s.net_usd + p.marketValue);
      s.venues[e.name] = r2(p.marketValue);
      vg += Math.abs(p.marketValue);
      vn += p.marketValue;
    }
    byVenue[e.name] = { gross_usd: r2(vg), net_usd: r2(vn) };
    gross += vg;
    net += vn;
  }
  return { totals: { gross_usd: r2(gross), net_usd: r2(net), symbols: Object.keys(bySymbol).length, venues: engines.length }, by_symbol: bySymbol, by_venue: byVenue, unreachable, ts: new Date().toISOString() };
}

export async function aggregateMetrics(engines: readonly EngineHandle[]) {
  const venues: Record<string, unknown> = {};
  const { answers, unreachable } = await askEach(engines, (e) => Promise.all([e.stats(), e.health(), e.valuation()]));
  for (const [name, error] of Object.entries(unreachable)) venues[name] = { reachable: false, error };
  for (const [e, [stats, health, v]] of answers) {
    venues[e.name] = {
      reachable: true,
      ...stats,
      open_orders: health.open_orders,
      trading_enabled: health.trading_enabled,
      equity: r2(v.equity),
      exposure: r2(v.exposure),
      pnl_realized: r2(v.realizedPnl),
      pnl_unrealized: r2(v.unrealizedPnl),
      fees: r2(v.fees),
    };
  }
  return { venues, ts: new Date().toISOString() };
}
