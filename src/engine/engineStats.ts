// Per-engine counters for the JSON summaries (/aggregate/metrics): cheap to update on the
// hot path, and routing-latency quantiles over the last 2,048 orders.

export interface EngineStats {
  readonly orders_submitted: number;
  readonly orders_rejected: number;
  readonly rejected_by_reason: Record<string, number>;
  readonly orders_filled: number;
  readonly fills: number;
  readonly idempotent_replays: number;
  readonly routing_ms: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null; readonly samples: number };
}

const WINDOW = 2048;

export class EngineStatsCollector {
  submitted = 0;
  rejected = 0;
  filled = 0;
  fills = 0;
  replays = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly latencies = new Float64Array(WINDOW);
  private n = 0;
  /** The window sorted as of `sortedAt` samples: governance asks for the quantiles every
   *  round, and re-sorting 2,048 values when no order was routed since was most of its cost. */
  private sorted = new Float64Array(0);
  private sortedAt = -1;

  reject(reason: string): void {
    this.rejected++;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
  }

  routing(ms: number): void {
    this.latencies[this.n % WINDOW] = ms;
    this.n++;
  }

  snapshot(): EngineStats {
    const count = Math.min(this.n, WINDOW);
    if (this.sortedAt !== this.n) {
      this.sorted = this.latencies.slice(0, count).sort();
      this.sortedAt = this.n;
    }
    const sorted = this.sorted;
    const q = (p: number): number | null => (count === 0 ? null : round3(sorted[Math.min(count - 1, Math.floor(p * count))]!));
    return {
      orders_submitted: this.submitted,
      orders_rejected: this.rejected,
      rejected_by_reason: { ...this.byReason },
      orders_filled: this.filled,
      fills: this.fills,
      idempotent_replays: this.replays,
      routing_ms: { p50: q(0.5), p99: q(0.99), max: count === 0 ? null : round3(sorted[count - 1]!), samples: count },
    };
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
