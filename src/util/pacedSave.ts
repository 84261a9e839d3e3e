// A save that may wait: at most one every `ms` of host time; a request inside the interval is
// held and written by a timer at its end (or by flush(), or by a direct save in between).
// Host time, not the stack's Clock, as in exportFile.ts: pacing decides nothing, it is how
// often a file or a row is rewritten — and a replay asks thousands of times a host second.

export class PacedSave {
  private savedAt = -Infinity;
  private waiting = false;
  private timer: NodeJS.Timeout | null = null;

  /** `save` writes the current state; a save it makes itself is reported through saved(). */
  constructor(private readonly ms: number, private readonly save: () => void) {}

  /** Saves now if `ms` has passed since the last save, else when it has. */
  request(): void {
    const since = performance.now() - this.savedAt;
    if (since >= this.ms) {
      this.save();
      return;
    }
    this.waiting = true;
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.waiting) this.save();
    }, this.ms - since);
    this.timer.unref();
  }

  /** Called by `save` (and by any direct save of the same state): what waited is written. */
  saved(): void {
    this.savedAt = performance.now();
    this.waiting = false;
  }

  /** Writes what waits now and drops the timer (stop, close). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.waiting) this.save();
  }
}
