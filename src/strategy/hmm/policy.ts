// Owns the regime → action rule: which state is bullish or bearish (by mean log return) and
// when its posterior is convincing enough to act. Pure: posterior and previous action in,
// decision out, so it is tested with plain numbers.
import { HmmError } from './errors.js';

export interface PolicyConfig {
  /** Posterior of the bullish (bearish) state at or above this opens BUY (SELL). */
  readonly enterThreshold: number;
  /** An open BUY/SELL stands until its state's posterior falls below this (hysteresis, so a
   *  posterior hovering at the entry level does not flip the action every bar). */
  readonly exitThreshold: number;
  /** Filtered bars required before any signal: the first posteriors still reflect the
   *  filter's starting distribution more than the data. */
  readonly minBarsWarmup: number;
  /** Exposure for a fully confident bullish regime, as a share of the model's quota. */
  readonly maxExposure: number;
  /** On a venue that can short, ask for −confidence exposure in the bearish regime; on spot
   *  (false) bearish means flat and the router decides anything more. */
  readonly shortOnBearish: boolean;
}

export const DEFAULT_POLICY: PolicyConfig = {
  enterThreshold: 0.7,
  exitThreshold: 0.5,
  minBarsWarmup: 10,
  maxExposure: 1,
  shortOnBearish: false,
};

export type RegimeAction = 'BUY' | 'SELL' | 'HOLD';

export interface RegimeDecision {
  readonly action: RegimeAction;
  /** Posterior of the state behind the action (0 for HOLD). */
  readonly confidence: number;
  /** Desired exposure in [-1, 1]; undefined for HOLD (keep whatever is held). */
  readonly targetExposure: number | undefined;
  /** Most probable regime as a rank in `order` (0 = most bearish). */
  readonly regime: number;
}

export function validatePolicyConfig(c: PolicyConfig): void {
  const { enterThreshold: enter, exitThreshold: exit } = c;
  if (!(enter > 0 && enter <= 1)) throw new HmmError(`policy.enterThreshold must be in (0, 1], got ${enter}`);
  if (!(exit > 0 && exit <= enter)) throw new HmmError(`policy.exitThreshold must be in (0, enterThreshold], got ${exit}`);
  if (!Number.isInteger(c.minBarsWarmup) || c.minBarsWarmup < 0) {
    throw new HmmError(`policy.minBarsWarmup must be a non-negative integer, got ${c.minBarsWarmup}`);
  }
  if (!(c.maxExposure >= 0 && c.maxExposure <= 1)) throw new HmmError(`policy.maxExposure must be in [0, 1], got ${c.maxExposure}`);
  if (typeof c.shortOnBearish !== 'boolean') throw new HmmError(`policy.shortOnBearish must be a boolean, got ${String(c.shortOnBearish)}`);
}

/** State indices sorted by ascending mean of `feature` (the log return): order[0] is the
 *  bearish state, order[k−1] the bullish one. Ties keep the lower index first. */
export function orderStatesByReturn(means: Float64Array, k: number, d: number, feature = 0): Int32Array {
  const idx = Array.from({ length: k }, (_, i) => i);
  idx.sort((a, b) => means[a * d + feature]! - means[b * d + feature]! || a - b);
  return Int32Array.from(idx);
}

/** rank[state]: the state's place in ascending order of mean log return (the inverse of
 *  orderStatesByReturn), so a state reads as a regime rank: 0 = most bearish. */
export function rankOfState(means: Float64Array, k: number, d: number): Int32Array {
  const order = orderStatesByReturn(means, k, d, 0);
  const rank = new Int32Array(k);
  for (let r = 0; r < k; r++) rank[order[r]!] = r;
  return rank;
}

export function decideRegimeAction(
  posterior: ArrayLike<number>, order: Int32Array, config: PolicyConfig, previous: RegimeAction,
): RegimeDecision {
  const k = order.length;
  let regime = 0;
  for (let r = 1; r < k; r++) if (posterior[order[r]!]! > posterior[order[regime]!]!) regime = r;
  // One state has no "other" regime to compare against: never trade on it.
  if (k < 2) return { action: 'HOLD', confidence: 0, targetExposure: undefined, regime };
  const pBull = posterior[order[k - 1]!]!;
  const pBear = posterior[order[0]!]!;
  if (pBull >= config.enterThreshold && pBull >= pBear) return buyDecision(pBull, config, regime);
  if (pBear >= config.enterThreshold) return sellDecision(pBear, config, regime);
  if (previous === 'BUY' && pBull >= config.exitThreshold) return buyDecision(pBull, config, regime);
  if (previous === 'SELL' && pBear >= config.exitThreshold) return sellDecision(pBear, config, regime);
  return { action: 'HOLD', confidence: 0, targetExposure: undefined, regime };
}

// Module functions rather than closures inside decideRegimeAction: it runs on every bar, and
// a closure made per call is an allocation per bar (more under tsx, which names each one).
function buyDecision(pBull: number, config: PolicyConfig, regime: number): RegimeDecision {
  return { action: 'BUY', confidence: pBull, targetExposure: config.maxExposure * pBull, regime };
}

function sellDecision(pBear: number, config: PolicyConfig, regime: number): RegimeDecision {
  return { action: 'SELL', confidence: pBear, targetExposure: config.shortOnBearish ? -config.maxExposure * pBear : 0, regime };
}
