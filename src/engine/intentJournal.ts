// The engine's intent journal (`<ledger>-intents`): the record of an order made before the
// venue hears of it, cheaper than a SQLite commit on the order path. The ledger owns one beside
// its database file, appends on recordIntent(), settles lines as its commits land and reads the
// unsettled ones back at start-up (ledger.ts recoverJournal).
import { closeSync, fdatasyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { Order } from '../core/order.js';

/** The intent journal is compacted after a commit once it holds more than this. */
const JOURNAL_COMPACT_BYTES = 1 << 20;

/**
 * The intent journal (`<ledger>-intents`): one line per order, appended before the order goes
 * to the venue, so an order is on record before the venue hears of it without waiting for a
 * SQLite commit (about 30 µs on these disks). The ledger row is written once the venue has
 * answered and committed with the acknowledgement. Once the file holds more than a megabyte, a
 * commit compacts it to the lines of orders still without a committed row (those in flight at
 * the venue): written beside it and renamed over it, so a crash leaves one or the other. A line survives a process crash as a WAL commit does (both sit in the OS page
 * cache); with sync 'full' each line is also flushed to the disk. At start-up, every line that
 * parses is a candidate, and only the orders the ledger lacks are recorded, as NEW, for
 * reconciliation to settle with the venue by client order id.
 *
 * (Writing it as a fixed-size ring, in place, was measured: the p99 of signal to venue ack rose
 * from 38 to 52 µs against appending, so it appends.)
 */
export class IntentJournal {
  private fd: number;
  private bytes = 0;
  /** Lines of orders whose rows are not committed yet, by client order id. */
  private readonly unsettled = new Map<string, string>();

  constructor(readonly path: string, private readonly fullSync: boolean) {
    this.fd = openSync(path, 'a+');
  }

  /** Every line that parses (a torn last line is dropped: its order was never sent). */
  read(): IntentLine[] {
    const out: IntentLine[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        const l = JSON.parse(line) as IntentLine;
        if (typeof l.id === 'string' && typeof l.qty === 'string' && typeof l.hash === 'string') out.push(l);
      } catch {
        // torn at the crash: the write had not returned, so the venue never saw it
      }
    }
    return out;
  }

  append(o: Order, requestHash: string): void {
    const line: IntentLine = {
      id: o.clientOrderId, venue: o.venue, model: o.model, symbol: o.symbol, side: o.side, type: o.type, tif: o.timeInForce,
      qty: o.qty.toString(), price: o.price === null ? null : o.price.toString(), hash: requestHash, ts: o.createdAt,
    };
    const text = `${JSON.stringify(line)}\n`;
    this.bytes += writeSync(this.fd, text);
    if (this.fullSync) fdatasyncSync(this.fd);
    this.unsettled.set(o.clientOrderId, text);
  }

  /** These orders' rows are committed: their lines are no longer needed. */
  settle(ids: readonly string[]): void {
    for (const id of ids) this.unsettled.delete(id);
  }

  /** After a commit: past the size limit (or when forced), keeps only the unsettled lines. */
  compact(force = false): void {
    if (!force && this.bytes < JOURNAL_COMPACT_BYTES) return;
    if (this.unsettled.size === 0) {
      ftruncateSync(this.fd, 0);
      this.bytes = 0;
      return;
    }
    const keep = [...this.unsettled.values()].join('');
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, keep);
    if (this.fullSync) {
      const fd = openSync(tmp, 'r');
      try { fdatasyncSync(fd); } finally { closeSync(fd); }
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a+');
    this.bytes = Buffer.byteLength(keep);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface IntentLine {
  readonly id: string;
  readonly venue: string;
  readonly model: string | null;
  readonly symbol: string;
  readonly side: string;
  readonly type: string;
  readonly tif: string;
  readonly qty: string;
  readonly price: string | null;
  readonly hash: string;
  readonly ts: number;
}
