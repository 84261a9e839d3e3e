// Owns the small dense linear algebra the full-covariance HMM needs: Cholesky factors of
// d×d covariance blocks stored inside larger Float64Arrays (offset addressing, so the K
// blocks of a model live in one array and nothing is allocated per observation).

/**
 * Lower Cholesky factor of the symmetric d×d block a[aOff..] written to l[lOff..]
 * (upper triangle zeroed). Returns false when the block is not numerically positive definite.
 */
export function cholesky(a: Float64Array, aOff: number, d: number, l: Float64Array, lOff: number): boolean {
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[aOff + i * d + j]!;
      for (let p = 0; p < j; p++) sum -= l[lOff + i * d + p]! * l[lOff + j * d + p]!;
      if (i === j) {
        // A pivot that is not clearly positive means the block is singular up to rounding.
        if (!(sum > 0) || !Number.isFinite(sum)) return false;
        l[lOff + i * d + i] = Math.sqrt(sum);
      } else {
        l[lOff + i * d + j] = sum / l[lOff + j * d + j]!;
      }
    }
    for (let j = i + 1; j < d; j++) l[lOff + i * d + j] = 0;
  }
  return true;
}

/**
 * Cholesky of a covariance block that must succeed: if rounding leaves the block
 * indefinite, add growing multiples of its mean diagonal until it factors. The jitter is
 * written back into a so the stored covariance and its factor stay consistent.
 */
export function choleskyWithJitter(a: Float64Array, aOff: number, d: number, l: Float64Array, lOff: number): void {
  if (cholesky(a, aOff, d, l, lOff)) return;
  let scale = 0;
  for (let i = 0; i < d; i++) scale += Math.abs(a[aOff + i * d + i]!);
  scale = scale > 0 && Number.isFinite(scale) ? scale / d : 1;
  for (let jitter = scale * 1e-10; jitter < scale * 1e6; jitter *= 10) {
    for (let i = 0; i < d; i++) a[aOff + i * d + i]! += jitter;
    if (cholesky(a, aOff, d, l, lOff)) return;
  }
  // Unreachable for finite input; an identity fallback keeps every downstream number finite.
  for (let i = 0; i < d * d; i++) a[aOff + i] = i % (d + 1) === 0 ? scale : 0;
  cholesky(a, aOff, d, l, lOff);
}

/** log det of the matrix whose Cholesky factor is the block l[lOff..]. */
export function logDetFromCholesky(l: Float64Array, lOff: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += Math.log(l[lOff + i * d + i]!);
  return 2 * s;
}

/**
 * Squared Mahalanobis norm |L⁻¹(x − μ)|² by forward substitution, using z (length ≥ d) as
 * scratch so the hot loop allocates nothing.
 */
export function mahalanobisSq(
  x: ArrayLike<number>, xOff: number,
  mu: Float64Array, muOff: number,
  l: Float64Array, lOff: number,
  d: number, z: Float64Array,
): number {
  let q = 0;
  for (let i = 0; i < d; i++) {
    let s = x[xOff + i]! - mu[muOff + i]!;
    const row = lOff + i * d;
    for (let p = 0; p < i; p++) s -= l[row + p]! * z[p]!;
    const zi = s / l[row + i]!;
    z[i] = zi;
    q += zi * zi;
  }
  return q;
}
