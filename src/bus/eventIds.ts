// Stable event ids and the consumer's memory of them. An engine's outbox numbers every event it
// publishes `<producer>:<seq>` (producer = `<engine>~<epoch>`, seq counting up from 1 with no
// gaps) and relays them to the stream at least once and in order; a consumer that admits an id
// only when its seq is above the producer's high-water mark sees each event exactly once.
//
// Decisions:
//   - A high-water mark per producer, not a seen-set of ids: the relay sends a producer's events
//     in seq order and re-sends only a suffix of what it sent (a batch whose answer was lost), so
//     "seq <= mark" is exactly "already seen", in O(producers) memory however long it runs.
//   - The epoch in the producer names one life of a ledger: a fresh ledger or one restored from
//     a backup numbers from an older seq, and under the old producer its events would all look
//     like repeats. A new epoch is a new producer.
//   - Bounded: producers not heard from for the longest are forgotten past `maxProducers` (old
//     epochs of restored ledgers); one coming back is admitted from scratch.
//   - The marks are plain JSON (snapshot/restore) so the consumer persists them where it
//     persists what it folded from those events.

export interface EventId {
  readonly producer: string;
  readonly seq: number;
}

/** `<engine>~<epoch>`: one life of an engine's ledger. */
export function producerOf(engine: string, epoch: string): string {
  return `${engine}~${epoch}`;
}

export function formatEventId(producer: string, seq: number): string {
  return `${producer}:${seq}`;
}

/** null for anything that is not `<producer>:<positive integer>`. */
export function parseEventId(id: string): EventId | null {
  const i = id.lastIndexOf(':');
  if (i <= 0 || i === id.length - 1) return null;
  const seq = Number(id.slice(i + 1));
  if (!Number.isSafeInteger(seq) || seq <= 0) return null;
  return { producer: id.slice(0, i), seq };
}

export interface MarksSnapshot {
  /** producer → highest seq admitted. */
  readonly marks: Record<string, number>;
}

export type Admission = 'new' | 'duplicate' | 'invalid';

export class ProducerMarks {
  /** Map order = least recently heard first (re-inserted on each admission). */
  private readonly marks = new Map<string, number>();
  private duplicates = 0;
  /** Seq jumps (a producer's events missing between two admitted ones): trimmed from the stream
   *  before this consumer read them, or pruned from an outbox restored from an old backup. */
  private gaps = 0;
  private changed = false;

  constructor(private readonly maxProducers = 1_000) {}

  /** Whether an event with this id is new to this consumer; records it when it is. */
  admit(id: string): Admission {
    const e = parseEventId(id);
    if (e === null) return 'invalid';
    const mark = this.marks.get(e.producer);
    if (mark !== undefined && e.seq <= mark) {
      this.duplicates++;
      return 'duplicate';
    }
    if (mark !== undefined && e.seq > mark + 1) this.gaps++;
    this.marks.delete(e.producer);
    this.marks.set(e.producer, e.seq);
    if (this.marks.size > this.maxProducers) this.marks.delete(this.marks.keys().next().value as string);
    this.changed = true;
    return 'new';
  }

  /** The highest seq admitted from a producer (0: none). */
  mark(producer: string): number {
    return this.marks.get(producer) ?? 0;
  }

  stats(): { readonly producers: number; readonly duplicates: number; readonly gaps: number } {
    return { producers: this.marks.size, duplicates: this.duplicates, gaps: this.gaps };
  }

  snapshot(): MarksSnapshot {
    return { marks: Object.fromEntries(this.marks) };
  }

  /** Whether anything was admitted since the last call (so a saver writes only on change). */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  /** Marks saved earlier; a mark already higher here is kept. Malformed entries are skipped. */
  restore(s: unknown): number {
    const marks = (s as Partial<MarksSnapshot> | null)?.marks;
    if (marks === null || typeof marks !== 'object') return 0;
    let n = 0;
    for (const [producer, seq] of Object.entries(marks)) {
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) continue;
      if ((this.marks.get(producer) ?? 0) >= seq) continue;
      this.marks.set(producer, seq);
      n++;
    }
    return n;
  }
}
