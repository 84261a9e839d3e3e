// The HMM strategy's public surface, for the CLI (`hmm train-hmm`), the strategy router and
// benchmarks. Internals (scaled recursions, emission caches) stay importable by path.
export { HmmError } from './errors.js';
export { observations, fromRows, type Observations, type ObservationInput } from './observations.js';
export { GaussianHmm, validateParams, type GaussianHmmParams, type CovarianceType } from './gaussianHmm.js';
export { ForwardFilter } from './forwardFilter.js';
export { fitGaussianHmm, type FitOptions, type FitResult, type RestartSummary } from './baumWelch.js';
export {
  DEFAULT_FEATURE_SPEC, FeatureStream, computeFeatures, featureNames, fitStandardisation, standardise,
  warmupBars, type FeatureSpec, type Standardisation,
} from './features.js';
export {
  DEFAULT_POLICY, decideRegimeAction, orderStatesByReturn, type PolicyConfig, type RegimeAction, type RegimeDecision,
} from './policy.js';
export {
  HMM_MODEL_FORMAT_VERSION, createStoredModel, hmmFromStored, listHmmModelVersions, loadHmmModel, loadHmmModelFile,
  loadLatestHmmModel, modelChecksum, saveHmmModel, verifyStoredModel, type StoredHmmModel,
} from './modelStore.js';
export { HmmModel, trainHmmFromBars, type HmmModelOptions, type TrainHmmOptions } from './hmmModel.js';
