// ops/capital_policy.json: the allocator's bounds. Operator-edited, reloaded on change.
// The runbook's market-disruption step ("extend allocation freeze") is `freeze_until` (or a
// longer `cooldown_sec`): quotas then stay where they are. `probation` is what a new or
// unproven model gets until it has evidence; `tilt_strength` how far evidence moves a share.
import { ValidationError } from '../config/watchedFile.js';

export interface ProbationPolicy {
  /** Quota (USD) of a model that is not live and has too little evidence: its paper sizing
   *  budget in shadow. Never above the live model's quota. */
  readonly quota_usd: number;
  /** Bars (market time) and trades a model needs before its evidence moves its quota. */
  readonly min_bars: number;
  readonly min_trades: number;
}

export interface ModelLimits {
  readonly min_quota_usd?: number;
  readonly max_quota_usd?: number;
}

export interface CapitalPolicy {
  readonly refresh_sec: number;
  /** Share of equity the allocator may hand out across all models. */
  readonly max_deployable_frac: number;
  /** Per-model floor and cap (USD); model_limits overrides them per model. */
  readonly min_quota_usd: number;
  readonly max_quota_usd: number;
  /** Largest relative change of one model's quota per allocation step. */
  readonly max_step_pct: number;
  /** After a model's quota changes, it stays put this long. */
  readonly cooldown_sec: number;
  /** ISO time until which quotas are frozen (market disruption), or null. */
  readonly freeze_until: string | null;
  readonly probation: ProbationPolicy;
  /**
   * Evidence tilt: a proven model's share is ∝ exp(tilt_strength × z), z its probabilistic
   * Sharpe ratio against zero as a z-score (per-bar Sharpe × √bars, widened for skew and fat
   * tails): it grows with both the Sharpe and the evidence behind it and never saturates, so
   * models with different evidence get different shares; 0 = equal shares. Caps, the step
   * limit and cooldowns bound how fast and how far it moves capital.
   */
  readonly tilt_strength: number;
  readonly model_limits: Readonly<Record<string, ModelLimits>>;
}

export const DEFAULT_CAPITAL_POLICY: CapitalPolicy = {
  refresh_sec: 5,
  max_deployable_frac: 0.8,
  min_quota_usd: 250,
  max_quota_usd: 25_000,
  max_step_pct: 0.25,
  cooldown_sec: 0,
  freeze_until: null,
  // A tenth of the deployable capital at the default 10,000 USD of paper cash: enough for a
  // shadow model's paper orders to clear the minimum notional, and for its returns to mean
  // something, without taking capital from the live model.
  probation: { quota_usd: 1000, min_bars: 240, min_trades: 5 },
  // z = +2 against z = −2 is e ≈ 2.7 times the share.
  tilt_strength: 0.25,
  model_limits: {},
};

const KEYS = Object.keys(DEFAULT_CAPITAL_POLICY);

// Keys of the earlier Sharpe-clip tilt: refused with what replaced them.
const REPLACED: Record<string, string> = {
  tilt_metric: 'the tilt now always reads the evidence-weighted Sharpe (see tilt_strength)',
  tilt_clip: 'no clip: the evidence z-score does not saturate; max_quota_usd and max_step_pct bound a share',
  tilt_min_samples: 'probation.min_bars and probation.min_trades',
};

export function parseCapitalPolicy(text: string): CapitalPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ValidationError('expected a JSON object');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (REPLACED[k]) throw new ValidationError(`${k} is no longer a key: ${REPLACED[k]}`);
    if (!KEYS.includes(k)) throw new ValidationError(`unknown key ${JSON.stringify(k)} (known: ${KEYS.join(', ')})`);
  }
  const out: Record<string, unknown> = { ...DEFAULT_CAPITAL_POLICY };
  const isNum = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi;
  const num = (key: string, lo: number, hi: number) => {
    if (!(key in d)) return;
    const v = d[key];
    if (!isNum(v, lo, hi)) throw new ValidationError(`${key} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    out[key] = v;
  };
  num('refresh_sec', 1, 86_400);
  num('max_deployable_frac', 0, 1);
  num('min_quota_usd', 0, 1e12);
  num('max_quota_usd', 0, 1e12);
  num('max_step_pct', 0, 10);
  num('cooldown_sec', 0, 30 * 86_400);
  num('tilt_strength', 0, 10);
  if ('freeze_until' in d && d.freeze_until !== null) {
    if (typeof d.freeze_until !== 'string' || Number.isNaN(Date.parse(d.freeze_until))) throw new ValidationError('freeze_until must be an ISO date-time or null');
    out.freeze_until = d.freeze_until;
  }
  if ('probation' in d) {
    const pr = d.probation;
    if (pr === null || typeof pr !== 'object' || Array.isArray(pr)) throw new ValidationError('probation must be an object { quota_usd, min_bars, min_trades }');
    const r = pr as Record<string, unknown>;
    const keys = ['quota_usd', 'min_bars', 'min_trades'] as const;
    for (const k of Object.keys(r)) if (!(keys as readonly string[]).includes(k)) throw new ValidationError(`probation.${k} is not a known key (${keys.join(', ')})`);
    const probation: Record<string, number> = { ...DEFAULT_CAPITAL_POLICY.probation };
    for (const [k, hi, integer] of [['quota_usd', 1e12, false], ['min_bars', 1e9, true], ['min_trades', 1e9, true]] as const) {
      if (!(k in r)) continue;
      if (!isNum(r[k], 0, hi) || (integer && !Number.isInteger(r[k]))) throw new ValidationError(`probation.${k} must be ${integer ? 'an integer' : 'a number'} in [0, ${hi}], got ${JSON.stringify(r[k])}`);
      probation[k] = r[k] as number;
    }
    out.probation = probation;
  }
  if ((out.min_quota_usd as number) > (out.max_quota_usd as number)) throw new ValidationError('min_quota_usd must not exceed max_quota_usd');
  if ('model_limits' in d) {
    const ml = d.model_limits;
    if (ml === null || typeof ml !== 'object' || Array.isArray(ml)) throw new ValidationError('model_limits must be an object of model id → { min_quota_usd, max_quota_usd }');
    const limits: Record<string, ModelLimits> = {};
    for (const [model, raw] of Object.entries(ml as Record<string, unknown>)) {
      const path = `model_limits.${model}`;
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ValidationError(`${path} must be an object`);
      const r = raw as Record<string, unknown>;
      for (const k of Object.keys(r)) if (k !== 'min_quota_usd' && k !== 'max_quota_usd') throw new ValidationError(`${path}.${k} is not a known key (min_quota_usd, max_quota_usd)`);
      const lim: { min_quota_usd?: number; max_quota_usd?: number } = {};
      for (const k of ['min_quota_usd', 'max_quota_usd'] as const) {
        if (!(k in r)) continue;
        if (!isNum(r[k], 0, 1e12)) throw new ValidationError(`${path}.${k} must be a number in [0, 1e12], got ${JSON.stringify(r[k])}`);
        lim[k] = r[k] as number;
      }
      const lo = lim.min_quota_usd ?? (out.min_quota_usd as number);
      const hi = lim.max_quota_usd ?? (out.max_quota_usd as number);
      if (lo > hi) throw new ValidationError(`${path}: min_quota_usd (${lo}) must not exceed max_quota_usd (${hi})`);
      limits[model] = lim;
    }
    out.model_limits = limits;
  }
  return out as unknown as CapitalPolicy;
}

/** A model's floor and cap after per-model overrides. */
export function limitsFor(policy: CapitalPolicy, model: string): { floor: number; cap: number } {
  const l = policy.model_limits[model];
  return { floor: l?.min_quota_usd ?? policy.min_quota_usd, cap: l?.max_quota_usd ?? policy.max_quota_usd };
}
