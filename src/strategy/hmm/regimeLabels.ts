// Owns regime labelling after the fact: the most likely regime path (Viterbi) of a stored HMM
// over a bar series, one label per bar, for the replay report and for checking a model against
// planted regimes. The live filter answers "what regime now, given the past"; this answers
// "which regimes did these bars go through", which is what a report or a band on a chart shows.
import type { Bar } from '../../core/marketData.js';
import { computeFeatures, standardise } from './features.js';
import { rankOfState } from './policy.js';
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
  // Stored models are already in that order (training relabels them); this keeps the labels
  // right for any.
  const rank = rankOfState(hmm.params.means, hmm.k, hmm.d);
  for (let t = 0; t < path.length; t++) labels[barIndex[t]!] = rank[path[t]!]!;
  return labels;
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

/** One stretch of bars with the same label. */
export interface RegimeSpell {
  readonly regime: number;
  readonly from_ts: number;
  readonly to_ts: number;
  readonly bars: number;
  /** Close-to-close return over the spell, from the close before it (percent). */
  readonly return_pct: number;
}

export interface RegimeSummary {
  readonly regime: number;
  readonly bars: number;
  readonly share_pct: number;
  readonly spells: number;
  readonly mean_spell_bars: number;
  /** Mean close-to-close return per bar while in the regime, in basis points. */
  readonly mean_return_bp: number;
}

/** Spells and a per-regime summary of labelled bars (one symbol, time-ordered): what a replay
 *  report shows, so an operator sees whether "bullish" bars really went up. */
export function summariseRegimes(labels: ArrayLike<number>, bars: readonly Bar[], k: number): { spells: RegimeSpell[]; regimes: RegimeSummary[] } {
  const spells: RegimeSpell[] = [];
  const count = new Array<number>(k).fill(0);
  const spellCount = new Array<number>(k).fill(0);
  const logSum = new Array<number>(k).fill(0);
  let start = -1;
  for (let i = 0; i <= bars.length; i++) {
    const l = i < bars.length ? labels[i]! : -2;
    if (i < bars.length && l >= 0) {
      count[l]!++;
      if (i > 0) logSum[l]! += Math.log(bars[i]!.close / bars[i - 1]!.close);
    }
    if (start >= 0 && l !== labels[start]) {
      const r = labels[start]!;
      const before = bars[Math.max(0, start - 1)]!.close;
      spells.push({ regime: r, from_ts: bars[start]!.ts, to_ts: bars[i - 1]!.ts, bars: i - start, return_pct: (bars[i - 1]!.close / before - 1) * 100 });
      spellCount[r]!++;
      start = -1;
    }
    if (start < 0 && i < bars.length && l >= 0) start = i;
  }
  const labelled = count.reduce((a, b) => a + b, 0);
  const regimes = count.map((n, r) => ({
    regime: r, bars: n, share_pct: labelled > 0 ? (n / labelled) * 100 : 0, spells: spellCount[r]!,
    mean_spell_bars: spellCount[r]! > 0 ? n / spellCount[r]! : 0, mean_return_bp: n > 0 ? (logSum[r]! / n) * 1e4 : 0,
  }));
  return { spells, regimes };
}
