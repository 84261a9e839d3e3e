// The capital allocator: sets each model's capital quota (USD) from equity, the models'
// risk-adjusted performance (strategy tracker) and ops/capital_policy.json, and rewrites
// ops/capital_allocations.json (plus a bounded history of changes beside it). The decision
// is the pure planAllocation(); the loop around it only reads equity and writes files.
//
// Order of rules, strongest first: the total never exceeds equity × max_deployable_frac
// (risk ceiling, even over a freeze); a freeze or cooldown keeps a quota where it is; a
// model's floor and cap (when the floors fit in what is deployable); the step limit.
import { readFileSync } from 'node:fs';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { limitsFor, type CapitalPolicy } from './capitalPolicy.js';

export interface ModelPerformance {
  readonly sharpe: number;
  /** Return in percent on the model's capital. */
  readonly return_pct: number;
  readonly samples: number;
}

export interface AllocationInput {
  readonly equityUsd: number;
  readonly models: readonly string[];
  readonly previous: Readonly<Record<string, number>>;
  readonly lastChangeAt: Readonly<Record<string, number>>;
  readonly now: number;
  readonly performance?: Readonly<Record<string, ModelPerformance>>;
}

export type AllocationReason = 'new' | 'target' | 'step_limited' | 'frozen' | 'cooldown' | 'floor' | 'cap' | 'scaled_to_deployable';

export interface AllocationPlan {
  readonly quotas: Record<string, number>;
  /** Where each model would go without cooldown, freeze or step limit. */
  readonly targets: Record<string, number>;
  readonly reasons: Record<string, AllocationReason>;
  readonly deployable: number;
  readonly frozen: boolean;
}

/** Share weights from performance: exp(strength × clip(metric)); neutral (1) until a model
 *  has tilt_min_samples samples. */
export function tiltWeights(models: readonly string[], perf: Readonly<Record<string, ModelPerformance>>, policy: CapitalPolicy): number[] {
  const out = new Array<number>(models.length);
  for (let i = 0; i < models.length; i++) {
    const p = perf[models[i]!];
    if (!p || p.samples < policy.tilt_min_samples || policy.tilt_strength === 0) {
      out[i] = 1;
      continue;
    }
    const raw = policy.tilt_metric === 'sharpe' ? p.sharpe : p.return_pct;
    const z = Math.max(-policy.tilt_clip, Math.min(policy.tilt_clip, Number.isFinite(raw) ? raw : 0));
    out[i] = Math.exp(policy.tilt_strength * z);
  }
  return out;
}

// Plain loops rather than map/reduce/forEach here and below: a backtest plans on every bar,
// and each callback is a closure allocated per call. Sums run left to right from 0, as the
// reduce they replace did, so every figure is bit for bit the same.
function sum(xs: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}

/**
 * Splits `total` in proportion to `w`, each share within [floor, cap] (water-filling: a
 * share that falls outside its bounds is pinned there and the rest re-split). When the
 * floors alone exceed the total they are scaled down together to fit.
 */
export function waterFill(total: number, w: readonly number[], floor: readonly number[], cap: readonly number[]): number[] {
  const n = w.length;
  const out = new Array<number>(n).fill(0);
  if (n === 0 || total <= 0) return out;
  const floorSum = sum(floor);
  if (floorSum >= total) {
    for (let i = 0; i < n; i++) out[i] = floorSum > 0 ? (floor[i]! * total) / floorSum : total / n;
    return out;
  }
  const pinned = new Array<boolean>(n).fill(false);
  for (let round = 0; round <= n; round++) {
    let rest = total;
    let wSum = 0;
    for (let i = 0; i < n; i++) {
      if (pinned[i]) rest -= out[i]!;
      else wSum += w[i]!;
    }
    if (wSum <= 0) break;
    let changed = false;
    for (let i = 0; i < n; i++) if (!pinned[i]) out[i] = (rest * w[i]!) / wSum;
    // Pin floors first: raising a small share to its floor is what takes from the others.
    for (let i = 0; i < n; i++) {
      if (!pinned[i] && out[i]! < floor[i]!) { out[i] = floor[i]!; pinned[i] = true; changed = true; }
    }
    if (!changed) {
      for (let i = 0; i < n; i++) {
        if (!pinned[i] && out[i]! > cap[i]!) { out[i] = cap[i]!; pinned[i] = true; changed = true; }
      }
    }
    if (!changed) break;
  }
  return out;
}

/** When freeze_until ends (epoch ms); -Infinity without a freeze. */
function freezeEnd(policy: CapitalPolicy): number {
  return policy.freeze_until === null ? -Infinity : Date.parse(policy.freeze_until);
}

/** Whether a quota last changed at `lastChangeAt` is still in its cooldown at `now`. */
function coolingAt(policy: CapitalPolicy, lastChangeAt: number | undefined, now: number): boolean {
  return now - (lastChangeAt ?? 0) < policy.cooldown_sec * 1000;
}

export function planAllocation(input: AllocationInput, policy: CapitalPolicy): AllocationPlan {
  const { models, equityUsd, previous, lastChangeAt, now } = input;
  const deployable = Math.max(0, Number.isFinite(equityUsd) ? equityUsd : 0) * policy.max_deployable_frac;
  const frozen = freezeEnd(policy) > now;
  const quotas: Record<string, number> = {};
  const targets: Record<string, number> = {};
  const reasons: Record<string, AllocationReason> = {};
  const n = models.length;
  if (n === 0) return { quotas, targets, reasons, deployable, frozen };

  const floors = new Array<number>(n);
  const caps = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const b = limitsFor(policy, models[i]!);
    floors[i] = b.floor;
    caps[i] = b.cap;
  }
  const floorsFit = sum(floors) <= deployable;
  const t = waterFill(deployable, tiltWeights(models, input.performance ?? {}, policy), floors, caps);
  for (let i = 0; i < n; i++) targets[models[i]!] = t[i]!;

  for (let i = 0; i < n; i++) {
    const m = models[i]!;
    const prev = previous[m];
    const target = t[i]!;
    if (prev === undefined) {
      quotas[m] = target;
      reasons[m] = 'new';
      continue;
    }
    if (frozen) {
      quotas[m] = prev;
      reasons[m] = 'frozen';
      continue;
    }
    if (coolingAt(policy, lastChangeAt[m], now)) {
      quotas[m] = prev;
      reasons[m] = 'cooldown';
      continue;
    }
    const step = Math.max(prev * policy.max_step_pct, 1);
    let q = Math.min(prev + step, Math.max(prev - step, target));
    reasons[m] = q === target ? 'target' : 'step_limited';
    // Floor and cap are hard limits (the operator's intent), the step limit moves within them.
    if (floorsFit && q < floors[i]!) { q = floors[i]!; reasons[m] = 'floor'; }
    if (q > caps[i]!) { q = caps[i]!; reasons[m] = 'cap'; }
    quotas[m] = q;
  }

  // The ceiling: if the quotas do not fit in what may be deployed (equity fell, a new model
  // joined), cut what lies above each floor in proportion; if even the floors do not fit,
  // scale everything. Frozen quotas are cut too: the ceiling is risk, the freeze is churn.
  let total = 0;
  for (let i = 0; i < n; i++) total += quotas[models[i]!]!;
  if (total > deployable) {
    const excess = new Array<number>(n);
    for (let i = 0; i < n; i++) excess[i] = Math.max(0, quotas[models[i]!]! - (floorsFit ? floors[i]! : 0));
    const excessSum = sum(excess);
    const cut = total - deployable;
    for (let i = 0; i < n; i++) {
      const m = models[i]!;
      quotas[m] = floorsFit && excessSum >= cut ? quotas[m]! - (excess[i]! * cut) / excessSum : (quotas[m]! * deployable) / total;
      reasons[m] = 'scaled_to_deployable';
    }
  }
  for (const m of models) quotas[m] = Math.max(0, Math.floor(quotas[m]! * 100 + 1e-6) / 100);
  // Rounding to the cent may not push the total over the ceiling.
  let rounded = 0;
  for (let i = 0; i < n; i++) rounded += quotas[models[i]!]!;
  for (const m of models) {
    if (rounded <= deployable + 1e-9) break;
    const over = Math.ceil((rounded - deployable) * 100 - 1e-9) / 100;
    const take = Math.min(quotas[m]!, over);
    quotas[m] = Math.round((quotas[m]! - take) * 100) / 100;
    rounded -= take;
  }
  return { quotas, targets, reasons, deployable, frozen };
}

/**
 * planAllocation for one model under a fixed policy and no performance tilt (a backtest,
 * which asks on every bar), answering a repeated question from memory. For such an input the
 * plan is a function of four things only: the equity, the previous quota, and the time
 * through two flags — frozen at `now` and in cooldown at `now` (see planAllocation; keep
 * this key in step with it). When all four equal the last call's, the last plan is the
 * answer; anything else recomputes. Between fills a flat book's equity does not move, so
 * most bars are answered here. The plan returned is shared between calls: read it only.
 */
export class SingleModelAllocation {
  private readonly models: readonly string[];
  private readonly frozenUntil: number;
  // planAllocation's input records, reused (it keeps none of its input): a literal with a
  // computed key ({ [model]: q }) is built by a slow runtime path on every call.
  private readonly noPrevious: Record<string, number> = {};
  private readonly previousQuota: Record<string, number> = {};
  private readonly changedAt: Record<string, number> = {};
  private last: AllocationPlan | null = null;
  private lastEquity = NaN;
  private lastPrevious: number | undefined = undefined;
  private lastFrozen = false;
  private lastCooling = false;

  constructor(readonly model: string, readonly policy: CapitalPolicy) {
    this.models = [model];
    this.frozenUntil = freezeEnd(policy);
  }

  /** `previous` undefined: the model has no quota yet. */
  plan(equityUsd: number, previous: number | undefined, lastChangeAt: number, now: number): AllocationPlan {
    // Kept small so the compiler inlines it into the caller's loop: the numbers then need no
    // boxing for the call, and a repeated question allocates nothing.
    const frozen = this.frozenUntil > now;
    const cooling = coolingAt(this.policy, lastChangeAt, now);
    if (this.last !== null && equityUsd === this.lastEquity && previous === this.lastPrevious && frozen === this.lastFrozen && cooling === this.lastCooling) {
      return this.last;
    }
    return this.replan(equityUsd, previous, lastChangeAt, now, frozen, cooling);
  }

  private replan(equityUsd: number, previous: number | undefined, lastChangeAt: number, now: number, frozen: boolean, cooling: boolean): AllocationPlan {
    if (previous !== undefined) this.previousQuota[this.model] = previous;
    this.changedAt[this.model] = lastChangeAt;
    this.last = planAllocation({
      equityUsd, models: this.models, previous: previous === undefined ? this.noPrevious : this.previousQuota,
      lastChangeAt: this.changedAt, now,
    }, this.policy);
    this.lastEquity = equityUsd;
    this.lastPrevious = previous;
    this.lastFrozen = frozen;
    this.lastCooling = cooling;
    return this.last;
  }
}

/** Equal shares of deployable equity (tilted by performance when given), clamped to each
 *  model's [floor, cap], moved at most max_step_pct per step, unchanged during cooldown or
 *  freeze; the total never exceeds deployable equity. */
export function allocateCapital(input: AllocationInput, policy: CapitalPolicy): Record<string, number> {
  return planAllocation(input, policy).quotas;
}

export interface AllocationsFile {
  readonly capital_quota_usd: Record<string, number>;
  /** Epoch seconds of each quota's last change. */
  readonly updated_at: Record<string, number>;
  readonly equity_usd: number;
  readonly deployable_usd: number;
  readonly target_quota_usd: Record<string, number>;
  readonly reasons: Record<string, AllocationReason>;
  readonly ts: string;
  readonly frozen_until: string | null;
}

export interface AllocationHistoryEntry {
  readonly ts: string;
  readonly equity_usd: number;
  readonly deployable_usd: number;
  readonly changes: Record<string, { from: number | null; to: number; reason: AllocationReason }>;
  readonly capital_quota_usd: Record<string, number>;
  readonly frozen_until: string | null;
}

export interface AllocatorExtras {
  /** Risk-adjusted performance per model (the strategy tracker). */
  readonly performance?: () => Readonly<Record<string, ModelPerformance>>;
  /** ops/capital_allocations_history.json; none when absent. */
  readonly historyPath?: string;
  /** policies.yaml allocation_history_limit. */
  readonly historyLimit?: () => number;
}

export class CapitalAllocator {
  private quotas: Record<string, number> = {};
  private changedAt: Record<string, number> = {};
  private history: AllocationHistoryEntry[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly policy: () => CapitalPolicy,
    private readonly models: () => readonly string[],
    private readonly equity: () => Promise<number>,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
    private readonly extras: AllocatorExtras = {},
  ) {
    // Resume from the last file so the step limit and cooldowns hold across a restart.
    const prev = readJson(path) as Partial<AllocationsFile> | null;
    if (prev && prev.capital_quota_usd && typeof prev.capital_quota_usd === 'object') {
      for (const [m, q] of Object.entries(prev.capital_quota_usd)) if (typeof q === 'number' && Number.isFinite(q) && q >= 0) this.quotas[m] = q;
      for (const [m, s] of Object.entries(prev.updated_at ?? {})) if (typeof s === 'number' && Number.isFinite(s)) this.changedAt[m] = s * 1000;
    }
    if (extras.historyPath) {
      const h = readJson(extras.historyPath) as { entries?: AllocationHistoryEntry[] } | null;
      if (h && Array.isArray(h.entries)) this.history = h.entries;
    }
  }

  quota(model: string): number {
    return this.quotas[model] ?? 0;
  }

  all(): Readonly<Record<string, number>> {
    return this.quotas;
  }

  recentHistory(limit = 100): AllocationHistoryEntry[] {
    return this.history.slice(-limit).reverse();
  }

  async step(now = Date.now()): Promise<AllocationsFile> {
    const equityUsd = await this.equity();
    const policy = this.policy();
    const models = this.models();
    const previous: Record<string, number> = {};
    for (const m of models) if (this.quotas[m] !== undefined) previous[m] = this.quotas[m]!;
    const plan = planAllocation({ equityUsd, models, previous, lastChangeAt: this.changedAt, now, performance: this.extras.performance?.() ?? {} }, policy);
    const changes: AllocationHistoryEntry['changes'] = {};
    for (const [m, q] of Object.entries(plan.quotas)) {
      if (this.quotas[m] !== q) {
        changes[m] = { from: this.quotas[m] ?? null, to: q, reason: plan.reasons[m]! };
        this.changedAt[m] = now;
      }
      this.metrics?.capitalQuota.set({ model: m }, q);
    }
    this.quotas = plan.quotas;
    const file: AllocationsFile = {
      capital_quota_usd: plan.quotas,
      updated_at: Object.fromEntries(Object.keys(plan.quotas).map((m) => [m, Math.floor((this.changedAt[m] ?? now) / 1000)])),
      equity_usd: Math.round(equityUsd * 100) / 100,
      deployable_usd: Math.round(plan.deployable * 100) / 100,
      target_quota_usd: Object.fromEntries(Object.entries(plan.targets).map(([m, t]) => [m, Math.floor(t * 100) / 100])),
      reasons: plan.reasons,
      ts: new Date(now).toISOString(),
      frozen_until: policy.freeze_until,
    };
    writeJsonAtomic(this.path, file);
    if (Object.keys(changes).length > 0 && this.extras.historyPath) {
      this.history.push({ ts: file.ts, equity_usd: file.equity_usd, deployable_usd: file.deployable_usd, changes, capital_quota_usd: plan.quotas, frozen_until: policy.freeze_until });
      const limit = this.extras.historyLimit?.() ?? 100;
      if (this.history.length > limit) this.history.splice(0, this.history.length - limit);
      writeJsonAtomic(this.extras.historyPath, { limit, entries: this.history });
    }
    return file;
  }

  start(): void {
    const tick = () => {
      this.step().catch((err) => this.log.error({ err }, `[ALLOC] allocation step failed: ${(err as Error).message}`));
      this.timer = setTimeout(tick, this.policy().refresh_sec * 1000);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}
