// The ids of the events a fold applied lately: the duplicate check that makes the tracker's
// fills and the shadow book's signals idempotent by event id (derivedFold.ts), bounded so it
// never grows with the stream. A Set keeps insertion order, so it is its own queue: dropping
// the oldest id is O(1), where an array's shift() moved every id on each event.
export class RecentIds {
  private ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** Records `id`; false when it was recorded already (a duplicate). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }

  /** Oldest first, as a snapshot carries them. */
  toArray(): string[] {
    return [...this.ids];
  }

  /** Replaces the ids with a snapshot's (its newest `capacity`). */
  reset(ids: readonly string[]): void {
    this.ids = new Set(ids.slice(-this.capacity));
  }
}
