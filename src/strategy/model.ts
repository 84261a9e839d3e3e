// The one interface every trading model implements (MA crossover, HMM, ensemble): bars in,
// signals out. A model never sizes orders or talks to a venue; the strategy router does.
import type { ModelId, Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';

export type ModelKind = 'ma' | 'hmm' | 'ensemble';

export interface Model {
  readonly id: ModelId;
  readonly kind: ModelKind;
  readonly symbols: readonly Symbol[];
  /** Called once per closed bar of a subscribed symbol. Returns a signal or null (no opinion). */
  onBar(bar: Bar): Signal | null;
  /** Numbers worth exporting as metrics (e.g. regime posterior per state). */
  diagnostics?(): Record<string, number>;
  /**
   * Capability: the model re-states its current view on its next bar when asked. A model that
   * has it is asked after warm-up and when a new leader takes over the books; one without it
   * has its last target signals re-published instead. (The MA crossover has it: its warm-up
   * runs on history, so the signal it last announced may be older than what its book holds.)
   */
  restateOnNextBar?(): void;
}
