// The leaderboard: every running model ranked by evidence, best first, so leaderboard[0] is
// the leader, with the figures the canary rule reads. Figures come from the strategy tracker —
// live models from their engine books, shadow models from the shadow book, per bar in market
// time. rankModels is pure (reports and stages in, rows out); buildLeaderboard(ctx) is what
// routes and collectors call: the stack attaches the tracker's source to its context, and a
// context without one (a bare Ops API in a test) ranks by the engines' per-model PnL alone.
//
// Ranking: a Sharpe ratio from a few bars is noise, and a model with no trades used to lead
// because 0 beat every negative Sharpe. So a model ranks by its probabilistic Sharpe ratio
// against zero (P(true Sharpe > 0) given its bars, skew and kurtosis — Bailey & López de
// Prado) only once it has the evidence policy's bars and trades; every model with evidence
// ranks before every model without, which rank by bars observed. The edge over the live model
// (P(candidate's per-bar return beats live's), net of fees, on the bars both were observed)
// is shown beside the score and breaks ties.
import { edgeOver, emptyEvidence, probabilisticSharpe, seriesStats, type ModelEvidence } from './evidence.js';
import { DEFAULT_EVIDENCE_POLICY, judgeEvidence, type EvidencePolicy } from './evidencePolicy.js';
import { emptyPerformanceState, metricsOf, type PerformanceMetrics } from './performance.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import { stageOf, type ModelStage } from './modelStage.js';
import type { ModelReport, ScoreMetric } from './strategyTracker.js';

/** What a row says of the evidence behind its figures (the contract allocation and promotion
 *  readers share with the dashboard). */
export interface RowEvidence {
  /** Per-bar returns observed. */
  readonly bars: number;
  readonly trades: number;
  /** Market hours the bars span. */
  readonly market_hours: number;
  readonly sufficient: boolean;
  /** Why figures are withheld ("12 of 120 bars"); null when sufficient. */
  readonly reason: string | null;
  /** "sufficient" or "collecting: 12/120 bars". */
  readonly status: string;
  /** P(true per-bar Sharpe > 0); null without sufficient evidence. */
  readonly psr: number | null;
  /** P(this model's per-bar return beats the live model's); null for the live model itself and
   *  until the paired bars reach the policy's minimum. */
  readonly edge_vs_live: number | null;
  /** Bars paired with the live model. */
  readonly paired_bars: number;
}

/** One row: the tracker's book figures and lifetime performance (PerformanceMetrics, less the
 *  win/loss counts), plus rank, stage, sizing and evidence. Types are reused, not restated. */
export interface LeaderboardRow
  extends Pick<ModelReport, 'model' | 'source' | 'pnl' | 'live_pnl' | 'shadow_pnl' | 'realized_pnl' | 'unrealized_pnl' | 'fees' | 'exposure_usd'>,
    Omit<PerformanceMetrics, 'wins' | 'losses'> {
  readonly rank: number;
  readonly kind: string;
  readonly stage: ModelStage;
  readonly weight: number;
  readonly capital_quota_usd: number;
  /** The ranking score: the PSR against zero, null without evidence. */
  readonly score: number | null;
  readonly score_metric: 'psr';
  /** The canary policy's score (its score_metric over the model's life), for the canary rule. */
  readonly canary_score: number;
  readonly canary_score_metric: ScoreMetric;
  readonly evidence: RowEvidence;
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
  /** The evidence minimum (ops/policies.yaml `evidence:`); default the shipped one. */
  readonly evidencePolicy?: EvidencePolicy;
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
  const none = metricsOf(emptyPerformanceState(), { evidence: DEFAULT_EVIDENCE_POLICY });
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const reports: ModelReport[] = [...acc.entries()].map(([model, a]) => {
    const pnl = r2(a.realized + a.unrealized - a.fees);
    return {
      model, source: 'live', total: none, window: none, pnl, live_pnl: pnl, shadow_pnl: 0, realized_pnl: r2(a.realized),
      unrealized_pnl: r2(a.unrealized), fees: r2(a.fees), exposure_usd: r2(a.exposure), score: pnl, evidence: emptyEvidence(), is_live: false,
    };
  });
  const kinds = new Map(ctx.models().map((m) => [m.id, m.kind]));
  return {
    reports, scoreMetric: 'pnl', stage: (m) => stageOf(weights[m] ?? 0), stageSince: () => null,
    kind: (m) => kinds.get(m) ?? 'unknown', weight: (m) => weights[m] ?? 0, quota: (m) => ctx.allocator.quota(m),
  };
}

/** The evidence columns of a row: judged against the policy, PSR and edge only with evidence. */
function rowEvidence(e: ModelEvidence, isLive: boolean, policy: EvidencePolicy): RowEvidence {
  const judged = judgeEvidence(e.bars, e.trades, policy);
  const psr = judged.sufficient ? probabilisticSharpe(seriesStats(e.returns), 0) : null;
  const edge = !isLive && judged.sufficient && e.vsLive.n >= policy.min_bars ? edgeOver(e.vsLive).probability : null;
  const r4 = (x: number | null) => (x === null ? null : Math.round(x * 1e4) / 1e4);
  return {
    bars: e.bars, trades: e.trades, market_hours: Math.round((e.marketMs / 3_600_000) * 1e4) / 1e4,
    sufficient: judged.sufficient, reason: judged.reason, status: judged.status,
    psr: r4(psr), edge_vs_live: r4(edge), paired_bars: isLive ? 0 : e.vsLive.n,
  };
}

/** Evidence first; then PSR, edge over live, PnL; without evidence, bars observed, then PnL. */
function compareRows(x: Pick<LeaderboardRow, 'model' | 'pnl' | 'evidence'>, y: Pick<LeaderboardRow, 'model' | 'pnl' | 'evidence'>): number {
  const a = x.evidence;
  const b = y.evidence;
  if (a.sufficient !== b.sufficient) return a.sufficient ? -1 : 1;
  if (a.sufficient) {
    const d = (b.psr ?? -1) - (a.psr ?? -1) || (b.edge_vs_live ?? -1) - (a.edge_vs_live ?? -1);
    if (d !== 0) return d;
  } else if (a.bars !== b.bars) {
    return b.bars - a.bars;
  }
  return y.pnl - x.pnl || x.model.localeCompare(y.model);
}

export function rankModels(input: LeaderboardInput): LeaderboardRow[] {
  const policy = input.evidencePolicy ?? DEFAULT_EVIDENCE_POLICY;
  const rows = input.reports.map((r) => {
    const evidence = rowEvidence(r.evidence, r.is_live, policy);
    return {
      model: r.model,
      kind: input.kind(r.model),
      stage: input.stage(r.model),
      source: r.source,
      weight: input.weight(r.model),
      capital_quota_usd: input.quota(r.model),
      score: evidence.psr,
      score_metric: 'psr' as const,
      canary_score: r.score,
      canary_score_metric: input.scoreMetric,
      evidence,
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
      sharpe_reason: r.total.sharpe_reason,
      bars_observed: r.total.bars_observed,
      max_drawdown_pct: r.total.max_drawdown_pct,
      drawdown_pct: r.total.drawdown_pct,
      win_rate: r.total.win_rate,
      trades: r.total.trades,
      exposure_time_pct: r.total.exposure_time_pct,
      samples: r.total.samples,
      hours: r.total.hours,
      window: r.window,
      stage_since: input.stageSince(r.model),
    };
  });
  rows.sort(compareRows);
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}

/** JSON schema of a row's declared fields, for the routes that serve it (other fields pass). */
const num = { type: 'number' } as const;
const numOrNull = { type: ['number', 'null'] } as const;
const strOrNull = { type: ['string', 'null'] } as const;
export const LEADERBOARD_ROW_SCHEMA = {
  type: 'object',
  additionalProperties: true,
  properties: {
    rank: { type: 'integer' }, model: { type: 'string' }, kind: { type: 'string' }, stage: { type: 'string' }, source: { type: 'string' },
    weight: num, capital_quota_usd: num, score: numOrNull, score_metric: { type: 'string' }, canary_score: num, canary_score_metric: { type: 'string' },
    pnl: num, live_pnl: num, shadow_pnl: num, return_pct: num, sharpe: numOrNull, sortino: numOrNull, sharpe_reason: strOrNull, bars_observed: { type: 'integer' }, trades: { type: 'integer' },
    evidence: {
      type: 'object',
      properties: {
        bars: { type: 'integer' }, trades: { type: 'integer' }, market_hours: num, sufficient: { type: 'boolean' }, reason: strOrNull,
        status: { type: 'string' }, psr: numOrNull, edge_vs_live: numOrNull, paired_bars: { type: 'integer' },
      },
    },
  },
} as const;
