// Two small adapters the control plane puts between its parts and the outside when several ops
// replicas share one bus and one Telegram chat: a bus view that knows its own events (and can
// refuse topics — a follower's models publish no signals), and an alert channel that delivers
// only while this replica leads (one message per alert, not one per replica). The bus view also
// holds the control plane's input bounds: an event whose numbers are out of range (inputBounds.ts)
// reaches none of its subscribers.
import type { Bus, BusHandler, AnyBusHandler, BusStats } from '../bus/bus.js';
import type { BusInputGuard } from '../bus/inputBounds.js';
import type { BusTopics, Topic } from '../bus/topics.js';
import type { AlertChannel } from '../ops/alerts/telegram.js';

/**
 * A view of the bus that remembers what this process published (so a subscriber can tell its
 * own events from another replica's, which arrive as fresh objects), and that can refuse
 * topics (a follower's models publish no signals).
 */
export class MarkedBus implements Bus {
  private readonly own = new WeakSet<object>();

  constructor(
    private readonly inner: Bus,
    private readonly admit: (topic: Topic) => boolean = () => true,
    private readonly parent: MarkedBus | null = null,
    /** Judges every event before a subscriber of this view sees it (null: every event passes). */
    private readonly guard: BusInputGuard | null = null,
  ) {}

  /** The same marks and input bounds, refusing the topics `admit` refuses. */
  restricted(admit: (topic: Topic) => boolean): MarkedBus {
    return new MarkedBus(this.inner, admit, this, this.guard);
  }

  isOwn(payload: unknown): boolean {
    if (payload === null || typeof payload !== 'object') return false;
    return (this.parent ?? this).own.has(payload);
  }

  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    if (!this.admit(topic)) return;
    if (payload !== null && typeof payload === 'object') (this.parent ?? this).own.add(payload);
    this.inner.publish(topic, payload);
  }

  subscribe<T extends Topic>(topic: T, handler: BusHandler<T>): () => void {
    const guard = this.guard;
    if (guard === null) return this.inner.subscribe(topic, handler);
    return this.inner.subscribe(topic, (payload, t) => {
      if (guard.admit(t, payload)) handler(payload, t);
    });
  }

  subscribeAll(handler: AnyBusHandler): () => void {
    const guard = this.guard;
    if (guard === null) return this.inner.subscribeAll(handler);
    return this.inner.subscribeAll((payload, t) => {
      if (guard.admit(t, payload)) handler(payload, t);
    });
  }

  stats(): BusStats {
    return this.inner.stats();
  }

  /** The underlying bus is closed by whoever opened it. */
  async close(): Promise<void> {}
}

/** Delivers alerts only while this control plane leads: one Telegram message per alert, not one
 *  per replica. A follower's skipped deliveries count under `<channel>_follower`. */
export class LeaderOnlyChannel implements AlertChannel {
  constructor(private readonly inner: AlertChannel, private readonly leads: () => boolean) {}
  get name(): string {
    return this.leads() ? this.inner.name : `${this.inner.name}_follower`;
  }
  async send(text: string) {
    if (!this.leads()) return { ok: true, attempts: 0, status: null, error: null };
    return this.inner.send(text);
  }
}
