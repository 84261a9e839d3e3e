// The `governance:` section of ops/policies.yaml: the rules the governance daemon applies to
// the bus's metrics (exposure ladder, drawdown → REDUCING → HALTED, venue error rate,
// rejection bursts, latency) and how it recovers. Validated key by key; an unknown key or an
// out-of-range value is refused, so a bad edit keeps the last good policy (WatchedFile).
import { ValidationError } from '../../config/watchedFile.js';

/** One rung of the exposure ladder: while `metric` is below/above `threshold`, the exposure
 *  multiplier may be at most `multiplier`. */
export interface ExposureRule {
  readonly name: string;
  readonly metric: string;
  readonly op: 'below' | 'above';
  readonly threshold: number;
  readonly multiplier: number;
}

export interface GovernancePolicy {
  readonly enabled: boolean;
  /** How often the stack publishes its own portfolio numbers as metrics.update and polls engines. */
  readonly metrics_interval_sec: number;
  /** A metric not refreshed for this long no longer holds a rule (an injected test value expires). */
  readonly metric_ttl_sec: number;
  readonly exposure_rules: readonly ExposureRule[];
  readonly min_multiplier: number;
  /** The multiplier rises by `step` only after every rule has been clear, and no watched metric
   *  has worsened, for `window_sec`; then it waits another window before the next step. */
  readonly recovery: { readonly window_sec: number; readonly step: number };
  /** drawdown_pct at which the global state goes REDUCING, then HALTED (null = never). */
  readonly reducing_at_drawdown_pct: number | null;
  readonly halt_at_drawdown_pct: number | null;
  /** A venue whose error rate over the window reaches max_error_rate (with at least
   *  min_requests requests) is set HALTED. */
  readonly venue_errors: { readonly window_sec: number; readonly min_requests: number; readonly max_error_rate: number };
  /** This many risk rejections within the window raise an alert. */
  readonly rejection_burst: { readonly count: number; readonly window_sec: number };
  /** Routing latency p99 (ms) above which an alert is raised (null = off). */
  readonly latency_p99_ms: number | null;
  /** On a reduction, also sell down each model's long positions by the same proportion. */
  readonly trim_positions: boolean;
}

/** The range an operator may set the multiplier in (POST /governance/exposure, POST /kill's
 *  exposure_multiplier). 1e-320 and 0.000001 were taken and silently raised to min_multiplier;
 *  0 is refused too: it is no "flat" (it would be raised to min_multiplier and trade at that
 *  size) — to stay flat an operator keeps trading paused or sets REDUCING. A value in range but
 *  under min_multiplier is still raised to it (governance's floor). */
export const OPERATOR_MULTIPLIER = { min: 0.01, max: 1 } as const;

export const DEFAULT_GOVERNANCE_POLICY: GovernancePolicy = {
  enabled: true,
  metrics_interval_sec: 5,
  metric_ttl_sec: 600,
  exposure_rules: [
    { name: 'loss_50', metric: 'pnl_unrealized', op: 'below', threshold: -50, multiplier: 0.85 },
    { name: 'loss_100', metric: 'pnl_unrealized', op: 'below', threshold: -100, multiplier: 0.7 },
    { name: 'loss_200', metric: 'pnl_unrealized', op: 'below', threshold: -200, multiplier: 0.5 },
    { name: 'drawdown_3', metric: 'drawdown_pct', op: 'above', threshold: 3, multiplier: 0.75 },
    { name: 'drawdown_5', metric: 'drawdown_pct', op: 'above', threshold: 5, multiplier: 0.5 },
  ],
  min_multiplier: 0.1,
  recovery: { window_sec: 300, step: 0.1 },
  reducing_at_drawdown_pct: 8,
  halt_at_drawdown_pct: 12,
  venue_errors: { window_sec: 60, min_requests: 10, max_error_rate: 0.5 },
  rejection_burst: { count: 20, window_sec: 60 },
  latency_p99_ms: 2000,
  trim_positions: false,
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function number(path: string, v: unknown, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new ValidationError(`${path} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(path: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValidationError(`${path} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function only(path: string, o: Obj, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new ValidationError(`${path}: unknown key ${JSON.stringify(k)} (known: ${keys.join(', ')})`);
}

function section<T extends Obj>(path: string, v: unknown, dflt: T, parseKey: (key: string, value: unknown) => unknown): T {
  if (v === undefined || v === null) return dflt;
  if (!isObj(v)) throw new ValidationError(`${path} must be a mapping`);
  only(path, v, Object.keys(dflt));
  const out: Obj = { ...dflt };
  for (const [k, value] of Object.entries(v)) out[k] = parseKey(k, value);
  return out as T;
}

function parseRule(path: string, v: unknown): ExposureRule {
  if (!isObj(v)) throw new ValidationError(`${path} must be a mapping like {metric: pnl_unrealized, below: -100, multiplier: 0.7}`);
  only(path, v, ['name', 'metric', 'below', 'above', 'multiplier']);
  if (typeof v.metric !== 'string' || !/^[a-z][a-z0-9_]{0,63}$/.test(v.metric)) throw new ValidationError(`${path}.metric must be a metric name like pnl_unrealized, got ${JSON.stringify(v.metric)}`);
  const hasBelow = 'below' in v, hasAbove = 'above' in v;
  if (hasBelow === hasAbove) throw new ValidationError(`${path}: give exactly one of below or above`);
  const op = hasBelow ? 'below' : 'above';
  const threshold = number(`${path}.${op}`, hasBelow ? v.below : v.above, -1e15, 1e15);
  const multiplier = number(`${path}.multiplier`, v.multiplier, 0, 1);
  let name = `${v.metric}_${op}_${threshold}`;
  if (v.name !== undefined) {
    if (typeof v.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(v.name)) throw new ValidationError(`${path}.name must be 1-64 characters of [A-Za-z0-9_.-]`);
    name = v.name;
  }
  return { name, metric: v.metric, op, threshold, multiplier };
}

export function parseGovernancePolicy(value: unknown): GovernancePolicy {
  const d = DEFAULT_GOVERNANCE_POLICY;
  const p = section('governance', value, d as unknown as Obj, (k, v) => {
    const path = `governance.${k}`;
    switch (k) {
      case 'enabled':
      case 'trim_positions':
        return bool(path, v);
      case 'metrics_interval_sec':
        return number(path, v, 0.05, 3600);
      case 'metric_ttl_sec':
        return number(path, v, 1, 30 * 86_400);
      case 'min_multiplier':
        return number(path, v, 0, 1);
      case 'reducing_at_drawdown_pct':
      case 'halt_at_drawdown_pct':
        return v === null ? null : number(path, v, 0, 100);
      case 'latency_p99_ms':
        return v === null ? null : number(path, v, 1, 3_600_000);
      case 'exposure_rules': {
        if (!Array.isArray(v)) throw new ValidationError(`${path} must be a list of rules`);
        const rules = v.map((r, i) => parseRule(`${path}[${i}]`, r));
        const names = new Set<string>();
        for (const r of rules) {
          if (names.has(r.name)) throw new ValidationError(`${path}: rule name ${JSON.stringify(r.name)} is used twice`);
          names.add(r.name);
        }
        return rules;
      }
      case 'recovery':
        return section(path, v, d.recovery as unknown as Obj, (kk, vv) => (kk === 'window_sec' ? number(`${path}.${kk}`, vv, 0, 30 * 86_400) : number(`${path}.${kk}`, vv, 0.001, 1)));
      case 'venue_errors':
        return section(path, v, d.venue_errors as unknown as Obj, (kk, vv) =>
          kk === 'max_error_rate' ? number(`${path}.${kk}`, vv, 0.0001, 1) : kk === 'min_requests' ? number(`${path}.${kk}`, vv, 1, 1e9, true) : number(`${path}.${kk}`, vv, 1, 86_400));
      case 'rejection_burst':
        return section(path, v, d.rejection_burst as unknown as Obj, (kk, vv) => (kk === 'count' ? number(`${path}.${kk}`, vv, 1, 1e9, true) : number(`${path}.${kk}`, vv, 1, 86_400)));
      default:
        throw new ValidationError(`${path}: unknown key`);
    }
  }) as unknown as GovernancePolicy;
  if (p.reducing_at_drawdown_pct !== null && p.halt_at_drawdown_pct !== null && p.halt_at_drawdown_pct <= p.reducing_at_drawdown_pct) {
    throw new ValidationError(`governance.halt_at_drawdown_pct (${p.halt_at_drawdown_pct}) must be above reducing_at_drawdown_pct (${p.reducing_at_drawdown_pct}): REDUCING comes before HALTED`);
  }
  for (const r of p.exposure_rules) {
    if (r.multiplier < p.min_multiplier) throw new ValidationError(`governance.exposure_rules ${r.name}: multiplier ${r.multiplier} is below min_multiplier ${p.min_multiplier}`);
  }
  return p;
}
