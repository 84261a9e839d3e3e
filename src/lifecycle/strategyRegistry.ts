// ops/strategy_registry.json: every model the stack knows — id, kind, version, stage
// (shadow, canary, live, retired), creation time, the spec it is rebuilt from, its latest
// metrics and the tracker state they resume from — plus the history of stage changes.
// Owned by ops: changed only through commit(), which validates the whole document and
// replaces the file atomically, so a reader (or a crash) never sees half a promotion.
// Also owns the fleet (ModelFleet): which registered models run, the defaults a fresh root
// starts with, and stored HMM versions joining as shadow models with their lineage (the
// version they were refitted after, their training window and fit), trained at first start
// on the history the market source already holds.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Bar } from '../core/marketData.js';
import { modelId } from '../core/ids.js';
import type { Logger } from '../obs/logger.js';
import { listHmmModelVersions, loadHmmModel } from '../strategy/hmm/modelStore.js';
import { readTrainingMeta, trainAndSave, trainOnSynthetic, type TrainedAndSaved } from '../strategy/hmm/trainingMeta.js';
import { DEFAULT_RETRAIN_POLICY } from './retrainPolicy.js';
import { buildModel, maSpec, validateModelSpec, type HmmSpec, type ModelSpec } from '../strategy/modelSpec.js';
import type { Model, ModelKind } from '../strategy/model.js';
import type { StrategyRuntime } from '../strategy/runtime.js';
import type { PerformanceMetrics, PerformanceState } from './performance.js';
import type { Moments } from './evidence.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { LifecycleError } from './errors.js';
import type { ModelStage } from './modelStage.js';

export const STAGES: readonly ModelStage[] = ['shadow', 'canary', 'live', 'retired'];
export const REGISTRY_FORMAT = 1;

/** Figures the tracker last computed: over the model's whole life and since its last stage change. */
export interface RegistryMetrics {
  readonly total: PerformanceMetrics;
  readonly window: PerformanceMetrics;
  /** Over the model's life: live_pnl (real, engine book) + shadow_pnl (paper, shadow book). */
  readonly pnl: number;
  readonly live_pnl: number;
  readonly shadow_pnl: number;
  readonly score: number;
  readonly updated_at: string;
}

export interface RegistryEntry {
  readonly id: string;
  readonly kind: ModelKind;
  /** The model's own version (an HMM's stored version; 1 for parameterised models). */
  readonly version: number;
  readonly stage: ModelStage;
  readonly created_at: string;
  readonly stage_since: string;
  readonly symbols: readonly string[];
  readonly params: ModelSpec['params'];
  /** The live model this one replaced when it was promoted: where a rollback returns to. */
  readonly replaced: string | null;
  readonly metrics: RegistryMetrics | null;
  /** The tracker's resume state (vs_live: per-bar differences against the live model). */
  readonly tracking: { readonly total: PerformanceState; readonly window: PerformanceState; readonly vs_live?: Moments } | null;
  /** Where a stored HMM version came from; null for models that are not trained (MA, ensembles)
   *  and for entries written before lineage was recorded. */
  readonly lineage?: ModelLineage | null;
}

/** A trained version's ancestry and training, as the registry shows it to an operator. */
export interface ModelLineage {
  /** Registry id of the version this one was refitted after; null for a root (first start, CLI). */
  readonly parent: string | null;
  readonly parent_version: number | null;
  /** TrainingSource: synthetic, csv, market (the stack's own history at start) or retrain. */
  readonly source: string;
  readonly window_first_ts: string;
  readonly window_last_ts: string;
  readonly bars: number;
  readonly log_likelihood: number;
}

function parseLineage(v: unknown, at: string, bad: (msg: string) => never): ModelLineage | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) return bad(`${at} must be an object or null`);
  const l = v as Record<string, unknown>;
  if (l['parent'] !== null && typeof l['parent'] !== 'string') bad(`${at}.parent must be a model id or null`);
  if (l['parent_version'] !== null && !(Number.isInteger(l['parent_version']) && (l['parent_version'] as number) > 0)) bad(`${at}.parent_version must be a positive integer or null`);
  if (typeof l['source'] !== 'string') bad(`${at}.source must be a string`);
  for (const k of ['window_first_ts', 'window_last_ts']) {
    if (typeof l[k] !== 'string' || Number.isNaN(Date.parse(l[k] as string))) bad(`${at}.${k} must be an ISO date-time`);
  }
  if (!Number.isInteger(l['bars']) || (l['bars'] as number) < 0) bad(`${at}.bars must be a non-negative integer`);
  if (typeof l['log_likelihood'] !== 'number' || !Number.isFinite(l['log_likelihood'])) bad(`${at}.log_likelihood must be a finite number`);
  return {
    parent: l['parent'] as string | null, parent_version: l['parent_version'] as number | null, source: l['source'] as string,
    window_first_ts: l['window_first_ts'] as string, window_last_ts: l['window_last_ts'] as string,
    bars: l['bars'] as number, log_likelihood: l['log_likelihood'] as number,
  };
}

export type HistoryAction = 'register' | 'promote' | 'rollback' | 'demote' | 'retire' | 'stage_sync';

export interface HistoryEntry {
  readonly ts: string;
  readonly action: HistoryAction;
  readonly model: string;
  readonly from: ModelStage | null;
  readonly to: ModelStage;
  /** For a promotion to live: the model it replaced; for a rollback: the model restored. */
  readonly counterpart: string | null;
  readonly actor: string;
  readonly reason: string;
  readonly weights_before: Readonly<Record<string, number>>;
  readonly weights_after: Readonly<Record<string, number>>;
}

export interface RegistryDoc {
  readonly format: typeof REGISTRY_FORMAT;
  readonly updated_at: string;
  readonly models: readonly RegistryEntry[];
  readonly history: readonly HistoryEntry[];
}

/** ops/strategy_registry.json cannot be read, trusted or changed as asked; the message says why. */
export class RegistryError extends LifecycleError {
  constructor(message: string) {
    super('HMM_LIFECYCLE_REGISTRY', message);
  }
}

export function specOfEntry(e: Pick<RegistryEntry, 'kind' | 'symbols' | 'params'>): ModelSpec {
  return { kind: e.kind, symbols: e.symbols, params: e.params } as ModelSpec;
}

/** Validates a parsed registry; messages name the entry and field. */
export function parseRegistry(value: unknown, source: string): RegistryDoc {
  const bad = (msg: string): never => { throw new RegistryError(`${source}: ${msg}`); };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('expected a JSON object');
  const v = value as Record<string, unknown>;
  if (v['format'] !== REGISTRY_FORMAT) bad(`format must be ${REGISTRY_FORMAT}, got ${JSON.stringify(v['format'])}`);
  if (!Array.isArray(v['models'])) bad('models must be an array');
  const ids = new Set<string>();
  const models = (v['models'] as unknown[]).map((raw, i) => {
    const e = raw as Record<string, unknown>;
    if (e === null || typeof e !== 'object') bad(`models[${i}] must be an object`);
    const id = e['id'];
    if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) bad(`models[${i}].id must be a model id`);
    if (ids.has(id as string)) bad(`models[${i}].id ${String(id)} is listed twice`);
    ids.add(id as string);
    if (!STAGES.includes(e['stage'] as ModelStage)) bad(`models[${i}].stage must be one of ${STAGES.join(', ')}`);
    if (!Number.isInteger(e['version']) || (e['version'] as number) < 1) bad(`models[${i}].version must be a positive integer`);
    for (const k of ['created_at', 'stage_since'] as const) {
      if (typeof e[k] !== 'string' || Number.isNaN(Date.parse(e[k] as string))) bad(`models[${i}].${k} must be an ISO date-time`);
    }
    let spec: ModelSpec;
    try {
      spec = validateModelSpec({ kind: e['kind'], symbols: e['symbols'], params: e['params'] }, `models[${i}]`);
    } catch (err) {
      return bad((err as Error).message);
    }
    const replaced = e['replaced'] ?? null;
    if (replaced !== null && typeof replaced !== 'string') bad(`models[${i}].replaced must be a model id or null`);
    return {
      id: id as string, kind: spec.kind, version: e['version'] as number, stage: e['stage'] as ModelStage,
      created_at: e['created_at'] as string, stage_since: e['stage_since'] as string, symbols: spec.symbols, params: spec.params,
      replaced: replaced as string | null,
      metrics: (e['metrics'] ?? null) as RegistryMetrics | null,
      tracking: (e['tracking'] ?? null) as RegistryEntry['tracking'],
      lineage: parseLineage(e['lineage'], `models[${i}].lineage`, bad),
    } satisfies RegistryEntry;
  });
  const history = Array.isArray(v['history']) ? (v['history'] as HistoryEntry[]) : bad('history must be an array');
  return { format: REGISTRY_FORMAT, updated_at: typeof v['updated_at'] === 'string' ? v['updated_at'] : new Date().toISOString(), models, history };
}

export function emptyRegistry(): RegistryDoc {
  return { format: REGISTRY_FORMAT, updated_at: new Date().toISOString(), models: [], history: [] };
}

export interface RegistryDraft {
  models: RegistryEntry[];
  history: HistoryEntry[];
}

export class StrategyRegistry {
  private doc: RegistryDoc;
  readonly existed: boolean;

  /** Loads the file; a missing file is an empty registry, an invalid one stops start-up
   *  (it is written only by the stack, so a bad one was edited by hand and needs a person). */
  constructor(readonly path: string, private readonly log: Logger, private readonly historyLimit: () => number = () => 500) {
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      text = null;
    }
    this.existed = text !== null;
    if (text === null) {
      this.doc = emptyRegistry();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new RegistryError(`${path}: not valid JSON (${(err as Error).message}); restore it from a backup or move it aside to start with a fresh registry`);
    }
    this.doc = parseRegistry(parsed, path);
  }

  get current(): RegistryDoc {
    return this.doc;
  }

  entries(): readonly RegistryEntry[] {
    return this.doc.models;
  }

  get(id: string): RegistryEntry | undefined {
    return this.doc.models.find((m) => m.id === id);
  }

  /** Models that run: every registered model except retired ones. */
  active(): readonly RegistryEntry[] {
    return this.doc.models.filter((m) => m.stage !== 'retired');
  }

  specOf(id: string): ModelSpec | undefined {
    const e = this.get(id);
    return e ? specOfEntry(e) : undefined;
  }

  history(limit = 100, model?: string): HistoryEntry[] {
    const all = model === undefined ? this.doc.history : this.doc.history.filter((h) => h.model === model || h.counterpart === model);
    return all.slice(-limit).reverse();
  }

  /** Applies a change to a copy, validates the result and writes it atomically; the
   *  in-memory registry changes only if the write succeeded. */
  commit(change: (draft: RegistryDraft) => void): RegistryDoc {
    const draft: RegistryDraft = { models: this.doc.models.map((m) => ({ ...m })), history: [...this.doc.history] };
    change(draft);
    const limit = this.historyLimit();
    const history = draft.history.length > limit ? draft.history.slice(-limit) : draft.history;
    const next = parseRegistry({ format: REGISTRY_FORMAT, updated_at: new Date().toISOString(), models: draft.models, history }, this.path);
    writeJsonAtomic(this.path, next);
    this.doc = next;
    return next;
  }

  /** Replaces one entry's fields inside a commit. */
  static patch(draft: RegistryDraft, id: string, fields: Partial<Omit<RegistryEntry, 'id'>>): void {
    const i = draft.models.findIndex((m) => m.id === id);
    if (i < 0) throw new RegistryError(`no model ${id} in the registry`);
    draft.models[i] = { ...draft.models[i]!, ...fields };
  }

  /** Writes the file now (first start: the registry becomes visible before anything changes). */
  flush(): void {
    this.commit(() => {});
    this.log.debug({ path: this.path }, '[CANARY] strategy registry written');
  }
}

// ---- the fleet: what runs, from the registry -----------------------------------------------

export const DEFAULT_MA_ID = 'ma_crossover_v1';
export const DEFAULT_HMM_STORE_ID = 'hmm_regime';
export const DEFAULT_ENSEMBLE_ID = 'ensemble_v1';

/** The registry id a stored HMM version trades under: each version competes on its own. */
export function hmmModelId(storeId: string, version: number): string {
  return `${storeId}_v${version}`;
}

export interface FleetOptions {
  readonly registry: StrategyRegistry;
  readonly runtime: StrategyRuntime;
  /** ops/models */
  readonly modelsDir: string;
  /** TRADE_SYMBOLS: what the default models trade. */
  readonly symbols: readonly string[];
  /** Bar interval of the live feed: a bootstrap HMM is trained on bars of the same interval. */
  readonly intervalMs: number;
  readonly seed: number;
  /** Synthetic bars for the first-start HMM when the market's history is too short; default
   *  3000 (well under a second to fit). */
  readonly bootstrapBars?: number;
  /** Fewest bars of the HMM's symbol the first-start fit uses from the market's history;
   *  default the retrain policy's min_bars. */
  readonly minTrainingBars?: number;
  /** What the history passed to bootstrap is, for the log and the training sidecar
   *  ("binance", "synthetic market"). */
  readonly historySource?: string;
  /** Recent bars kept per symbol to warm up a model registered while running. */
  readonly warmupBars?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Keeps the runtime in step with the registry: on a fresh root registers the default models
 * (MA crossover live, an HMM and an ensemble of the two in shadow, training the HMM on the
 * market's own warm-up history when ops/models has none — on a seeded synthetic series only
 * when that history is too short to fit), registers HMM versions that appear in
 * ops/models (`hmm train-hmm`) as shadow models — at start and while running — and builds
 * every non-retired model into the runtime.
 */
export class ModelFleet {
  private readonly recent = new Map<string, Bar[]>();
  private readonly failed = new Set<string>();
  private readonly now: () => number;
  private readonly warmupBars: number;

  constructor(private readonly opts: FleetOptions) {
    this.now = opts.now ?? Date.now;
    this.warmupBars = opts.warmupBars ?? 500;
  }

  /** Registers defaults on an empty registry and any unregistered stored HMM versions.
   *  `history` is the warm-up history the market source holds (venue bars, or the synthetic
   *  market's own, which continues across restarts): the first HMM is trained on it, so it
   *  learns the market the stack trades. Returns a description of the training, if one ran. */
  bootstrap(history: readonly Bar[] = []): TrainedAndSaved | null {
    const { registry, modelsDir, symbols } = this.opts;
    let trained: TrainedAndSaved | null = null;
    if (registry.entries().length === 0) {
      if (listHmmModelVersions(modelsDir, DEFAULT_HMM_STORE_ID).length === 0) trained = this.trainFirst(history);
      const latest = listHmmModelVersions(modelsDir, DEFAULT_HMM_STORE_ID).at(-1)!;
      const ts = new Date(this.now()).toISOString();
      const hmmId = hmmModelId(DEFAULT_HMM_STORE_ID, latest);
      const hmmSymbol = readTrainingMeta(modelsDir, DEFAULT_HMM_STORE_ID, latest)?.symbol ?? symbols[0]!;
      const entries: RegistryEntry[] = [
        newEntry(DEFAULT_MA_ID, maSpec(symbols), 1, 'live', ts),
        { ...newEntry(hmmId, { kind: 'hmm', symbols: [hmmSymbol], params: { store_id: DEFAULT_HMM_STORE_ID, store_version: latest } }, latest, 'shadow', ts), lineage: this.lineageOf(DEFAULT_HMM_STORE_ID, latest) },
        newEntry(DEFAULT_ENSEMBLE_ID, {
          kind: 'ensemble', symbols: [...new Set([...symbols, hmmSymbol])],
          params: { members: [{ id: DEFAULT_MA_ID, weight: 1 }, { id: hmmId, weight: 1 }] },
        }, 1, 'shadow', ts),
      ];
      registry.commit((draft) => {
        draft.models.push(...entries);
        draft.history.push(...entries.map((e) => registerHistory(e, ts, 'first start: default model')));
      });
    }
    this.registerStored();
    return trained;
  }

  private trainFirst(history: readonly Bar[]): TrainedAndSaved {
    const { modelsDir, symbols, log } = this.opts;
    const sym = symbols[0]!;
    const own = history.filter((b) => b.symbol === sym).length;
    const min = this.opts.minTrainingBars ?? DEFAULT_RETRAIN_POLICY.min_bars;
    const source = this.opts.historySource ?? 'market history';
    if (own >= min) {
      const t = trainAndSave(modelsDir, history, { id: DEFAULT_HMM_STORE_ID, symbol: sym, source: 'market', detail: source, seed: this.opts.seed + 1000 });
      log.info({ path: t.path, seconds: t.seconds, bars: t.meta.bars, source, logLikelihood: t.model.fit.logLikelihood },
        `[CANARY] no trained HMM in ${modelsDir}: trained ${t.model.id} v${t.model.version} on the last ${t.meta.bars} ${sym} bars of ${source} history in ${t.seconds.toFixed(2)} s (log-likelihood ${t.model.fit.logLikelihood.toFixed(1)})`);
      return t;
    }
    const t = trainOnSynthetic(modelsDir, {
      id: DEFAULT_HMM_STORE_ID, symbol: sym, bars: this.opts.bootstrapBars ?? 3000, seed: this.opts.seed + 1000, intervalMs: this.opts.intervalMs,
    });
    log.warn({ path: t.path, seconds: t.seconds, historyBars: own, minBars: min, logLikelihood: t.model.fit.logLikelihood },
      `[CANARY] no trained HMM in ${modelsDir} and only ${own} ${sym} bars of ${source} history (fewer than retrain.min_bars ${min}): trained ${t.model.id} v${t.model.version} on ${t.meta.bars} synthetic ${sym} bars (seeded) instead in ${t.seconds.toFixed(2)} s (log-likelihood ${t.model.fit.logLikelihood.toFixed(1)}); the first walk-forward refit replaces it with one on market bars`);
    return t;
  }

  /** The registry id a stored version runs under, if registered. */
  idOfStored(storeId: string, version: number): string | undefined {
    return this.opts.registry.entries().find((e) => {
      if (e.kind !== 'hmm') return false;
      const p = e.params as HmmSpec['params'];
      return p.store_id === storeId && p.store_version === version;
    })?.id;
  }

  /** A stored version's lineage from its file and sidecar; null when the file cannot be read
   *  (buildAll will name the problem). */
  private lineageOf(storeId: string, version: number): ModelLineage | null {
    let stored;
    try {
      stored = loadHmmModel(this.opts.modelsDir, storeId, version);
    } catch {
      return null;
    }
    const meta = readTrainingMeta(this.opts.modelsDir, storeId, version);
    const parentVersion = meta?.parent ?? null;
    return {
      parent: parentVersion === null ? null : this.idOfStored(storeId, parentVersion) ?? hmmModelId(storeId, parentVersion),
      parent_version: parentVersion,
      source: meta?.source ?? 'unknown',
      window_first_ts: new Date(stored.trainingWindow.from).toISOString(),
      window_last_ts: new Date(stored.trainingWindow.to).toISOString(),
      bars: stored.trainingWindow.bars,
      log_likelihood: stored.fit.logLikelihood,
    };
  }

  /** Registers one more model in shadow (a replay scenario's contender, an operator's
   *  experiment); scan() then starts it warmed on recent bars. An id already registered or a
   *  spec that does not validate is refused with the reason. */
  register(id: string, spec: unknown, reason: string): RegistryEntry {
    modelId(id);
    if (this.opts.registry.get(id)) throw new RegistryError(`model ${id} is already registered`);
    const valid = validateModelSpec(spec);
    const ts = new Date(this.now()).toISOString();
    const entry = newEntry(id, valid, 1, 'shadow', ts);
    this.opts.registry.commit((draft) => {
      draft.models.push(entry);
      draft.history.push(registerHistory(entry, ts, reason));
    });
    this.opts.log.info({ model: id, spec: valid }, `[CANARY] registered ${id} (${valid.kind} on ${valid.symbols.join(',')}) as shadow: ${reason}`);
    return entry;
  }

  /** Registers stored HMM versions that no registry entry refers to; returns the new entries. */
  registerStored(): RegistryEntry[] {
    const { registry, modelsDir } = this.opts;
    if (!existsSync(modelsDir)) return [];
    const known = new Set(registry.entries().filter((e) => e.kind === 'hmm').map((e) => {
      const p = e.params as HmmSpec['params'];
      return `${p.store_id}/${p.store_version}`;
    }));
    const added: RegistryEntry[] = [];
    const ts = new Date(this.now()).toISOString();
    for (const storeId of readdirSync(modelsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
      let versions: number[];
      try {
        versions = listHmmModelVersions(modelsDir, storeId);
      } catch {
        continue; // not a model id: not ours
      }
      for (const v of versions) {
        if (known.has(`${storeId}/${v}`)) continue;
        let id = hmmModelId(storeId, v);
        if (registry.get(id) || added.some((a) => a.id === id)) id = `${id}_${Date.now().toString(36)}`;
        const sym = readTrainingMeta(modelsDir, storeId, v)?.symbol ?? this.opts.symbols[0]!;
        added.push({ ...newEntry(id, { kind: 'hmm', symbols: [sym], params: { store_id: storeId, store_version: v } }, v, 'shadow', ts), lineage: this.lineageOf(storeId, v) });
      }
    }
    if (added.length > 0) {
      registry.commit((draft) => {
        draft.models.push(...added);
        draft.history.push(...added.map((e) => registerHistory(e, ts, e.lineage?.source === 'retrain' && e.lineage.parent !== null
          ? `walk-forward refit of ${e.lineage.parent} on ${e.lineage.bars} bars to ${e.lineage.window_last_ts}`
          : `found ${(e.params as HmmSpec['params']).store_id}/v${e.version} in ops/models`)));
      });
      for (const e of added) this.opts.log.info({ model: e.id, lineage: e.lineage }, `[CANARY] registered ${e.id} (${e.kind} v${e.version} on ${e.symbols.join(',')}${e.lineage?.parent ? `, refitted after ${e.lineage.parent}` : ''}) as shadow`);
    }
    return added;
  }

  /** Builds every non-retired model not yet running; one that fails to build (missing or
   *  corrupt stored model) is logged once and skipped, never takes the others down. */
  buildAll(): Model[] {
    const { registry, runtime } = this.opts;
    const built: Model[] = [];
    const ctx = { modelsDir: this.opts.modelsDir, specOf: (id: string) => registry.specOf(id) };
    for (const e of registry.active()) {
      if (runtime.get(e.id) || this.failed.has(e.id)) continue;
      try {
        const model = buildModel(e.id, specOfEntry(e), ctx);
        runtime.add(model);
        built.push(model);
      } catch (err) {
        this.failed.add(e.id);
        this.opts.log.error({ model: e.id, err }, `[CANARY] model ${e.id} cannot run: ${(err as Error).message}`);
      }
    }
    return built;
  }

  /** The periodic scan (every 10 s of the stack's clock, once per bar in a replay, at most
   *  every 250 ms of host time): scan(), skipped while no store directory changed. Listing
   *  every store and reading each version's metadata is only needed when one did: a saved
   *  version renames a file into its store's directory, a new store adds one to the models
   *  directory, and both move that directory's mtime. While a directory is fresh (stamp null:
   *  it changed in the last 2 s) every check lists it again, so at most every 250 ms of host
   *  time; once settled, its stamp differs from the null recorded and the full listing runs
   *  once more. */
  scanIfChanged(): Model[] {
    // Files are host-time things: looked at no more than every 250 ms of it, however fast the
    // stack's clock runs (a replay asks once per bar; the stat calls were 5 % of its time).
    const host = Date.now();
    if (host - this.checkedAt < 250) return [];
    this.checkedAt = host;
    const stamp = this.storeStamp();
    if (stamp !== null && stamp === this.scannedStamp) return [];
    return this.scan();
  }

  /** Registers newly stored HMM versions and starts them, warmed on recent bars (at once: the
   *  retrainer calls it right after saving a version). */
  scan(): Model[] {
    const stamp = this.storeStamp();
    this.registerStored();
    this.storeDirs = existsSync(this.opts.modelsDir) ? readdirSync(this.opts.modelsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
    // The stamp before listing: a version saved during the listing shows as a change next time.
    this.scannedStamp = stamp === null ? null : this.storeStamp() === stamp ? stamp : null;
    const built = this.buildAll();
    for (const m of built) {
      const bars: Bar[] = [];
      for (const s of m.symbols) bars.push(...(this.recent.get(s) ?? []));
      bars.sort((a, b) => a.ts - b.ts);
      this.opts.runtime.warmup(bars, m);
      this.opts.log.info({ model: m.id, warmup: bars.length }, `[CANARY] ${m.id} started in shadow, warmed on ${bars.length} recent bars`);
    }
    return built;
  }

  // The first scan always lists: no stamp is ever this.
  private scannedStamp: string | null = '';
  private checkedAt = -Infinity;
  private storeDirs: string[] = [];

  /** The mtimes of the models directory and of the stores seen at the last full scan, or null
   *  while one changed in the last 2 s (a filesystem with coarse timestamps could show a later
   *  change at the same mtime). Host time: this compares filesystem timestamps. */
  private storeStamp(): string | null {
    const now = Date.now();
    const parts: number[] = [];
    for (const dir of [this.opts.modelsDir, ...this.storeDirs.map((d) => join(this.opts.modelsDir, d))]) {
      const st = statSync(dir, { throwIfNoEntry: false });
      const m = st === undefined ? -1 : st.mtimeMs;
      if (now - m < 2_000) return null;
      parts.push(m);
    }
    return parts.join(' ');
  }

  observe(bar: Bar): void {
    let buf = this.recent.get(bar.symbol);
    if (!buf) this.recent.set(bar.symbol, (buf = []));
    buf.push(bar);
    if (buf.length > this.warmupBars * 2) buf.splice(0, buf.length - this.warmupBars);
  }

  /** Running models that failed to build. */
  failures(): string[] {
    return [...this.failed];
  }
}

function newEntry(id: string, spec: ModelSpec, version: number, stage: ModelStage, ts: string): RegistryEntry {
  return {
    id, kind: spec.kind, version, stage, created_at: ts, stage_since: ts, symbols: spec.symbols, params: spec.params,
    replaced: null, metrics: null, tracking: null,
  };
}

function registerHistory(e: RegistryEntry, ts: string, reason: string): HistoryEntry {
  return { ts, action: 'register', model: e.id, from: null, to: e.stage, counterpart: null, actor: 'stack', reason, weights_before: {}, weights_after: {} };
}
