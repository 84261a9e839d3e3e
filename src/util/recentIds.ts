// A bounded set of the ids seen lately, oldest dropped first: the duplicate checks that must not
// grow with a stream or a run — the tracker's fills and the shadow book's signals by event id
// (lifecycle/derivedFold.ts), and the ccxt venue's trade ids and client order ids it has sent.
// A Set keeps insertion order, so it is its own queue: dropping the oldest id is O(1), where an
// array's shift() moved every id on each add. Seeing an id again does not refresh its place:
// the window is of first sightings, as a replay repeats events in their first order.
export class RecentIds<Id extends string = string> {
  private ids = new Set<Id>();

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`RecentIds capacity must be a positive integer, got ${capacity}`);
  }

  /** Records `id`; false when it was recorded already (a duplicate). */
  add(id: Id): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as Id);
    return true;
  }

  has(id: Id): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  /** Oldest first, as a snapshot carries them. */
  toArray(): Id[] {
    return [...this.ids];
  }

  /** Replaces the ids with a snapshot's (its newest `capacity`). */
  reset(ids: readonly Id[]): void {
    this.ids = new Set(ids.slice(-this.capacity));
  }
}
