// Turns the tracker's evidence into what the capital allocator reads (ModelStanding): whether
// a model is live, the bars and trades behind its figures, and its probabilistic Sharpe ratio
// against zero as a z-score. It lives here, not beside the allocator, because the statistics
// are the lifecycle's (evidence.ts) and the portfolio plane sits below the lifecycle plane.
import type { ModelStanding } from '../portfolio/allocator.js';
import { seriesStats, type ModelEvidence, type Moments } from './evidence.js';

/**
 * The argument of the probabilistic Sharpe ratio against zero (evidence.ts
 * probabilisticSharpe = Φ(sharpeZ)): per-bar Sharpe × √(n − 1), divided by the widening that
 * negative skew and fat tails bring. Kept as a z rather than a probability because the
 * probability saturates at 1 — two strong models would look alike — while z keeps growing with
 * the Sharpe and the evidence. Null with fewer than three bars or no variance.
 */
export function sharpeZ(returns: Moments): number | null {
  const s = seriesStats(returns);
  if (s.n < 3 || s.sharpe === null) return null;
  const denom = 1 - s.skew * s.sharpe + ((s.kurtosis - 1) / 4) * s.sharpe * s.sharpe;
  if (!(denom > 0)) return null;
  return (s.sharpe * Math.sqrt(s.n - 1)) / Math.sqrt(denom);
}

function standingOf(evidence: ModelEvidence | null, live: boolean): ModelStanding {
  if (evidence === null) return { live, bars: 0, trades: 0, sharpeZ: null };
  return { live, bars: evidence.bars, trades: evidence.trades, sharpeZ: sharpeZ(evidence.returns) };
}

/** Standings of the running models, for CapitalAllocator's `standings` option. */
export function standingsOf(models: readonly string[], evidence: (model: string) => ModelEvidence | null, isLive: (model: string) => boolean): Record<string, ModelStanding> {
  const out: Record<string, ModelStanding> = {};
  for (const m of models) out[m] = standingOf(evidence(m), isLive(m));
  return out;
}
