// Owns the live HMM trading model (Model kind 'hmm'): bars → incremental features →
// standardisation → online regime filter → policy, emitting a signal only when the desired
// action changes. Also owns training from bars into the stored form the registry keeps.
import type { ModelId, Symbol } from '../../core/ids.js';
import { modelId } from '../../core/ids.js';
import type { Bar } from '../../core/marketData.js';
import type { Signal } from '../../core/signal.js';
import type { Model } from '../model.js';
import { Rng } from '../../core/random.js';
import { fitGaussianHmm, type FitOptions, type FitResult, type RestartSummary } from './baumWelch.js';
import { HmmError } from './errors.js';
import {
  TRAINED_FEATURE_SPEC, FeatureStream, barProblem, computeFeatures, featureNames, fitStandardisation,
  standardise, standardiseRow, validateFeatureSpec, type FeatureSpec, type Standardisation,
} from './features.js';
import type { ForwardFilter } from './forwardFilter.js';
import type { CovarianceType, GaussianHmm } from './gaussianHmm.js';
import { createStoredModel, hmmFromStored, type StoredHmmModel } from './modelStore.js';
import {
  DEFAULT_POLICY, decideRegimeAction, orderStatesByReturn, rankOfState, validatePolicyConfig,
  type PolicyConfig, type RegimeAction,
} from './policy.js';

export interface HmmModelOptions {
  readonly symbol: Symbol;
  /** Defaults to the stored model's id. */
  readonly id?: ModelId;
}

export class HmmModel implements Model {
  readonly id: ModelId;
  readonly kind = 'hmm' as const;
  readonly symbols: readonly Symbol[];
  readonly stored: StoredHmmModel;
  private readonly hmm: GaussianHmm;
  private readonly features: FeatureStream;
  private readonly stats: Standardisation;
  private readonly filter: ForwardFilter;
  private readonly order: Int32Array;
  private readonly scaled: Float64Array;
  private lastTs = -Infinity;
  private filtered = 0;
  private rejected = 0;
  private action: RegimeAction = 'HOLD';
  private regime = -1;
  /** The last BAND_BARS scaled feature rows (a ring), for the regime band's Viterbi path. */
  private readonly recentRows: Float64Array;
  private recentCount = 0;
  private readonly rank: Int32Array;

  constructor(stored: StoredHmmModel, options: HmmModelOptions) {
    this.stored = stored;
    this.id = options.id ?? modelId(stored.id);
    this.symbols = [options.symbol];
    this.hmm = hmmFromStored(stored);
    this.features = new FeatureStream(stored.features.spec);
    this.stats = { mean: stored.features.mean, std: stored.features.std };
    validatePolicyConfig(stored.policy);
    // Live trading joins the series midway, so the filter starts from the chain's long-run
    // occupancy rather than the training sequence's first-bar distribution.
    this.filter = this.hmm.filter(this.hmm.stationaryDistribution());
    this.order = orderStatesByReturn(this.hmm.params.means, this.hmm.k, this.hmm.d, 0);
    this.scaled = new Float64Array(this.hmm.d);
    this.recentRows = new Float64Array(BAND_BARS * this.hmm.d);
    this.rank = rankOfState(this.hmm.params.means, this.hmm.k, this.hmm.d);
  }

  onBar(bar: Bar): Signal | null {
    if (bar.symbol !== this.symbols[0]) return null;
    // A replayed or out-of-order bar would double-count a return.
    if (!(bar.ts > this.lastTs)) return null;
    if (barProblem(bar) !== null) {
      this.rejected++;
      return null;
    }
    this.lastTs = bar.ts;
    const raw = this.features.push(bar);
    if (raw === null) return null;
    standardiseRow(raw, 0, this.stats, this.scaled, 0);
    const posterior = this.filter.update(this.scaled);
    this.recentRows.set(this.scaled, (this.recentCount % BAND_BARS) * this.hmm.d);
    this.recentCount++;
    this.filtered++;
    const decision = decideRegimeAction(posterior, this.order, this.stored.policy, this.action);
    this.regime = decision.regime;
    if (this.filtered < this.stored.policy.minBarsWarmup || decision.action === this.action) return null;
    this.action = decision.action;
    const reason = decision.action === 'HOLD'
      ? `regime ${decision.regime} of ${this.hmm.k}: no regime above ${pct(this.stored.policy.exitThreshold)}%`
      : `regime ${decision.regime} of ${this.hmm.k} at ${pct(decision.confidence)}% posterior`;
    // Two literals rather than a conditional spread: a HOLD carries no target exposure.
    if (decision.targetExposure === undefined) {
      return { model: this.id, symbol: bar.symbol, action: decision.action, strength: decision.confidence, ts: bar.ts, reason };
    }
    return {
      model: this.id, symbol: bar.symbol, action: decision.action, strength: decision.confidence,
      targetExposure: decision.targetExposure, ts: bar.ts, reason,
    };
  }

  /** posterior_r is the filtered probability of regime rank r (0 = most bearish mean
   *  return), so the names mean the same thing across retrains; regime is the most probable
   *  rank (−1 before the first filtered bar). */
  diagnostics(): Record<string, number> {
    const out: Record<string, number> = {};
    const p = this.filter.state;
    for (let r = 0; r < this.order.length; r++) out[`posterior_${r}`] = this.filtered > 0 ? p[this.order[r]!]! : 0;
    out['regime'] = this.regime;
    out['bars_filtered'] = this.filtered;
    out['bars_rejected'] = this.rejected;
    Object.assign(out, this.regimeBand());
    return out;
  }

  /** The most likely regime path over the last BAND_BARS filtered bars, as ranks like
   *  `regime`: band_0 is the oldest bar, band_<band_bars−1> the newest, viterbi_regime the
   *  newest again. Unlike `regime` (the filter's view at each bar, never revised) the path
   *  is smoothed with hindsight, so a band drawn from it shows regimes, not flicker. Computed
   *  when asked (the dashboard polls), never per bar. */
  regimeBand(): Record<string, number> {
    const n = Math.min(this.recentCount, BAND_BARS);
    const out: Record<string, number> = { band_bars: n, viterbi_regime: -1 };
    if (n === 0) return out;
    const d = this.hmm.d;
    const rows = new Float64Array(n * d);
    const start = this.recentCount - n;
    for (let i = 0; i < n; i++) {
      const at = ((start + i) % BAND_BARS) * d;
      rows.set(this.recentRows.subarray(at, at + d), i * d);
    }
    const { path } = this.hmm.viterbi({ data: rows, n, d });
    for (let i = 0; i < n; i++) out[`band_${i}`] = this.rank[path[i]!]!;
    out['viterbi_regime'] = this.rank[path[n - 1]!]!;
    return out;
  }
}

/** Bars in the regime band: about an hour of minute bars, and few enough diagnostics keys
 *  that a status response stays small. */
export const BAND_BARS = 60;

/** A posterior as a percentage with one decimal, for signal reasons. */
function pct(p: number): string {
  return (p * 100).toFixed(1);
}

export interface TrainHmmOptions {
  readonly id: string;
  /** Number of regimes. Default 4. */
  readonly k?: number;
  readonly covarianceType?: CovarianceType;
  readonly features?: Partial<FeatureSpec>;
  readonly policy?: Partial<PolicyConfig>;
  readonly fit?: Omit<FitOptions, 'k' | 'covarianceType' | 'd' | 'init'>;
  /** Creation time to record; default now. */
  readonly now?: Date;
}

/** Features and scaling of a training history, computed once before any fitting. */
interface PreparedTraining {
  readonly spec: FeatureSpec;
  readonly policy: PolicyConfig;
  readonly k: number;
  readonly stats: Standardisation;
  readonly obs: ReturnType<typeof standardise>;
}

function prepareTraining(bars: readonly Bar[], options: TrainHmmOptions): PreparedTraining {
  modelId(options.id);
  const spec: FeatureSpec = { ...TRAINED_FEATURE_SPEC, ...options.features };
  validateFeatureSpec(spec);
  const policy: PolicyConfig = { ...DEFAULT_POLICY, ...options.policy };
  validatePolicyConfig(policy);
  // Four regimes: calm, up-trend, down-trend, volatile, as crypto (and the synthetic market)
  // shows them. With three, a fit spends them on volatility levels and merges up and down.
  const k = options.k ?? 4;
  const { obs: raw } = computeFeatures(bars, spec);
  if (raw.n === 0) {
    throw new HmmError(`${bars.length} bars give no feature rows; the feature windows need more than ${bars.length} bars`);
  }
  const stats = fitStandardisation(raw);
  return { spec, policy, k, stats, obs: standardise(raw, stats) };
}

function storeTrained(bars: readonly Bar[], options: TrainHmmOptions, prep: PreparedTraining, fit: FitResult): StoredHmmModel {
  const { k, obs, spec, stats, policy } = prep;
  const hmm = fit.model.permuteStates(orderStatesByReturn(fit.model.params.means, k, obs.d, 0));
  const first = bars[0]!;
  const last = bars[bars.length - 1]!;
  return createStoredModel(hmm, {
    id: options.id,
    version: 0,
    createdAt: (options.now ?? new Date()).toISOString(),
    features: { spec, names: featureNames(spec), mean: stats.mean, std: stats.std },
    policy,
    trainingWindow: { from: first.ts, to: last.ts, bars: bars.length },
    fit: {
      logLikelihood: fit.logLikelihood,
      bic: -2 * fit.logLikelihood + hmm.parameterCount() * Math.log(obs.n),
      iterations: fit.iterations,
      converged: fit.converged,
    },
  });
}

/**
 * Fits an HMM to a bar history and returns it in stored form (version 0, unsaved), ready
 * for saveHmmModel. States are relabelled in ascending order of mean log return, so state 0
 * is the most bearish regime in every version of every model.
 */
export function trainHmmFromBars(bars: readonly Bar[], options: TrainHmmOptions): StoredHmmModel {
  const prep = prepareTraining(bars, options);
  const fit = fitGaussianHmm(prep.obs, { ...options.fit, k: prep.k, covarianceType: options.covarianceType ?? 'diag' });
  return storeTrained(bars, options, prep, fit);
}

/**
 * The same training, with the event loop let through between restarts (`pause`, e.g. one
 * setImmediate): a running stack refits on its bar loop's thread, and one restart of a
 * 2,000-bar fit takes ~20 ms where all four together take ~70–150 ms. Deterministic for a
 * given seed, but its restart seeds are not fitGaussianHmm's, so the result may differ from
 * trainHmmFromBars' on the same bars.
 */
export async function trainHmmFromBarsInSteps(
  bars: readonly Bar[], options: TrainHmmOptions, pause: () => Promise<void>,
): Promise<StoredHmmModel> {
  const prep = prepareTraining(bars, options);
  const nInit = Math.max(1, options.fit?.nInit ?? 4);
  const seeder = new Rng(options.fit?.seed ?? 1);
  let best: FitResult | null = null;
  const restarts: RestartSummary[] = [];
  for (let r = 0; r < nInit; r++) {
    await pause();
    const fit = fitGaussianHmm(prep.obs, {
      ...options.fit, nInit: 1, seed: seeder.int(0x7fffffff), k: prep.k, covarianceType: options.covarianceType ?? 'diag',
    });
    restarts.push(...fit.restarts);
    if (best === null || fit.logLikelihood > best.logLikelihood) best = fit;
  }
  return storeTrained(bars, options, prep, { ...best!, restarts });
}
