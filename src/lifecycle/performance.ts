// Owns the performance figures every model is judged by — Sharpe, Sortino, max drawdown,
// win rate, trade count, exposure time — as an O(1)-per-bar accumulator. The strategy
// tracker (live and shadow books) and the backtest report use this one implementation, so a
// backtested Sharpe and a leaderboard Sharpe are the same number computed the same way.
//
// Time is market time: one observation per bar at the bar's timestamp, annualised with the
// bar interval (evidence.ts annualisePerBar), never with how often a process sampled — a
// stack replaying a minute of market per wall second used to show Sharpe −2,000. The return
// series is kept as evidence.ts Moments so the same state feeds the probabilistic Sharpe
// ratio. With an evidence policy, Sharpe and Sortino are null with the reason until the model
// has the policy's bars and trades (evidencePolicy.ts).
// State is plain JSON so the tracker can persist it and resume after a restart.
import { drawdownRatio } from '../core/drawdown.js';
import { addObservation, annualisePerBar, emptyMoments, reviveMoments, seriesStats, type Moments } from './evidence.js';
import { annualisedSharpeError, judgeEvidence, type EvidencePolicy } from './evidencePolicy.js';

export const YEAR_MS = 365 * 24 * 3600 * 1000;

/** What the leaderboard, the canary manager and the backtest report show for a model. */
export interface PerformanceMetrics {
  /** Compounded return of the per-bar series, in percent. */
  readonly return_pct: number;
  /** Annualised in market time (bar interval). 0 for a book without variance; null below the
   *  evidence minimum when one applies (sharpe_reason says why). */
  readonly sharpe: number | null;
  readonly sortino: number | null;
  /** Why sharpe and sortino are null ("12 of 120 bars, 1 of 4 trades"); null when they are not. */
  readonly sharpe_reason: string | null;
  /** Per-bar returns behind the figures (independent observations). */
  readonly bars_observed: number;
  /** Largest peak-to-trough fall of the compounded return index, in percent (≥ 0). */
  readonly max_drawdown_pct: number;
  /** Current distance below the running peak, in percent. */
  readonly drawdown_pct: number;
  /** Share of position-reducing fills whose realized PnL net of their fee was positive, in
   *  percent; null before the first such fill. */
  readonly win_rate: number | null;
  /** Fills attributed to the model. */
  readonly trades: number;
  readonly wins: number;
  readonly losses: number;
  /** Share of samples with a non-zero position, in percent. */
  readonly exposure_time_pct: number;
  readonly samples: number;
  /** Market hours the per-bar returns cover (the sum of their bar-to-bar gaps): time the model
   *  was observed, not time a process ran. */
  readonly hours: number;
}

export interface PerformanceState {
  samples: number;
  /** Moments of the per-bar returns (evidence.ts): mean, variance, skew, kurtosis online. */
  returns: Moments;
  sumDown2: number;
  index: number;
  peak: number;
  maxDrawdown: number;
  exposed: number;
  trades: number;
  wins: number;
  losses: number;
  firstTs: number | null;
  lastTs: number | null;
  /** Market time spanned by the returns (sum of bar-to-bar gaps): the hours observed, and the
   *  bar interval when the caller does not state one. */
  sumDtMs: number;
}

export function emptyPerformanceState(): PerformanceState {
  return {
    samples: 0, returns: emptyMoments(), sumDown2: 0, index: 1, peak: 1, maxDrawdown: 0, exposed: 0,
    trades: 0, wins: 0, losses: 0, firstTs: null, lastTs: null, sumDtMs: 0,
  };
}

const NUMBER_KEYS = ['samples', 'sumDown2', 'index', 'peak', 'maxDrawdown', 'exposed', 'trades', 'wins', 'losses', 'sumDtMs'] as const;

/**
 * Checks a persisted state; anything malformed gives a fresh state rather than NaN metrics.
 * A state saved before returns were kept as moments (wall-clock sampling, `returns` a count)
 * keeps its trade counts and drops its return series: those returns were measured on the
 * wrong clock and must not be mixed with per-bar ones.
 */
export function reviveState(value: unknown): PerformanceState {
  const fresh = emptyPerformanceState();
  if (value === null || typeof value !== 'object') return fresh;
  const v = value as Record<string, unknown>;
  if (typeof v['returns'] === 'number' || v['returns'] === undefined) {
    const count = (k: string) => (typeof v[k] === 'number' && Number.isInteger(v[k]) && (v[k] as number) >= 0 ? (v[k] as number) : 0);
    return { ...fresh, trades: count('trades'), wins: count('wins'), losses: count('losses') };
  }
  const out = { ...fresh };
  for (const key of NUMBER_KEYS) {
    const x = v[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) return fresh;
    out[key] = x;
  }
  for (const key of ['firstTs', 'lastTs'] as const) {
    const x = v[key];
    if (x === null || (typeof x === 'number' && Number.isFinite(x))) out[key] = x as number | null;
    else return fresh;
  }
  const m = reviveMoments(v['returns']);
  if (m.n === 0 && (v['returns'] as { n?: unknown } | null)?.n !== 0) return fresh;
  out.returns = m;
  return out;
}

function copyState(s: PerformanceState): PerformanceState {
  return { ...s, returns: { ...s.returns } };
}

export interface MetricsOptions {
  /** The bar interval in ms (market time); default: the mean gap between the bars observed. */
  readonly barIntervalMs?: number;
  /** When given, Sharpe and Sortino are null with a reason until the minimum is met. */
  readonly evidence?: EvidencePolicy;
}

export class PerformanceAccumulator {
  readonly state: PerformanceState;

  constructor(state?: PerformanceState) {
    this.state = state ? copyState(state) : emptyPerformanceState();
  }

  /** A copy of the state, to save or hand to another replica while this one moves on. */
  snapshot(): PerformanceState {
    return copyState(this.state);
  }

  /**
   * One bar: `ret` is the bar's return on the capital the model had at work (null for the
   * first bar after a start or a change of book, when no return is defined), `exposed`
   * whether it held a position, `ts` the bar's timestamp (epoch ms, market time). A bar at or
   * before the last one adds no return (a bar is observed once).
   */
  addSample(ret: number | null, exposed: boolean, ts: number): void {
    const s = this.state;
    s.samples++;
    if (exposed) s.exposed++;
    if (s.firstTs === null) s.firstTs = ts;
    // A series starting again (ret null: after a restart) on a feed that restarted earlier in
    // market time: follow it rather than ignore every bar until it passes the old timestamp.
    if (ret === null && s.lastTs !== null && ts < s.lastTs) s.lastTs = ts;
    if (ret !== null && Number.isFinite(ret) && s.lastTs !== null && ts > s.lastTs) {
      // A return below −100 % would flip the index's sign; a spot book cannot lose more than it had.
      const r = Math.max(ret, -1);
      addObservation(s.returns, r);
      if (r < 0) s.sumDown2 += r * r;
      s.sumDtMs += ts - s.lastTs;
      s.index *= 1 + r;
      if (s.index > s.peak) s.peak = s.index;
      const dd = drawdownRatio(s.peak, s.index);
      if (dd > s.maxDrawdown) s.maxDrawdown = dd;
    }
    if (s.lastTs === null || ts > s.lastTs) s.lastTs = ts;
  }

  /** A fill; `realizedNet` is the realized PnL net of the fill's fee when it reduced a
   *  position, null when it opened or added. */
  addFill(realizedNet: number | null): void {
    const s = this.state;
    s.trades++;
    if (realizedNet === null) return;
    if (realizedNet > 0) s.wins++;
    else s.losses++;
  }

  metrics(opts: MetricsOptions = {}): PerformanceMetrics {
    return metricsOf(this.state, opts);
  }

  /** metrics().max_drawdown_pct alone (the canary asks it of every model every round). */
  maxDrawdownPct(): number {
    return maxDrawdownPctOf(this.state);
  }
}

const maxDrawdownPctOf = (s: PerformanceState): number => round(s.maxDrawdown * 100, 4);

export function metricsOf(s: PerformanceState, opts: MetricsOptions = {}): PerformanceMetrics {
  const n = s.returns.n;
  const judged = opts.evidence ? judgeEvidence(n, s.trades, opts.evidence) : null;
  let sharpe: number | null = 0;
  let sortino: number | null = 0;
  let noiseReason: string | null = null;
  const barMs = opts.barIntervalMs ?? (n > 0 && s.sumDtMs > 0 ? s.sumDtMs / n : 0);
  if (judged !== null && !judged.sufficient) {
    sharpe = null;
    sortino = null;
  } else if (n >= 2 && barMs > 0) {
    const st = seriesStats(s.returns);
    // Below ~1e-12 the "variance" is rounding noise of a flat book, not risk.
    if (st.stdev > 1e-12) sharpe = annualisePerBar(st.mean / st.stdev, barMs);
    const downside = Math.sqrt(s.sumDown2 / n);
    if (downside > 1e-12) sortino = annualisePerBar(st.mean / downside, barMs);
    else if (st.mean > 1e-12) sortino = sharpe;
    if (opts.evidence && st.stdev > 1e-12) {
      // Enough bars to judge, not yet enough to annualise: the figure would be mostly noise.
      const { se, barsNeeded } = annualisedSharpeError(st.mean / st.stdev, n, YEAR_MS / barMs, opts.evidence.max_sharpe_se);
      if (se > opts.evidence.max_sharpe_se) {
        sharpe = null;
        sortino = null;
        noiseReason = `annualised Sharpe still ±${se.toFixed(1)} (standard error from ${n} bars); shown below ±${opts.evidence.max_sharpe_se} from about ${barsNeeded} bars — the PSR ranks meanwhile`;
      }
    }
  }
  const closed = s.wins + s.losses;
  return {
    return_pct: round((s.index - 1) * 100, 4),
    sharpe: sharpe === null ? null : round(sharpe, 4),
    sortino: sortino === null ? null : round(sortino, 4),
    sharpe_reason: judged?.reason ?? noiseReason,
    bars_observed: n,
    max_drawdown_pct: maxDrawdownPctOf(s),
    drawdown_pct: round(s.peak > 0 ? ((s.peak - s.index) / s.peak) * 100 : 0, 4),
    win_rate: closed === 0 ? null : round((s.wins / closed) * 100, 2),
    trades: s.trades,
    wins: s.wins,
    losses: s.losses,
    exposure_time_pct: s.samples === 0 ? 0 : round((s.exposed / s.samples) * 100, 2),
    samples: s.samples,
    hours: round(s.sumDtMs / 3_600_000, 6),
  };
}

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
