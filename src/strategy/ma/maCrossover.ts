// Moving-average crossover: long while the fast simple average is above the slow one, flat
// otherwise (inverted: long while it is below — a model that buys weakness and sells strength,
// kept as a deliberately losing contender that the allocator and the canary must starve).
// Emits a signal only when its desired position changes (and once after warm-up, so a
// restarted model re-states its view). O(1) per bar with running sums.
import type { ModelId, Symbol } from '../../core/ids.js';
import type { Bar } from '../../core/marketData.js';
import type { Signal } from '../../core/signal.js';
import type { Model } from '../model.js';
import { InvalidValueError } from '../../core/errors.js';

export interface MaCrossoverConfig {
  readonly fast: number;
  readonly slow: number;
  /** Relative gap between the averages needed to switch, to avoid flapping on noise. */
  readonly band: number;
  /** Trade against the crossover (long while fast < slow). Default false. */
  readonly invert?: boolean;
}

export const DEFAULT_MA_CONFIG: MaCrossoverConfig = { fast: 9, slow: 21, band: 0.0002 };

class SymbolState {
  readonly closes: Float64Array;
  n = 0;
  fastSum = 0;
  slowSum = 0;
  /** 1 = long, 0 = flat, -1 = not yet decided. */
  position = -1;
  announced = -1;

  constructor(slow: number) {
    this.closes = new Float64Array(slow);
  }
}

export class MaCrossoverModel implements Model {
  readonly kind = 'ma' as const;
  private readonly state = new Map<string, SymbolState>();

  constructor(
    readonly id: ModelId,
    readonly symbols: readonly Symbol[],
    readonly config: MaCrossoverConfig = DEFAULT_MA_CONFIG,
  ) {
    if (!(config.fast >= 1 && config.slow > config.fast)) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', 'MA crossover needs 1 ≤ fast < slow');
    for (const s of symbols) this.state.set(s, new SymbolState(config.slow));
  }

  onBar(bar: Bar): Signal | null {
    const st = this.state.get(bar.symbol);
    if (!st || !Number.isFinite(bar.close) || bar.close <= 0) return null;
    const { fast, slow, band } = this.config;
    const i = st.n % slow;
    const leavingSlow = st.n >= slow ? st.closes[i]! : 0;
    const leavingFast = st.n >= fast ? st.closes[(st.n - fast) % slow]! : 0;
    st.closes[i] = bar.close;
    st.n++;
    st.slowSum += bar.close - leavingSlow;
    st.fastSum += bar.close - leavingFast;
    if (st.n < slow) return null;
    const fastMa = st.fastSum / fast;
    const slowMa = st.slowSum / slow;
    const gap = (fastMa - slowMa) / slowMa;
    const signed = this.config.invert === true ? -gap : gap;
    if (signed > band) st.position = 1;
    else if (signed < -band) st.position = 0;
    else if (st.position === -1) st.position = 0;
    if (st.position === st.announced) return null;
    st.announced = st.position;
    return {
      model: this.id,
      symbol: bar.symbol,
      action: st.position === 1 ? 'BUY' : 'SELL',
      strength: 1,
      targetExposure: st.position,
      ts: bar.ts,
      reason: `fast ${fastMa.toFixed(2)} ${fastMa > slowMa ? '>' : '<'} slow ${slowMa.toFixed(2)}${this.config.invert === true ? ' (inverted)' : ''}`,
    };
  }

  /** Forget what was announced, so the next bar re-states the current view (after warm-up). */
  reannounce(): void {
    for (const st of this.state.values()) st.announced = -1;
  }

  /** The Model capability: re-state on the next bar (see model.ts). */
  restateOnNextBar(): void {
    this.reannounce();
  }

  diagnostics(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [s, st] of this.state) out[`position_${s}`] = st.position;
    return out;
  }
}
