// engine/logs/orders.jsonl: the audit line per order event, appended synchronously so a
// line is on disk (in the page cache) before the order is acknowledged, and never split.
import { openSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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

export class OrderLog {
  private fd: number | null;

  constructor(readonly path: string | null) {
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'a');
    } else {
      this.fd = null;
    }
  }

  append(line: OrderLogLine): void {
    if (this.fd === null) return;
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
