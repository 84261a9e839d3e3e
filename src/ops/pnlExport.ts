// Daily PnL export: ops/exports/pnl_YYYY-MM-DD.csv computed from each engine's ledger
// (never from in-memory state), so it can run with the stack up or down and re-running it
// gives the same file. Positions are marked at the last fill price at or before the close.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Fixed, fx, mul, toDecimalString } from '../core/decimal.js';
import type { Fill } from '../core/order.js';
import { type Portfolio, applyFill, emptyPortfolio, valuePortfolio } from '../core/portfolio.js';
import type { Symbol } from '../core/ids.js';
import { Ledger } from '../engine/ledger.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import type { StackPaths } from './paths.js';

export const PNL_CSV_HEADER = 'date,venue,model,symbol,realized,unrealized,fees,trades,equity_at_close';

const DAY_MS = 86_400_000;

export function parseDay(date: string | undefined, now = Date.now()): { day: string; start: number; end: number } {
  const day = date ?? new Date(now).toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw new RangeError(`date must be YYYY-MM-DD, got "${date}"`);
  const start = Date.parse(`${day}T00:00:00Z`);
  if (new Date(start).toISOString().slice(0, 10) !== day) throw new RangeError(`no such date: ${day}`);
  return { day, start, end: start + DAY_MS };
}

interface Book { before: Portfolio; after: Portfolio; trades: number }

/** Rows for one engine's ledger fills: per model and symbol, plus the venue's equity at close. */
export function pnlRows(venue: string, startingCash: Fixed, fills: Iterable<Fill>, day: { day: string; start: number; end: number }): string[] {
  const books = new Map<string, Book>();
  const marks = new Map<string, Fixed>();
  let account = emptyPortfolio(startingCash);
  for (const f of fills) {
    if (f.ts >= day.end) continue;
    marks.set(f.symbol, f.price);
    account = applyFill(account, f);
    const key = `${f.model ?? 'manual'}\u0000${f.symbol}`;
    const b = books.get(key) ?? { before: emptyPortfolio(fx(0)), after: emptyPortfolio(fx(0)), trades: 0 };
    b.after = applyFill(b.after, f);
    if (f.ts < day.start) b.before = b.after;
    else b.trades++;
    books.set(key, b);
  }
  const equity = valuePortfolio(account, (s: Symbol) => marks.get(s)).equity;
  const rows: string[] = [];
  for (const [key, b] of [...books.entries()].sort(([a], [c]) => a.localeCompare(c))) {
    const [model, symbol] = key.split('\u0000') as [string, Symbol];
    const pos = b.after.positions.get(symbol);
    const mark = marks.get(symbol);
    if (b.trades === 0 && (!pos || pos.qty === 0n)) continue;
    const unrealized = pos && mark !== undefined ? mul(pos.qty, (mark - pos.avgPrice) as Fixed) : fx(0);
    const realized = (b.after.realizedPnl - b.before.realizedPnl) as Fixed;
    const fees = (b.after.fees - b.before.fees) as Fixed;
    rows.push([day.day, venue, model, symbol, toDecimalString(realized), toDecimalString(unrealized), toDecimalString(fees), b.trades, equity.toFixed(2)].join(','));
  }
  return rows;
}

export function exportPnlCsv(paths: StackPaths, date?: string): { path: string; rows: number } {
  const day = parseDay(date);
  const rows: string[] = [];
  let ledgers: string[] = [];
  try {
    ledgers = readdirSync(paths.engineStateDir).filter((f) => f.endsWith('.ledger.sqlite')).sort();
  } catch { /* no engine has run yet: an empty export */ }
  for (const file of ledgers) {
    const venue = file.replace(/\.ledger\.sqlite$/, '');
    const ledger = new Ledger(join(paths.engineStateDir, file));
    try {
      rows.push(...pnlRows(venue, ledger.startingCash(fx(0)), ledger.fills(), day));
    } finally {
      ledger.close();
    }
  }
  const path = join(paths.exportsDir, `pnl_${day.day}.csv`);
  writeFileAtomic(path, [PNL_CSV_HEADER, ...rows].join('\n') + '\n');
  return { path, rows: rows.length };
}
