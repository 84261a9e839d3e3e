// engine/logs/orders.jsonl: the audit line per order event, never split. Lines are gathered
// within one event-loop turn and written together: the engine flushes them just before the
// ledger's group commit, so a line is on disk (in the page cache) before its order is
// acknowledged, at one write per turn instead of one per line. Rotated by size and day and
// gzipped (util/rotatingFile.ts); the live name never changes. At open, a line anywhere in the
// live file that is not an order event (validateOrderLogLine) is quarantined to
// orders.jsonl.damaged and listed in `damaged` for the engine's recovery report.
import { DEFAULT_ROTATION, RotatingFile, type QuarantinedLine, type RotatingFileOptions, type RotationPolicy } from '../util/rotatingFile.js';
import { damagedLineId } from '../util/quarantine.js';

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
    this.file = path ? new RotatingFile(path, rotation, { validateLine: validateOrderLogLine, ...opts }) : null;
    this.damaged = this.file?.damaged ?? [];
  }

  /** Lines that were not order events at open, moved to `orders.jsonl.damaged`. */
  readonly damaged: readonly QuarantinedLine[];

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

const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

/** Why a line of orders.jsonl is not an order event this engine wrote, or null when it is one. */
export function validateOrderLogLine(line: string): string | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const l = v as Record<string, unknown>;
  for (const k of ['ts', 'event', 'venue', 'client_order_id', 'symbol', 'side', 'type', 'status'] as const) {
    if (typeof l[k] !== 'string' || l[k] === '') return `${k} is not a non-empty string`;
  }
  if (!Number.isFinite(Date.parse(l.ts as string))) return `ts ${JSON.stringify(l.ts)} is not a time`;
  for (const k of ['qty', 'filled_qty', 'fees'] as const) {
    if (typeof l[k] !== 'string' || !DECIMAL.test(l[k])) return `${k} ${JSON.stringify(l[k])} is not a decimal`;
  }
  for (const k of ['price', 'avg_price'] as const) {
    if (l[k] !== null && (typeof l[k] !== 'string' || !DECIMAL.test(l[k]))) return `${k} ${JSON.stringify(l[k])} is not a decimal or null`;
  }
  if (l.routing_time !== undefined && (typeof l.routing_time !== 'number' || !Number.isFinite(l.routing_time))) return 'routing_time is not a number';
  return null;
}

/** The client order id of a damaged line, when it can still be read (for reconciliation). */
export function orderIdOf(text: string): string | null {
  return damagedLineId(text, 'client_order_id');
}
