// The governance daemon's decisions, as pure functions of the policy, the metrics seen on the
// bus and the daemon's memory. The daemon (daemon.ts) is the loop around them: it feeds in
// metrics.update events, engine polls and the clock, and carries out what these return.
//
// Exposure: the multiplier drops at once to the lowest cap of the rules that hold, and rises
// only one step per recovery window, after every rule has been clear and no watched metric
// has worsened for the whole window. So values from the stack's own publisher and values
// injected by an operator never fight: a single bad reading cuts exposure, and a stream of good
// ones restores it slowly. The multiplier never rises on a reading where drawdown worsened.
import type { ExposureRule, GovernancePolicy } from './policy.js';

export interface MetricSample {
  readonly value: number;
  readonly ts: number;
}

export type MetricTable = ReadonlyMap<string, MetricSample>;

export interface ExposureMemory {
  readonly multiplier: number;
  /** Since when every rule has allowed more than the current multiplier (null: not recovering). */
  readonly calmSince: number | null;
}

export interface RuleHit {
  readonly rule: ExposureRule;
  readonly value: number;
}

export type ExposureChange =
  | { readonly kind: 'reduced'; readonly from: number; readonly to: number; readonly cause: string; readonly hit: RuleHit | null }
  | { readonly kind: 'restored'; readonly from: number; readonly to: number; readonly cause: string };

/** Metrics whose rise is adverse even without a rule on them (the property the daemon keeps). */
const HIGHER_IS_WORSE = new Set(['drawdown_pct']);
const LOWER_IS_WORSE = new Set(['pnl_unrealized', 'pnl_realized', 'equity']);

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

export function ruleHolds(rule: ExposureRule, value: number): boolean {
  return rule.op === 'below' ? value < rule.threshold : value > rule.threshold;
}

/** Fresh (not expired) metric values. */
export function freshValue(metrics: MetricTable, name: string, now: number, ttlMs: number): number | undefined {
  const s = metrics.get(name);
  return s !== undefined && now - s.ts <= ttlMs ? s.value : undefined;
}

/** The highest multiplier the current metrics allow, and the rule that binds it. */
export function exposureCap(policy: GovernancePolicy, metrics: MetricTable, now: number): { cap: number; hit: RuleHit | null } {
  let cap = 1;
  let hit: RuleHit | null = null;
  for (const rule of policy.exposure_rules) {
    const value = freshValue(metrics, rule.metric, now, policy.metric_ttl_sec * 1000);
    if (value === undefined || !ruleHolds(rule, value)) continue;
    if (hit === null ? rule.multiplier <= cap : rule.multiplier < cap) {
      cap = rule.multiplier;
      hit = { rule, value };
    }
  }
  return { cap: Math.max(policy.min_multiplier, cap), hit };
}

/** True when an update moved a watched metric the wrong way (deeper loss, deeper drawdown). */
export function isAdverse(policy: GovernancePolicy, previous: MetricTable, update: Readonly<Record<string, number>>): boolean {
  for (const [name, value] of Object.entries(update)) {
    const prev = previous.get(name)?.value;
    if (prev === undefined) continue;
    let higherWorse = HIGHER_IS_WORSE.has(name);
    let lowerWorse = LOWER_IS_WORSE.has(name);
    for (const r of policy.exposure_rules) {
      if (r.metric !== name) continue;
      if (r.op === 'above') higherWorse = true;
      else lowerWorse = true;
    }
    if ((higherWorse && value > prev) || (lowerWorse && value < prev)) return true;
  }
  return false;
}

export function describeHit(hit: RuleHit): string {
  return `${hit.rule.metric} ${fmt(hit.value)} ${hit.rule.op === 'below' ? '<' : '>'} ${fmt(hit.rule.threshold)}, rule ${hit.rule.name}`;
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

/** One evaluation step. `adverse` says whether the reading that triggered it worsened a watched metric. */
export function stepExposure(policy: GovernancePolicy, memory: ExposureMemory, metrics: MetricTable, adverse: boolean, now: number): { memory: ExposureMemory; change: ExposureChange | null } {
  const { cap, hit } = exposureCap(policy, metrics, now);
  const m = memory.multiplier;
  if (cap < m - 1e-9) {
    const to = round(cap);
    return {
      memory: { multiplier: to, calmSince: null },
      change: { kind: 'reduced', from: m, to, cause: hit ? describeHit(hit) : `policy allows at most ×${to.toFixed(2)}`, hit },
    };
  }
  if (adverse || cap <= m + 1e-9) return { memory: { multiplier: m, calmSince: null }, change: null };
  if (memory.calmSince === null) return { memory: { multiplier: m, calmSince: now }, change: null };
  if (now - memory.calmSince < policy.recovery.window_sec * 1000) return { memory, change: null };
  const to = round(Math.min(cap, m + policy.recovery.step));
  return {
    memory: { multiplier: to, calmSince: now },
    change: { kind: 'restored', from: m, to, cause: `every rule clear and nothing worsened for ${policy.recovery.window_sec} s` },
  };
}

/** Edge-triggered escalation of the global trading state by drawdown: REDUCING, then HALTED.
 *  An escalation fires when its condition turns true and re-arms only once it has been false,
 *  so an operator who resumes during a drawdown is not overruled until it deepens further. */
export interface EscalationArms {
  readonly reducing: boolean;
  readonly halt: boolean;
}

export function stepEscalation(policy: GovernancePolicy, drawdownPct: number | undefined, arms: EscalationArms): { arms: EscalationArms; escalate: ('REDUCING' | 'HALTED')[] } {
  if (drawdownPct === undefined) return { arms, escalate: [] };
  const reducingCond = policy.reducing_at_drawdown_pct !== null && drawdownPct >= policy.reducing_at_drawdown_pct;
  const haltCond = policy.halt_at_drawdown_pct !== null && drawdownPct >= policy.halt_at_drawdown_pct;
  const escalate: ('REDUCING' | 'HALTED')[] = [];
  let { reducing, halt } = arms;
  if (reducingCond && reducing) {
    escalate.push('REDUCING');
    reducing = false;
  } else if (!reducingCond) reducing = true;
  if (haltCond && halt) {
    escalate.push('HALTED');
    halt = false;
  } else if (!haltCond) halt = true;
  return { arms: { reducing, halt }, escalate };
}

/** Cumulative venue request counters observed at one time. */
export interface VenueSample {
  readonly ts: number;
  readonly requests: number;
  readonly errors: number;
}

/** Error rate over the window from cumulative samples (oldest inside the window vs newest);
 *  null while fewer than `minRequests` requests were made in it. */
export function venueErrorRate(samples: readonly VenueSample[], now: number, windowMs: number, minRequests: number): { rate: number; requests: number; errors: number } | null {
  const inWindow = samples.filter((s) => now - s.ts <= windowMs);
  if (inWindow.length === 0) return null;
  const newest = inWindow[inWindow.length - 1]!;
  // The baseline is the last sample before the window (if any), else the oldest in it.
  const before = samples.filter((s) => now - s.ts > windowMs);
  const base = before.length > 0 ? before[before.length - 1]! : inWindow[0]!;
  const requests = newest.requests - base.requests;
  const errors = newest.errors - base.errors;
  if (requests < minRequests || requests <= 0) return null;
  return { rate: errors / requests, requests, errors };
}

/** Timestamps inside the window (for rejection bursts). */
export function countInWindow(times: readonly number[], now: number, windowMs: number): number {
  let n = 0;
  for (let i = times.length - 1; i >= 0; i--) {
    if (now - times[i]! > windowMs) break;
    n++;
  }
  return n;
}
