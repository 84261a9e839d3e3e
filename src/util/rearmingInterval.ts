// A daemon's loop on the stack's Clock whose period is a policy value the operator may change
// while it runs (the allocator's refresh_sec, the canary's evaluate_every_sec, governance's
// metrics_interval_sec). It is a coalescing interval (the loop looks at the state as it is
// now: see core/clock.ts) that reads the period again after each run and re-arms when it
// changed, so a new period takes effect from the run that reads it; rearm() does so at once,
// for a daemon that hears of a policy reload.
import type { Clock, TimerHandle } from '../core/clock.js';

export class RearmingInterval {
  private timer: TimerHandle | null = null;
  private armedMs = 0;

  /** `periodMs` is read at each arming and after each run; `run` must not throw. */
  constructor(private readonly clock: Clock, private readonly periodMs: () => number, private readonly run: () => void) {}

  get running(): boolean {
    return this.timer !== null;
  }

  /** The first run comes one period from now. Started already: nothing changes. */
  start(): void {
    if (this.timer === null) this.arm();
  }

  /** Reads the period now and starts the interval over on it; stopped: nothing happens. */
  rearm(): void {
    if (this.timer === null) return;
    this.clock.clear(this.timer);
    this.arm();
  }

  stop(): void {
    this.clock.clear(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.armedMs = this.periodMs();
    this.timer = this.clock.setInterval(() => this.tick(), this.armedMs, { coalesce: true });
  }

  private tick(): void {
    this.run();
    // A run that stopped the loop is not re-armed.
    if (this.timer !== null && this.periodMs() !== this.armedMs) this.rearm();
  }
}
