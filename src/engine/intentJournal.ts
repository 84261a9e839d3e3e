// The engine's intent journal (`<ledger>-intents`): the record of an order made before the
// venue hears of it, cheaper than a SQLite commit on the order path. The ledger owns one beside
// its database file, appends on recordIntent(), settles lines as its commits land and reads the
// unsettled ones back at start-up (ledger.ts recoverJournal).
import { closeSync, fdatasyncSync, ftruncateSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { damagedLineId, moveLinesAside, scanLines } from '../util/quarantine.js';
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

  /**
   * Every line that parses and validates. A torn last line (no newline: the write had not
   * returned, so the venue never saw it) is dropped. Any other line that does not parse or
   * validate is damage: it is moved to `<journal>.damaged` (util/quarantine.ts, as the order
   * log's are) and returned in `damaged`, so that start-up goes on and says which file and line
   * (one bad line once stopped start-up with "Cannot convert 0.001 to a BigInt", naming no
   * file). A disk that refuses the move throws: the compaction after recovery would otherwise
   * drop lines that exist nowhere else.
   */
  read(): { lines: IntentLine[]; damaged: DamagedLine[] } {
    const lines: IntentLine[] = [];
    const scan = scanLines(this.path, (text) => {
      if (text === '') return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return 'not JSON';
      }
      const problem = validateIntent(parsed);
      if (problem === null) lines.push(parsed as IntentLine);
      return problem;
    });
    if (scan.damaged.length > 0) {
      moveLinesAside(this.path, scan);
      // The journal was renamed over: appends go to the new file, not the old one.
      closeSync(this.fd);
      this.fd = openSync(this.path, 'a+');
    }
    return { lines, damaged: scan.damaged.map((d) => ({ ...d, id: damagedLineId(d.text, 'id') })) };
  }

  append(o: Order, requestHash: string): void {
    const line: IntentLine = {
      id: o.clientOrderId, venue: o.venue, model: o.model, symbol: o.symbol, side: o.side, type: o.type, tif: o.timeInForce,
      qty: o.qty.toString(), price: o.price === null ? null : o.price.toString(), hash: requestHash, ts: o.createdAt,
    };
    const text = `${JSON.stringify(line)}\n`;
    try {
      const n = writeSync(this.fd, text);
      if (n !== Buffer.byteLength(text)) throw Object.assign(new Error(`short write to ${this.path} (${n} bytes)`), { code: 'ENOSPC' });
      if (this.fullSync) fdatasyncSync(this.fd);
    } catch (err) {
      // A full or failing disk: the order is not on record, so the caller refuses it (the venue
      // never hears of it). Whatever part of the line reached the file is cut off, so the next
      // line does not land in the middle of a torn one (read() would call that damage).
      try { ftruncateSync(this.fd, this.bytes); } catch { /* the disk may refuse this too */ }
      throw err;
    }
    this.bytes += Buffer.byteLength(text);
    this.unsettled.set(o.clientOrderId, text);
  }

  /** Lines of orders whose rows are not committed (a commit the disk refused lost them). */
  unsettledLines(): IntentLine[] {
    return [...this.unsettled.values()].map((t) => JSON.parse(t) as IntentLine);
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

/** A journal line quarantined at start-up: where it was, why, and the order id if readable. */
export interface DamagedLine {
  readonly file: string;
  readonly line: number;
  readonly id: string | null;
  readonly reason: string;
  readonly text: string;
}

const INTEGER = /^-?[0-9]+$/;

/** Why a parsed line is not an intent the ledger can record, or null when it is one. */
export function validateIntent(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const l = v as Record<string, unknown>;
  for (const k of ['id', 'venue', 'symbol', 'side', 'type', 'tif', 'hash'] as const) {
    if (typeof l[k] !== 'string' || l[k] === '') return `${k} is not a non-empty string`;
  }
  if (l.model !== null && typeof l.model !== 'string') return 'model is not a string or null';
  if (typeof l.qty !== 'string' || !INTEGER.test(l.qty)) return `qty ${JSON.stringify(l.qty)} is not an integer in raw units`;
  if (l.price !== null && (typeof l.price !== 'string' || !INTEGER.test(l.price))) return `price ${JSON.stringify(l.price)} is not an integer in raw units or null`;
  if (typeof l.ts !== 'number' || !Number.isFinite(l.ts)) return 'ts is not a number';
  return null;
}
