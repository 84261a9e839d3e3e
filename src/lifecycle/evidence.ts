// Evidence behind a performance figure: how many independent observations it rests on, and
// how sure we may be that it is above a benchmark. Ranking, allocation and promotion read
// these, never a bare Sharpe: a model with three lucky bars has a huge Sharpe and no evidence.
//
// - `Moments` accumulates the first four moments of a per-bar return series online (one pass,
//   O(1) per bar, plain JSON so the tracker persists it), after Terriberry's update.
// - `probabilisticSharpe` is the probabilistic Sharpe ratio of Bailey & López de Prado (2012):
//   the probability that the true per-bar Sharpe exceeds a benchmark, given the observed one,
//   the number of observations and the series' skewness and kurtosis (fat tails and negative
//   skew widen the doubt).
// - `edgeOver` asks the same of the per-bar difference between a candidate's and the live
//   model's returns, both net of fees: "does the candidate beat live?" as one probability.
// Per-bar figures are market-time figures: annualise with the bar interval, never with how
// often a process happened to sample.

export interface Moments {
  n: number;
  mean: number;
  m2: number;
  m3: number;
  m4: number;
}

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0, m3: 0, m4: 0 };
}

/** Adds one observation in place (Terriberry's one-pass update of the central moments). */
export function addObservation(m: Moments, x: number): void {
  if (!Number.isFinite(x)) return;
  const n1 = m.n;
  const n = n1 + 1;
  const delta = x - m.mean;
  const dn = delta / n;
  const dn2 = dn * dn;
  const term1 = delta * dn * n1;
  m.mean += dn;
  m.m4 += term1 * dn2 * (n * n - 3 * n + 3) + 6 * dn2 * m.m2 - 4 * dn * m.m3;
  m.m3 += term1 * dn * (n - 2) - 3 * dn * m.m2;
  m.m2 += term1;
  m.n = n;
}

/** A persisted value that is not a well-formed Moments gives an empty one (never NaN figures). */
export function reviveMoments(v: unknown): Moments {
  const o = v as Partial<Moments> | null;
  if (!o || typeof o !== 'object') return emptyMoments();
  const keys = ['n', 'mean', 'm2', 'm3', 'm4'] as const;
  if (!keys.every((k) => typeof o[k] === 'number' && Number.isFinite(o[k]))) return emptyMoments();
  if (!Number.isInteger(o.n) || o.n! < 0 || o.m2! < 0) return emptyMoments();
  return { n: o.n!, mean: o.mean!, m2: o.m2!, m3: o.m3!, m4: o.m4! };
}

export interface SeriesStats {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); 0 below two observations. */
  readonly stdev: number;
  /** Per-observation Sharpe (mean / stdev), null without variance. */
  readonly sharpe: number | null;
  readonly skew: number;
  /** Kurtosis (not excess): 3 for a normal series. */
  readonly kurtosis: number;
}

export function seriesStats(m: Moments): SeriesStats {
  const stdev = m.n > 1 ? Math.sqrt(m.m2 / (m.n - 1)) : 0;
  const popVar = m.n > 0 ? m.m2 / m.n : 0;
  const skew = popVar > 0 ? m.m3 / m.n / popVar ** 1.5 : 0;
  const kurtosis = popVar > 0 ? m.m4 / m.n / (popVar * popVar) : 3;
  const sharpe = stdev > 1e-15 ? m.mean / stdev : null;
  return { n: m.n, mean: m.mean, stdev, sharpe, skew, kurtosis };
}

/** Standard normal CDF (W. J. Cody's rational approximation via erfc; |error| < 1e-14). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z === Infinity) return 1;
  if (z === -Infinity) return 0;
  return 0.5 * erfc(-z / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes' erfc with a Chebyshev fit (fractional error < 1.2e-7), good enough for
  // decisions at 0.9–0.99; symmetric in sign.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/**
 * The probabilistic Sharpe ratio: P(true per-bar Sharpe > benchmark) given the observed
 * per-bar Sharpe of n observations with this skewness and kurtosis. Null with fewer than
 * three observations or no variance: there is nothing to infer from.
 */
export function probabilisticSharpe(s: SeriesStats, benchmarkPerBar = 0): number | null {
  if (s.n < 3 || s.sharpe === null) return null;
  const sr = s.sharpe;
  const denom = 1 - s.skew * sr + ((s.kurtosis - 1) / 4) * sr * sr;
  if (!(denom > 0)) return null;
  return normalCdf(((sr - benchmarkPerBar) * Math.sqrt(s.n - 1)) / Math.sqrt(denom));
}

/** Annualises a per-bar figure in market time: bars per year from the bar interval. */
export function annualisePerBar(perBarSharpe: number, barIntervalMs: number): number {
  return perBarSharpe * Math.sqrt((365 * 24 * 3600 * 1000) / barIntervalMs);
}

export interface EdgeTest {
  /** Paired bars both models were observed on. */
  readonly n: number;
  /** Mean per-bar return difference (candidate − live), net of fees. */
  readonly mean_diff: number;
  /** P(the candidate's true mean per-bar return exceeds live's), by the PSR of the differences. */
  readonly probability: number | null;
}

/** The edge of a candidate over the live model from the moments of their per-bar differences. */
export function edgeOver(diff: Moments): EdgeTest {
  return { n: diff.n, mean_diff: diff.mean, probability: probabilisticSharpe(seriesStats(diff), 0) };
}

/**
 * What the tracker knows of one model, in market time, for ranking, allocation and promotion:
 * per-bar returns on the capital the model had at work (net of fees), the per-bar differences
 * against the live model over the bars both were observed, and the counts behind them.
 */
export interface ModelEvidence {
  /** Bars observed since the model's tracking (re)started. */
  readonly bars: number;
  /** Fills attributed to the model in that span. */
  readonly trades: number;
  /** Market time covered, in ms (bar timestamps, never wall clock). */
  readonly marketMs: number;
  /** Per-bar returns on capital at work. */
  readonly returns: Moments;
  /** Per-bar (model − live) return differences; empty for the live model itself. */
  readonly vsLive: Moments;
}

/** No evidence yet: nothing observed (a fresh object, so no reader shares its moments). */
export function emptyEvidence(): ModelEvidence {
  return { bars: 0, trades: 0, marketMs: 0, returns: emptyMoments(), vsLive: emptyMoments() };
}
