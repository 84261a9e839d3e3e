// Owns the HMM's view of the market: bars → feature rows (log return, rolling volatility,
// optional volume z-score) and their standardisation. Training and live trading run the same
// incremental FeatureStream, so a model never sees features computed two different ways.
import type { Bar } from '../../core/marketData.js';
import { HmmError } from './errors.js';
import type { Observations } from './observations.js';

export interface FeatureSpec {
  /** Log returns in the rolling volatility (population std). */
  readonly volWindow: number;
  /** Add a z-score of log(1 + volume) against its own rolling window. */
  readonly volumeZ: boolean;
  /** Bars in the volume z-score window (current bar included). */
  readonly volumeWindow: number;
  /** Log returns in a trend feature (their mean over this window); 0 or absent = none. */
  readonly trendWindow?: number;
}

// The trend feature (mean log return over the last hour of minute bars) is what lets a model
// tell an up-trend from a down-trend: the two have about the same volatility, and one bar's
// return carries a trend's drift at a small fraction of its noise (planted-edge replay: without
// it, every fitted regime was a volatility regime and up/down were a coin toss).
// Training adds it by default (TRAINED_FEATURE_SPEC); DEFAULT_FEATURE_SPEC stays the base
// pair, which stored models from before the trend feature were trained on.
export const DEFAULT_FEATURE_SPEC: FeatureSpec = { volWindow: 20, volumeZ: false, volumeWindow: 50 };
export const TRAINED_FEATURE_SPEC: FeatureSpec = { ...DEFAULT_FEATURE_SPEC, trendWindow: 60 };

/** Per-feature mean and std of the training features; live features are scaled with these,
 *  never with live statistics, so a live bar means what it meant at training. */
export interface Standardisation {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export function validateFeatureSpec(spec: FeatureSpec): void {
  if (!Number.isInteger(spec.volWindow) || spec.volWindow < 2) {
    throw new HmmError(`features.volWindow must be an integer ≥ 2, got ${spec.volWindow}`);
  }
  if (typeof spec.volumeZ !== 'boolean') throw new HmmError(`features.volumeZ must be a boolean, got ${String(spec.volumeZ)}`);
  if (!Number.isInteger(spec.volumeWindow) || spec.volumeWindow < 2) {
    throw new HmmError(`features.volumeWindow must be an integer ≥ 2, got ${spec.volumeWindow}`);
  }
  const tw = spec.trendWindow ?? 0;
  if (!Number.isInteger(tw) || (tw !== 0 && tw < 2)) {
    throw new HmmError(`features.trendWindow must be 0 (none) or an integer ≥ 2, got ${String(spec.trendWindow)}`);
  }
}

function trendOf(spec: FeatureSpec): number {
  return spec.trendWindow ?? 0;
}

export function featureNames(spec: FeatureSpec): string[] {
  const names = ['logReturn', 'volatility'];
  if (spec.volumeZ) names.push('volumeZ');
  if (trendOf(spec) > 0) names.push('trend');
  return names;
}

export function featureCount(spec: FeatureSpec): number {
  return 2 + (spec.volumeZ ? 1 : 0) + (trendOf(spec) > 0 ? 1 : 0);
}

/** Bars consumed before the first feature row: volatility needs volWindow returns, and each
 *  return needs the bar before it. */
export function warmupBars(spec: FeatureSpec): number {
  return Math.max(spec.volWindow + 1, spec.volumeZ ? spec.volumeWindow : 0, trendOf(spec) + 1);
}

/** Why a bar cannot feed the features, or null if it can. */
export function barProblem(bar: Bar): string | null {
  if (!(bar.close > 0) || !Number.isFinite(bar.close)) return `close is ${bar.close}, must be positive and finite`;
  if (!(bar.volume >= 0) || !Number.isFinite(bar.volume)) return `volume is ${bar.volume}, must be non-negative and finite`;
  return null;
}

/** Fixed-size window with running sum and sum of squares: O(1) per push. The sums are
 *  recomputed from the buffer once per window length, so rounding drift over millions of
 *  bars stays bounded at the cost of O(1) amortised work. */
class RollingWindow {
  private readonly buf: Float64Array;
  private pos = 0;
  private count = 0;
  private pushesSinceExact = 0;
  private sum = 0;
  private sumSq = 0;

  constructor(readonly size: number) {
    this.buf = new Float64Array(size);
  }

  push(x: number): void {
    const old = this.buf[this.pos]!;
    this.buf[this.pos] = x;
    this.pos = (this.pos + 1) % this.size;
    if (this.count < this.size) this.count++;
    else { this.sum -= old; this.sumSq -= old * old; }
    this.sum += x;
    this.sumSq += x * x;
    if (++this.pushesSinceExact >= this.size) this.recompute();
  }

  get full(): boolean { return this.count === this.size; }
  get mean(): number { return this.sum / this.count; }
  /** Population variance. Computed around the mean of the window, via the running sums. */
  get variance(): number {
    const m = this.sum / this.count;
    return Math.max(0, this.sumSq / this.count - m * m);
  }

  reset(): void {
    this.pos = 0; this.count = 0; this.pushesSinceExact = 0; this.sum = 0; this.sumSq = 0;
    this.buf.fill(0);
  }

  private recompute(): void {
    let s = 0;
    let q = 0;
    for (let i = 0; i < this.count; i++) { const v = this.buf[i]!; s += v; q += v * v; }
    this.sum = s;
    this.sumSq = q;
    this.pushesSinceExact = 0;
  }
}

/** Incremental features for one symbol's bar stream. */
export class FeatureStream {
  readonly spec: FeatureSpec;
  private readonly returns: RollingWindow;
  private readonly volumes: RollingWindow | null;
  private readonly trend: RollingWindow | null;
  private readonly trendCol: number;
  private readonly row: Float64Array;
  private prevClose = NaN;

  constructor(spec: FeatureSpec) {
    validateFeatureSpec(spec);
    this.spec = spec;
    this.returns = new RollingWindow(spec.volWindow);
    this.volumes = spec.volumeZ ? new RollingWindow(spec.volumeWindow) : null;
    this.trend = trendOf(spec) > 0 ? new RollingWindow(trendOf(spec)) : null;
    this.trendCol = spec.volumeZ ? 3 : 2;
    this.row = new Float64Array(featureCount(spec));
  }

  /** Absorbs a bar; returns its raw (unstandardised) feature row once warm, else null. The
   *  row is this stream's buffer, overwritten by the next push. Throws HmmError for a bar
   *  that cannot be used (non-positive close, negative volume). */
  push(bar: Bar): Float64Array | null {
    const problem = barProblem(bar);
    if (problem !== null) throw new HmmError(`bar at ${bar.ts}: ${problem}`);
    const logVolume = Math.log1p(bar.volume);
    this.volumes?.push(logVolume);
    const prev = this.prevClose;
    this.prevClose = bar.close;
    if (Number.isNaN(prev)) return null;
    const r = Math.log(bar.close / prev);
    this.returns.push(r);
    this.trend?.push(r);
    if (!this.returns.full || (this.volumes !== null && !this.volumes.full) || (this.trend !== null && !this.trend.full)) return null;
    this.row[0] = r;
    this.row[1] = Math.sqrt(this.returns.variance);
    if (this.volumes !== null) {
      const sd = Math.sqrt(this.volumes.variance);
      // A window of identical volumes has no spread: the bar is exactly typical.
      this.row[2] = sd > 0 ? (logVolume - this.volumes.mean) / sd : 0;
    }
    if (this.trend !== null) this.row[this.trendCol] = this.trend.mean;
    return this.row;
  }

  reset(): void {
    this.returns.reset();
    this.volumes?.reset();
    this.trend?.reset();
    this.prevClose = NaN;
  }
}

/** Raw feature rows for a bar history, with the index of the bar each row belongs to. */
export function computeFeatures(bars: readonly Bar[], spec: FeatureSpec): { obs: Observations; barIndex: Int32Array } {
  const stream = new FeatureStream(spec);
  const d = featureCount(spec);
  const n = Math.max(0, bars.length - warmupBars(spec) + 1);
  const data = new Float64Array(n * d);
  const barIndex = new Int32Array(n);
  let t = 0;
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i]!;
    const problem = barProblem(bar);
    if (problem !== null) throw new HmmError(`bar ${i} (ts ${bar.ts}): ${problem}`);
    const row = stream.push(bar);
    if (row === null) continue;
    data.set(row, t * d);
    barIndex[t++] = i;
  }
  return { obs: { data: data.subarray(0, t * d), n: t, d }, barIndex: barIndex.subarray(0, t) };
}

/** Mean and std per feature. A (near-)constant feature gets std 1 so scaling never divides
 *  by zero; it carries no information either way. */
export function fitStandardisation(obs: Observations): Standardisation {
  const { data, n, d } = obs;
  const mean: number[] = [];
  const std: number[] = [];
  for (let f = 0; f < d; f++) {
    let m = 0;
    for (let t = 0; t < n; t++) m += data[t * d + f]!;
    m = n > 0 ? m / n : 0;
    let v = 0;
    for (let t = 0; t < n; t++) { const z = data[t * d + f]! - m; v += z * z; }
    const sd = n > 0 ? Math.sqrt(v / n) : 0;
    mean.push(m);
    std.push(sd > 1e-12 * Math.max(1, Math.abs(m)) ? sd : 1);
  }
  return { mean, std };
}

/** Scales row x[off..off+d) into out[outOff..] with the training statistics. */
export function standardiseRow(
  x: ArrayLike<number>, off: number, stats: Standardisation, out: Float64Array, outOff: number,
): void {
  for (let f = 0; f < stats.mean.length; f++) out[outOff + f] = (x[off + f]! - stats.mean[f]!) / stats.std[f]!;
}

export function standardise(obs: Observations, stats: Standardisation): Observations {
  const out = new Float64Array(obs.data.length);
  for (let t = 0; t < obs.n; t++) standardiseRow(obs.data, t * obs.d, stats, out, t * obs.d);
  return { data: out, n: obs.n, d: obs.d };
}
