// The `canary:` section of ops/policies.yaml: its types, the shipped defaults and the parser,
// one policy file per section as governance/policy.ts and alerts/policy.ts are. The canary
// manager reads it; ops/policies.ts parses the whole file with it. Kept apart from the manager
// so ops/policies.ts need not import the manager (and through it the registry and tracker).
import { ValidationError } from '../config/watchedFile.js';
import type { ScoreMetric } from './strategyTracker.js';

export interface CanaryRule {
  /** Fills the model must have made (shadow: in total; canary: as canary). */
  readonly min_trades: number;
  /** Hours of tracking (shadow: in total; canary: as canary). Fractions allowed. */
  readonly min_hours: number;
  /** Score the model must exceed the live model's by (0 = at least equal). */
  readonly score_margin: number;
  /** Largest drawdown (percent) the model may have had. */
  readonly max_drawdown_pct: number;
}

export interface RollbackRule {
  /** Hours live before the rule applies (a fresh promotion has no figures yet). */
  readonly min_hours: number;
  readonly min_trades: number;
  /** Drawdown since promotion (percent) past which the promotion is undone. */
  readonly max_drawdown_pct: number;
  /** Score since promotion below which the promotion is undone; null = no score floor. */
  readonly min_score: number | null;
}

export interface CanaryPolicy {
  readonly enabled: boolean;
  readonly evaluate_every_sec: number;
  readonly score_metric: ScoreMetric;
  /** Weight a canary trades at (a share of what it would trade live). */
  readonly canary_weight: number;
  /** Weight a model gets on promotion to live. */
  readonly live_weight: number;
  /** Promote shadow models to canary automatically (else only POST /strategy/promote does). */
  readonly auto_canary: boolean;
  readonly max_canaries: number;
  /** Hours a demoted or rolled-back model waits before it may be a canary again. */
  readonly cooldown_hours: number;
  /** Sell a model's engine positions when it drops to weight 0 (it can no longer manage them). */
  readonly flatten_on_demotion: boolean;
  readonly history_limit: number;
  /** shadow → canary */
  readonly enter: CanaryRule;
  /** canary → live; max_hours: a canary that has not qualified by then returns to shadow (0 = never). */
  readonly promote: CanaryRule & { readonly max_hours: number };
  /** live (promoted) → back to the model it replaced */
  readonly rollback: RollbackRule;
}

export const DEFAULT_CANARY_POLICY: CanaryPolicy = {
  enabled: true,
  evaluate_every_sec: 30,
  score_metric: 'sharpe',
  canary_weight: 0.1,
  live_weight: 1,
  auto_canary: true,
  max_canaries: 1,
  cooldown_hours: 6,
  flatten_on_demotion: true,
  history_limit: 500,
  enter: { min_trades: 10, min_hours: 24, score_margin: 0.25, max_drawdown_pct: 10 },
  promote: { min_trades: 20, min_hours: 48, score_margin: 0.25, max_drawdown_pct: 8, max_hours: 336 },
  rollback: { min_hours: 1, min_trades: 5, max_drawdown_pct: 12, min_score: null },
};

const SCORE_METRICS: readonly ScoreMetric[] = ['sharpe', 'sortino', 'return_pct', 'pnl'];

/** Validates the `canary:` section of ops/policies.yaml; missing keys take the defaults,
 *  unknown keys are refused (a typo must not silently do nothing). Errors name the key. */
export function parseCanaryPolicy(value: unknown): CanaryPolicy {
  if (value === null || value === undefined) return DEFAULT_CANARY_POLICY;
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(`${path} must be a mapping`);
    return v as Record<string, unknown>;
  };
  const known = (o: Record<string, unknown>, keys: readonly string[], path: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw new ValidationError(`${path}.${k} is not a known key (known: ${keys.join(', ')})`);
  };
  const num = (o: Record<string, unknown>, key: string, path: string, dflt: number, lo: number, hi: number, integer = false): number => {
    if (!(key in o)) return dflt;
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
      throw new ValidationError(`${path}.${key} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const bool = (o: Record<string, unknown>, key: string, path: string, dflt: boolean): boolean => {
    if (!(key in o)) return dflt;
    if (typeof o[key] !== 'boolean') throw new ValidationError(`${path}.${key} must be true or false, got ${JSON.stringify(o[key])}`);
    return o[key] as boolean;
  };
  const rule = (v: unknown, path: string, dflt: CanaryRule): CanaryRule => {
    if (v === undefined) return dflt;
    const o = obj(v, path);
    known(o, ['min_trades', 'min_hours', 'score_margin', 'max_drawdown_pct', ...(path.endsWith('promote') ? ['max_hours'] : [])], path);
    return {
      min_trades: num(o, 'min_trades', path, dflt.min_trades, 0, 1e9, true),
      min_hours: num(o, 'min_hours', path, dflt.min_hours, 0, 24 * 365),
      score_margin: num(o, 'score_margin', path, dflt.score_margin, -1e9, 1e9),
      max_drawdown_pct: num(o, 'max_drawdown_pct', path, dflt.max_drawdown_pct, 0, 100),
    };
  };
  const c = obj(value, 'canary');
  known(c, ['enabled', 'evaluate_every_sec', 'score_metric', 'canary_weight', 'live_weight', 'auto_canary', 'max_canaries', 'cooldown_hours', 'flatten_on_demotion', 'history_limit', 'enter', 'promote', 'rollback'], 'canary');
  const d = DEFAULT_CANARY_POLICY;
  const metric = c['score_metric'] ?? d.score_metric;
  if (!SCORE_METRICS.includes(metric as ScoreMetric)) throw new ValidationError(`canary.score_metric must be one of ${SCORE_METRICS.join(', ')}, got ${JSON.stringify(metric)}`);
  const promoteRaw = c['promote'] === undefined ? {} : obj(c['promote'], 'canary.promote');
  const rbRaw = c['rollback'] === undefined ? {} : obj(c['rollback'], 'canary.rollback');
  known(rbRaw, ['min_hours', 'min_trades', 'max_drawdown_pct', 'min_score'], 'canary.rollback');
  let minScore: number | null = d.rollback.min_score;
  if ('min_score' in rbRaw) {
    const v = rbRaw['min_score'];
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new ValidationError(`canary.rollback.min_score must be a number or null, got ${JSON.stringify(v)}`);
    minScore = v as number | null;
  }
  const canaryWeight = num(c, 'canary_weight', 'canary', d.canary_weight, 0.0001, 1);
  const liveWeight = num(c, 'live_weight', 'canary', d.live_weight, 0.0001, 1);
  if (canaryWeight > liveWeight) throw new ValidationError(`canary.canary_weight (${canaryWeight}) must not exceed canary.live_weight (${liveWeight})`);
  return {
    enabled: bool(c, 'enabled', 'canary', d.enabled),
    evaluate_every_sec: num(c, 'evaluate_every_sec', 'canary', d.evaluate_every_sec, 0.05, 86_400),
    score_metric: metric as ScoreMetric,
    canary_weight: canaryWeight,
    live_weight: liveWeight,
    auto_canary: bool(c, 'auto_canary', 'canary', d.auto_canary),
    max_canaries: num(c, 'max_canaries', 'canary', d.max_canaries, 0, 100, true),
    cooldown_hours: num(c, 'cooldown_hours', 'canary', d.cooldown_hours, 0, 24 * 365),
    flatten_on_demotion: bool(c, 'flatten_on_demotion', 'canary', d.flatten_on_demotion),
    history_limit: num(c, 'history_limit', 'canary', d.history_limit, 1, 1_000_000, true),
    enter: rule(c['enter'], 'canary.enter', d.enter),
    promote: { ...rule(promoteRaw, 'canary.promote', d.promote), max_hours: num(promoteRaw, 'max_hours', 'canary.promote', d.promote.max_hours, 0, 24 * 365) },
    rollback: {
      min_hours: num(rbRaw, 'min_hours', 'canary.rollback', d.rollback.min_hours, 0, 24 * 365),
      min_trades: num(rbRaw, 'min_trades', 'canary.rollback', d.rollback.min_trades, 0, 1e9, true),
      max_drawdown_pct: num(rbRaw, 'max_drawdown_pct', 'canary.rollback', d.rollback.max_drawdown_pct, 0, 100),
      min_score: minScore,
    },
  };
}
