// Owns the on-disk model registry: <registry>/<modelId>/v<version>.json, one immutable file
// per trained version, written atomically and guarded by a SHA-256 checksum so a model that
// was edited, truncated or produced by an incompatible trainer is refused at load, not traded.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelId } from '../../core/ids.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { HmmError } from './errors.js';
import { featureCount, validateFeatureSpec, type FeatureSpec } from './features.js';
import { GaussianHmm, type CovarianceType } from './gaussianHmm.js';
import { validatePolicyConfig, type PolicyConfig } from './policy.js';

export const HMM_MODEL_FORMAT_VERSION = 1;

export interface StoredHmmModel {
  readonly formatVersion: typeof HMM_MODEL_FORMAT_VERSION;
  readonly id: string;
  /** 1, 2, … once saved; 0 for a freshly trained model not yet in a registry. */
  readonly version: number;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  readonly k: number;
  readonly d: number;
  readonly covarianceType: CovarianceType;
  readonly params: {
    readonly startProb: readonly number[];
    readonly transMat: readonly number[];
    readonly means: readonly number[];
    readonly covars: readonly number[];
  };
  readonly features: {
    readonly spec: FeatureSpec;
    readonly names: readonly string[];
    /** Standardisation statistics of the training features. */
    readonly mean: readonly number[];
    readonly std: readonly number[];
  };
  readonly policy: PolicyConfig;
  /** Bar open times (epoch ms) of the first and last training bar, and the bar count. */
  readonly trainingWindow: { readonly from: number; readonly to: number; readonly bars: number };
  readonly fit: {
    readonly logLikelihood: number;
    readonly bic: number;
    readonly iterations: number;
    readonly converged: boolean;
  };
  /** 'sha256:<hex>' over the canonical JSON of every other field. */
  readonly checksum: string;
}

export type StoredHmmModelContent = Omit<StoredHmmModel, 'checksum' | 'formatVersion' | 'k' | 'd' | 'covarianceType' | 'params'>;

/** Builds the stored form of a trained model, checksum included. */
export function createStoredModel(hmm: GaussianHmm, content: StoredHmmModelContent): StoredHmmModel {
  const p = hmm.params;
  return withChecksum({
    formatVersion: HMM_MODEL_FORMAT_VERSION,
    id: content.id,
    version: content.version,
    createdAt: content.createdAt,
    k: hmm.k,
    d: hmm.d,
    covarianceType: hmm.covarianceType,
    params: {
      startProb: plainNumbers(p.startProb),
      transMat: plainNumbers(p.transMat),
      means: plainNumbers(p.means),
      covars: plainNumbers(p.covars),
    },
    features: {
      spec: { ...content.features.spec },
      names: [...content.features.names],
      mean: plainNumbers(content.features.mean),
      std: plainNumbers(content.features.std),
    },
    policy: { ...content.policy },
    trainingWindow: { ...content.trainingWindow },
    fit: { ...content.fit },
  });
}

/** JSON writes −0 as 0; normalising first keeps "what we hash" equal to "what we load". */
function plainNumbers(a: ArrayLike<number>): number[] {
  return Array.from(a, (x) => (x === 0 ? 0 : x));
}

function withChecksum(doc: Omit<StoredHmmModel, 'checksum'>): StoredHmmModel {
  return { ...doc, checksum: modelChecksum(doc) };
}

/** SHA-256 over canonical JSON (keys sorted, no whitespace) of every field but `checksum`.
 *  JavaScript prints every double in its shortest round-trip form, so the text — and the
 *  hash — is a function of the values alone. */
export function modelChecksum(doc: Omit<StoredHmmModel, 'checksum'> | StoredHmmModel): string {
  const rest: Record<string, unknown> = { ...doc };
  delete rest['checksum'];
  return 'sha256:' + createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return '{' + Object.keys(o).sort().filter((key) => o[key] !== undefined)
      .map((key) => JSON.stringify(key) + ':' + canonicalJson(o[key])).join(',') + '}';
  }
  return JSON.stringify(v);
}

/** The GaussianHmm a stored model describes (parameters validated). */
export function hmmFromStored(doc: StoredHmmModel): GaussianHmm {
  return new GaussianHmm({
    k: doc.k,
    d: doc.d,
    covarianceType: doc.covarianceType,
    startProb: Float64Array.from(doc.params.startProb),
    transMat: Float64Array.from(doc.params.transMat),
    means: Float64Array.from(doc.params.means),
    covars: Float64Array.from(doc.params.covars),
  });
}

/** Checks a parsed document: format version, then checksum, then that its contents define
 *  a usable model. `source` names the file in error messages. */
export function verifyStoredModel(value: unknown, source: string): StoredHmmModel {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HmmError(`${source}: not a model document (expected a JSON object)`);
  }
  const doc = value as Record<string, unknown>;
  if (doc['formatVersion'] !== HMM_MODEL_FORMAT_VERSION) {
    throw new HmmError(`${source}: unsupported model format version ${JSON.stringify(doc['formatVersion'])} (this build reads version ${HMM_MODEL_FORMAT_VERSION})`);
  }
  const stored = doc['checksum'];
  if (typeof stored !== 'string') throw new HmmError(`${source}: checksum missing`);
  const computed = modelChecksum(doc as unknown as StoredHmmModel);
  if (stored !== computed) {
    throw new HmmError(`${source}: checksum mismatch (file says ${stored}, contents hash to ${computed}); the model was modified or corrupted`);
  }
  const model = doc as unknown as StoredHmmModel;
  checkShape(model, source);
  return model;
}

function checkShape(m: StoredHmmModel, source: string): void {
  const bad = (what: string): never => { throw new HmmError(`${source}: ${what}`); };
  if (typeof m.id !== 'string') bad('id must be a string');
  if (!Number.isInteger(m.version) || m.version < 0) bad(`version must be a non-negative integer, got ${String(m.version)}`);
  const numbers = (name: string, a: unknown): void => {
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) bad(`${name} must be an array of finite numbers`);
  };
  if (typeof m.params !== 'object' || m.params === null) bad('params missing');
  numbers('params.startProb', m.params.startProb);
  numbers('params.transMat', m.params.transMat);
  numbers('params.means', m.params.means);
  numbers('params.covars', m.params.covars);
  if (typeof m.features !== 'object' || m.features === null) bad('features missing');
  numbers('features.mean', m.features.mean);
  numbers('features.std', m.features.std);
  try {
    validateFeatureSpec(m.features.spec);
    validatePolicyConfig(m.policy);
    if (featureCount(m.features.spec) !== m.d || m.features.mean.length !== m.d || m.features.std.length !== m.d) {
      bad(`feature spec gives ${featureCount(m.features.spec)} features, stats ${m.features.mean.length}, model d=${m.d}`);
    }
    if (!m.features.std.every((s) => s > 0)) bad('features.std must be positive');
    hmmFromStored(m);
  } catch (err) {
    if (err instanceof HmmError && !err.message.startsWith(source)) throw new HmmError(`${source}: ${err.message}`);
    throw err;
  }
}

function modelDir(registryDir: string, id: string): string {
  // modelId() admits only [A-Za-z0-9._-], so no separators; '.' and '..' are the only ids
  // that would resolve outside their own folder.
  if (id === '.' || id === '..') throw new HmmError(`invalid model id ${JSON.stringify(id)}`);
  return join(registryDir, modelId(id));
}

/** Saved versions of a model, ascending; empty if none. */
export function listHmmModelVersions(registryDir: string, id: string): number[] {
  const dir = modelDir(registryDir, id);
  if (!existsSync(dir)) return [];
  const versions: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^v(\d+)\.json$/.exec(name);
    if (m) versions.push(Number(m[1]));
  }
  return versions.sort((a, b) => a - b);
}

/** Saves as the next version of doc.id (the document's own version is replaced) and returns
 *  the saved document and its path. Versions are never overwritten. */
export function saveHmmModel(registryDir: string, doc: StoredHmmModel): { path: string; model: StoredHmmModel } {
  verifyStoredModel(doc, `model ${doc.id}`);
  const dir = modelDir(registryDir, doc.id);
  let version = (listHmmModelVersions(registryDir, doc.id).at(-1) ?? 0) + 1;
  while (existsSync(join(dir, `v${version}.json`))) version++;
  const { checksum: _old, ...rest } = doc;
  void _old;
  const model = withChecksum({ ...rest, version });
  const path = join(dir, `v${version}.json`);
  writeJsonAtomic(path, model);
  return { path, model };
}

/** Reads and verifies one model file. */
export function loadHmmModelFile(path: string): StoredHmmModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HmmError(`${path}: cannot read model file (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HmmError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return verifyStoredModel(parsed, path);
}

export function loadHmmModel(registryDir: string, id: string, version: number): StoredHmmModel {
  const path = join(modelDir(registryDir, id), `v${version}.json`);
  if (!existsSync(path)) throw new HmmError(`model ${id} has no version ${version} in ${registryDir}`);
  const model = loadHmmModelFile(path);
  if (model.id !== id || model.version !== version) {
    throw new HmmError(`${path}: file holds ${model.id} v${model.version}, expected ${id} v${version}`);
  }
  return model;
}

export function loadLatestHmmModel(registryDir: string, id: string): StoredHmmModel {
  const latest = listHmmModelVersions(registryDir, id).at(-1);
  if (latest === undefined) throw new HmmError(`no saved versions of model ${id} in ${registryDir}`);
  return loadHmmModel(registryDir, id, latest);
}
