// The canary manager: moves models between stages by the `canary:` rules of
// ops/policies.yaml (canaryPolicy.ts). shadow → canary (a small live weight) when a
// paper-tracked model's evidence shows it beats the live one; canary → live when, as canary,
// it has enough market time and trades, stayed within its drawdown cap and still beats live
// with the policy's confidence; a promoted live model that degrades past the rollback rule is
// rolled back to the model it replaced. Every change — automatic or POST /strategy/promote —
// goes through transition(): registry and weights are validated, then written (registry
// first, weights second, registry restored if the weights write fails), then a [CANARY] log
// line, a `strategy.promoted` bus event and a history entry. The decision is the pure
// decideCanary() (canaryDecision.ts); this shell only gathers evidence and applies actions.
// Its evaluation loop and every time it records run on the stack's Clock.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Fixed, fx } from '../core/decimal.js';
import { flattenModelPosition } from '../engine/flatten.js';
import type { Signal } from '../core/signal.js';
import type { Bus } from '../bus/bus.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import { WallClock, type Clock } from '../core/clock.js';
import { RearmingInterval } from '../util/rearmingInterval.js';
import type { ModelStage } from './modelStage.js';
import { decideCanary, type CanaryCandidate } from './canaryDecision.js';
import { StageEvidence } from './stageEvidence.js';
import type { CanaryPolicy } from './canaryPolicy.js';
import type { ModelEvidence } from './evidence.js';
import type { ShadowBook } from './shadowBook.js';
import { LifecycleError } from './errors.js';
import { StrategyRegistry, type HistoryAction, type HistoryEntry, type RegistryEntry } from './strategyRegistry.js';
import type { StrategyTracker } from './strategyTracker.js';
import type { StrategyWeights } from '../portfolio/strategyWeights.js';
import { ValidationError } from '../config/watchedFile.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { reportStorageFault } from '../util/storageHealth.js';

export interface StageChange {
  readonly model: string;
  readonly to: ModelStage;
}

export interface TransitionRequest {
  readonly action: Exclude<HistoryAction, 'register'>;
  /** The model the request is about; the first change. */
  readonly changes: readonly StageChange[];
  /** A promoted-to-live model's predecessor, or a rollback's restored model. */
  readonly counterpart: string | null;
  readonly actor: string;
  readonly reason: string;
}

export interface TransitionResult {
  readonly action: string;
  readonly model: string;
  readonly from: ModelStage;
  readonly to: ModelStage;
  readonly counterpart: string | null;
  readonly weights: Readonly<Record<string, number>>;
  readonly history: readonly HistoryEntry[];
}

/** A stage change the canary manager refuses: unknown model (404), a move that makes no sense
 *  from its stage (409), weights it could not write (400). `field` names the request field at
 *  fault; the API answers with the status and the field. */
export class CanaryError extends LifecycleError {
  constructor(readonly statusCode: 400 | 404 | 409, readonly field: string | null, message: string) {
    super(CANARY_CODES[statusCode], message, { httpStatus: statusCode });
  }
}

const CANARY_CODES = { 400: 'HMM_LIFECYCLE_INVALID_WEIGHTS', 404: 'HMM_LIFECYCLE_UNKNOWN_MODEL', 409: 'HMM_LIFECYCLE_STAGE_CONFLICT' } as const;

export interface CanaryManagerDeps {
  readonly registry: StrategyRegistry;
  readonly weights: StrategyWeights;
  readonly tracker: StrategyTracker;
  readonly shadow: ShadowBook;
  readonly policy: () => CanaryPolicy;
  readonly engines: () => readonly EngineHandle[];
  /** Last signals of a running model (re-stated to its new book after a stage change). */
  readonly lastSignals: (model: string) => readonly Signal[];
  /** Stops a retired model. */
  readonly retire: (model: string) => void;
  readonly maxNotionalUsd: Fixed;
  readonly bus: Bus;
  readonly log: Logger;
  /** The stack's clock: evaluation cadence, cooldowns, canary windows, history timestamps. */
  readonly clock?: Clock;
  /** A model's evidence over its tracked life (market time). Default: the tracker's. The
   *  manager narrows it to the current stage (stageEvidence.ts). */
  readonly evidence?: (model: string) => ModelEvidence | null;
  /** Where the copies of evidence at each stage's start are kept; default
   *  canary_stages.json beside the registry (ops/). */
  readonly stagesPath?: string;
}


export class CanaryManager {
  private readonly loop: RearmingInterval;
  private applying = false;
  private readonly warnedAt = new Map<string, number>();
  private readonly clock: Clock;
  private readonly evidence: (model: string) => ModelEvidence | null;
  private readonly stages: StageEvidence;
  private readonly stagesPath: string;
  private unsubscribe: (() => void) | null = null;
  private evaluating: Promise<TransitionResult[]> | null = null;

  constructor(private readonly deps: CanaryManagerDeps) {
    this.clock = deps.clock ?? new WallClock();
    this.loop = new RearmingInterval(this.clock, () => deps.policy().evaluate_every_sec * 1000, () => {
      if (!deps.policy().enabled) return;
      this.evaluate().catch((err: Error) => deps.log.error({ err }, `[CANARY] evaluation failed: ${err.message}`));
    });
    this.evidence = deps.evidence ?? ((m) => deps.tracker.evidence(m));
    this.stagesPath = deps.stagesPath ?? join(dirname(deps.registry.path), 'canary_stages.json');
    let saved: unknown = null;
    if (existsSync(this.stagesPath)) {
      try {
        saved = JSON.parse(readFileSync(this.stagesPath, 'utf8'));
      } catch (err) {
        deps.log.warn({ err }, `[CANARY] ${this.stagesPath} is damaged (${(err as Error).message}): each model's stage evidence starts again now`);
      }
    }
    this.stages = new StageEvidence(saved);
  }

  /** Saves the stage-start copies when they changed (a stage began), atomically. */
  private saveStages(): void {
    if (!this.stages.takeChanged()) return;
    try {
      writeJsonAtomic(this.stagesPath, this.stages);
    } catch (err) {
      // A full disk is reported (new orders stop until writes succeed); said once, not every round.
      const storageFault = reportStorageFault(this.stagesPath, err);
      if (!storageFault) this.deps.log.error({ err }, `[CANARY] saving ${this.stagesPath} failed: ${(err as Error).message}`);
    }
  }

  private now(): number {
    return this.clock.now();
  }

  start(): void {
    // An operator's weight change moves the stage with it (weight 0 = shadow).
    this.unsubscribe = this.deps.bus.subscribe('strategy.weights_updated', () => this.syncStagesToWeights());
    this.syncStagesToWeights();
    // An evaluation looks at the evidence as it is now: on a clock that jumps a bar at a time
    // it runs once per jump (coalesce). A new evaluate_every_sec takes effect from the
    // evaluation that reads it.
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private weightFor(stage: ModelStage): number {
    const p = this.deps.policy();
    return stage === 'live' ? p.live_weight : stage === 'canary' ? p.canary_weight : 0;
  }

  /** Candidates for decideCanary: stages from the registry, the evidence since each stage
   *  began and the stage's drawdown from the tracker. */
  candidates(): CanaryCandidate[] {
    const reg = this.deps.registry;
    const tracker = this.deps.tracker;
    const out: CanaryCandidate[] = [];
    for (const e of reg.active()) {
      const drawdownPct = tracker.windowDrawdownPct(e.id);
      if (drawdownPct === null || e.stage === 'retired') continue;
      const replaced = e.replaced === null ? undefined : reg.get(e.replaced);
      const restorable = replaced !== undefined && replaced.stage !== 'retired' && tracker.windowDrawdownPct(replaced.id) !== null ? replaced.id : null;
      const lastDrop = reg.current.history.findLast((h) => h.model === e.id && (h.action === 'demote' || h.action === 'rollback') && h.to === 'shadow');
      const since = Date.parse(e.stage_since);
      out.push({
        id: e.id, stage: e.stage, evidence: this.stages.since(e.id, e.stage_since, this.evidence(e.id)), drawdownPct,
        stageSince: Number.isFinite(since) ? since : null, restorable, demotedAt: lastDrop ? Date.parse(lastDrop.ts) : null,
      });
    }
    this.saveStages();
    return out;
  }

  /** A stage's evidence starts at the change, not at the next evaluation. */
  private markStageStarts(models: readonly string[]): void {
    for (const m of models) {
      const e = this.deps.registry.get(m);
      if (e !== undefined) this.stages.since(m, e.stage_since, this.evidence(m));
    }
    this.saveStages();
  }

  /** One evaluation: fresh figures, the decision, then each action applied in turn. */
  evaluate(): Promise<TransitionResult[]> {
    if (this.evaluating) return this.evaluating;
    this.evaluating = this.evaluateNow().finally(() => { this.evaluating = null; });
    return this.evaluating;
  }

  private async evaluateNow(): Promise<TransitionResult[]> {
    await this.deps.tracker.sample();
    const now = this.now();
    const actions = decideCanary(this.candidates(), this.deps.policy(), now);
    const results: TransitionResult[] = [];
    for (const a of actions) {
      try {
        if (a.action === 'degraded') {
          const last = this.warnedAt.get(a.model) ?? 0;
          if (now - last > 3_600_000) {
            this.warnedAt.set(a.model, now);
            this.deps.log.warn({ model: a.model }, `[CANARY] live model ${a.model} degraded: ${a.reason}; it stays live (governance limits still apply)`);
          }
        } else if (a.action === 'promote' && a.to === 'live') {
          results.push(await this.transition({ action: 'promote', changes: [{ model: a.model, to: 'live' }, ...a.replaces.map((m) => ({ model: m, to: 'shadow' as const }))], counterpart: a.replaces[0] ?? null, actor: 'canary_manager', reason: a.reason }));
        } else if (a.action === 'promote') {
          results.push(await this.transition({ action: 'promote', changes: [{ model: a.model, to: 'canary' }], counterpart: null, actor: 'canary_manager', reason: a.reason }));
        } else if (a.action === 'demote') {
          results.push(await this.transition({ action: 'demote', changes: [{ model: a.model, to: 'shadow' }], counterpart: null, actor: 'canary_manager', reason: a.reason }));
        } else {
          results.push(await this.rollbackTo(a.model, a.restore, 'canary_manager', a.reason));
        }
      } catch (err) {
        this.deps.log.error({ err, action: a }, `[CANARY] ${a.action} of ${a.model} failed: ${(err as Error).message}`);
      }
    }
    return results;
  }

  /**
   * A manual stage change (POST /strategy/promote). Without `to`, the next stage up: shadow →
   * canary → live. Promoting to live replaces every live model (they drop to shadow).
   */
  promote(model: string, to: ModelStage | undefined, actor: string, reason: string | undefined): Promise<TransitionResult> {
    const entry = this.registered(model);
    const target: ModelStage = to ?? (entry.stage === 'shadow' ? 'canary' : entry.stage === 'canary' ? 'live' : entry.stage);
    if (entry.stage === 'retired') throw new CanaryError(409, 'model', `${model} is retired; retired models do not run`);
    if (target === entry.stage) throw new CanaryError(409, to === undefined ? 'model' : 'stage', `${model} is already ${entry.stage}`);
    const changes: StageChange[] = [{ model, to: target }];
    let counterpart: string | null = null;
    if (target === 'live') {
      const replaced = this.deps.registry.active().filter((e) => e.stage === 'live' && e.id !== model).map((e) => e.id);
      for (const r of replaced) changes.push({ model: r, to: 'shadow' });
      counterpart = replaced[0] ?? null;
    }
    const rank: Record<ModelStage, number> = { retired: 0, shadow: 1, canary: 2, live: 3 };
    const action = target === 'retired' ? 'retire' : rank[target] > rank[entry.stage] ? 'promote' : 'demote';
    return this.transition({ action, changes, counterpart, actor, reason: reason ?? `manual ${action} to ${target}` });
  }

  /**
   * A manual rollback (POST /strategy/rollback): the live model goes back to shadow and the
   * model it replaced is live again — the same transition the rollback rule makes. Without a
   * model, the live one (refused when there are several: the operator must say which).
   */
  rollback(model: string | undefined, actor: string, reason: string | undefined): Promise<TransitionResult> {
    const live = this.deps.registry.active().filter((e) => e.stage === 'live');
    let target: string;
    if (model === undefined) {
      if (live.length !== 1) throw new CanaryError(409, 'model', live.length === 0 ? 'no model is live: nothing to roll back' : `${live.length} models are live (${live.map((e) => e.id).join(', ')}): name the one to roll back`);
      target = live[0]!.id;
    } else target = model;
    const entry = this.registered(target);
    if (entry.stage !== 'live') throw new CanaryError(409, 'model', `${target} is ${entry.stage}, not live: only a live model can be rolled back`);
    if (entry.replaced === null) throw new CanaryError(409, 'model', `${target} replaced no model (it was never promoted over another): there is nothing to roll back to`);
    const restore = this.deps.registry.get(entry.replaced);
    if (!restore || restore.stage === 'retired') throw new CanaryError(409, 'model', `${target} replaced ${entry.replaced}, which is ${restore ? 'retired' : 'no longer registered'}: there is nothing to roll back to`);
    return this.rollbackTo(target, restore.id, actor, reason ?? `manual rollback to ${restore.id}`);
  }

  /** The rollback, whoever asks: `model` back to shadow, `restore` live again. */
  private rollbackTo(model: string, restore: string, actor: string, reason: string): Promise<TransitionResult> {
    return this.transition({ action: 'rollback', changes: [{ model, to: 'shadow' }, { model: restore, to: 'live' }], counterpart: restore, actor, reason });
  }

  /** A registered model's entry; an unknown one is refused (404) with the registered ids. */
  private registered(model: string): RegistryEntry {
    const entry = this.deps.registry.get(model);
    if (!entry) throw new CanaryError(404, 'model', `unknown model "${model}" (registered: ${this.deps.registry.entries().map((e) => e.id).join(', ')})`);
    return entry;
  }

  /** Applies stage changes: registry and weights both or neither, then log, event, hooks. */
  async transition(req: TransitionRequest): Promise<TransitionResult> {
    const reg = this.deps.registry;
    const first = req.changes[0]!;
    const before = reg.current;
    const weightsBefore = { ...this.deps.weights.current.weights };
    const partial: Record<string, number> = {};
    const from = new Map<string, ModelStage>();
    for (const c of req.changes) {
      const e = reg.get(c.model);
      if (!e) throw new CanaryError(404, 'model', `unknown model "${c.model}"`);
      from.set(c.model, e.stage);
      // A retired model keeps a 0 weight in the file until restart (the weights file may name it).
      partial[c.model] = this.weightFor(c.to);
    }
    const weightsAfter = { ...weightsBefore, ...partial };
    const ts = new Date(this.now()).toISOString();
    const entries: HistoryEntry[] = req.changes.map((c, i) => ({
      // The other side of a rollback is part of the rollback; of a promotion, a demotion.
      ts, action: i === 0 || req.action === 'rollback' ? req.action : c.to === 'live' ? 'promote' : 'demote',
      model: c.model, from: from.get(c.model)!, to: c.to,
      counterpart: i === 0 ? req.counterpart : first.model, actor: req.actor,
      reason: i === 0 ? req.reason : `${req.action} of ${first.model}: ${req.reason}`,
      weights_before: weightsBefore, weights_after: weightsAfter,
    }));
    this.applying = true;
    try {
      reg.commit((draft) => {
        for (const c of req.changes) {
          const fields: Partial<RegistryEntry> = { stage: c.to, stage_since: ts };
          // A promotion to live remembers its predecessor (the rollback target); the model a
          // rollback restores keeps the predecessor it had.
          if (c.model === first.model && c.to === 'live' && req.action === 'promote') Object.assign(fields, { replaced: req.counterpart });
          StrategyRegistry.patch(draft, c.model, fields);
        }
        draft.history.push(...entries);
      });
      try {
        this.deps.weights.update(partial, req.actor);
      } catch (err) {
        // Weights refused: put the registry back so the two files never disagree.
        reg.commit((draft) => {
          draft.models.splice(0, draft.models.length, ...before.models.map((m) => ({ ...m })));
          draft.history.splice(0, draft.history.length, ...before.history);
        });
        if (err instanceof ValidationError) throw new CanaryError(400, 'weights', err.message);
        throw err;
      }
    } finally {
      this.applying = false;
    }
    this.markStageStarts(req.changes.map((c) => c.model));
    for (const e of entries) {
      this.deps.log.info({ model: e.model, from: e.from, to: e.to, actor: e.actor, counterpart: e.counterpart, weight: weightsAfter[e.model] }, `[CANARY] ${e.action.toUpperCase()} ${e.model} ${e.from} → ${e.to} (weight ${weightsBefore[e.model] ?? 0} → ${weightsAfter[e.model]}) by ${e.actor}: ${e.reason}`);
    }
    this.deps.bus.publish('strategy.promoted', {
      action: req.action, model: first.model, from: from.get(first.model)!, to: first.to, counterpart: req.counterpart,
      changes: req.changes.map((c) => ({ model: c.model, from: from.get(c.model)!, to: c.to })),
      actor: req.actor, reason: req.reason, weights: weightsAfter, ts,
    });
    for (const c of req.changes) await this.afterStageChange(c.model, from.get(c.model)!, c.to);
    return { action: req.action, model: first.model, from: from.get(first.model)!, to: first.to, counterpart: req.counterpart, weights: weightsAfter, history: entries };
  }

  /** Moves a model's positions and view to its new book. An operator's weight edit does not
   *  flatten (weight 0 may be a pause the operator means to lift); a demotion does. */
  private async afterStageChange(model: string, from: ModelStage, to: ModelStage, flatten = true): Promise<void> {
    const wasTrading = from === 'live' || from === 'canary';
    const trades = to === 'live' || to === 'canary';
    try {
      if (wasTrading && !trades && flatten && this.deps.policy().flatten_on_demotion) await this.flattenLive(model);
      if (!wasTrading && trades) this.deps.shadow.flatten(model);
      if (to === 'retired') {
        this.deps.retire(model);
        return;
      }
      // Re-state the model's current view to its new book (router or shadow book) now.
      if (wasTrading !== trades || from !== to) {
        const ts = this.now();
        for (const s of this.deps.lastSignals(model)) {
          if (s.targetExposure === undefined) continue;
          this.deps.bus.publish('signal', { ...s, ts, reason: `re-stated after ${from} → ${to}${s.reason ? `: ${s.reason}` : ''}` });
        }
      }
    } catch (err) {
      this.deps.log.error({ err, model }, `[CANARY] moving ${model} from ${from} to ${to} books failed: ${(err as Error).message}`);
    }
  }

  /** Sells a model's engine positions at market, in chunks within MAX_NOTIONAL_USDT. */
  private async flattenLive(model: string): Promise<void> {
    for (const e of this.deps.engines()) {
      for (const p of await e.modelPositions()) {
        if (p.model !== model || fx(p.qty) <= 0n) continue;
        const out = await flattenModelPosition(e, { model, symbol: p.symbol, maxNotionalUsd: this.deps.maxNotionalUsd, idPrefix: `${model.slice(0, 30)}-flat-${p.symbol}-${this.now().toString(36)}` });
        if (out.stopped) this.deps.log.warn({ model, symbol: p.symbol, outcome: out.stopped.reason }, `[CANARY] flattening ${model} ${p.symbol} stopped: ${out.stopped.reason} ${out.stopped.message}`);
        this.deps.log.info({ model, symbol: p.symbol }, `[CANARY] flattened ${model} ${p.symbol}: sold ${out.sold} of ${out.held}`);
      }
    }
  }

  /** The stage follows an operator's weight edit: weight 0 means shadow, and a shadow model
   *  given weight becomes live (a canary or live model keeps its stage at any weight > 0). */
  syncStagesToWeights(): void {
    if (this.applying) return;
    const changes: { model: string; from: ModelStage; to: ModelStage }[] = [];
    for (const e of this.deps.registry.active()) {
      const w = this.deps.weights.weight(e.id);
      if (w > 0 && e.stage === 'shadow') changes.push({ model: e.id, from: e.stage, to: 'live' });
      else if (w <= 0 && (e.stage === 'live' || e.stage === 'canary')) changes.push({ model: e.id, from: e.stage, to: 'shadow' });
    }
    if (changes.length === 0) return;
    const ts = new Date(this.now()).toISOString();
    const weights = { ...this.deps.weights.current.weights };
    try {
      this.deps.registry.commit((draft) => {
        for (const c of changes) StrategyRegistry.patch(draft, c.model, { stage: c.to, stage_since: ts, ...(c.to === 'live' ? { replaced: null } : {}) });
        draft.history.push(...changes.map((c) => ({
          ts, action: 'stage_sync' as const, model: c.model, from: c.from, to: c.to, counterpart: null, actor: this.deps.weights.current.updated_by,
          reason: `weight set to ${weights[c.model] ?? 0} in ops/strategy_weights.json`, weights_before: weights, weights_after: weights,
        })));
      });
    } catch (err) {
      this.deps.log.error({ err }, `[CANARY] syncing stages to weights failed: ${(err as Error).message}`);
      return;
    }
    this.markStageStarts(changes.map((c) => c.model));
    for (const c of changes) {
      this.deps.log.info({ model: c.model, from: c.from, to: c.to }, `[CANARY] ${c.model} ${c.from} → ${c.to}: its weight is now ${weights[c.model] ?? 0}`);
      this.deps.bus.publish('strategy.promoted', { action: 'stage_sync', model: c.model, from: c.from, to: c.to, counterpart: null, actor: this.deps.weights.current.updated_by, reason: 'weight edit', weights, ts });
      void this.afterStageChange(c.model, c.from, c.to, false);
    }
  }
}
