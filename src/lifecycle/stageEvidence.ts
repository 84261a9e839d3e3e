// Evidence since a model's current stage began, for the canary rules: "as canary" must mean
// the bars the model traded as canary, and a rollback must weigh only the bars since the
// promotion. The tracker keeps evidence over a model's whole tracked life (one set of moments
// per model, persisted); this keeps, per model, a copy of that evidence taken when its stage
// began and answers the difference. Moments of a window are the lifetime moments with the
// earlier part taken out — the pairwise merge of central moments (Chan et al., Pébay) solved
// for the second part — so nothing per bar is stored.
//
// The copies are few (one per model, taken at a stage change) and saved beside the registry
// (ops/canary_stages.json) by the canary manager, so a stage's window survives a restart as
// the tracker's lifetime evidence does. Without that file (or with a damaged one) each window
// starts again at the first evaluation, which can only make a canary wait longer, never
// promote it sooner.
import { emptyEvidence, emptyMoments, reviveMoments, type ModelEvidence, type Moments } from './evidence.js';

/** The moments of the observations in `all` that are not in `head`, where `all` is `head`
 *  followed by more observations. Rounding can leave a tiny negative M2: it is clamped to 0. */
export function momentsAfter(all: Moments, head: Moments): Moments {
  const n = all.n - head.n;
  if (n <= 0) return emptyMoments();
  if (head.n === 0) return { ...all };
  const nA = head.n;
  const nB = n;
  const N = all.n;
  const meanB = (all.mean * N - head.mean * nA) / nB;
  const d = meanB - head.mean;
  const m2B = Math.max(0, all.m2 - head.m2 - (d * d * nA * nB) / N);
  const m3B = all.m3 - head.m3 - (d * d * d * nA * nB * (nA - nB)) / (N * N) - (3 * d * (nA * m2B - nB * head.m2)) / N;
  const m4B = Math.max(0, all.m4 - head.m4
    - (d ** 4 * nA * nB * (nA * nA - nA * nB + nB * nB)) / (N * N * N)
    - (6 * d * d * (nA * nA * m2B + nB * nB * head.m2)) / (N * N)
    - (4 * d * (nA * m3B - nB * head.m3)) / N);
  return { n, mean: meanB, m2: m2B, m3: m3B, m4: m4B };
}

/** `now` minus `start`: the evidence gathered between the two. */
function evidenceSince(now: ModelEvidence, start: ModelEvidence): ModelEvidence {
  return {
    bars: Math.max(0, now.bars - start.bars),
    trades: Math.max(0, now.trades - start.trades),
    marketMs: Math.max(0, now.marketMs - start.marketMs),
    returns: momentsAfter(now.returns, start.returns),
    vsLive: momentsAfter(now.vsLive, start.vsLive),
  };
}

export interface StageStart {
  /** The registry's stage_since of the stage this copy belongs to. */
  readonly since: string;
  readonly at: ModelEvidence;
}

/** Per model, the lifetime evidence at the start of its current stage (keyed by the
 *  registry's stage_since), and the evidence gathered since. */
export class StageEvidence {
  private readonly starts = new Map<string, StageStart>();
  private changed = false;

  constructor(saved: unknown = null) {
    for (const [model, s] of Object.entries(reviveStarts(saved))) this.starts.set(model, s);
  }

  /** Evidence since the stage that began at `since`; the first call for a stage takes the copy. */
  since(model: string, since: string, lifetime: ModelEvidence | null): ModelEvidence | null {
    if (lifetime === null) return null;
    const s = this.starts.get(model);
    if (s === undefined || s.since !== since) {
      this.record(model, { since, at: lifetime });
      return emptyEvidence();
    }
    // The tracker started the model's evidence again (it shrank): all of it is this stage's.
    if (lifetime.bars < s.at.bars || lifetime.vsLive.n < s.at.vsLive.n || lifetime.returns.n < s.at.returns.n) {
      this.record(model, { since, at: emptyEvidence() });
      return lifetime;
    }
    return evidenceSince(lifetime, s.at);
  }

  /** True once after each change of the copies: the caller saves toJSON() then. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  toJSON(): Record<string, StageStart> {
    return Object.fromEntries(this.starts);
  }

  private record(model: string, start: StageStart): void {
    this.starts.set(model, start);
    this.changed = true;
  }
}

/** A saved copy that is not well formed is dropped (its window starts again), never trusted. */
function reviveStarts(v: unknown): Record<string, StageStart> {
  const out: Record<string, StageStart> = {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [model, raw] of Object.entries(v as Record<string, unknown>)) {
    const r = raw as { since?: unknown; at?: Partial<Record<keyof ModelEvidence, unknown>> } | null;
    const at = r?.at;
    if (!r || typeof r.since !== 'string' || !at || typeof at !== 'object') continue;
    const nums = [at.bars, at.trades, at.marketMs];
    if (!nums.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) continue;
    out[model] = { since: r.since, at: { bars: at.bars as number, trades: at.trades as number, marketMs: at.marketMs as number, returns: reviveMoments(at.returns), vsLive: reviveMoments(at.vsLive) } };
  }
  return out;
}
