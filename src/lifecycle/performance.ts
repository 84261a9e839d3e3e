// Owns the performance figures every model is judged by — Sharpe, Sortino, max drawdown,
// win rate, trade count, exposure time — as an O(1)-per-sample accumulator. The strategy
// tracker (live and shadow books) and the backtest report use this one implementation, so a
// backtested Sharpe and a leaderboard Sharpe are the same number computed the same way.
// State is plain JSON so the tracker can persist it and resume after a restart.

export const YEAR_MS = 365 * 24 * 3600 * 1000;

/** What the leaderboard, the canary manager and the backtest report show for a model. */
export interface PerformanceMetrics {
  /** Compounded return of the sampled series, in percent. */
  readonly return_pct: number;
  /** Annualised from the mean sampling interval; 0 with fewer than 2 returns or no variance. */
  readonly sharpe: number;
  readonly sortino: number;
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
  /** Hours between the first and the latest sample. */
  readonly hours: number;
}

export interface PerformanceState {
  samples: number;
  sumR: number;
  sumR2: number;
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
  sumDtMs: number;
  returns: number;
}

export function emptyPerformanceState(): PerformanceState {
  return {
    samples: 0, sumR: 0, sumR2: 0, sumDown2: 0, index: 1, peak: 1, maxDrawdown: 0, exposed: 0,
    trades: 0, wins: 0, losses: 0, firstTs: null, lastTs: null, sumDtMs: 0, returns: 0,
  };
}

/** Checks a persisted state; anything malformed gives a fresh state rather than NaN metrics. */
export function reviveState(value: unknown): PerformanceState {
  const fresh = emptyPerformanceState();
  if (value === null || typeof value !== 'object') return fresh;
  const v = value as Record<string, unknown>;
  const out = { ...fresh };
  for (const key of Object.keys(fresh) as (keyof PerformanceState)[]) {
    const x = v[key];
    if (key === 'firstTs' || key === 'lastTs') {
      if (x === null || (typeof x === 'number' && Number.isFinite(x))) (out[key] as number | null) = x as number | null;
      else return fresh;
    } else if (typeof x === 'number' && Number.isFinite(x)) {
      (out[key] as number) = x;
    } else {
      return fresh;
    }
  }
  return out;
}

export class PerformanceAccumulator {
  readonly state: PerformanceState;

  constructor(state?: PerformanceState) {
    this.state = state ? { ...state } : emptyPerformanceState();
  }

  /**
   * One sample: `ret` is the period's return on the capital the model had at work (null for
   * the first sample after a start or a change of book, when no return is defined), `exposed`
   * whether it held a position, `ts` the sample time (epoch ms).
   */
  addSample(ret: number | null, exposed: boolean, ts: number): void {
    const s = this.state;
    s.samples++;
    if (exposed) s.exposed++;
    if (s.firstTs === null) s.firstTs = ts;
    if (ret !== null && Number.isFinite(ret) && s.lastTs !== null && ts > s.lastTs) {
      // A return below −100 % would flip the index's sign; a spot book cannot lose more than it had.
      const r = Math.max(ret, -1);
      s.returns++;
      s.sumR += r;
      s.sumR2 += r * r;
      if (r < 0) s.sumDown2 += r * r;
      s.sumDtMs += ts - s.lastTs;
      s.index *= 1 + r;
      if (s.index > s.peak) s.peak = s.index;
      const dd = s.peak > 0 ? (s.peak - s.index) / s.peak : 0;
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

  metrics(): PerformanceMetrics {
    return metricsOf(this.state);
  }
}

export function metricsOf(s: PerformanceState): PerformanceMetrics {
  const n = s.returns;
  let sharpe = 0;
  let sortino = 0;
  if (n >= 2 && s.sumDtMs > 0) {
    const mean = s.sumR / n;
    const variance = Math.max(0, (s.sumR2 - n * mean * mean) / (n - 1));
    const perYear = Math.sqrt(YEAR_MS / (s.sumDtMs / n));
    const sd = Math.sqrt(variance);
    // Below ~1e-12 the "variance" is rounding noise of a flat book, not risk.
    if (sd > 1e-12) sharpe = (mean / sd) * perYear;
    const downside = Math.sqrt(s.sumDown2 / n);
    if (downside > 1e-12) sortino = (mean / downside) * perYear;
    else if (mean > 1e-12) sortino = sharpe;
  }
  const closed = s.wins + s.losses;
  return {
    return_pct: round((s.index - 1) * 100, 4),
    sharpe: round(sharpe, 4),
    sortino: round(sortino, 4),
    max_drawdown_pct: round(s.maxDrawdown * 100, 4),
    drawdown_pct: round(s.peak > 0 ? ((s.peak - s.index) / s.peak) * 100 : 0, 4),
    win_rate: closed === 0 ? null : round((s.wins / closed) * 100, 2),
    trades: s.trades,
    wins: s.wins,
    losses: s.losses,
    exposure_time_pct: s.samples === 0 ? 0 : round((s.exposed / s.samples) * 100, 2),
    samples: s.samples,
    hours: s.firstTs === null || s.lastTs === null ? 0 : round((s.lastTs - s.firstTs) / 3_600_000, 6),
  };
}

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
