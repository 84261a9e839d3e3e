// Owns a trained Gaussian HMM as an immutable value: its parameters, their validation, and
// everything computed from them alone — likelihood, smoothed posteriors, Viterbi decoding,
// BIC, sampling and the online filter. Fitting lives in baumWelch.ts.
import type { Rng } from '../../core/random.js';
import { HmmError } from './errors.js';
import { buildEmissionCache, emissionMatrix, emissionRow, type CovarianceType, type EmissionCache } from './emissions.js';
import { backwardPass, forwardPass, forwardWorkspace } from './forwardBackward.js';
import { ForwardFilter } from './forwardFilter.js';
import { cholesky } from './linalg.js';
import { toObservations, type ObservationInput, type Observations } from './observations.js';

export type { CovarianceType } from './emissions.js';

export interface GaussianHmmParams {
  readonly k: number;
  readonly d: number;
  readonly covarianceType: CovarianceType;
  /** Initial state distribution (k). */
  readonly startProb: Float64Array;
  /** Row-stochastic transition matrix (k×k, row = from). */
  readonly transMat: Float64Array;
  /** State means (k×d). */
  readonly means: Float64Array;
  /** diag: variances (k×d); full: covariance matrices (k×d×d). */
  readonly covars: Float64Array;
}

/** Tolerance on probability vectors summing to 1: loose enough for values that went
 *  through JSON or a CSV, tight enough to catch a wrong matrix. */
const SUM_TOL = 1e-6;

export class GaussianHmm {
  readonly k: number;
  readonly d: number;
  readonly covarianceType: CovarianceType;
  /** The parameters exactly as given (copied). Treat as read-only: the caches below are
   *  derived from them once. */
  readonly params: GaussianHmmParams;
  readonly emissions: EmissionCache;
  private readonly logStart: Float64Array;
  private readonly logTrans: Float64Array;

  constructor(params: GaussianHmmParams) {
    validateParams(params);
    const { k, d, covarianceType } = params;
    this.k = k;
    this.d = d;
    this.covarianceType = covarianceType;
    this.params = {
      k, d, covarianceType,
      startProb: Float64Array.from(params.startProb),
      transMat: Float64Array.from(params.transMat),
      means: Float64Array.from(params.means),
      covars: Float64Array.from(params.covars),
    };
    this.emissions = buildEmissionCache(k, d, covarianceType, this.params.means, Float64Array.from(params.covars));
    this.logStart = this.params.startProb.map(Math.log);
    this.logTrans = this.params.transMat.map(Math.log);
  }

  /** Free parameters, for BIC: start (k−1) + transitions k(k−1) + means kd + covariances
   *  (kd for diag, k·d(d+1)/2 for full). */
  parameterCount(): number {
    const { k, d } = this;
    const cov = this.covarianceType === 'diag' ? k * d : (k * d * (d + 1)) / 2;
    return k - 1 + k * (k - 1) + k * d + cov;
  }

  /** log p(x_1..x_n). Streams through the data with the online filter, so memory is O(k)
   *  whatever n is. The empty sequence has probability 1. */
  logLikelihood(input: ObservationInput): number {
    const obs = toObservations(input, this.d);
    const filter = new ForwardFilter(this);
    for (let t = 0; t < obs.n; t++) filter.updateAt(obs.data, t * obs.d);
    return filter.logLikelihood;
  }

  /** Bayesian information criterion, −2·logL + p·ln n (lower is better). */
  bic(input: ObservationInput): number {
    const obs = toObservations(input, this.d);
    return -2 * this.logLikelihood(obs) + this.parameterCount() * Math.log(Math.max(obs.n, 1));
  }

  /** Smoothed posteriors p(state_t = s | all observations), n×k row-major. */
  posteriors(input: ObservationInput): Float64Array {
    const obs = toObservations(input, this.d);
    const ws = forwardWorkspace(obs.n, this.k);
    emissionMatrix(this.emissions, obs, ws.emis);
    forwardPass(ws, this.params.startProb, this.params.transMat);
    backwardPass(ws, this.params.transMat, new Float64Array(this.k * this.k));
    return ws.alpha;
  }

  /** Most likely state path (log-space Viterbi; ties go to the lower state index). */
  viterbi(input: ObservationInput): { path: Int32Array; logProb: number } {
    const obs = toObservations(input, this.d);
    const { k } = this;
    const n = obs.n;
    const path = new Int32Array(n);
    if (n === 0) return { path, logProb: 0 };
    const back = new Int32Array(n * k);
    let prev = new Float64Array(k);
    let cur = new Float64Array(k);
    const logB = new Float64Array(k);
    emissionRow(this.emissions, obs.data, 0, logB, 0);
    for (let j = 0; j < k; j++) prev[j] = this.logStart[j]! + logB[j]!;
    for (let t = 1; t < n; t++) {
      emissionRow(this.emissions, obs.data, t * obs.d, logB, 0);
      for (let j = 0; j < k; j++) {
        let best = -Infinity;
        let arg = 0;
        for (let i = 0; i < k; i++) {
          const v = prev[i]! + this.logTrans[i * k + j]!;
          if (v > best) { best = v; arg = i; }
        }
        cur[j] = best + logB[j]!;
        back[t * k + j] = arg;
      }
      const swap = prev;
      prev = cur;
      cur = swap;
    }
    let last = 0;
    for (let j = 1; j < k; j++) if (prev[j]! > prev[last]!) last = j;
    const logProb = prev[last]!;
    path[n - 1] = last;
    for (let t = n - 1; t > 0; t--) path[t - 1] = back[t * k + path[t]!]!;
    return { path, logProb };
  }

  /** Draws a state path and observations from the model. */
  sample(n: number, rng: Rng): { obs: Observations; states: Int32Array } {
    const { k, d } = this;
    const { startProb, transMat, means, covars } = this.params;
    const data = new Float64Array(n * d);
    const states = new Int32Array(n);
    const z = new Float64Array(d);
    const chol = this.emissions.chol;
    let s = 0;
    for (let t = 0; t < n; t++) {
      s = t === 0 ? rng.categorical(startProb) : rng.categorical(transMat.subarray(s * k, s * k + k));
      states[t] = s;
      if (this.covarianceType === 'diag') {
        for (let f = 0; f < d; f++) data[t * d + f] = means[s * d + f]! + Math.sqrt(covars[s * d + f]!) * rng.normal();
      } else {
        for (let f = 0; f < d; f++) z[f] = rng.normal();
        const base = s * d * d;
        for (let i = 0; i < d; i++) {
          let v = means[s * d + i]!;
          for (let p = 0; p <= i; p++) v += chol[base + i * d + p]! * z[p]!;
          data[t * d + i] = v;
        }
      }
    }
    return { obs: { data, n, d }, states };
  }

  /** A fresh online filter, starting from `initial` (default: the start distribution). */
  filter(initial?: ArrayLike<number>): ForwardFilter {
    return new ForwardFilter(this, initial);
  }

  /** Long-run state occupancy: where a filter should start when joining a series midway. */
  stationaryDistribution(): Float64Array {
    const { k } = this;
    const A = this.params.transMat;
    let p = new Float64Array(k).fill(1 / k);
    let q = new Float64Array(k);
    for (let iter = 0; iter < 10_000; iter++) {
      // The lazy chain (I + A)/2 has the same stationary law but is aperiodic, so power
      // iteration converges even for a chain that alternates between states.
      for (let j = 0; j < k; j++) q[j] = 0.5 * p[j]!;
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) q[j]! += 0.5 * p[i]! * A[i * k + j]!;
      let diff = 0;
      for (let j = 0; j < k; j++) diff += Math.abs(q[j]! - p[j]!);
      const swap = p;
      p = q;
      q = swap;
      if (diff < 1e-15) break;
    }
    return p;
  }

  /** The same model with states relabelled: new state i is old state order[i]. */
  permuteStates(order: ArrayLike<number>): GaussianHmm {
    const { k, d } = this;
    const { startProb, transMat, means, covars } = this.params;
    const c = this.covarianceType === 'diag' ? d : d * d;
    const p: GaussianHmmParams = {
      k, d, covarianceType: this.covarianceType,
      startProb: new Float64Array(k), transMat: new Float64Array(k * k),
      means: new Float64Array(k * d), covars: new Float64Array(k * c),
    };
    for (let i = 0; i < k; i++) {
      const oi = order[i]!;
      p.startProb[i] = startProb[oi]!;
      for (let j = 0; j < k; j++) p.transMat[i * k + j] = transMat[oi * k + order[j]!]!;
      p.means.set(means.subarray(oi * d, oi * d + d), i * d);
      p.covars.set(covars.subarray(oi * c, oi * c + c), i * c);
    }
    return new GaussianHmm(p);
  }
}

/** Throws HmmError naming the first parameter that cannot define a valid HMM. */
export function validateParams(p: GaussianHmmParams): void {
  const { k, d, covarianceType } = p;
  if (!Number.isInteger(k) || k < 1) throw new HmmError(`state count k must be a positive integer, got ${k}`);
  if (!Number.isInteger(d) || d < 1) throw new HmmError(`feature count d must be a positive integer, got ${d}`);
  if (covarianceType !== 'diag' && covarianceType !== 'full') {
    throw new HmmError(`covariance type must be 'diag' or 'full', got ${JSON.stringify(covarianceType)}`);
  }
  const c = covarianceType === 'diag' ? d : d * d;
  expectLength('startProb', p.startProb, k);
  expectLength('transMat', p.transMat, k * k);
  expectLength('means', p.means, k * d);
  expectLength('covars', p.covars, k * c);
  expectDistribution('startProb', p.startProb, 0, k);
  for (let i = 0; i < k; i++) expectDistribution(`transMat row ${i}`, p.transMat, i * k, k);
  for (let i = 0; i < k * d; i++) {
    if (!Number.isFinite(p.means[i]!)) throw new HmmError(`means[${i}] is ${p.means[i]}`);
  }
  if (covarianceType === 'diag') {
    for (let i = 0; i < k * d; i++) {
      const v = p.covars[i]!;
      if (!(v > 0) || !Number.isFinite(v)) throw new HmmError(`variance of state ${Math.floor(i / d)} feature ${i % d} is ${v}, must be positive and finite`);
    }
    return;
  }
  const l = new Float64Array(d * d);
  for (let s = 0; s < k; s++) {
    const off = s * d * d;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const a = p.covars[off + i * d + j]!;
        const b = p.covars[off + j * d + i]!;
        if (!Number.isFinite(a)) throw new HmmError(`covariance of state ${s} entry (${i},${j}) is ${a}`);
        if (Math.abs(a - b) > 1e-9 * (Math.abs(a) + Math.abs(b)) + 1e-300) {
          throw new HmmError(`covariance of state ${s} is not symmetric at (${i},${j})`);
        }
      }
    }
    if (!cholesky(p.covars, off, d, l, 0)) throw new HmmError(`covariance of state ${s} is not positive definite`);
  }
}

function expectLength(name: string, a: Float64Array, n: number): void {
  if (!(a instanceof Float64Array)) throw new HmmError(`${name} must be a Float64Array`);
  if (a.length !== n) throw new HmmError(`${name} has ${a.length} values, expected ${n}`);
}

function expectDistribution(name: string, a: Float64Array, off: number, n: number): void {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = a[off + i]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw new HmmError(`${name} entry ${i} is ${v}, must be a probability`);
    sum += v;
  }
  if (Math.abs(sum - 1) > SUM_TOL) throw new HmmError(`${name} sums to ${sum}, expected 1`);
}
