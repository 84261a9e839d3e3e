// The shape of a live bar source (synthetic, CSV replay, a venue's stream): the engine
// subscribes once and receives one step of bars (one per symbol, same open time) at a time.
import type { Bar } from '../core/marketData.js';
import { InvalidValueError } from '../core/errors.js';

export interface BarFeed {
  /** Begins emitting; onBars is called once per step. Starting twice is an error. */
  start(onBars: (bars: readonly Bar[]) => void): void;
  stop(): void;
  readonly running: boolean;
}

/** Groups time-ordered bars into steps of equal open time (how a replay emits them). */
export function groupByTs(bars: readonly Bar[]): Bar[][] {
  const steps: Bar[][] = [];
  let current: Bar[] = [];
  for (const b of bars) {
    if (current.length > 0 && current[0]!.ts !== b.ts) {
      steps.push(current);
      current = [];
    }
    current.push(b);
  }
  if (current.length > 0) steps.push(current);
  return steps;
}

/** Replays recorded bars (e.g. from csvBars) on a timer, one step per tick; stops at the end. */
export class ReplayFeed implements BarFeed {
  private readonly steps: Bar[][];
  private index = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(bars: readonly Bar[], private readonly emitEveryMs = 1000) {
    if (!(emitEveryMs > 0)) throw new InvalidValueError('HMM_MARKET_INVALID_OPTION', `emitEveryMs must be positive, got ${emitEveryMs}`);
    this.steps = groupByTs([...bars].sort((a, b) => a.ts - b.ts));
  }

  get running(): boolean {
    return this.timer !== null;
  }

  get remaining(): number {
    return this.steps.length - this.index;
  }

  start(onBars: (bars: readonly Bar[]) => void): void {
    if (this.timer !== null) throw new Error('ReplayFeed already started');
    this.timer = setInterval(() => {
      const step = this.steps[this.index++];
      if (step === undefined) return this.stop();
      onBars(step);
      if (this.index >= this.steps.length) this.stop();
    }, this.emitEveryMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
