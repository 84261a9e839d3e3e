// The stack's one clock: everything that decides by time (tracker sampling, annualisation,
// canary windows, allocator cooldowns and freezes, governance windows, digests, retraining
// schedules) asks a Clock, never Date.now() or the global timers. Live runs on WallClock;
// replay runs the same objects on a SimClock that the bar loop advances, so an hour of market
// time passes in however long the CPU takes, and timers fire in time order, deterministically.

export interface TimerHandle {
  readonly id: number;
}

export interface IntervalOptions {
  /**
   * When the clock moves past several periods at once, run `fn` once, at the last of them,
   * instead of once per period. A host timer already behaves so after a blocked event loop;
   * a SimClock jumps a whole bar (a minute of market time) at a time, and a daemon that
   * re-reads the state on every tick (an export, a governance round, an allocation step)
   * would otherwise run thirty times over a state that no bar, fill or order has changed
   * between those ticks. For loops that look at the state now, never for counted periods.
   */
  readonly coalesce?: boolean;
}

export interface Clock {
  /** Milliseconds since the epoch: wall time live, market time in replay. */
  now(): number;
  /** Runs `fn` once after `ms` of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Runs `fn` every `ms` of this clock's time. */
  setInterval(fn: () => void, ms: number, opts?: IntervalOptions): TimerHandle;
  clear(handle: TimerHandle | null | undefined): void;
}

/** The host's clock and timers. Timers are unref'd: a clock never keeps a process alive. */
export class WallClock implements Clock {
  private next = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, ms);
    t.unref();
    this.timers.set(id, t);
    return { id };
  }

  // The host's intervals already coalesce missed periods (Node runs a late interval once).
  setInterval(fn: () => void, ms: number, _opts?: IntervalOptions): TimerHandle {
    const id = this.next++;
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.set(id, t);
    return { id };
  }

  clear(handle: TimerHandle | null | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(handle.id);
  }
}

interface SimTimer {
  readonly id: number;
  due: number;
  readonly every: number | null;
  readonly coalesce: boolean;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told to. `advanceTo(t)` runs every timer due at or before t in
 * order of due time (ties in order of creation), setting now() to each timer's due time while
 * it runs, then leaves now() at t. Time never goes backwards: an earlier t is ignored. A
 * coalescing interval that is due several times by t runs once, at the last of those times
 * (its place in the order is that time).
 */
export class SimClock implements Clock {
  private t: number;
  private next = 1;
  private readonly timers = new Map<number, SimTimer>();

  constructor(startMs: number) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null, false);
  }

  setInterval(fn: () => void, ms: number, opts?: IntervalOptions): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms), opts?.coalesce === true);
  }

  clear(handle: TimerHandle | null | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** Timers still scheduled (a replay that ends reports what it left). */
  pending(): number {
    return this.timers.size;
  }

  advanceTo(targetMs: number): void {
    if (!(targetMs > this.t)) return;
    for (;;) {
      let first: SimTimer | null = null;
      let firstAt = 0;
      for (const timer of this.timers.values()) {
        if (timer.due > targetMs) continue;
        const at = timer.coalesce ? timer.due + Math.floor((targetMs - timer.due) / timer.every!) * timer.every! : timer.due;
        if (first === null || at < firstAt || (at === firstAt && timer.id < first.id)) {
          first = timer;
          firstAt = at;
        }
      }
      if (first === null) break;
      this.t = Math.max(this.t, firstAt);
      if (first.every === null) this.timers.delete(first.id);
      else first.due = firstAt + first.every;
      first.fn();
    }
    this.t = targetMs;
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  private add(fn: () => void, ms: number, every: number | null, coalesce: boolean): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { id, due: this.t + Math.max(0, ms), every, coalesce, fn });
    return { id };
  }
}
