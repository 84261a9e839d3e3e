// Owns regime labelling after the fact: the most likely regime path (Viterbi) of a stored HMM
// over a bar series, one label per bar, for the replay report and for checking a model against
// planted regimes. The live filter answers "what regime now, given the past"; this answers
// "which regimes did these bars go through", which is what a report or a band on a chart shows.
import type { Bar } from '../../core/marketData.js';
import { computeFeatures, standardise } from './features.js';
import { orderStatesByReturn } from './policy.js';
import { hmmFromStored, type StoredHmmModel } from './modelStore.js';

/** One label per bar: the regime rank (0 = most bearish mean return) on the most likely
 *  path, or −1 for the bars the features need before their first row. */
export function labelRegimes(stored: StoredHmmModel, bars: readonly Bar[]): Int32Array {
  const labels = new Int32Array(bars.length).fill(-1);
  const { obs: raw, barIndex } = computeFeatures(bars, stored.features.spec);
  if (raw.n === 0) return labels;
  const hmm = hmmFromStored(stored);
  // Scaled with the training statistics, as the live model scales its bars.
  const obs = standardise(raw, { mean: stored.features.mean, std: stored.features.std });
  const { path } = hmm.viterbi(obs);
  const rank = rankOfState(hmm.params.means, hmm.k, hmm.d);
  for (let t = 0; t < path.length; t++) labels[barIndex[t]!] = rank[path[t]!]!;
  return labels;
}

/** rank[state]: the state's place in ascending order of mean log return. Stored models are
 *  already in that order (training relabels them); this keeps the labels right for any. */
export function rankOfState(means: Float64Array, k: number, d: number): Int32Array {
  const order = orderStatesByReturn(means, k, d, 0);
  const rank = new Int32Array(k);
  for (let r = 0; r < k; r++) rank[order[r]!] = r;
  return rank;
}

export interface LabelAgreement {
  /** Share of labelled bars whose label's best-matching truth equals the truth. */
  readonly accuracy: number;
  /** The same figure for always answering the most frequent truth: what chance looks like. */
  readonly chance: number;
  /** label → the truth it was mapped to. */
  readonly mapping: ReadonlyMap<number, string>;
  readonly bars: number;
}

/**
 * How well labels agree with a ground truth (e.g. a synthetic market's planted regimes), after
 * mapping each label to the truth it overlaps most (many-to-one: an HMM with fewer states than
 * planted regimes merges some, and is judged on the merge it chose). Bars labelled −1 are left out.
 */
export function labelAgreement(labels: ArrayLike<number>, truth: readonly string[]): LabelAgreement {
  const counts = new Map<number, Map<string, number>>();
  const truthCounts = new Map<string, number>();
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l < 0) continue;
    const t = truth[i]!;
    n++;
    truthCounts.set(t, (truthCounts.get(t) ?? 0) + 1);
    let row = counts.get(l);
    if (!row) counts.set(l, (row = new Map()));
    row.set(t, (row.get(t) ?? 0) + 1);
  }
  const mapping = new Map<number, string>();
  let hits = 0;
  for (const [l, row] of counts) {
    let best = '';
    let bestCount = -1;
    for (const [t, c] of row) if (c > bestCount) { best = t; bestCount = c; }
    mapping.set(l, best);
    hits += bestCount;
  }
  const majority = Math.max(0, ...truthCounts.values());
  return { accuracy: n > 0 ? hits / n : 0, chance: n > 0 ? majority / n : 0, mapping, bars: n };
}
