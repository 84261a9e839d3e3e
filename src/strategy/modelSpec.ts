// Owns how a model is described and rebuilt: a ModelSpec (kind, symbols, parameters) is what
// the strategy registry stores, and buildModel turns one into a running Model. An HMM spec
// names a stored, checksummed model version in ops/models; an ensemble spec names member
// models by id, and gets fresh instances of them (a member's state is the ensemble's own).
import { modelId, symbol as toSymbol, type ModelId } from '../core/ids.js';
import { EnsembleModel } from './ensemble/ensemble.js';
import { HmmModel } from './hmm/hmmModel.js';
import { loadHmmModel } from './hmm/modelStore.js';
import { DEFAULT_MA_CONFIG, MaCrossoverModel } from './ma/maCrossover.js';
import type { Model, ModelKind } from './model.js';
import { ModelError } from './errors.js';

export interface MaSpec {
  readonly kind: 'ma';
  readonly symbols: readonly string[];
  readonly params: { readonly fast: number; readonly slow: number; readonly band: number; readonly invert?: boolean };
}

export interface HmmSpec {
  readonly kind: 'hmm';
  /** Exactly one symbol: an HMM's features are standardised with its training symbol's statistics. */
  readonly symbols: readonly string[];
  readonly params: { readonly store_id: string; readonly store_version: number };
}

export interface EnsembleSpec {
  readonly kind: 'ensemble';
  readonly symbols: readonly string[];
  readonly params: {
    readonly members: readonly { readonly id: string; readonly weight: number }[];
    readonly resolution?: number;
    readonly quorum?: number;
  };
}

export type ModelSpec = MaSpec | HmmSpec | EnsembleSpec;

export class ModelSpecError extends ModelError {
  constructor(readonly field: string, message: string) {
    super('HMM_MODEL_INVALID_SPEC', `${field} ${message}`, { httpStatus: 400 });
  }
}

const KINDS: readonly ModelKind[] = ['ma', 'hmm', 'ensemble'];

/** Checks a spec read from a file or a request; errors name the field (under `prefix`). */
export function validateModelSpec(value: unknown, prefix = 'spec'): ModelSpec {
  const bad = (field: string, msg: string): never => { throw new ModelSpecError(`${prefix}${field}`, msg); };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('', 'must be an object');
  const v = value as Record<string, unknown>;
  const kind = v['kind'];
  if (typeof kind !== 'string' || !KINDS.includes(kind as ModelKind)) bad('.kind', `must be one of ${KINDS.join(', ')}`);
  const symbols = v['symbols'];
  if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === 'string')) bad('.symbols', 'must be an array of symbols');
  (symbols as string[]).forEach((s, i) => { try { toSymbol(s); } catch { bad(`.symbols[${i}]`, `is not a valid symbol: ${JSON.stringify(s)}`); } });
  const params = v['params'];
  if (params === null || typeof params !== 'object' || Array.isArray(params)) bad('.params', 'must be an object');
  const p = params as Record<string, unknown>;
  const posInt = (key: string): number => {
    const x = p[key];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) bad(`.params.${key}`, 'must be a positive integer');
    return x as number;
  };
  if (kind === 'ma') {
    if ((symbols as string[]).length === 0) bad('.symbols', 'must name at least one symbol');
    const fast = posInt('fast');
    const slow = posInt('slow');
    if (slow <= fast) bad('.params.slow', 'must be greater than fast');
    const band = p['band'];
    if (typeof band !== 'number' || !(band >= 0 && band < 1)) bad('.params.band', 'must be a number in [0, 1)');
    const invert = p['invert'];
    if (invert !== undefined && typeof invert !== 'boolean') bad('.params.invert', 'must be a boolean');
    return { kind, symbols: [...(symbols as string[])], params: { fast, slow, band: band as number, ...(invert === true ? { invert } : {}) } };
  }
  if (kind === 'hmm') {
    if ((symbols as string[]).length !== 1) bad('.symbols', 'must name exactly one symbol for an HMM');
    const storeId = p['store_id'];
    if (typeof storeId !== 'string') bad('.params.store_id', 'must be a model id');
    try { modelId(storeId as string); } catch { bad('.params.store_id', `is not a valid model id: ${JSON.stringify(storeId)}`); }
    return { kind, symbols: [...(symbols as string[])], params: { store_id: storeId as string, store_version: posInt('store_version') } };
  }
  const members = p['members'];
  if (!Array.isArray(members) || members.length === 0) bad('.params.members', 'must be a non-empty array of { id, weight }');
  const seen = new Set<string>();
  const out = (members as unknown[]).map((m, i) => {
    const mm = m as Record<string, unknown> | null;
    if (mm === null || typeof mm !== 'object') bad(`.params.members[${i}]`, 'must be { id, weight }');
    const id = mm!['id'];
    const weight = mm!['weight'];
    if (typeof id !== 'string') bad(`.params.members[${i}].id`, 'must be a model id');
    if (seen.has(id as string)) bad(`.params.members[${i}].id`, `lists ${String(id)} twice`);
    seen.add(id as string);
    if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight)) bad(`.params.members[${i}].weight`, 'must be a positive number');
    return { id: id as string, weight: weight as number };
  });
  const opt = (key: 'resolution' | 'quorum'): number | undefined => {
    const x = p[key];
    if (x === undefined) return undefined;
    if (typeof x !== 'number' || !(x > 0 && x <= 1)) bad(`.params.${key}`, 'must be a number in (0, 1]');
    return x as number;
  };
  const resolution = opt('resolution');
  const quorum = opt('quorum');
  return {
    kind: 'ensemble', symbols: [...(symbols as string[])],
    params: { members: out, ...(resolution !== undefined ? { resolution } : {}), ...(quorum !== undefined ? { quorum } : {}) },
  };
}

export interface BuildContext {
  /** ops/models: where HMM versions are stored. */
  readonly modelsDir: string;
  /** The spec of another registered model (ensemble members). */
  readonly specOf: (id: string) => ModelSpec | undefined;
}

export function maSpec(symbols: readonly string[], params = DEFAULT_MA_CONFIG): MaSpec {
  return { kind: 'ma', symbols: [...symbols], params: { fast: params.fast, slow: params.slow, band: params.band } };
}

/** Builds a fresh, cold instance of the model a spec describes. Throws with the reason when
 *  a stored HMM is missing or fails its checksum, or an ensemble member is unknown. */
export function buildModel(id: string, spec: ModelSpec, ctx: BuildContext, depth = 0): Model {
  const mid: ModelId = modelId(id);
  switch (spec.kind) {
    case 'ma':
      return new MaCrossoverModel(mid, spec.symbols.map(toSymbol), spec.params);
    case 'hmm': {
      const stored = loadHmmModel(ctx.modelsDir, spec.params.store_id, spec.params.store_version);
      return new HmmModel(stored, { symbol: toSymbol(spec.symbols[0]!), id: mid });
    }
    case 'ensemble': {
      // Members are plain models: an ensemble of ensembles would hide which model really voted.
      if (depth > 0) throw new ModelSpecError('params.members', `${id}: an ensemble cannot be a member of another ensemble`);
      const members = spec.params.members.map((m) => {
        const memberSpec = ctx.specOf(m.id);
        if (memberSpec === undefined) throw new ModelSpecError('params.members', `${id}: member ${m.id} is not a registered model`);
        if (memberSpec.kind === 'ensemble') throw new ModelSpecError('params.members', `${id}: member ${m.id} is an ensemble`);
        return { model: buildModel(m.id, memberSpec, ctx, depth + 1), weight: m.weight };
      });
      return new EnsembleModel(mid, members, {
        ...(spec.params.resolution !== undefined ? { resolution: spec.params.resolution } : {}),
        ...(spec.params.quorum !== undefined ? { quorum: spec.params.quorum } : {}),
      });
    }
  }
}

/** Symbols an ensemble trades: the union of its members'. */
export function ensembleSymbols(members: readonly { id: string }[], specOf: (id: string) => ModelSpec | undefined): string[] {
  const out = new Set<string>();
  for (const m of members) for (const s of specOf(m.id)?.symbols ?? []) out.add(s);
  return [...out];
}
