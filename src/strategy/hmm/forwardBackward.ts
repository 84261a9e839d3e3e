// Owns the scaled forward-backward recursions (Rabiner's scaling): each forward row is
// normalised to sum to 1 and the normaliser's log is accumulated, so sequences of any
// length neither underflow nor overflow while the inner loops stay in plain probability
// space (K² multiply-adds per step instead of K² exp/log calls in log space).
import { HmmError } from './errors.js';

/** Largest exponent we let a rescaled emission reach; e^700 < Number.MAX_VALUE with room
 *  for the K multiply-adds that follow. */
const MAX_EXP = 700;
/** Below this the predicted·emission mass is too close to underflow to trust as a
 *  normaliser, and the step is redone in log space. */
export const MIN_SCALE = 1e-280;

/** pred[j] = Σ_i alpha[aOff+i]·A[i,j]: the one-step-ahead state distribution. */
export function predict(alpha: Float64Array, aOff: number, transMat: Float64Array, k: number, pred: Float64Array): void {
  for (let j = 0; j < k; j++) pred[j] = 0;
  for (let i = 0; i < k; i++) {
    const a = alpha[aOff + i]!;
    if (a === 0) continue;
    const row = i * k;
    for (let j = 0; j < k; j++) pred[j]! += a * transMat[row + j]!;
  }
}

/**
 * One filtering step. On entry emis[eOff..eOff+k) holds log-emissions; on exit it holds the
 * rescaled emissions b_j = exp(logB_j − offset), which the backward pass reuses. alpha row
 * gets the normalised posterior. Returns s = Σ pred_j·b_j; log p(x_t | x_<t) = log s + offset,
 * with offset written to offsets[oIdx].
 */
export function scaledUpdate(
  pred: Float64Array, emis: Float64Array, eOff: number, k: number,
  alpha: Float64Array, aOff: number, offsets: Float64Array, oIdx: number,
): number {
  let mx = -Infinity;
  for (let j = 0; j < k; j++) if (emis[eOff + j]! > mx) mx = emis[eOff + j]!;
  if (!(mx > -Infinity)) {
    throw new HmmError('an observation has zero density under every state (values too extreme for the model)');
  }
  // Pass 1 keeps the log-emissions intact (rescaled values parked in the alpha row) so the
  // log-space fallback below can still read them.
  let s = 0;
  for (let j = 0; j < k; j++) {
    const b = Math.exp(emis[eOff + j]! - mx);
    alpha[aOff + j] = b;
    s += pred[j]! * b;
  }
  let offset = mx;
  if (!(s > MIN_SCALE)) {
    // The states the data favour are (numerically) unreachable from the last posterior:
    // choose the offset from pred·emission jointly so the mass is ~1 again.
    offset = -Infinity;
    for (let j = 0; j < k; j++) {
      if (pred[j]! > 0) {
        const v = Math.log(pred[j]!) + emis[eOff + j]!;
        if (v > offset) offset = v;
      }
    }
    s = 0;
    for (let j = 0; j < k; j++) {
      const b = Math.exp(Math.min(emis[eOff + j]! - offset, MAX_EXP));
      alpha[aOff + j] = b;
      s += pred[j]! * b;
    }
  }
  const inv = 1 / s;
  for (let j = 0; j < k; j++) {
    const b = alpha[aOff + j]!;
    emis[eOff + j] = b;
    alpha[aOff + j] = pred[j]! * b * inv;
  }
  offsets[oIdx] = offset;
  return s;
}

export interface ForwardWorkspace {
  readonly n: number;
  readonly k: number;
  /** n×k: log-emissions in, rescaled emissions out. */
  readonly emis: Float64Array;
  /** n×k: forward posteriors; the backward pass turns them into smoothed posteriors. */
  readonly alpha: Float64Array;
  /** Per-step normaliser s_t. */
  readonly scale: Float64Array;
  readonly offset: Float64Array;
  readonly pred: Float64Array;
  readonly betaA: Float64Array;
  readonly betaB: Float64Array;
  readonly tmp: Float64Array;
}

export function forwardWorkspace(n: number, k: number): ForwardWorkspace {
  return {
    n, k,
    emis: new Float64Array(n * k),
    alpha: new Float64Array(n * k),
    scale: new Float64Array(n),
    offset: new Float64Array(n),
    pred: new Float64Array(k),
    betaA: new Float64Array(k),
    betaB: new Float64Array(k),
    tmp: new Float64Array(k),
  };
}

/** Scaled forward pass over ws.emis (log-emissions); returns the sequence log-likelihood.
 *  The common step is inlined (predict + rescale + normalise in one loop nest, about twice
 *  as fast as calling the helpers); rows that need the log-space fallback go through
 *  scaledUpdate, which computes the same thing for the ordinary case. */
export function forwardPass(ws: ForwardWorkspace, startProb: Float64Array, transMat: Float64Array): number {
  const { n, k, emis, alpha, scale, offset, pred, tmp } = ws;
  for (let t = 0; t < n; t++) {
    const e = t * k;
    if (t === 0) {
      for (let j = 0; j < k; j++) pred[j] = startProb[j]!;
    } else {
      const p = e - k;
      for (let j = 0; j < k; j++) {
        let v = 0;
        for (let i = 0; i < k; i++) v += alpha[p + i]! * transMat[i * k + j]!;
        pred[j] = v;
      }
    }
    let mx = -Infinity;
    for (let j = 0; j < k; j++) if (emis[e + j]! > mx) mx = emis[e + j]!;
    let s = 0;
    for (let j = 0; j < k; j++) {
      const b = Math.exp(emis[e + j]! - mx);
      tmp[j] = b;
      s += pred[j]! * b;
    }
    if (s > MIN_SCALE) {
      const inv = 1 / s;
      for (let j = 0; j < k; j++) {
        const b = tmp[j]!;
        emis[e + j] = b;
        alpha[e + j] = pred[j]! * b * inv;
      }
      offset[t] = mx;
    } else {
      s = scaledUpdate(pred, emis, e, k, alpha, e, offset, t);
    }
    scale[t] = s;
  }
  return sequenceLogLikelihood(ws);
}

/** The sequence log-likelihood after a forward pass: Σ offset_t + log Π s_t. The product is
 *  taken in batches (one Math.log per ~hundreds of steps instead of per step), flushed long
 *  before it could leave the normal double range. Shared by forwardPass and the unrolled
 *  kernel (unrolledEm.ts), so both sum the same values in the same order. */
export function sequenceLogLikelihood(ws: ForwardWorkspace): number {
  const { n, scale, offset } = ws;
  let logLik = 0;
  let prod = 1;
  for (let t = 0; t < n; t++) {
    logLik += offset[t]!;
    prod *= scale[t]!;
    if (prod < 1e-200 || prod > 1e200) {
      logLik += Math.log(prod);
      prod = 1;
    }
  }
  return logLik + Math.log(prod);
}

/**
 * Scaled backward pass after forwardPass. Overwrites ws.alpha with smoothed posteriors
 * γ_t and writes expected transition counts Σ_t ξ_t(i,j) into xi (k×k).
 */
export function backwardPass(ws: ForwardWorkspace, transMat: Float64Array, xi: Float64Array): void {
  const { n, k, emis, alpha, scale, tmp } = ws;
  let betaNext = ws.betaA;
  let betaCur = ws.betaB;
  betaNext.fill(1);
  // ξ_t(i,j) = α_t(i)·A_ij·b_{t+1}(j)·β_{t+1}(j)/s_{t+1}; A_ij is constant over t, so it is
  // factored out and applied once at the end.
  xi.fill(0);
  for (let t = n - 1; t >= 1; t--) {
    const inv = 1 / scale[t]!;
    const eRow = t * k;
    for (let j = 0; j < k; j++) tmp[j] = emis[eRow + j]! * betaNext[j]! * inv;
    const pRow = (t - 1) * k;
    for (let i = 0; i < k; i++) {
      const a = alpha[pRow + i]!;
      const aRow = i * k;
      let b = 0;
      for (let j = 0; j < k; j++) {
        const tj = tmp[j]!;
        b += transMat[aRow + j]! * tj;
        xi[aRow + j]! += a * tj;
      }
      betaCur[i] = b;
    }
    smoothRow(alpha, eRow, betaNext, k);
    const swap = betaNext;
    betaNext = betaCur;
    betaCur = swap;
  }
  if (n > 0) smoothRow(alpha, 0, betaNext, k);
  for (let i = 0; i < k * k; i++) xi[i]! *= transMat[i]!;
}

function smoothRow(alpha: Float64Array, off: number, beta: Float64Array, k: number): void {
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const g = alpha[off + j]! * beta[j]!;
    alpha[off + j] = g;
    sum += g;
  }
  // Σ_j α_t(j)β_t(j) is 1 in exact arithmetic; renormalising only removes rounding drift.
  if (sum > 0) {
    const inv = 1 / sum;
    for (let j = 0; j < k; j++) alpha[off + j]! *= inv;
  }
}
