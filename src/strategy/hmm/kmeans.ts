// Owns the seeded k-means++ clustering used to start Baum-Welch somewhere sensible: EM only
// finds a local optimum, and centroids spread by k-means++ make a good one far more likely
// than random means.
import type { Rng } from '../../core/random.js';
import type { Observations } from './observations.js';

export interface KMeansResult {
  /** k×d row-major. */
  readonly centroids: Float64Array;
  /** Cluster of every observation (length n). */
  readonly labels: Int32Array;
}

export interface KMeansOptions {
  readonly maxIter?: number;
  /** Lloyd iterations run on at most this many rows (evenly strided), then every row is
   *  labelled once; clustering 10⁶ rows fully would cost more than the EM it seeds. */
  readonly maxSample?: number;
}

export function kmeansPlusPlus(obs: Observations, k: number, rng: Rng, options: KMeansOptions = {}): KMeansResult {
  const { data, n, d } = obs;
  const maxIter = options.maxIter ?? 25;
  const stride = Math.max(1, Math.ceil(n / (options.maxSample ?? 20_000)));
  const m = Math.ceil(n / stride);
  const rows = new Int32Array(m);
  for (let i = 0; i < m; i++) rows[i] = i * stride;

  const centroids = new Float64Array(k * d);
  const dist2 = new Float64Array(m).fill(Infinity);
  let chosen = rows[rng.int(m)]!;
  for (let c = 0; c < k; c++) {
    for (let f = 0; f < d; f++) centroids[c * d + f] = data[chosen * d + f]!;
    if (c === k - 1) break;
    let total = 0;
    for (let i = 0; i < m; i++) {
      const dd = sqDist(data, rows[i]! * d, centroids, c * d, d);
      if (dd < dist2[i]!) dist2[i] = dd;
      total += dist2[i]!;
    }
    // Fewer distinct points than clusters: every row already sits on a centroid, so any row
    // is as good as another; the duplicate centroid becomes a state EM can still move.
    chosen = total > 0 ? rows[rng.categorical(dist2)]! : rows[rng.int(m)]!;
  }

  const sampleLabels = new Int32Array(m);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  let settled = false;
  for (let iter = 0; iter < maxIter; iter++) {
    sums.fill(0);
    counts.fill(0);
    const changed = assign(data, rows, centroids, k, d, sampleLabels, sums, counts) || iter === 0;
    if (!changed) { settled = true; break; }
    // An empty cluster keeps its centroid rather than becoming NaN.
    for (let c = 0; c < k; c++) {
      if (counts[c]! > 0) for (let f = 0; f < d; f++) centroids[c * d + f] = sums[c * d + f]! / counts[c]!;
    }
  }

  // The sample is every row and the centroids have not moved since it was labelled: labelling
  // every row again would give these same labels.
  if (stride === 1 && settled) return { centroids, labels: sampleLabels };
  const labels = new Int32Array(n);
  for (let t = 0; t < n; t++) labels[t] = nearest(data, t * d, centroids, k, d);
  return { centroids, labels };
}

function sqDist(a: Float64Array, aOff: number, b: Float64Array, bOff: number, d: number): number {
  if (d === 3) {
    // The stack's feature count, unrolled: the same sum in the same order (0 + z² is z²).
    const z0 = a[aOff]! - b[bOff]!;
    const z1 = a[aOff + 1]! - b[bOff + 1]!;
    const z2 = a[aOff + 2]! - b[bOff + 2]!;
    return z0 * z0 + z1 * z1 + z2 * z2;
  }
  let s = 0;
  for (let f = 0; f < d; f++) {
    const z = a[aOff + f]! - b[bOff + f]!;
    s += z * z;
  }
  return s;
}

/** Labels every sampled row with its nearest centroid and adds the row to that cluster's sum
 *  and count (the next centroids, should a label have changed); true if any label changed. */
function assign(
  data: Float64Array, rows: Int32Array, centroids: Float64Array, k: number, d: number,
  labels: Int32Array, sums: Float64Array, counts: Float64Array,
): boolean {
  let changed = false;
  if (k === 4 && d === 3) {
    // The stack's shape (4 regimes, 3 features), with the centroids held in locals across
    // the ~25 passes' rows: nearest() and sqDist() as written, unrolled.
    const c00 = centroids[0]!, c01 = centroids[1]!, c02 = centroids[2]!, c10 = centroids[3]!, c11 = centroids[4]!, c12 = centroids[5]!;
    const c20 = centroids[6]!, c21 = centroids[7]!, c22 = centroids[8]!, c30 = centroids[9]!, c31 = centroids[10]!, c32 = centroids[11]!;
    for (let i = 0; i < rows.length; i++) {
      const off = rows[i]! * 3;
      const x0 = data[off]!, x1 = data[off + 1]!, x2 = data[off + 2]!;
      let best = 0;
      let bestD = Infinity;
      let z0 = x0 - c00, z1 = x1 - c01, z2 = x2 - c02;
      let dd = z0 * z0 + z1 * z1 + z2 * z2;
      if (dd < bestD) { bestD = dd; best = 0; }
      z0 = x0 - c10; z1 = x1 - c11; z2 = x2 - c12;
      dd = z0 * z0 + z1 * z1 + z2 * z2;
      if (dd < bestD) { bestD = dd; best = 1; }
      z0 = x0 - c20; z1 = x1 - c21; z2 = x2 - c22;
      dd = z0 * z0 + z1 * z1 + z2 * z2;
      if (dd < bestD) { bestD = dd; best = 2; }
      z0 = x0 - c30; z1 = x1 - c31; z2 = x2 - c32;
      dd = z0 * z0 + z1 * z1 + z2 * z2;
      if (dd < bestD) best = 3;
      if (best !== labels[i]) { labels[i] = best; changed = true; }
      counts[best]! += 1;
      sums[3 * best]! += x0;
      sums[3 * best + 1]! += x1;
      sums[3 * best + 2]! += x2;
    }
    return changed;
  }
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i]! * d;
    const c = nearest(data, off, centroids, k, d);
    if (c !== labels[i]) { labels[i] = c; changed = true; }
    counts[c]! += 1;
    for (let f = 0; f < d; f++) sums[c * d + f]! += data[off + f]!;
  }
  return changed;
}

function nearest(data: Float64Array, off: number, centroids: Float64Array, k: number, d: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < k; c++) {
    const dd = sqDist(data, off, centroids, c * d, d);
    if (dd < bestD) { bestD = dd; best = c; }
  }
  return best;
}
