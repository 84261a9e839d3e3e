// Owns Gaussian emission log-densities: the per-state constants (inverse variances or
// Cholesky factors, log normalisers) are computed once per parameter set so the per-row
// cost is K·D (diag) or K·D² (full) multiply-adds and nothing is allocated.
import { choleskyWithJitter, logDetFromCholesky, mahalanobisSq } from './linalg.js';
import type { Observations } from './observations.js';

export type CovarianceType = 'diag' | 'full';

const LOG_2PI = Math.log(2 * Math.PI);

export interface EmissionCache {
  readonly k: number;
  readonly d: number;
  readonly covarianceType: CovarianceType;
  readonly means: Float64Array;
  /** diag: 1/σ² per state and feature (k×d). Empty for full. */
  readonly invVar: Float64Array;
  /** full: lower Cholesky factor per state (k×d×d). Empty for diag. */
  readonly chol: Float64Array;
  /** −½(d·log 2π + log|Σ_k|) per state. */
  readonly logNorm: Float64Array;
  readonly scratch: Float64Array;
}

/** covars is k×d (diag) or k×d×d (full); a full block that rounding made indefinite gets
 *  jitter added in place, so callers pass a copy they own. */
export function buildEmissionCache(
  k: number, d: number, covarianceType: CovarianceType, means: Float64Array, covars: Float64Array,
): EmissionCache {
  const logNorm = new Float64Array(k);
  if (covarianceType === 'diag') {
    const invVar = new Float64Array(k * d);
    for (let s = 0; s < k; s++) {
      let logDet = 0;
      for (let f = 0; f < d; f++) {
        const v = covars[s * d + f]!;
        invVar[s * d + f] = 1 / v;
        logDet += Math.log(v);
      }
      logNorm[s] = -0.5 * (d * LOG_2PI + logDet);
    }
    return { k, d, covarianceType, means, invVar, chol: new Float64Array(0), logNorm, scratch: new Float64Array(d) };
  }
  const chol = new Float64Array(k * d * d);
  for (let s = 0; s < k; s++) {
    choleskyWithJitter(covars, s * d * d, d, chol, s * d * d);
    logNorm[s] = -0.5 * (d * LOG_2PI + logDetFromCholesky(chol, s * d * d, d));
  }
  return { k, d, covarianceType, means, invVar: new Float64Array(0), chol, logNorm, scratch: new Float64Array(d) };
}

/** Writes log N(x | μ_s, Σ_s) for every state s into out[outOff .. outOff+k). */
export function emissionRow(
  cache: EmissionCache, x: ArrayLike<number>, xOff: number, out: Float64Array, outOff: number,
): void {
  const { k, d, means, logNorm } = cache;
  if (cache.covarianceType === 'diag') {
    const invVar = cache.invVar;
    for (let s = 0; s < k; s++) {
      let q = 0;
      const base = s * d;
      for (let f = 0; f < d; f++) {
        const z = x[xOff + f]! - means[base + f]!;
        q += z * z * invVar[base + f]!;
      }
      out[outOff + s] = logNorm[s]! - 0.5 * q;
    }
    return;
  }
  for (let s = 0; s < k; s++) {
    const q = mahalanobisSq(x, xOff, means, s * d, cache.chol, s * d * d, d, cache.scratch);
    out[outOff + s] = logNorm[s]! - 0.5 * q;
  }
}

/** n×k matrix of emission log-densities. */
export function emissionMatrix(cache: EmissionCache, obs: Observations, out: Float64Array): void {
  const { data, n, d } = obs;
  const k = cache.k;
  if (cache.covarianceType === 'diag' && d === 2) {
    // The common trading case (return, volatility) unrolled: this loop dominates a fit.
    const { means, invVar, logNorm } = cache;
    for (let t = 0; t < n; t++) {
      const x0 = data[2 * t]!;
      const x1 = data[2 * t + 1]!;
      for (let s = 0; s < k; s++) {
        const z0 = x0 - means[2 * s]!;
        const z1 = x1 - means[2 * s + 1]!;
        out[t * k + s] = logNorm[s]! - 0.5 * (z0 * z0 * invVar[2 * s]! + z1 * z1 * invVar[2 * s + 1]!);
      }
    }
    return;
  }
  for (let t = 0; t < n; t++) emissionRow(cache, data, t * d, out, t * k);
}
