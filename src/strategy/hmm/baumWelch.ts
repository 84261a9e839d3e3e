// Owns fitting: Baum-Welch (EM) over the scaled forward-backward pass, seeded k-means++
// starts, several restarts keeping the best likelihood, and the covariance floor that stops
// a state collapsing onto a few points from producing a singular matrix.
import { Rng } from '../../core/random.js';
import { HmmError } from './errors.js';
import { buildEmissionCache, emissionMatrix, type CovarianceType } from './emissions.js';
import { backwardPass, forwardPass, forwardWorkspace, type ForwardWorkspace } from './forwardBackward.js';
import { GaussianHmm, validateParams, type GaussianHmmParams } from './gaussianHmm.js';
import { kmeansPlusPlus } from './kmeans.js';
import { featureMoments, fromRows, observations, type Observations } from './observations.js';
import { backwardPassUnrolled, diagEmissionStepUnrolled, forwardPassUnrolled, isUnrolledShape } from './unrolledEm.js';

export interface FitOptions {
  readonly k: number;
  readonly covarianceType?: CovarianceType;
  /** Feature count; needed only when observations come as a bare Float64Array. */
  readonly d?: number;
  /** Upper bound on EM iterations (M-steps) per restart. Default 200. */
  readonly maxIter?: number;
  /** Stop when the log-likelihood improves by less than tol per observation (so the same
   *  value means the same precision for 500 or 500,000 bars). Default 1e-7. Pass
   *  -Infinity to always run maxIter iterations (benchmarks). */
  readonly tol?: number;
  /** Independent seeded restarts; the best final log-likelihood wins. Default 4. */
  readonly nInit?: number;
  readonly seed?: number;
  /** Variance floor as a fraction of each feature's overall variance. Default 1e-4. */
  readonly covarFloor?: number;
  /** Absolute variance floor, for features that are constant in the training data. Default 1e-10. */
  readonly minCovar?: number;
  /** Start EM from these parameters instead of k-means (one run, no restarts). */
  readonly init?: GaussianHmmParams;
}

export interface RestartSummary {
  readonly seed: number;
  readonly logLikelihood: number;
  readonly iterations: number;
  readonly converged: boolean;
}

export interface FitResult {
  readonly model: GaussianHmm;
  /** Log-likelihood of the training data under the returned model. */
  readonly logLikelihood: number;
  readonly iterations: number;
  readonly converged: boolean;
  readonly restarts: readonly RestartSummary[];
}

export function fitGaussianHmm(
  input: Observations | Float64Array | readonly (readonly number[])[],
  options: FitOptions,
): FitResult {
  const obs = input instanceof Float64Array
    ? observations(input, options.d ?? fail('options.d is required when observations are a bare Float64Array'))
    : Array.isArray(input) ? fromRows(input, options.d) : observations((input as Observations).data, (input as Observations).d);
  const k = options.k;
  const covarianceType = options.covarianceType ?? options.init?.covarianceType ?? 'diag';
  if (!Number.isInteger(k) || k < 1) throw new HmmError(`state count k must be a positive integer, got ${k}`);
  const minRows = Math.max(2, k);
  if (obs.n < minRows) throw new HmmError(`need at least ${minRows} observations to fit ${k} states, got ${obs.n}`);
  const maxIter = options.maxIter ?? 200;
  const tol = options.tol ?? 1e-7;
  const nInit = options.init ? 1 : Math.max(1, options.nInit ?? 4);

  const { variance } = featureMoments(obs);
  const floor = new Float64Array(obs.d);
  const rel = options.covarFloor ?? 1e-4;
  const abs = options.minCovar ?? 1e-10;
  for (let f = 0; f < obs.d; f++) floor[f] = Math.max(rel * variance[f]!, abs);

  const ws = forwardWorkspace(obs.n, k);
  const seeder = new Rng(options.seed ?? 1);
  const restarts: RestartSummary[] = [];
  let best: { params: GaussianHmmParams; run: RestartSummary } | null = null;
  for (let r = 0; r < nInit; r++) {
    const seed = seeder.int(0x7fffffff);
    let init: GaussianHmmParams;
    if (options.init) {
      validateParams(options.init);
      if (options.init.k !== k || options.init.d !== obs.d) {
        throw new HmmError(`init parameters are ${options.init.k} states × ${options.init.d} features, fit asks for ${k} × ${obs.d}`);
      }
      init = copyParams(options.init);
    } else {
      init = kmeansInit(obs, k, covarianceType, floor, variance, new Rng(seed));
    }
    const run = runEm(obs, init, floor, maxIter, tol, ws);
    const summary = { seed, logLikelihood: run.logLikelihood, iterations: run.iterations, converged: run.converged };
    restarts.push(summary);
    if (best === null || run.logLikelihood > best.run.logLikelihood) best = { params: init, run: summary };
  }
  const chosen = best!;
  return {
    model: new GaussianHmm(chosen.params),
    logLikelihood: chosen.run.logLikelihood,
    iterations: chosen.run.iterations,
    converged: chosen.run.converged,
    restarts,
  };
}

function fail(message: string): never {
  throw new HmmError(message);
}

function copyParams(p: GaussianHmmParams): GaussianHmmParams {
  return {
    k: p.k, d: p.d, covarianceType: p.covarianceType,
    startProb: Float64Array.from(p.startProb), transMat: Float64Array.from(p.transMat),
    means: Float64Array.from(p.means), covars: Float64Array.from(p.covars),
  };
}

/** EM from `params`, updating them in place. The returned log-likelihood always belongs to
 *  the parameters left in `params` (the E-step that detects convergence is not followed by
 *  another M-step). */
function runEm(
  obs: Observations, params: GaussianHmmParams, floor: Float64Array, maxIter: number, tol: number, ws: ForwardWorkspace,
): { logLikelihood: number; iterations: number; converged: boolean } {
  const { k, d, covarianceType } = params;
  const xi = new Float64Array(k * k);
  const stats = new MStepScratch(k, d, covarianceType);
  // The stack's shape (4 regimes × 3 diag features) runs unrolled kernels that compute the
  // same bits; see unrolledEm.ts.
  const unrolled = isUnrolledShape(k, d, covarianceType);
  let prev = -Infinity;
  let iterations = 0;
  for (;;) {
    const cache = buildEmissionCache(k, d, covarianceType, params.means, params.covars);
    let ll: number;
    if (unrolled) {
      ll = forwardPassUnrolled(ws, cache, obs.data, params.startProb, params.transMat);
    } else {
      emissionMatrix(cache, obs, ws.emis);
      ll = forwardPass(ws, params.startProb, params.transMat);
    }
    if (Number.isNaN(ll)) throw new HmmError(`log-likelihood became NaN at EM iteration ${iterations}`);
    // A decrease (possible only through the covariance floor) also ends the run.
    if (iterations > 0 && ll - prev < tol * obs.n) return { logLikelihood: ll, iterations, converged: true };
    if (iterations >= maxIter) return { logLikelihood: ll, iterations, converged: false };
    if (unrolled) backwardPassUnrolled(ws, params.transMat, xi);
    else backwardPass(ws, params.transMat, xi);
    mStep(obs, ws.alpha, xi, params, floor, stats, unrolled);
    prev = ll;
    iterations++;
  }
}

export class MStepScratch {
  readonly weight: Float64Array;
  readonly sum: Float64Array;
  readonly sq: Float64Array;
  readonly diff: Float64Array;
  constructor(k: number, d: number, covarianceType: CovarianceType) {
    this.weight = new Float64Array(k);
    this.sum = new Float64Array(k * d);
    this.sq = new Float64Array(covarianceType === 'diag' ? k * d : k * d * d);
    this.diff = new Float64Array(d);
  }
}

/** Responsibility mass below which a state is treated as unused: its parameters are kept
 *  rather than estimated from (numerically) nothing. */
const MIN_WEIGHT = 1e-10;

/** One M-step, updating params in place. Exported with the `unrolled` switch so a test can
 *  hold the unrolled kernel to the generic loops' exact bits. */
export function mStep(
  obs: Observations, gamma: Float64Array, xi: Float64Array, params: GaussianHmmParams,
  floor: Float64Array, s: MStepScratch, unrolled: boolean,
): void {
  const { k, d, covarianceType, startProb, transMat, means, covars } = params;
  const { data, n } = obs;

  let s0 = 0;
  for (let j = 0; j < k; j++) s0 += gamma[j]!;
  for (let j = 0; j < k; j++) startProb[j] = gamma[j]! / s0;

  for (let i = 0; i < k; i++) {
    let row = 0;
    for (let j = 0; j < k; j++) row += xi[i * k + j]!;
    if (row > MIN_WEIGHT) for (let j = 0; j < k; j++) transMat[i * k + j] = xi[i * k + j]! / row;
  }

  if (unrolled) {
    diagEmissionStepUnrolled(data, n, gamma, means, covars, floor, MIN_WEIGHT);
    return;
  }
  const { weight, sum, sq, diff } = s;
  weight.fill(0);
  sum.fill(0);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const g = gamma[t * k + j]!;
      weight[j]! += g;
      for (let f = 0; f < d; f++) sum[j * d + f]! += g * data[t * d + f]!;
    }
  }
  for (let j = 0; j < k; j++) {
    if (weight[j]! > MIN_WEIGHT) for (let f = 0; f < d; f++) means[j * d + f] = sum[j * d + f]! / weight[j]!;
  }

  // Second pass around the new means: Σγx² − Nμ² would cancel catastrophically for
  // features far from zero (prices, raw volume).
  sq.fill(0);
  if (covarianceType === 'diag') {
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k; j++) {
        const g = gamma[t * k + j]!;
        for (let f = 0; f < d; f++) {
          const z = data[t * d + f]! - means[j * d + f]!;
          sq[j * d + f]! += g * z * z;
        }
      }
    }
    for (let j = 0; j < k; j++) {
      if (!(weight[j]! > MIN_WEIGHT)) continue;
      for (let f = 0; f < d; f++) covars[j * d + f] = sq[j * d + f]! / weight[j]! + floor[f]!;
    }
    return;
  }
  const dd = d * d;
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const g = gamma[t * k + j]!;
      for (let f = 0; f < d; f++) diff[f] = data[t * d + f]! - means[j * d + f]!;
      const base = j * dd;
      for (let a = 0; a < d; a++) {
        const ga = g * diff[a]!;
        for (let b = 0; b <= a; b++) sq[base + a * d + b]! += ga * diff[b]!;
      }
    }
  }
  for (let j = 0; j < k; j++) {
    if (!(weight[j]! > MIN_WEIGHT)) continue;
    const base = j * dd;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b <= a; b++) {
        const v = sq[base + a * d + b]! / weight[j]! + (a === b ? floor[a]! : 0);
        covars[base + a * d + b] = v;
        covars[base + b * d + a] = v;
      }
    }
  }
}

/** Starting parameters from a seeded k-means++ clustering: centroids as means, cluster
 *  spreads as covariances (globalVar, the data's per-feature variance, for a cluster too
 *  small to have one), label-sequence transition counts (plus one, so no transition
 *  starts impossible) as the transition matrix. */
function kmeansInit(
  obs: Observations, k: number, covarianceType: CovarianceType, floor: Float64Array, globalVar: Float64Array, rng: Rng,
): GaussianHmmParams {
  const { data, n, d } = obs;
  const { centroids, labels } = kmeansPlusPlus(obs, k, rng);
  const counts = new Float64Array(k);
  for (let t = 0; t < n; t++) counts[labels[t]!]! += 1;

  const trans = new Float64Array(k * k).fill(1);
  for (let t = 1; t < n; t++) trans[labels[t - 1]! * k + labels[t]!]! += 1;
  for (let i = 0; i < k; i++) {
    let row = 0;
    for (let j = 0; j < k; j++) row += trans[i * k + j]!;
    for (let j = 0; j < k; j++) trans[i * k + j]! /= row;
  }

  const c = covarianceType === 'diag' ? d : d * d;
  const covars = new Float64Array(k * c);
  for (let t = 0; t < n; t++) {
    const j = labels[t]!;
    if (counts[j]! < 2) continue;
    for (let a = 0; a < d; a++) {
      const za = data[t * d + a]! - centroids[j * d + a]!;
      if (covarianceType === 'diag') covars[j * d + a]! += za * za;
      else for (let b = 0; b < d; b++) covars[j * c + a * d + b]! += za * (data[t * d + b]! - centroids[j * d + b]!);
    }
  }
  for (let j = 0; j < k; j++) {
    for (let a = 0; a < d; a++) {
      if (covarianceType === 'diag') {
        // A cluster of one point has no spread of its own; the data's overall spread is an
        // honest, wide starting guess.
        covars[j * d + a] = (counts[j]! >= 2 ? covars[j * d + a]! / counts[j]! : globalVar[a]!) + floor[a]!;
      } else {
        for (let b = 0; b < d; b++) {
          const own = counts[j]! >= 2 ? covars[j * c + a * d + b]! / counts[j]! : a === b ? globalVar[a]! : 0;
          covars[j * c + a * d + b] = own + (a === b ? floor[a]! : 0);
        }
      }
    }
  }
  return {
    k, d, covarianceType,
    startProb: new Float64Array(k).fill(1 / k),
    transMat: trans,
    means: centroids,
    covars,
  };
}
