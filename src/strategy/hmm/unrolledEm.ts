// Owns the EM kernels unrolled for the stack's model shape (k = 4 regimes, d = 3 diagonal
// features), where a fit spends nearly all its time. Each kernel does the same floating-point
// operations in the same order per value as the generic loops it stands in for
// (emissionMatrix + forwardPass, backwardPass, the M-step's sums), so a fit's every bit is
// unchanged; what goes is the per-value array traffic: parameters, the previous forward row,
// the backward β and every running sum live in locals. The one liberty: a generic running sum
// starts at 0, an unrolled one at its first term, which is the same number because 0 + x = x
// for every x but −0, and each first term here is a product of non-negative factors or a
// square, never −0.
import type { EmissionCache } from './emissions.js';
import { MIN_SCALE, scaledUpdate, sequenceLogLikelihood, type ForwardWorkspace } from './forwardBackward.js';

/** True when the unrolled kernels apply. */
export function isUnrolledShape(k: number, d: number, covarianceType: string): boolean {
  return k === 4 && d === 3 && covarianceType === 'diag';
}

/** emissionMatrix then forwardPass in one sweep: each row's log-emissions are computed and
 *  rescaled in registers, and only the rescaled values (which backwardPass reads) are stored. */
export function forwardPassUnrolled(
  ws: ForwardWorkspace, cache: EmissionCache, data: Float64Array, startProb: Float64Array, transMat: Float64Array,
): number {
  const { n, emis, alpha, scale, offset, pred } = ws;
  const { means: mu, invVar: iv, logNorm } = cache;
  const m00 = mu[0]!, m01 = mu[1]!, m02 = mu[2]!, m10 = mu[3]!, m11 = mu[4]!, m12 = mu[5]!;
  const m20 = mu[6]!, m21 = mu[7]!, m22 = mu[8]!, m30 = mu[9]!, m31 = mu[10]!, m32 = mu[11]!;
  const v00 = iv[0]!, v01 = iv[1]!, v02 = iv[2]!, v10 = iv[3]!, v11 = iv[4]!, v12 = iv[5]!;
  const v20 = iv[6]!, v21 = iv[7]!, v22 = iv[8]!, v30 = iv[9]!, v31 = iv[10]!, v32 = iv[11]!;
  const n0 = logNorm[0]!, n1 = logNorm[1]!, n2 = logNorm[2]!, n3 = logNorm[3]!;
  const t00 = transMat[0]!, t01 = transMat[1]!, t02 = transMat[2]!, t03 = transMat[3]!;
  const t10 = transMat[4]!, t11 = transMat[5]!, t12 = transMat[6]!, t13 = transMat[7]!;
  const t20 = transMat[8]!, t21 = transMat[9]!, t22 = transMat[10]!, t23 = transMat[11]!;
  const t30 = transMat[12]!, t31 = transMat[13]!, t32 = transMat[14]!, t33 = transMat[15]!;
  // The previous forward row; at t = 0 the prediction is the start distribution instead.
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let t = 0; t < n; t++) {
    const x = 3 * t;
    const x0 = data[x]!, x1 = data[x + 1]!, x2 = data[x + 2]!;
    let z0 = x0 - m00, z1 = x1 - m01, z2 = x2 - m02;
    const l0 = n0 - 0.5 * (z0 * z0 * v00 + z1 * z1 * v01 + z2 * z2 * v02);
    z0 = x0 - m10; z1 = x1 - m11; z2 = x2 - m12;
    const l1 = n1 - 0.5 * (z0 * z0 * v10 + z1 * z1 * v11 + z2 * z2 * v12);
    z0 = x0 - m20; z1 = x1 - m21; z2 = x2 - m22;
    const l2 = n2 - 0.5 * (z0 * z0 * v20 + z1 * z1 * v21 + z2 * z2 * v22);
    z0 = x0 - m30; z1 = x1 - m31; z2 = x2 - m32;
    const l3 = n3 - 0.5 * (z0 * z0 * v30 + z1 * z1 * v31 + z2 * z2 * v32);

    let p0: number, p1: number, p2: number, p3: number;
    if (t === 0) {
      p0 = startProb[0]!; p1 = startProb[1]!; p2 = startProb[2]!; p3 = startProb[3]!;
    } else {
      p0 = a0 * t00 + a1 * t10 + a2 * t20 + a3 * t30;
      p1 = a0 * t01 + a1 * t11 + a2 * t21 + a3 * t31;
      p2 = a0 * t02 + a1 * t12 + a2 * t22 + a3 * t32;
      p3 = a0 * t03 + a1 * t13 + a2 * t23 + a3 * t33;
    }
    let mx = -Infinity;
    if (l0 > mx) mx = l0;
    if (l1 > mx) mx = l1;
    if (l2 > mx) mx = l2;
    if (l3 > mx) mx = l3;
    const b0 = Math.exp(l0 - mx), b1 = Math.exp(l1 - mx), b2 = Math.exp(l2 - mx), b3 = Math.exp(l3 - mx);
    let s = p0 * b0 + p1 * b1 + p2 * b2 + p3 * b3;
    const e = 4 * t;
    if (s > MIN_SCALE) {
      const inv = 1 / s;
      emis[e] = b0; emis[e + 1] = b1; emis[e + 2] = b2; emis[e + 3] = b3;
      a0 = p0 * b0 * inv; a1 = p1 * b1 * inv; a2 = p2 * b2 * inv; a3 = p3 * b3 * inv;
      alpha[e] = a0; alpha[e + 1] = a1; alpha[e + 2] = a2; alpha[e + 3] = a3;
      offset[t] = mx;
    } else {
      // The rare log-space step goes through the generic helper, which reads the
      // log-emissions and the prediction from the workspace.
      emis[e] = l0; emis[e + 1] = l1; emis[e + 2] = l2; emis[e + 3] = l3;
      pred[0] = p0; pred[1] = p1; pred[2] = p2; pred[3] = p3;
      s = scaledUpdate(pred, emis, e, 4, alpha, e, offset, t);
      a0 = alpha[e]!; a1 = alpha[e + 1]!; a2 = alpha[e + 2]!; a3 = alpha[e + 3]!;
    }
    scale[t] = s;
  }
  return sequenceLogLikelihood(ws);
}

/** backwardPass for the unrolled shape: same contract (ws.alpha becomes the smoothed
 *  posteriors, xi the expected transition counts). */
export function backwardPassUnrolled(ws: ForwardWorkspace, transMat: Float64Array, xi: Float64Array): void {
  const { n, emis, alpha, scale } = ws;
  const t00 = transMat[0]!, t01 = transMat[1]!, t02 = transMat[2]!, t03 = transMat[3]!;
  const t10 = transMat[4]!, t11 = transMat[5]!, t12 = transMat[6]!, t13 = transMat[7]!;
  const t20 = transMat[8]!, t21 = transMat[9]!, t22 = transMat[10]!, t23 = transMat[11]!;
  const t30 = transMat[12]!, t31 = transMat[13]!, t32 = transMat[14]!, t33 = transMat[15]!;
  let x00 = 0, x01 = 0, x02 = 0, x03 = 0, x10 = 0, x11 = 0, x12 = 0, x13 = 0;
  let x20 = 0, x21 = 0, x22 = 0, x23 = 0, x30 = 0, x31 = 0, x32 = 0, x33 = 0;
  let c0 = 1, c1 = 1, c2 = 1, c3 = 1;
  for (let t = n - 1; t >= 1; t--) {
    const inv = 1 / scale[t]!;
    const e = 4 * t;
    const u0 = emis[e]! * c0 * inv, u1 = emis[e + 1]! * c1 * inv, u2 = emis[e + 2]! * c2 * inv, u3 = emis[e + 3]! * c3 * inv;
    const p = e - 4;
    const a0 = alpha[p]!, a1 = alpha[p + 1]!, a2 = alpha[p + 2]!, a3 = alpha[p + 3]!;
    x00 += a0 * u0; x01 += a0 * u1; x02 += a0 * u2; x03 += a0 * u3;
    x10 += a1 * u0; x11 += a1 * u1; x12 += a1 * u2; x13 += a1 * u3;
    x20 += a2 * u0; x21 += a2 * u1; x22 += a2 * u2; x23 += a2 * u3;
    x30 += a3 * u0; x31 += a3 * u1; x32 += a3 * u2; x33 += a3 * u3;
    const beta0 = t00 * u0 + t01 * u1 + t02 * u2 + t03 * u3;
    const beta1 = t10 * u0 + t11 * u1 + t12 * u2 + t13 * u3;
    const beta2 = t20 * u0 + t21 * u1 + t22 * u2 + t23 * u3;
    const beta3 = t30 * u0 + t31 * u1 + t32 * u2 + t33 * u3;
    smoothRow4(alpha, e, c0, c1, c2, c3);
    c0 = beta0; c1 = beta1; c2 = beta2; c3 = beta3;
  }
  if (n > 0) smoothRow4(alpha, 0, c0, c1, c2, c3);
  xi[0] = x00 * t00; xi[1] = x01 * t01; xi[2] = x02 * t02; xi[3] = x03 * t03;
  xi[4] = x10 * t10; xi[5] = x11 * t11; xi[6] = x12 * t12; xi[7] = x13 * t13;
  xi[8] = x20 * t20; xi[9] = x21 * t21; xi[10] = x22 * t22; xi[11] = x23 * t23;
  xi[12] = x30 * t30; xi[13] = x31 * t31; xi[14] = x32 * t32; xi[15] = x33 * t33;
}

function smoothRow4(alpha: Float64Array, off: number, c0: number, c1: number, c2: number, c3: number): void {
  const g0 = alpha[off]! * c0, g1 = alpha[off + 1]! * c1, g2 = alpha[off + 2]! * c2, g3 = alpha[off + 3]! * c3;
  const sum = g0 + g1 + g2 + g3;
  if (sum > 0) {
    const inv = 1 / sum;
    alpha[off] = g0 * inv; alpha[off + 1] = g1 * inv; alpha[off + 2] = g2 * inv; alpha[off + 3] = g3 * inv;
  } else {
    alpha[off] = g0; alpha[off + 1] = g1; alpha[off + 2] = g2; alpha[off + 3] = g3;
  }
}

/** The M-step's emission half for the unrolled shape: responsibility-weighted means, then
 *  variances around them (two passes, as the generic M-step), plus the floor. A state whose
 *  weight is not above minWeight keeps its mean and variance. */
export function diagEmissionStepUnrolled(
  data: Float64Array, n: number, gamma: Float64Array, means: Float64Array, covars: Float64Array,
  floor: Float64Array, minWeight: number,
): void {
  let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
  let s00 = 0, s01 = 0, s02 = 0, s10 = 0, s11 = 0, s12 = 0, s20 = 0, s21 = 0, s22 = 0, s30 = 0, s31 = 0, s32 = 0;
  for (let t = 0; t < n; t++) {
    const x0 = data[3 * t]!, x1 = data[3 * t + 1]!, x2 = data[3 * t + 2]!;
    const g0 = gamma[4 * t]!, g1 = gamma[4 * t + 1]!, g2 = gamma[4 * t + 2]!, g3 = gamma[4 * t + 3]!;
    w0 += g0; s00 += g0 * x0; s01 += g0 * x1; s02 += g0 * x2;
    w1 += g1; s10 += g1 * x0; s11 += g1 * x1; s12 += g1 * x2;
    w2 += g2; s20 += g2 * x0; s21 += g2 * x1; s22 += g2 * x2;
    w3 += g3; s30 += g3 * x0; s31 += g3 * x1; s32 += g3 * x2;
  }
  if (w0 > minWeight) { means[0] = s00 / w0; means[1] = s01 / w0; means[2] = s02 / w0; }
  if (w1 > minWeight) { means[3] = s10 / w1; means[4] = s11 / w1; means[5] = s12 / w1; }
  if (w2 > minWeight) { means[6] = s20 / w2; means[7] = s21 / w2; means[8] = s22 / w2; }
  if (w3 > minWeight) { means[9] = s30 / w3; means[10] = s31 / w3; means[11] = s32 / w3; }

  const m00 = means[0]!, m01 = means[1]!, m02 = means[2]!, m10 = means[3]!, m11 = means[4]!, m12 = means[5]!;
  const m20 = means[6]!, m21 = means[7]!, m22 = means[8]!, m30 = means[9]!, m31 = means[10]!, m32 = means[11]!;
  let q00 = 0, q01 = 0, q02 = 0, q10 = 0, q11 = 0, q12 = 0, q20 = 0, q21 = 0, q22 = 0, q30 = 0, q31 = 0, q32 = 0;
  for (let t = 0; t < n; t++) {
    const x0 = data[3 * t]!, x1 = data[3 * t + 1]!, x2 = data[3 * t + 2]!;
    const g0 = gamma[4 * t]!, g1 = gamma[4 * t + 1]!, g2 = gamma[4 * t + 2]!, g3 = gamma[4 * t + 3]!;
    let z0 = x0 - m00, z1 = x1 - m01, z2 = x2 - m02;
    q00 += g0 * z0 * z0; q01 += g0 * z1 * z1; q02 += g0 * z2 * z2;
    z0 = x0 - m10; z1 = x1 - m11; z2 = x2 - m12;
    q10 += g1 * z0 * z0; q11 += g1 * z1 * z1; q12 += g1 * z2 * z2;
    z0 = x0 - m20; z1 = x1 - m21; z2 = x2 - m22;
    q20 += g2 * z0 * z0; q21 += g2 * z1 * z1; q22 += g2 * z2 * z2;
    z0 = x0 - m30; z1 = x1 - m31; z2 = x2 - m32;
    q30 += g3 * z0 * z0; q31 += g3 * z1 * z1; q32 += g3 * z2 * z2;
  }
  const f0 = floor[0]!, f1 = floor[1]!, f2 = floor[2]!;
  if (w0 > minWeight) { covars[0] = q00 / w0 + f0; covars[1] = q01 / w0 + f1; covars[2] = q02 / w0 + f2; }
  if (w1 > minWeight) { covars[3] = q10 / w1 + f0; covars[4] = q11 / w1 + f1; covars[5] = q12 / w1 + f2; }
  if (w2 > minWeight) { covars[6] = q20 / w2 + f0; covars[7] = q21 / w2 + f1; covars[8] = q22 / w2 + f2; }
  if (w3 > minWeight) { covars[9] = q30 / w3 + f0; covars[10] = q31 / w3 + f1; covars[11] = q32 / w3 + f2; }
}
