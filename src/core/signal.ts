// A model's intent, before sizing: direction and strength, never a quantity.
import type { ModelId, Symbol } from './ids.js';

export type SignalAction = 'BUY' | 'SELL' | 'HOLD';

export interface Signal {
  readonly model: ModelId;
  readonly symbol: Symbol;
  readonly action: SignalAction;
  /** Conviction in [0, 1]; scales order size. */
  readonly strength: number;
  /** Desired position as a share of the model's capital quota, in [-1, 1] (1 = fully long).
   *  When set, the router trades toward it instead of treating the signal as a fixed step. */
  readonly targetExposure?: number;
  readonly ts: number;
  readonly reason?: string;
}
