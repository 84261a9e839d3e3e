// Trading-state documents for tests: what the control plane pushes to an engine, built from
// plain states (every entry set "now" by "test", unless said otherwise).
import type { TradingState, TradingStateDocument, TradingStateEntry } from '../../src/core/tradingState.js';

export interface DocStates {
  readonly global?: TradingState;
  readonly venues?: Readonly<Record<string, TradingState>>;
  readonly models?: Readonly<Record<string, TradingState>>;
  readonly cancelOpen?: boolean;
  readonly at?: string;
  readonly actor?: string;
}

export function tradingDoc(version: number, s: DocStates = {}): TradingStateDocument {
  const at = s.at ?? new Date().toISOString();
  const entry = (state: TradingState): TradingStateEntry => ({ state, reason: 'test', actor: s.actor ?? 'test', updated_at: at });
  const map = (m: Readonly<Record<string, TradingState>> | undefined) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, entry(v)]));
  const global = s.global ?? 'ACTIVE';
  return {
    version,
    global: { ...entry(global), ...(global === 'HALTED' && s.cancelOpen === true ? { cancel_open: true } : {}) },
    venues: map(s.venues),
    models: map(s.models),
  };
}
