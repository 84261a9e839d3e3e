// engine/logs/orders.jsonl: the audit line per order event, never split. Lines are gathered
// within one event-loop turn and written together: the engine flushes them just before the
// ledger's group commit, so a line is on disk (in the page cache) before its order is
// acknowledged, at one write per turn instead of one per line. Rotated by size and day and
// gzipped (util/rotatingFile.ts); the live name never changes.
import { DEFAULT_ROTATION, RotatingFile, type RotatingFileOptions, type RotationPolicy } from '../util/rotatingFile.js';

export interface OrderLogLine {
  readonly ts: string;
  readonly event: string;
  readonly venue: string;
  readonly client_order_id: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: string;
  readonly type: string;
  readonly status: string;
  readonly qty: string;
  readonly price: string | null;
  readonly filled_qty: string;
  readonly avg_price: string | null;
  readonly fees: string;
  readonly reason: string | null;
  readonly message?: string;
  /** Milliseconds from intake to the venue's acknowledgement (submission path only). */
  readonly routing_time?: number;
  readonly trade_id?: string;
  readonly fill_qty?: string;
  readonly fill_price?: string;
  readonly fill_fee?: string;
}

/** Lines held before a write is forced, whatever the turn. */
const MAX_BUFFERED_BYTES = 256 * 1024;

export class OrderLog {
  private file: RotatingFile | null;
  private buffer = '';
  private flushScheduled = false;

  /** A torn last line left by a crash is cut off at open and kept in orders.jsonl.torn
   *  (reported through onEvent); the ledger, not this log, is the record of truth. */
  constructor(readonly path: string | null, rotation: RotationPolicy = DEFAULT_ROTATION, opts: RotatingFileOptions = {}) {
    this.file = path ? new RotatingFile(path, rotation, opts) : null;
  }

  append(line: OrderLogLine): void {
    if (this.file === null) return;
    this.buffer += JSON.stringify(line) + '\n';
    if (this.buffer.length >= MAX_BUFFERED_BYTES) this.flush();
    else if (!this.flushScheduled) {
      // Whoever commits first (the ledger, or this) writes the turn's lines.
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes the lines gathered so far. */
  flush(): void {
    this.flushScheduled = false;
    if (this.buffer === '' || this.file === null) return;
    const text = this.buffer;
    this.buffer = '';
    this.file.write(text);
  }

  /** Applies ops/policies.yaml `logs:` after a reload. */
  setRotation(policy: RotationPolicy): void {
    this.file?.setPolicy(policy);
  }

  /** Waits for background compression of rotated files. */
  async settle(): Promise<void> {
    await this.file?.settle();
  }

  close(): void {
    this.flush();
    this.file?.close();
    this.file = null;
  }
}
