// The `retrain:` section of ops/policies.yaml: when the stack refits its HMM walk-forward (every
// N bars of market time, on the last M bars), the least history a fit may use, and how many
// unpromoted retrained versions may wait in shadow. Defaults and the key-by-key parser live
// here, as governance/policy.ts and alerts/policy.ts do for theirs.
import { ValidationError } from '../config/watchedFile.js';

export interface RetrainPolicy {
  readonly enabled: boolean;
  /** Bars of the HMM's symbol between two refits (market time: a replay refits as a live run does). */
  readonly every_bars: number;
  /** Bars a refit is trained on: the most recent ones. */
  readonly window_bars: number;
  /** Fewer bars than this is no fit: a refit waits, and the first-start model is trained on a
   *  seeded synthetic series instead of too short a history. */
  readonly min_bars: number;
  /** Shadow versions from retraining kept running; the oldest unpromoted ones beyond this retire. */
  readonly max_shadow_versions: number;
}

/** A paper stack on one-minute bars refits twice in its first market day (every 12 h of bars),
 *  each time on up to the last week. A week, not a day: regimes last hours, so a day's window
 *  holds two or three spells and often no up-trend at all; a fit on it cannot learn the regime
 *  set it is asked to trade (planted-edge replay, BENCHMARKS.md). min_bars sits under the
 *  default WARMUP_BARS (300) so the first start trains on the market's own history, not on a
 *  synthetic one. */
export const DEFAULT_RETRAIN_POLICY: RetrainPolicy = {
  enabled: true,
  every_bars: 720,
  window_bars: 10_080,
  min_bars: 250,
  max_shadow_versions: 3,
};

/** Fewer bars leave the fit (four states by default) with too few feature rows per parameter
 *  to mean anything. */
export const MIN_FIT_BARS = 100;

const KEYS = ['enabled', 'every_bars', 'window_bars', 'min_bars', 'max_shadow_versions'] as const;

export function parseRetrainPolicy(value: unknown): RetrainPolicy {
  if (value === null || value === undefined) return DEFAULT_RETRAIN_POLICY;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('retrain must be a mapping');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new ValidationError(`retrain.${k} is not a known key (known: ${KEYS.join(', ')})`);
  }
  const d = DEFAULT_RETRAIN_POLICY;
  const int = (key: (typeof KEYS)[number], dflt: number, lo: number, hi: number): number => {
    if (!(key in o)) return dflt;
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new ValidationError(`retrain.${key} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  let enabled = d.enabled;
  if ('enabled' in o) {
    if (typeof o['enabled'] !== 'boolean') throw new ValidationError(`retrain.enabled must be true or false, got ${JSON.stringify(o['enabled'])}`);
    enabled = o['enabled'];
  }
  const policy: RetrainPolicy = {
    enabled,
    every_bars: int('every_bars', d.every_bars, 1, 10_000_000),
    window_bars: int('window_bars', d.window_bars, MIN_FIT_BARS, 1_000_000),
    min_bars: int('min_bars', d.min_bars, MIN_FIT_BARS, 1_000_000),
    max_shadow_versions: int('max_shadow_versions', d.max_shadow_versions, 1, 100),
  };
  if (policy.min_bars > policy.window_bars) {
    throw new ValidationError(`retrain.min_bars (${policy.min_bars}) must not exceed retrain.window_bars (${policy.window_bars})`);
  }
  return policy;
}
