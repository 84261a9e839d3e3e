// Owns what a stored HMM does not record about itself: the symbol it was trained on and where
// its training bars came from. Kept as a sidecar (<registry>/<id>/v<N>.meta.json) so the
// checksummed model format stays as it is; listHmmModelVersions only matches v<N>.json, so the
// sidecar is never mistaken for a version. The sidecar also carries a version's parent (the
// version a walk-forward refit followed), so lineage survives in ops/models alone. Also owns
// training and saving: on given bars (the market's own history, a CSV, a refit window) or on
// a seeded synthetic series (`hmm train-hmm --bars`, and a first start with too little history).
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { symbol as toSymbol } from '../../core/ids.js';
import type { Bar } from '../../core/marketData.js';
import { SyntheticMarket } from '../../market/synthetic.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { reportStorageFault } from '../../util/storageHealth.js';
import type { CovarianceType } from './gaussianHmm.js';
import { trainHmmFromBars, trainHmmFromBarsInSteps, type TrainHmmOptions } from './hmmModel.js';
import { saveHmmModel, type StoredHmmModel } from './modelStore.js';

/** Where training bars came from: a seeded synthetic series, a CSV file, the history the
 *  stack's market source held at start (venue bars, or the synthetic market's own), or a
 *  walk-forward refit on the bars the stack traded. */
export type TrainingSource = 'synthetic' | 'csv' | 'market' | 'retrain';
const SOURCES: readonly TrainingSource[] = ['synthetic', 'csv', 'market', 'retrain'];

export interface HmmTrainingMeta {
  readonly symbol: string;
  readonly source: TrainingSource;
  /** CSV path, "seed=<n> interval_ms=<n>" for synthetic history, the market source's name. */
  readonly detail: string;
  readonly bars: number;
  readonly fit_seconds: number;
  /** The version this one was refitted after (same store id); absent or null for a root. */
  readonly parent?: number | null;
}

export function trainingMetaPath(registryDir: string, id: string, version: number): string {
  return join(registryDir, id, `v${version}.meta.json`);
}

export function writeTrainingMeta(registryDir: string, id: string, version: number, meta: HmmTrainingMeta): void {
  writeJsonAtomic(trainingMetaPath(registryDir, id, version), meta);
}

/** The sidecar, or null when missing or unreadable (older models): callers fall back to a default symbol. */
export function readTrainingMeta(registryDir: string, id: string, version: number): HmmTrainingMeta | null {
  const path = trainingMetaPath(registryDir, id, version);
  if (!existsSync(path)) return null;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<HmmTrainingMeta>;
    if (typeof v.symbol !== 'string') return null;
    toSymbol(v.symbol);
    if (!SOURCES.includes(v.source as TrainingSource)) return null;
    if (v.parent !== undefined && v.parent !== null && !(Number.isInteger(v.parent) && v.parent > 0)) return null;
    return v as HmmTrainingMeta;
  } catch {
    return null;
  }
}

export interface SyntheticTrainingOptions {
  readonly id: string;
  readonly symbol: string;
  readonly bars: number;
  readonly seed: number;
  /** Bar interval of the history; should match the bars the model will trade on, because
   *  volatility features scale with the interval. */
  readonly intervalMs: number;
  readonly k?: number;
  readonly covarianceType?: CovarianceType;
}

export function syntheticHistory(symbolName: string, bars: number, seed: number, intervalMs: number): Bar[] {
  const market = new SyntheticMarket({ seed, symbols: [symbolName], intervalMs, startTs: Date.UTC(2024, 0, 1) });
  return market.generate(bars);
}

export interface TrainedAndSaved {
  readonly model: StoredHmmModel;
  readonly path: string;
  readonly seconds: number;
  readonly meta: HmmTrainingMeta;
}

export interface TrainOnBarsOptions {
  readonly id: string;
  readonly symbol: string;
  readonly source: TrainingSource;
  readonly detail: string;
  readonly k?: number;
  readonly covarianceType?: CovarianceType;
  readonly seed?: number;
  readonly parent?: number | null;
}

function trainOptions(opts: TrainOnBarsOptions): TrainHmmOptions {
  return {
    id: opts.id, k: opts.k ?? 3, covarianceType: opts.covarianceType ?? 'diag',
    ...(opts.seed !== undefined ? { fit: { seed: opts.seed } } : {}),
  };
}

function saveWithMeta(registryDir: string, trained: StoredHmmModel, bars: number, seconds: number, opts: TrainOnBarsOptions): TrainedAndSaved {
  const { path, model } = reportingStorage(join(registryDir, trained.id), () => saveHmmModel(registryDir, trained));
  const meta: HmmTrainingMeta = {
    symbol: opts.symbol, source: opts.source, detail: opts.detail, bars, fit_seconds: Math.round(seconds * 1000) / 1000,
    ...(opts.parent !== undefined ? { parent: opts.parent } : {}),
  };
  try {
    reportingStorage(path, () => writeTrainingMeta(registryDir, model.id, model.version, meta));
  } catch (err) {
    // A version without its training record is not saved: the whole round goes, so the fleet
    // never scans a half-saved model; the next refit (or start) trains it again.
    try { unlinkSync(path); } catch { /* already gone */ }
    throw err;
  }
  return { model, path, seconds, meta };
}

/** Trains on the given bars of one symbol, saves as the next version with its sidecar. */
export function trainAndSave(registryDir: string, bars: readonly Bar[], opts: TrainOnBarsOptions): TrainedAndSaved {
  const own = bars.filter((b) => b.symbol === opts.symbol);
  const t0 = performance.now();
  const trained = trainHmmFromBars(own, trainOptions(opts));
  return saveWithMeta(registryDir, trained, own.length, (performance.now() - t0) / 1000, opts);
}

/** trainAndSave with the event loop let through between fit restarts: for a running stack.
 *  `seconds` is the elapsed time, pauses included. */
export async function trainAndSaveInSteps(
  registryDir: string, bars: readonly Bar[], opts: TrainOnBarsOptions, pause: () => Promise<void>,
): Promise<TrainedAndSaved> {
  const own = bars.filter((b) => b.symbol === opts.symbol);
  const t0 = performance.now();
  const trained = await trainHmmFromBarsInSteps(own, trainOptions(opts), pause);
  return saveWithMeta(registryDir, trained, own.length, (performance.now() - t0) / 1000, opts);
}

export function trainOnSynthetic(registryDir: string, opts: SyntheticTrainingOptions): TrainedAndSaved {
  const bars = syntheticHistory(opts.symbol, opts.bars, opts.seed, opts.intervalMs);
  return trainAndSave(registryDir, bars, {
    id: opts.id, symbol: opts.symbol, source: 'synthetic', detail: `seed=${opts.seed} interval_ms=${opts.intervalMs}`,
    ...(opts.k !== undefined ? { k: opts.k } : {}), ...(opts.covarianceType !== undefined ? { covarianceType: opts.covarianceType } : {}),
  });
}

/** Runs a write of the model store; a full, failing or read-only disk is reported to the root's
 *  storage health (the STORAGE state) before the error goes on to the caller, which skips the
 *  round (a refit) or stops (a start that has no model to run). */
function reportingStorage<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    reportStorageFault(path, err);
    throw err;
  }
}
