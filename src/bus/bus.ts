// The event bus contract, and the in-process implementation used by the embedded stack.
// A subscriber's exception never reaches the publisher or other subscribers.
import type { BusTopics, Topic } from './topics.js';

export type BusHandler<T extends Topic> = (payload: BusTopics[T], topic: T) => void;
export type AnyBusHandler = <T extends Topic>(payload: BusTopics[T], topic: T) => void;

export interface Bus {
  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void;
  subscribe<T extends Topic>(topic: T, handler: BusHandler<T>): () => void;
  /** Every topic (SSE bridge, metrics). */
  subscribeAll(handler: AnyBusHandler): () => void;
  stats(): BusStats;
  close(): Promise<void>;
}

export interface BusStats {
  readonly published: number;
  readonly delivered: number;
  readonly failed: number;
  readonly byTopic: Record<string, number>;
}

export class InProcessBus implements Bus {
  private readonly handlers = new Map<Topic, Set<BusHandler<Topic>>>();
  private readonly allHandlers = new Set<AnyBusHandler>();
  private published = 0;
  private delivered = 0;
  private failed = 0;
  private readonly byTopic: Record<string, number> = {};

  constructor(private readonly onHandlerError: (topic: Topic, err: unknown) => void = () => {}) {}

  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    this.published++;
    this.byTopic[topic] = (this.byTopic[topic] ?? 0) + 1;
    const set = this.handlers.get(topic);
    if (set) for (const h of set) this.deliver(topic, () => (h as BusHandler<T>)(payload, topic));
    for (const h of this.allHandlers) this.deliver(topic, () => h(payload, topic));
  }

  private deliver(topic: Topic, call: () => void): void {
    try {
      call();
      this.delivered++;
    } catch (err) {
      this.failed++;
      this.onHandlerError(topic, err);
    }
  }

  subscribe<T extends Topic>(topic: T, handler: BusHandler<T>): () => void {
    let set = this.handlers.get(topic);
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
    }
    set.add(handler as unknown as BusHandler<Topic>);
    return () => set.delete(handler as unknown as BusHandler<Topic>);
  }

  subscribeAll(handler: AnyBusHandler): () => void {
    this.allHandlers.add(handler);
    return () => this.allHandlers.delete(handler);
  }

  stats(): BusStats {
    return { published: this.published, delivered: this.delivered, failed: this.failed, byTopic: { ...this.byTopic } };
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.allHandlers.clear();
  }
}
