// The bus's topics and their payloads. Payloads are plain JSON (numbers, strings): the
// same event crosses the in-process bus, Redis Streams and SSE unchanged.
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';
import type { TradingScope, TradingState, TradingStateDocument } from '../core/tradingState.js';

export interface OrderEventPayload {
  readonly venue: string;
  readonly clientOrderId: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: string;
  readonly type: string;
  readonly status: string;
  readonly qty: string;
  readonly filledQty: string;
  readonly price: string | null;
  readonly reason: string | null;
  readonly ts: number;
}

export interface FillPayload {
  readonly venue: string;
  readonly tradeId: string;
  readonly clientOrderId: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: string;
  readonly qty: string;
  readonly price: string;
  readonly fee: string;
  readonly liquidity: string;
  readonly ts: number;
}

export interface RiskRejectedPayload {
  readonly venue: string;
  readonly clientOrderId: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: string;
  readonly reason: string;
  readonly message: string;
  readonly ts: number;
}

/** One change of the one trading state (TradingStateChanged): the whole versioned document,
 *  which engines and ops replicas apply by version, and the change it carries, for people. */
export interface TradingStatePayload {
  readonly document: TradingStateDocument;
  readonly scope: TradingScope;
  readonly target: string | null;
  readonly state: TradingState;
  /** TRADING_ENABLED after the change: the global state is not HALTED. */
  readonly tradingEnabled: boolean;
  readonly actor: string;
  readonly reason: string;
  readonly ts: number;
}

export interface GovernanceActionPayload {
  readonly action: string;
  readonly cause: string;
  readonly detail: Record<string, unknown>;
  readonly ts: number;
}

export interface AlertPayload {
  readonly severity: 'INFO' | 'WARNING' | 'CRITICAL';
  readonly title: string;
  readonly message: string;
  readonly key: string;
  readonly ts: number;
}

/** The storage health of one process's disk changed (app/storageWatch.ts): `fault` while it
 *  refuses writes, null once writes succeed again. An engine in its own process refuses its own
 *  orders; this is how the control plane learns to show it (the STORAGE condition). */
export interface StoragePayload {
  /** The process or engine whose disk it is (its StorageWatch name). */
  readonly source: string;
  readonly fault: { readonly code: string; readonly path: string; readonly reason: string; readonly since: number; readonly failures: number } | null;
  readonly ts: number;
}

export interface BusTopics {
  'market.bar': Bar;
  signal: Signal;
  'order.update': OrderEventPayload;
  'trade.fill': FillPayload;
  'risk.rejected': RiskRejectedPayload;
  'metrics.update': Record<string, number>;
  'trading.state': TradingStatePayload;
  'strategy.weights_updated': { readonly weights: Record<string, number>; readonly ts: number };
  'strategy.promoted': Record<string, unknown>;
  'governance.action': GovernanceActionPayload;
  alert: AlertPayload;
  'storage.state': StoragePayload;
}

export type Topic = keyof BusTopics;

export const TOPICS: readonly Topic[] = [
  'market.bar', 'signal', 'order.update', 'trade.fill', 'risk.rejected', 'metrics.update',
  'trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert',
  'storage.state',
];

export function isTopic(name: string): name is Topic {
  return (TOPICS as readonly string[]).includes(name);
}
