// The `evidence:` section of ops/policies.yaml: how much a model must have been observed
// before its Sharpe and Sortino are shown and before it ranks by them. Below the minimum the
// figures are null with the reason ("12 of 120 bars"), because a Sharpe from a handful of bars
// is noise that looks like a verdict (a fresh model with no trades used to lead the board).
// Types, shipped defaults, the parser (one policy file per section, as canaryPolicy.ts) and
// the pure judgement every reader shares (tracker, leaderboard, dashboard via the API).
import { ValidationError } from '../config/watchedFile.js';

export interface EvidencePolicy {
  /** Per-bar returns (bars observed with capital at work) before figures count. */
  readonly min_bars: number;
  /** Fills attributed to the model before figures count: bars of an idle book say nothing of
   *  what the model decides. */
  readonly min_trades: number;
  /** The largest standard error an annualised Sharpe may carry and still be shown. Minute bars
   *  annualised by √525,600 turn noise into figures like −165 after two market hours (their
   *  standard error is then ±66): past the bar and trade minimums the figure stays null, with
   *  the error and the bars it needs in the reason, until it is this precise. Ranking and the
   *  canary use the probabilistic Sharpe ratio, which accounts for the noise itself. */
  readonly max_sharpe_se: number;
}

/**
 * Reached by a paper stack within its first market hours: 120 bars are two market hours of
 * 1-minute bars (two wall minutes at the default 1 bar/s), and four fills are two round trips
 * of the default MA crossover. The PSR still says how much those bars prove; this minimum only
 * keeps a figure off the board until there is something to infer from.
 */
export const DEFAULT_EVIDENCE_POLICY: EvidencePolicy = { min_bars: 120, min_trades: 4, max_sharpe_se: 5 };

const KEYS = ['min_bars', 'min_trades', 'max_sharpe_se'] as const;

/** Validates the `evidence:` section; missing keys take the defaults, unknown keys are refused
 *  (a typo must not silently do nothing). Errors name the key. */
export function parseEvidencePolicy(value: unknown): EvidencePolicy {
  if (value === null || value === undefined) return DEFAULT_EVIDENCE_POLICY;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('evidence must be a mapping');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new ValidationError(`evidence.${k} is not a known key (known: ${KEYS.join(', ')})`);
  }
  const int = (key: 'min_bars' | 'min_trades', lo: number, hi: number): number => {
    if (!(key in o)) return DEFAULT_EVIDENCE_POLICY[key];
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new ValidationError(`evidence.${key} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  // At least 3 bars: the probabilistic Sharpe ratio needs n − 1 ≥ 2 and a variance.
  let maxSe = DEFAULT_EVIDENCE_POLICY.max_sharpe_se;
  if ('max_sharpe_se' in o) {
    const v = o['max_sharpe_se'];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1000) {
      throw new ValidationError(`evidence.max_sharpe_se must be a number in (0, 1000], got ${JSON.stringify(v)}`);
    }
    maxSe = v;
  }
  return { min_bars: int('min_bars', 3, 10_000_000), min_trades: int('min_trades', 0, 1_000_000), max_sharpe_se: maxSe };
}

export interface EvidenceJudgement {
  readonly sufficient: boolean;
  /** Why figures are withheld ("12 of 120 bars, 1 of 4 trades"); null when sufficient. */
  readonly reason: string | null;
  /** "sufficient" or "collecting: 12/120 bars, 1/4 trades", for a status column. */
  readonly status: string;
}

/**
 * The standard error of an annualised Sharpe estimated from n per-bar returns (Lo 2002, i.i.d.
 * returns: √((1 + SR²/2) / n) per bar, scaled like the Sharpe), and how many bars bring it
 * down to `maxSe`. Pure; metricsOf (performance.ts) withholds a Sharpe by it, for the tracker's
 * reports and every figure built on them.
 */
export function annualisedSharpeError(perBarSharpe: number, n: number, periodsPerYear: number, maxSe: number): { se: number; barsNeeded: number } {
  const perBarVar = 1 + (perBarSharpe * perBarSharpe) / 2;
  const se = Math.sqrt((perBarVar / Math.max(n, 1)) * periodsPerYear);
  return { se, barsNeeded: Math.ceil((perBarVar * periodsPerYear) / (maxSe * maxSe)) };
}

/** Whether `bars` and `trades` meet the policy, and if not what is missing. */
export function judgeEvidence(bars: number, trades: number, policy: EvidencePolicy): EvidenceJudgement {
  const missing: string[] = [];
  const progress: string[] = [];
  if (bars < policy.min_bars) {
    missing.push(`${bars} of ${policy.min_bars} bars`);
    progress.push(`${bars}/${policy.min_bars} bars`);
  }
  if (trades < policy.min_trades) {
    missing.push(`${trades} of ${policy.min_trades} trades`);
    progress.push(`${trades}/${policy.min_trades} trades`);
  }
  if (missing.length === 0) return { sufficient: true, reason: null, status: 'sufficient' };
  return { sufficient: false, reason: missing.join(', '), status: `collecting: ${progress.join(', ')}` };
}
