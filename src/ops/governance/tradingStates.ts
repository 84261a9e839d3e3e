// Graded trading states (ACTIVE / REDUCING / HALTED), set globally, per venue (engine) and per
// model, each with the reason and actor that set it. Latched: a state stays until someone sets
// another one. Persisted in ops/trading_states.json, pushed to every engine before `set`
// resolves (so no order is judged under the old state after the call returns), exported as
// hmm_trading_state{scope,target}, announced on the bus as an alert, and logged.
import { readFileSync, existsSync } from 'node:fs';
import type { Bus } from '../../bus/bus.js';
import type { EngineTradingStates } from '../../engine/engine.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { type TradingState, TRADING_STATES, tradingStateRank } from '../../engine/riskRails.js';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';

export type TradingScope = 'global' | 'venue' | 'model';

export interface TradingStateEntry {
  readonly state: TradingState;
  readonly reason: string;
  readonly actor: string;
  readonly updated_at: string;
}

export interface TradingStatesDoc {
  readonly global: TradingStateEntry;
  readonly venues: Readonly<Record<string, TradingStateEntry>>;
  readonly models: Readonly<Record<string, TradingStateEntry>>;
}

export interface TradingStateChange {
  readonly scope: TradingScope;
  readonly target: string | null;
  readonly previous: TradingStateEntry | null;
  readonly entry: TradingStateEntry;
  readonly changed: boolean;
}

const initial = (): TradingStatesDoc => ({
  global: { state: 'ACTIVE', reason: 'default', actor: 'startup', updated_at: new Date().toISOString() },
  venues: {},
  models: {},
});

const isState = (s: unknown): s is TradingState => typeof s === 'string' && (TRADING_STATES as readonly string[]).includes(s);

function parseEntry(v: unknown, where: string): TradingStateEntry {
  const o = v as Partial<TradingStateEntry> | null;
  if (!o || typeof o !== 'object' || !isState(o.state)) throw new Error(`${where}.state must be one of ${TRADING_STATES.join(', ')}`);
  return { state: o.state, reason: String(o.reason ?? ''), actor: String(o.actor ?? 'unknown'), updated_at: String(o.updated_at ?? '') };
}

export function parseTradingStates(text: string): TradingStatesDoc {
  const doc = JSON.parse(text) as Partial<Record<keyof TradingStatesDoc, unknown>>;
  const map = (v: unknown, where: string): Record<string, TradingStateEntry> => {
    if (v === undefined) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where} must be an object`);
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, parseEntry(e, `${where}.${k}`)]));
  };
  return { global: parseEntry(doc.global, 'global'), venues: map(doc.venues, 'venues'), models: map(doc.models, 'models') };
}

export class TradingStates {
  private doc: TradingStatesDoc;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly engines: () => readonly EngineHandle[],
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
  ) {
    if (!existsSync(path)) {
      this.doc = initial();
    } else {
      try {
        this.doc = parseTradingStates(readFileSync(path, 'utf8'));
      } catch (err) {
        // A state file we cannot read may have held a HALTED: fail safe, and say so loudly.
        this.doc = { ...initial(), global: { state: 'HALTED', reason: `ops/trading_states.json unreadable (${(err as Error).message}); fix or delete it, then set the state again`, actor: 'startup', updated_at: new Date().toISOString() } };
        this.log.error({ file: path }, `[GOV] ${path} is unreadable (${(err as Error).message}): trading HALTED globally until an operator sets the state`);
      }
    }
    writeJsonAtomic(path, this.doc);
    this.exportGauges();
  }

  get current(): TradingStatesDoc {
    return this.doc;
  }

  get(scope: TradingScope, target: string | null): TradingStateEntry | null {
    if (scope === 'global') return this.doc.global;
    return (scope === 'venue' ? this.doc.venues : this.doc.models)[target ?? ''] ?? null;
  }

  /** What one engine enforces: global, its own venue entry, and every model's entry. */
  viewFor(engineName: string): EngineTradingStates {
    const models: Record<string, TradingState> = {};
    for (const [m, e] of Object.entries(this.doc.models)) if (e.state !== 'ACTIVE') models[m] = e.state;
    return { global: this.doc.global.state, venue: this.doc.venues[engineName]?.state ?? 'ACTIVE', models };
  }

  /** Pushes the current states to every engine (at start-up, and after an engine reconnects). */
  async pushAll(): Promise<void> {
    await Promise.all(this.engines().map((e) => e.setTradingStates(this.viewFor(e.name))));
  }

  /** Sets one state; resolves after every engine enforces it. Calls are serialised. */
  set(scope: TradingScope, target: string | null, state: TradingState, actor: string, reason: string): Promise<TradingStateChange> {
    const run = async (): Promise<TradingStateChange> => {
      const previous = this.get(scope, target);
      const entry: TradingStateEntry = { state, reason, actor, updated_at: new Date().toISOString() };
      const key = target ?? '';
      if (scope === 'global') this.doc = { ...this.doc, global: entry };
      else if (scope === 'venue') this.doc = { ...this.doc, venues: { ...this.doc.venues, [key]: entry } };
      else this.doc = { ...this.doc, models: { ...this.doc.models, [key]: entry } };
      writeJsonAtomic(this.path, this.doc);
      await this.pushAll();
      this.exportGauges();
      const changed = (previous?.state ?? 'ACTIVE') !== state;
      const where = scope === 'global' ? 'global' : `${scope} ${key}`;
      if (changed) {
        const worse = tradingStateRank(state) > tradingStateRank(previous?.state ?? 'ACTIVE');
        const line = `[GOV] ${state === 'ACTIVE' ? '▶️' : state === 'REDUCING' ? '⏬' : '⏸️'} Trading ${state} (${where}) by ${actor}: ${reason}`;
        if (worse) this.log.warn({ scope, target, state, previous: previous?.state ?? 'ACTIVE', actor }, line);
        else this.log.info({ scope, target, state, previous: previous?.state ?? 'ACTIVE', actor }, line);
        this.bus.publish('alert', {
          severity: state === 'HALTED' ? 'CRITICAL' : state === 'REDUCING' ? 'WARNING' : 'INFO',
          title: `Trading ${state} (${where})`,
          message: `${where}: ${previous?.state ?? 'ACTIVE'} → ${state} by ${actor}: ${reason}`,
          // Keyed by the new state too: a HALTED and the ACTIVE after it are two messages, not one repeat.
          key: `trading_state:${scope}:${key}:${state}`,
          ts: Date.now(),
        });
      }
      return { scope, target, previous, entry, changed };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private exportGauges(): void {
    const g = this.metrics?.tradingState;
    if (!g) return;
    const value = (s: TradingState) => tradingStateRank(s);
    g.set({ scope: 'global', target: 'global' }, value(this.doc.global.state));
    for (const [v, e] of Object.entries(this.doc.venues)) g.set({ scope: 'venue', target: v }, value(e.state));
    for (const [m, e] of Object.entries(this.doc.models)) g.set({ scope: 'model', target: m }, value(e.state));
  }
}
