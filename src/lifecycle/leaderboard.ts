// The leaderboard: every running model ranked by score (best first, so leaderboard[0] is the
// leader), with the figures the canary rule reads. Scores come from the strategy tracker —
// live models from their engine books, shadow models from the shadow book — and the score
// metric is the canary policy's (Sharpe by default), so the board ranks models the way
// promotions judge them. rankModels is pure (reports and stages in, rows out);
// buildLeaderboard(ctx) is what routes and collectors call: the stack attaches the tracker's
// source to its context, and a context without one (a bare Ops API in a test) ranks by the
// engines' per-model PnL alone.
import { emptyPerformanceState, metricsOf, type PerformanceMetrics } from './performance.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import { stageOf, type ModelStage } from './modelStage.js';
import type { ModelReport, ScoreMetric } from './strategyTracker.js';

/** One row: the tracker's book figures and lifetime performance (PerformanceMetrics, less the
 *  win/loss counts), plus rank, stage and sizing. Types are reused, not restated. */
export interface LeaderboardRow
  extends Pick<ModelReport, 'model' | 'source' | 'score' | 'pnl' | 'live_pnl' | 'shadow_pnl' | 'realized_pnl' | 'unrealized_pnl' | 'fees' | 'exposure_usd'>,
    Omit<PerformanceMetrics, 'wins' | 'losses'> {
  readonly rank: number;
  readonly kind: string;
  readonly stage: ModelStage;
  readonly weight: number;
  readonly capital_quota_usd: number;
  readonly score_metric: ScoreMetric;
  /** The same figures since the model's last stage change (what the canary rule judges). */
  readonly window: PerformanceMetrics;
  readonly stage_since: string | null;
}

export interface LeaderboardInput {
  readonly reports: readonly ModelReport[];
  readonly scoreMetric: ScoreMetric;
  readonly stage: (model: string) => ModelStage;
  readonly stageSince: (model: string) => string | null;
  readonly kind: (model: string) => string;
  readonly weight: (model: string) => number;
  readonly quota: (model: string) => number;
}

/** What the leaderboard reads from the stack when no tracker is attached: declared here, by
 *  its reader, so the lifecycle plane needs nothing from ops (the Ops API's context satisfies
 *  it structurally). */
export interface LeaderboardContext {
  readonly engines: () => readonly EngineHandle[];
  readonly weights: { readonly current: { readonly weights: Readonly<Record<string, number>> } };
  readonly models: () => readonly { readonly id: string; readonly kind: string }[];
  readonly allocator: { quota(model: string): number };
}

const sources = new WeakMap<LeaderboardContext, () => LeaderboardInput>();

/** Makes buildLeaderboard(ctx) rank with the strategy tracker's figures and registry stages. */
export function attachLeaderboardSource(ctx: LeaderboardContext, source: () => LeaderboardInput): void {
  sources.set(ctx, source);
}

/** A model's stage: the registry's when the stack attached one, else from its weight. */
export function modelStage(ctx: LeaderboardContext, model: string): ModelStage {
  const source = sources.get(ctx);
  return source ? source().stage(model) : stageOf(ctx.weights.current.weights[model] ?? 0);
}

export async function buildLeaderboard(ctx: LeaderboardContext): Promise<LeaderboardRow[]> {
  const source = sources.get(ctx);
  if (source) return rankModels(source());
  return rankModels(await engineOnlyInput(ctx));
}

/** Without a tracker: PnL from the engines' per-model books, no performance history. */
async function engineOnlyInput(ctx: LeaderboardContext): Promise<LeaderboardInput> {
  const acc = new Map<string, { realized: number; unrealized: number; fees: number; exposure: number }>();
  for (const m of ctx.models()) acc.set(m.id, { realized: 0, unrealized: 0, fees: 0, exposure: 0 });
  for (const e of ctx.engines()) {
    for (const p of await e.modelPositions()) {
      const a = acc.get(p.model) ?? { realized: 0, unrealized: 0, fees: 0, exposure: 0 };
      const qty = Number(p.qty);
      const last = await e.lastPrice(p.symbol);
      const mark = last === null ? Number(p.avgPrice) : Number(last);
      a.realized += Number(p.realizedPnl);
      a.fees += Number(p.fees);
      a.unrealized += qty * (mark - Number(p.avgPrice));
      a.exposure += Math.abs(qty * mark);
      acc.set(p.model, a);
    }
  }
  const weights = ctx.weights.current.weights;
  const none = metricsOf(emptyPerformanceState());
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const reports: ModelReport[] = [...acc.entries()].map(([model, a]) => {
    const pnl = r2(a.realized + a.unrealized - a.fees);
    return {
      model, source: 'live', total: none, window: none, pnl, live_pnl: pnl, shadow_pnl: 0, realized_pnl: r2(a.realized),
      unrealized_pnl: r2(a.unrealized), fees: r2(a.fees), exposure_usd: r2(a.exposure), score: pnl,
    };
  });
  const kinds = new Map(ctx.models().map((m) => [m.id, m.kind]));
  return {
    reports, scoreMetric: 'pnl', stage: (m) => stageOf(weights[m] ?? 0), stageSince: () => null,
    kind: (m) => kinds.get(m) ?? 'unknown', weight: (m) => weights[m] ?? 0, quota: (m) => ctx.allocator.quota(m),
  };
}

export function rankModels(input: LeaderboardInput): LeaderboardRow[] {
  const rows = input.reports.map((r) => ({
    model: r.model,
    kind: input.kind(r.model),
    stage: input.stage(r.model),
    source: r.source,
    weight: input.weight(r.model),
    capital_quota_usd: input.quota(r.model),
    score: r.score,
    score_metric: input.scoreMetric,
    pnl: r.pnl,
    live_pnl: r.live_pnl,
    shadow_pnl: r.shadow_pnl,
    realized_pnl: r.realized_pnl,
    unrealized_pnl: r.unrealized_pnl,
    fees: r.fees,
    exposure_usd: r.exposure_usd,
    return_pct: r.total.return_pct,
    sharpe: r.total.sharpe,
    sortino: r.total.sortino,
    max_drawdown_pct: r.total.max_drawdown_pct,
    drawdown_pct: r.total.drawdown_pct,
    win_rate: r.total.win_rate,
    trades: r.total.trades,
    exposure_time_pct: r.total.exposure_time_pct,
    samples: r.total.samples,
    hours: r.total.hours,
    window: r.window,
    stage_since: input.stageSince(r.model),
  }));
  rows.sort((x, y) => y.score - x.score || y.pnl - x.pnl || x.model.localeCompare(y.model));
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}
