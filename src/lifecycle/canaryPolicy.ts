// The `canary:` section of ops/policies.yaml: when a model may enter canary, be promoted to
// live, or be rolled back — its defaults and its parser (ops/policies.ts calls it). Every rule
// is judged on evidence in market time (bar timestamps) and a significance test of the edge
// over the live model at `confidence`; windows and cooldowns (max_hours, cooldown_hours,
// evaluate_every_sec) run on the stack's Clock. The decision itself is canaryDecision.ts.
import { ValidationError } from '../config/watchedFile.js';
import type { ScoreMetric } from './strategyTracker.js';

export interface StageRule {
  /** Market time the stage's evidence must cover (hours of bar timestamps, never wall clock). */
  readonly min_market_hours: number;
  /** Fills the model must have made in the stage (paper fills in shadow). */
  readonly min_trades: number;
  /** Largest drawdown (percent) the model may have had in the stage. */
  readonly max_drawdown_pct: number;
}

export interface CanaryPolicy {
  readonly enabled: boolean;
  /** Seconds of the stack's clock between evaluations. */
  readonly evaluate_every_sec: number;
  /** The leaderboard's display score; promotion does not read it (it reads `confidence`). */
  readonly score_metric: ScoreMetric;
  /** Weight a canary trades at (a share of what it would trade live). */
  readonly canary_weight: number;
  /** Weight a model gets on promotion to live. */
  readonly live_weight: number;
  /** Promote shadow models to canary automatically (else only POST /strategy/promote does). */
  readonly auto_canary: boolean;
  readonly max_canaries: number;
  /** Clock hours a demoted or rolled-back model waits before it may be a canary again. */
  readonly cooldown_hours: number;
  /** Sell a model's engine positions when it drops to weight 0 (it can no longer manage them). */
  readonly flatten_on_demotion: boolean;
  readonly history_limit: number;
  /**
   * How sure the stack must be that a candidate beats the live model net of fees before it
   * enters canary and again before it goes live; a live model is rolled back when the model
   * it replaced beats it with this confidence. The test stays valid however often it is
   * looked at (canaryDecision.ts), so this is the false-promotion rate a trader can expect.
   */
  readonly confidence: number;
  /** shadow → canary, judged on the shadow stage's paper book. */
  readonly enter: StageRule;
  /** canary → live, judged on what it did as canary; max_hours (clock hours): a canary that has
   *  not qualified by then returns to shadow (0 = never). */
  readonly promote: StageRule & { readonly max_hours: number };
  /** live (promoted) → back to the model it replaced; the rule applies once the promoted
   *  model has this much evidence (min_market_hours, min_trades). */
  readonly rollback: StageRule;
}

// Reachable by a paper stack within its first hour: at the default 1 bar/s = 1 market minute,
// an hour of running is 60 market hours, and enter (12) + promote (24) leave time for the
// evidence to become significant.
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
  confidence: 0.95,
  enter: { min_market_hours: 12, min_trades: 10, max_drawdown_pct: 10 },
  promote: { min_market_hours: 24, min_trades: 10, max_drawdown_pct: 8, max_hours: 336 },
  rollback: { min_market_hours: 1, min_trades: 5, max_drawdown_pct: 12 },
};

const SCORE_METRICS: readonly ScoreMetric[] = ['sharpe', 'sortino', 'return_pct', 'pnl'];

// Keys of the earlier wall-clock, score-margin rules: refused with what replaced them, so an
// operator's old file fails with a message that says what to write instead.
const REPLACED: Record<string, string> = {
  min_hours: 'min_market_hours (hours of market time, from bar timestamps)',
  score_margin: 'canary.confidence (a significance test that the model beats live net of fees)',
  min_score: 'canary.confidence (a live model the replaced one beats with that confidence is rolled back)',
};

/** Validates the `canary:` section of ops/policies.yaml; missing keys take the defaults,
 *  unknown keys are refused (a typo must not silently do nothing). Errors name the key. */
export function parseCanaryPolicy(value: unknown): CanaryPolicy {
  if (value === null || value === undefined) return DEFAULT_CANARY_POLICY;
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(`${path} must be a mapping`);
    return v as Record<string, unknown>;
  };
  const known = (o: Record<string, unknown>, keys: readonly string[], path: string) => {
    for (const k of Object.keys(o)) {
      if (keys.includes(k)) continue;
      if (REPLACED[k]) throw new ValidationError(`${path}.${k} is no longer a key: use ${REPLACED[k]}`);
      throw new ValidationError(`${path}.${k} is not a known key (known: ${keys.join(', ')})`);
    }
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
  const RULE_KEYS = ['min_market_hours', 'min_trades', 'max_drawdown_pct'];
  const rule = (o: Record<string, unknown>, path: string, dflt: StageRule): StageRule => ({
    min_market_hours: num(o, 'min_market_hours', path, dflt.min_market_hours, 0, 24 * 365 * 10),
    min_trades: num(o, 'min_trades', path, dflt.min_trades, 0, 1e9, true),
    max_drawdown_pct: num(o, 'max_drawdown_pct', path, dflt.max_drawdown_pct, 0, 100),
  });
  const c = obj(value, 'canary');
  known(c, ['enabled', 'evaluate_every_sec', 'score_metric', 'canary_weight', 'live_weight', 'auto_canary', 'max_canaries', 'cooldown_hours', 'flatten_on_demotion', 'history_limit', 'confidence', 'enter', 'promote', 'rollback'], 'canary');
  const d = DEFAULT_CANARY_POLICY;
  const metric = c['score_metric'] ?? d.score_metric;
  if (!SCORE_METRICS.includes(metric as ScoreMetric)) throw new ValidationError(`canary.score_metric must be one of ${SCORE_METRICS.join(', ')}, got ${JSON.stringify(metric)}`);
  const section = (key: string) => {
    const path = `canary.${key}`;
    const o = c[key] === undefined ? {} : obj(c[key], path);
    known(o, key === 'promote' ? [...RULE_KEYS, 'max_hours'] : RULE_KEYS, path);
    return o;
  };
  const enterRaw = section('enter');
  const promoteRaw = section('promote');
  const rbRaw = section('rollback');
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
    // Below 0.5 "beats live" would be more likely wrong than right; 0.9999 is already a
    // test few real edges pass within weeks.
    confidence: num(c, 'confidence', 'canary', d.confidence, 0.5, 0.9999),
    enter: rule(enterRaw, 'canary.enter', d.enter),
    promote: { ...rule(promoteRaw, 'canary.promote', d.promote), max_hours: num(promoteRaw, 'max_hours', 'canary.promote', d.promote.max_hours, 0, 24 * 365) },
    rollback: rule(rbRaw, 'canary.rollback', d.rollback),
  };
}
