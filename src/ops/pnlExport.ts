// Daily PnL export: ops/exports/pnl_YYYY-MM-DD.csv computed from each engine's ledger
// (never from in-memory state, and read-only), so it can run with the stack up or down and
// re-running it gives the same file. Positions are marked at the last fill price at or
// before the close.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Fixed, fx, mul, toDecimalString } from '../core/decimal.js';
import type { Fill } from '../core/order.js';
import { Ledger } from '../engine/ledger.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { reportStorageFault } from '../util/storageHealth.js';
import type { StackPaths } from './paths.js';
import { OpsError } from './errors.js';
import { type BookKey, bookOf, replayPnl } from './pnlReplay.js';

export const PNL_CSV_HEADER = 'date,venue,model,symbol,realized,unrealized,fees,trades,equity_at_close';

const DAY_MS = 86_400_000;

/** A day that is not YYYY-MM-DD or not on the calendar: the caller's input (400). */
export class InvalidDateError extends OpsError {
  constructor(message: string) {
    super('HMM_OPS_INVALID_DATE', message, { httpStatus: 400 });
  }
}

export function parseDay(date: string | undefined, now = Date.now()): { day: string; start: number; end: number } {
  const day = date ?? new Date(now).toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw new InvalidDateError(`date must be YYYY-MM-DD, got "${date}"`);
  const start = Date.parse(`${day}T00:00:00Z`);
  if (new Date(start).toISOString().slice(0, 10) !== day) throw new InvalidDateError(`no such date: ${day}`);
  return { day, start, end: start + DAY_MS };
}

interface DayTally { realized: Fixed; fees: Fixed; trades: number }

/**
 * Rows for one engine's ledger fills: per model and symbol, plus the venue's equity at close.
 * Fills are replayed in ledger order (ops/pnlReplay.ts), and each fill's realized PnL and fee
 * count on the day of its trade time, even when reconciliation booked it later.
 */
export function pnlRows(venue: string, startingCash: Fixed, fills: Iterable<Fill>, day: { day: string; start: number; end: number }): string[] {
  const tallies = new Map<BookKey, DayTally>();
  const replay = replayPnl(startingCash, fills, day.end, (f, key, realized) => {
    if (f.ts < day.start) return;
    const t = tallies.get(key) ?? { realized: fx(0), fees: fx(0), trades: 0 };
    t.trades++;
    t.realized = (t.realized + realized) as Fixed;
    t.fees = (t.fees + f.fee) as Fixed;
    tallies.set(key, t);
  });
  const equity = replay.equity();
  const rows: string[] = [];
  for (const [key, book] of [...replay.books.entries()].sort(([a], [c]) => a.localeCompare(c))) {
    const [model, symbol] = bookOf(key);
    const t = tallies.get(key) ?? { realized: fx(0), fees: fx(0), trades: 0 };
    const pos = book.positions.get(symbol);
    const mark = replay.markOf(symbol);
    if (t.trades === 0 && (!pos || pos.qty === 0n)) continue;
    const unrealized = pos && mark !== undefined ? mul(pos.qty, (mark - pos.avgPrice) as Fixed) : fx(0);
    rows.push([day.day, venue, model, symbol, toDecimalString(t.realized), toDecimalString(unrealized), toDecimalString(t.fees), t.trades, equity.toFixed(2)].join(','));
  }
  return rows;
}

/**
 * Each engine's equity at the start of the UTC day holding `now`: the previous day's
 * equity_at_close as `hmm export-pnl --date <yesterday>` writes it (positions marked at the
 * last fill price before midnight); the ledger's starting cash for a ledger born today.
 * Read-only, from the ledgers under the root; engines without a ledger here are absent.
 */
export function dayStartEquity(paths: StackPaths, now = Date.now()): Record<string, number> {
  const start = parseDay(undefined, now).start;
  const out: Record<string, number> = {};
  readEachLedger(paths, (venue, ledger) => {
    out[venue] = replayPnl(ledger.storedStartingCash() ?? fx(0), ledger.fills(), start).equity();
  });
  return out;
}

/**
 * Opens each engine ledger under the root read-only (a report never writes to a ledger, running
 * stack or not), in venue order, hands it to `read` and closes it. The venues read: none before
 * any engine has run.
 */
export function readEachLedger(paths: StackPaths, read: (venue: string, ledger: Ledger) => void): string[] {
  const venues = ledgerVenues(paths);
  for (const venue of venues) {
    const ledger = new Ledger(paths.ledger(venue), 'normal', { readonly: true });
    try {
      read(venue, ledger);
    } finally {
      ledger.close();
    }
  }
  return venues;
}

function ledgerVenues(paths: StackPaths): string[] {
  try {
    return readdirSync(paths.engineStateDir).filter((f) => f.endsWith('.ledger.sqlite')).sort().map((f) => f.replace(/\.ledger\.sqlite$/, ''));
  } catch {
    return []; // no engine has run yet
  }
}

export function exportPnlCsv(paths: StackPaths, date?: string): { path: string; rows: number } {
  const day = parseDay(date);
  const rows: string[] = [];
  readEachLedger(paths, (venue, ledger) => {
    rows.push(...pnlRows(venue, ledger.storedStartingCash() ?? fx(0), ledger.fills(), day));
  });
  const path = join(paths.exportsDir, `pnl_${day.day}.csv`);
  try {
    writeFileAtomic(path, [PNL_CSV_HEADER, ...rows].join('\n') + '\n');
  } catch (err) {
    // A full disk: nothing half-written is left (the temp file goes), the root's storage health
    // hears of it when a stack runs in this process, and the caller is told in one sentence.
    if (!reportStorageFault(path, err)) throw err;
    const e = err as { code?: string; message?: string };
    throw new ExportStorageError(`${path} not written: the disk refuses writes (${e.code ?? 'EIO'}: ${e.message ?? String(err)}); free space under HMM_ROOT and export again`, e.code ?? 'EIO', err);
  }
  return { path, rows: rows.length };
}

/** The export met a full, failing or read-only disk. `code` is the disk's (ENOSPC…), so the
 *  CLI exits as for any storage fault (74). */
export class ExportStorageError extends Error {
  constructor(message: string, readonly code: string, cause: unknown) {
    super(message, { cause });
    this.name = 'ExportStorageError';
  }
}
