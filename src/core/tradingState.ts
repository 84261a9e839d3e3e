// The one trading state of the stack, as NautilusTrader's risk engine holds one TradingState:
// graded (ACTIVE / REDUCING / HALTED), set globally, per venue (engine) and per model, in one
// versioned document. The kill switch is the global HALTED; `TRADING_ENABLED` mirrors "the global
// state is not HALTED". The control plane persists the document (ops/trading_states.json), pushes
// it to every engine and announces it on the bus (`trading.state`); an engine applies a version
// once and ignores any version it has already applied, so N ops replicas (push + bus from each)
// still make one application per change. Pure: types, parsing and the views derived from it.
import { InvalidValueError } from './errors.js';

/** ACTIVE trades normally, REDUCING lets only exposure-shrinking orders through, HALTED lets
 *  nothing through. */
export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';
export const TRADING_STATES: readonly TradingState[] = ['ACTIVE', 'REDUCING', 'HALTED'];
const RANK: Record<TradingState, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };

export const tradingStateRank = (s: TradingState): number => RANK[s];
export const isTradingState = (s: unknown): s is TradingState => typeof s === 'string' && s in RANK;

/** The most restrictive of several states (global, venue, model all apply to one order). */
export function worstState(...states: readonly (TradingState | undefined)[]): TradingState {
  let out: TradingState = 'ACTIVE';
  for (const s of states) if (s !== undefined && RANK[s] > RANK[out]) out = s;
  return out;
}

export type TradingScope = 'global' | 'venue' | 'model';

export interface TradingStateEntry {
  readonly state: TradingState;
  readonly reason: string;
  readonly actor: string;
  readonly updated_at: string;
  /** A HALTED that also drains: the engines it applies to cancel their open orders (POST /kill
   *  with cancel_open). Kept on the entry so an engine reached later drains too. */
  readonly cancel_open?: boolean;
}

export interface TradingStateDocument {
  /** Strictly increasing across changes, replicas and restarts: max(previous + 1, now in ms), so
   *  a document rebuilt after its file was lost still outranks what the engines applied. */
  readonly version: number;
  readonly global: TradingStateEntry;
  readonly venues: Readonly<Record<string, TradingStateEntry>>;
  readonly models: Readonly<Record<string, TradingStateEntry>>;
}

/**
 * A condition of the stack that stops new orders by itself, beside the operator's states: a fact
 * of the machine (the disk refuses writes: STORAGE), not a decision. It is not a versioned entry
 * of the document: it is detected, shown (`conditions` in GET /trading/state and /status) and
 * lifted by the stack itself, and an operator's resume does not lift it.
 */
export type TradingConditionKind = 'STORAGE';

export interface TradingCondition {
  readonly kind: TradingConditionKind;
  /** Whose machine: the process that shows it (`hmm-stack`, `ops`) or, in distributed mode, the
   *  engine whose disk it is (an engine refuses its own orders; the control plane shows it). */
  readonly source: string;
  /** What the operator reads: the fault and where. */
  readonly reason: string;
  readonly since: string;
}

/** The document as shown: the operator's entries plus the conditions that stand now. */
export interface TradingStateView extends TradingStateDocument {
  readonly conditions: readonly TradingCondition[];
  /** The state new orders meet globally: HALTED while any condition stands, else global's. */
  readonly effective: TradingState;
}

export const viewWithConditions = (doc: TradingStateDocument, conditions: readonly TradingCondition[]): TradingStateView => ({
  ...doc,
  conditions,
  effective: conditions.length > 0 ? 'HALTED' : doc.global.state,
});

/** The graded trading states that apply at one engine: global, its venue, and per model. */
export interface EngineTradingStates {
  readonly global: TradingState;
  readonly venue: TradingState;
  readonly models: Readonly<Record<string, TradingState>>;
}

export const initialTradingStateDocument = (updatedAt: string, version = 0): TradingStateDocument => ({
  version,
  global: { state: 'ACTIVE', reason: 'default', actor: 'startup', updated_at: updatedAt },
  venues: {},
  models: {},
});

/** The version after `previous`: strictly greater, and never behind the wall clock. */
export const nextTradingStateVersion = (previous: number, nowMs: number): number => Math.max(previous + 1, Math.floor(nowMs));

/** The runbook's TRADING_ENABLED: trading is enabled unless the global state is HALTED (the kill). */
export const tradingEnabledBy = (doc: TradingStateDocument): boolean => doc.global.state !== 'HALTED';

/** What one engine enforces: global, its own venue entry, and every model that is not ACTIVE. */
export function engineView(doc: TradingStateDocument, engineName: string): EngineTradingStates {
  const models: Record<string, TradingState> = {};
  for (const [m, e] of Object.entries(doc.models)) if (e.state !== 'ACTIVE') models[m] = e.state;
  return { global: doc.global.state, venue: doc.venues[engineName]?.state ?? 'ACTIVE', models };
}

/** The entry at a scope (null when none was ever set for that venue or model). */
export function entryAt(doc: TradingStateDocument, scope: TradingScope, target: string | null): TradingStateEntry | null {
  if (scope === 'global') return doc.global;
  return (scope === 'venue' ? doc.venues : doc.models)[target ?? ''] ?? null;
}

/** The document with one entry replaced, at a new version. */
export function withEntry(doc: TradingStateDocument, scope: TradingScope, target: string | null, entry: TradingStateEntry, version: number): TradingStateDocument {
  const key = target ?? '';
  if (scope === 'global') return { ...doc, version, global: entry };
  if (scope === 'venue') return { ...doc, version, venues: { ...doc.venues, [key]: entry } };
  return { ...doc, version, models: { ...doc.models, [key]: entry } };
}

/** A trading-state document that cannot be understood (its holder fails safe: HALTED). */
export class TradingStateParseError extends InvalidValueError {
  constructor(message: string) {
    super('HMM_CORE_TRADING_STATE_INVALID', message);
  }
}

function parseEntry(v: unknown, where: string): TradingStateEntry {
  const o = v as Partial<TradingStateEntry> | null;
  if (!o || typeof o !== 'object' || !isTradingState(o.state)) throw new TradingStateParseError(`${where}.state must be one of ${TRADING_STATES.join(', ')}`);
  return {
    state: o.state, reason: String(o.reason ?? ''), actor: String(o.actor ?? 'unknown'), updated_at: String(o.updated_at ?? ''),
    ...(o.cancel_open === true ? { cancel_open: true } : {}),
  };
}

/** A document from JSON (a file, a Redis value, a request body). A document written before
 *  versions existed reads as version 0. Throws TradingStateParseError naming the bad key. */
export function parseTradingStateDocument(value: unknown): TradingStateDocument {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TradingStateParseError('the document must be an object');
  const doc = value as Partial<Record<keyof TradingStateDocument, unknown>>;
  const map = (v: unknown, where: string): Record<string, TradingStateEntry> => {
    if (v === undefined) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TradingStateParseError(`${where} must be an object`);
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, parseEntry(e, `${where}.${k}`)]));
  };
  const version = doc.version === undefined ? 0 : doc.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw new TradingStateParseError('version must be a non-negative integer');
  return { version, global: parseEntry(doc.global, 'global'), venues: map(doc.venues, 'venues'), models: map(doc.models, 'models') };
}
