// The capital allocator: sets each model's capital quota (USD) from equity, the evidence
// behind each model's performance (its standing, from the strategy tracker) and
// ops/capital_policy.json, and rewrites ops/capital_allocations.json (plus a bounded history
// of changes beside it). The decision is the pure planAllocation(); the loop around it only
// reads equity and standings, and writes files, on the stack's Clock.
//
// Order of rules, strongest first: the total never exceeds equity × max_deployable_frac
// (risk ceiling, even over a freeze); a model on probation (not live, too little evidence)
// holds at most the probation quota and never more than a live model; a freeze or cooldown
// keeps a quota where it is; a model's floor and cap (when the floors fit in what is
// deployable); the step limit. Between those bounds, proven models share what is deployable
// by their evidence-weighted performance, and what losses forfeit stays undeployed
// (shareOut).
//
// The file is the stack's output, not an input: an operator's edit of it is overwritten at the
// next step. That is said with a WARN naming the edited quotas and where the intent belongs
// (capital_policy.json model_limits, or freeze_until), so an edit never vanishes silently.
import { readFileSync } from 'node:fs';
import { WallClock, type Clock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { ExportFile } from '../util/exportFile.js';
import { RearmingInterval } from '../util/rearmingInterval.js';
import { limitsFor, type CapitalPolicy } from './capitalPolicy.js';

/** What the allocator knows of a model: whether it is live, and the evidence behind its
 *  performance in market time (lifecycle/allocationStanding.ts builds it from the tracker). */
export interface ModelStanding {
  /** Stage live: its quota is the bound of every probation quota. */
  readonly live: boolean;
  /** Bars observed (market time) and trades made, paper trades for a shadow model. */
  readonly bars: number;
  readonly trades: number;
  /** The probabilistic Sharpe ratio against zero as a z-score (per-bar Sharpe × √(bars − 1),
   *  widened for skew and fat tails): 0 = no evidence either way; null without variance. */
  readonly sharpeZ: number | null;
}

export interface AllocationInput {
  readonly equityUsd: number;
  readonly models: readonly string[];
  readonly previous: Readonly<Record<string, number>>;
  readonly lastChangeAt: Readonly<Record<string, number>>;
  readonly now: number;
  /** Per model; a model without one is neither on probation nor tilted (a backtest's one model). */
  readonly standings?: Readonly<Record<string, ModelStanding>>;
}

export type AllocationReason = 'new' | 'target' | 'step_limited' | 'frozen' | 'cooldown' | 'floor' | 'cap' | 'probation' | 'scaled_to_deployable';

export interface AllocationPlan {
  readonly quotas: Record<string, number>;
  /** Where each model would go without cooldown, freeze or step limit. */
  readonly targets: Record<string, number>;
  readonly reasons: Record<string, AllocationReason>;
  readonly deployable: number;
  readonly frozen: boolean;
}

/** The evidence probation asks for before a model's quota follows its performance. */
function hasMinimumEvidence(s: ModelStanding, policy: CapitalPolicy): boolean {
  return s.bars >= policy.probation.min_bars && s.trades >= policy.probation.min_trades;
}

/** A model that is not live and has less evidence than probation asks for. */
function onProbation(s: ModelStanding | undefined, policy: CapitalPolicy): boolean {
  return s !== undefined && !s.live && !hasMinimumEvidence(s, policy);
}

// exp() of more than this is a share no cap would let through anyway; the bound only keeps the
// arithmetic finite (exp(710) is Infinity), it is far beyond any z a real model reaches.
const MAX_TILT_EXPONENT = 50;

/** Share weights from evidence: exp(tilt_strength × z) for a model with enough evidence,
 *  neutral (1) for one without a standing, with less evidence than probation asks (a live one
 *  too: twenty bars of fees are no verdict on a model), or without variance. */
export function tiltWeights(models: readonly string[], standings: Readonly<Record<string, ModelStanding>>, policy: CapitalPolicy): number[] {
  const out = new Array<number>(models.length);
  for (let i = 0; i < models.length; i++) {
    const s = standings[models[i]!];
    const z = s?.sharpeZ;
    if (s === undefined || z === null || z === undefined || !Number.isFinite(z) || !hasMinimumEvidence(s, policy) || policy.tilt_strength === 0) {
      out[i] = 1;
      continue;
    }
    out[i] = Math.exp(Math.max(-MAX_TILT_EXPONENT, Math.min(MAX_TILT_EXPONENT, policy.tilt_strength * z)));
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

/**
 * What is deployable, shared by evidence — and what the evidence does not earn, kept as cash.
 * Each model counts as one neutral share (weight 1: no evidence either way); its tilt weight
 * says how many neutral shares its evidence is worth. When the weights sum to at least the
 * number of models, everything deployable is shared in proportion (as plain water-filling
 * would); when they sum to less — the models on the whole have shown losses — the shortfall is
 * a share of cash that nobody trades. A model held at a fixed quota (probation, or its floor or
 * cap) keeps it, and the neutral share of the others is of what the fixed ones leave: a live
 * model beside three on probation is worth all of the rest when its evidence is neutral (as at
 * a fresh start) and exp(tilt_strength × z) of it otherwise. Without the cash share, what a
 * losing model gave up went to the model that lost least: with no edge anywhere every model
 * bleeds fees, yet the whole deployable amount stayed at work and the quietest loser was funded
 * like a winner.
 */
function shareOut(deployable: number, w: readonly number[], floor: readonly number[], cap: readonly number[]): number[] {
  const n = w.length;
  const cash = n - sum(w);
  if (!(cash > 0)) return waterFill(deployable, w, floor, cap);
  return waterFill(deployable, [...w, cash], [...floor, 0], [...cap, Infinity]).slice(0, n);
}

/** The smallest of `xs` over the live models (Infinity without one). */
function smallestLive(xs: readonly number[], live: readonly boolean[], probation: readonly boolean[]): number {
  let v = Infinity;
  for (let i = 0; i < xs.length; i++) if (live[i] && !probation[i] && xs[i]! < v) v = xs[i]!;
  return v;
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
  const standings = input.standings ?? {};
  const deployable = Math.max(0, Number.isFinite(equityUsd) ? equityUsd : 0) * policy.max_deployable_frac;
  const frozen = freezeEnd(policy) > now;
  const quotas: Record<string, number> = {};
  const targets: Record<string, number> = {};
  const reasons: Record<string, AllocationReason> = {};
  const n = models.length;
  if (n === 0) return { quotas, targets, reasons, deployable, frozen };

  const floors = new Array<number>(n);
  const caps = new Array<number>(n);
  const probation = new Array<boolean>(n);
  const live = new Array<boolean>(n);
  const probationQuota = new Array<number>(n);
  let anyProbation = false;
  let anyLive = false;
  for (let i = 0; i < n; i++) {
    const m = models[i]!;
    const b = limitsFor(policy, m);
    probation[i] = onProbation(standings[m], policy);
    live[i] = standings[m]?.live === true;
    anyProbation ||= probation[i]!;
    anyLive ||= live[i]!;
    // A model on probation holds exactly its probation quota (within its own cap): pinned at
    // both ends, so the share-out hands the rest to the models that have evidence or are live
    // (and to cash, for what their evidence does not earn).
    const p = Math.min(policy.probation.quota_usd, b.cap);
    probationQuota[i] = p;
    floors[i] = probation[i] ? p : b.floor;
    caps[i] = probation[i] ? p : b.cap;
  }
  const weights = tiltWeights(models, standings, policy);
  let t = shareOut(deployable, weights, floors, caps);
  // Never above a live model: when the probation quota would exceed the smallest live target,
  // it comes down to it (and the share-out runs again, so what it frees goes to the others).
  if (anyProbation && anyLive) {
    const bound = smallestLive(t, live, probation);
    let lowered = false;
    for (let i = 0; i < n; i++) {
      if (probation[i] && floors[i]! > bound) { floors[i] = bound; caps[i] = bound; lowered = true; }
    }
    if (lowered) t = shareOut(deployable, weights, floors, caps);
  }
  const floorsFit = sum(floors) <= deployable;
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
    if (floorsFit && q < floors[i]!) { q = floors[i]!; reasons[m] = probation[i] ? 'probation' : 'floor'; }
    if (q > caps[i]!) { q = caps[i]!; reasons[m] = probation[i] ? 'probation' : 'cap'; }
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
  // Last, so no rule above (a freeze, a cooldown, the ceiling's cut of live quotas, a cent of
  // rounding) leaves a model on probation above its probation quota or a live model's quota;
  // it only lowers a quota, so the ceiling still holds.
  if (anyProbation) {
    const liveQuota = smallestLive(models.map((m) => quotas[m]!), live, probation);
    for (let i = 0; i < n; i++) {
      const m = models[i]!;
      const bound = Math.min(probationQuota[i]!, liveQuota);
      if (probation[i] && quotas[m]! > bound) { quotas[m] = bound; reasons[m] = 'probation'; }
    }
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

/** Equal shares of deployable equity (tilted by evidence when standings are given, what losing
 *  evidence forfeits left undeployed), clamped to each model's [floor, cap], moved at most
 *  max_step_pct per step, unchanged during cooldown or freeze; the total never exceeds
 *  deployable equity. */
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
  /** Each model's standing: live or not, and its evidence (lifecycle/allocationStanding.ts). */
  readonly standings?: () => Readonly<Record<string, ModelStanding>>;
  /** The stack's clock: the step cadence, cooldowns, the freeze and the files' timestamps. */
  readonly clock?: Clock;
  /** ops/capital_allocations_history.json; none when absent. */
  readonly historyPath?: string;
  /** policies.yaml allocation_history_limit. */
  readonly historyLimit?: () => number;
  /** Host ms between two writes of each file (util/exportFile.ts); 0 (default): every step
   *  writes. The quotas in memory, which size orders, move at every step either way. */
  readonly exportPacingMs?: number;
}

/** What the control plane, its routes and the leader's daemons use of a capital allocator:
 *  the quotas and their history, a step, the loop. A CapitalAllocator is one; so is a
 *  ReplicatedAllocator (replicatedAllocator.ts), which runs a CapitalAllocator while it leads. */
export interface Allocator {
  quota(model: string): number;
  all(): Readonly<Record<string, number>>;
  recentHistory(limit?: number): AllocationHistoryEntry[];
  step(now?: number): Promise<AllocationsFile>;
  start(): void;
  stop(): void;
  /** Writes what pacing holds. */
  flush(): Promise<void>;
}

export class CapitalAllocator implements Allocator {
  private quotas: Record<string, number> = {};
  private changedAt: Record<string, number> = {};
  private history: AllocationHistoryEntry[] = [];
  private readonly loop: RearmingInterval;
  private readonly clock: Clock;
  /** The text found at start (which it resumes from); then what `file` last wrote: anything
   *  else on disk at the next write is someone else's edit. */
  private readonly foundAtStart: string | null;
  private readonly file: ExportFile;
  private readonly historyFile: ExportFile | null;

  constructor(
    private readonly path: string,
    private readonly policy: () => CapitalPolicy,
    private readonly models: () => readonly string[],
    private readonly equity: () => Promise<number>,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
    private readonly extras: AllocatorExtras = {},
  ) {
    this.clock = extras.clock ?? new WallClock();
    this.loop = new RearmingInterval(this.clock, () => this.policy().refresh_sec * 1000, () => this.runStep());
    this.foundAtStart = readText(path);
    const failed = (what: string) => (err: Error) => this.log.error({ err }, `[ALLOC] writing ${what} failed: ${err.message}`);
    this.file = new ExportFile(path, extras.exportPacingMs ?? 0, failed(path));
    this.historyFile = extras.historyPath ? new ExportFile(extras.historyPath, extras.exportPacingMs ?? 0, failed(extras.historyPath)) : null;
    // Resume from the last file so the step limit and cooldowns hold across a restart.
    const prev = parseJson(this.foundAtStart) as Partial<AllocationsFile> | null;
    if (prev && prev.capital_quota_usd && typeof prev.capital_quota_usd === 'object') {
      for (const [m, q] of Object.entries(prev.capital_quota_usd)) if (typeof q === 'number' && Number.isFinite(q) && q >= 0) this.quotas[m] = q;
      for (const [m, s] of Object.entries(prev.updated_at ?? {})) if (typeof s === 'number' && Number.isFinite(s)) this.changedAt[m] = s * 1000;
    }
    if (extras.historyPath) {
      const h = parseJson(readText(extras.historyPath)) as { entries?: AllocationHistoryEntry[] } | null;
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

  async step(now = this.clock.now()): Promise<AllocationsFile> {
    const equityUsd = await this.equity();
    const policy = this.policy();
    const models = this.models();
    const previous: Record<string, number> = {};
    for (const m of models) if (this.quotas[m] !== undefined) previous[m] = this.quotas[m]!;
    const plan = planAllocation({ equityUsd, models, previous, lastChangeAt: this.changedAt, now, standings: this.extras.standings?.() ?? {} }, policy);
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
    // Rendered when written: with pacing, only the latest of several steps is (and an edit is
    // looked for then, just before it would be overwritten).
    await this.file.refresh(() => {
      this.warnOnOperatorEdit();
      return JSON.stringify(file, null, 2) + '\n';
    });
    if (Object.keys(changes).length > 0 && this.historyFile !== null) {
      this.history.push({ ts: file.ts, equity_usd: file.equity_usd, deployable_usd: file.deployable_usd, changes, capital_quota_usd: plan.quotas, frozen_until: policy.freeze_until });
      const limit = this.extras.historyLimit?.() ?? 100;
      if (this.history.length > limit) this.history.splice(0, this.history.length - limit);
      await this.historyFile.refresh(() => JSON.stringify({ limit, entries: this.history }, null, 2) + '\n');
    }
    return file;
  }

  /** Writes what pacing holds (the files end on the last step's content). */
  async flush(): Promise<void> {
    await Promise.all([this.file.close(), this.historyFile?.close()]);
  }

  /** Says (once per edit) that the file on disk is not what this allocator wrote and is about
   *  to be overwritten, naming the quotas the edit changed and where the operator's intent
   *  belongs. A deleted file is not an intent: it is simply written again. */
  private warnOnOperatorEdit(): void {
    const onDisk = readText(this.path);
    const lastWritten = this.file.written ?? this.foundAtStart;
    if (onDisk === null || lastWritten === null || onDisk === lastWritten) return;
    const edited = parseQuotas(onDisk);
    const quotaEdits = edited === null
      ? 'the file does not parse'
      : Object.entries(edited).filter(([m, q]) => this.quotas[m] !== q).map(([m, q]) => `${m} ${this.quotas[m] ?? 'none'} → ${q}`).join(', ') || 'no quota changed';
    this.log.warn({ file: this.path, edited: edited ?? undefined },
      `[ALLOC] ops/capital_allocations.json was edited outside the stack (${quotaEdits}); it is the allocator's output and is overwritten now. ` +
      'To set a quota, pin it in ops/capital_policy.json (model_limits.<model>.min_quota_usd = max_quota_usd); to hold every quota, set freeze_until there');
  }

  start(): void {
    // A step looks at equity and standings as they are now: on a clock that jumps a bar at a
    // time it runs once per jump (coalesce), not twelve times over the same state. A new
    // refresh_sec takes effect from the step that reads it.
    this.runStep();
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  private runStep(): void {
    this.step().catch((err) => this.log.error({ err }, `[ALLOC] allocation step failed: ${(err as Error).message}`));
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The capital_quota_usd of an edited file, or null when it does not parse. */
function parseQuotas(text: string): Record<string, unknown> | null {
  try {
    const doc = JSON.parse(text) as { capital_quota_usd?: unknown };
    const q = doc?.capital_quota_usd;
    return q !== null && typeof q === 'object' && !Array.isArray(q) ? (q as Record<string, unknown>) : {};
  } catch {
    return null;
  }
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
