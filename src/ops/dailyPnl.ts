// PnL per UTC day from the engines' ledgers (Telegram's /daily and /profit): realized PnL, fees
// and trades booked on each day, from the replay `hmm export-pnl` makes (ops/pnlReplay.ts: fills
// in ledger order, per model and symbol), each counted on the day of its trade time, in one pass
// however many days are asked for. Read-only: the ledgers are opened read-only, running or not.
import { type Fixed, fx, toNumber } from '../core/decimal.js';
import type { Fill } from '../core/order.js';
import type { StackPaths } from './paths.js';
import { readEachLedger } from './pnlExport.js';
import { replayPnl } from './pnlReplay.js';

const DAY_MS = 86_400_000;

export interface DayPnl {
  /** YYYY-MM-DD (UTC). */
  readonly day: string;
  readonly realized: number;
  readonly fees: number;
  readonly trades: number;
}

/**
 * The last `days` UTC days up to the one holding `now`, oldest first (days without a fill
 * included, at zero); `days` null: every day from the first fill. Realized PnL is before fees,
 * as in the export; `net` is the caller's realized − fees.
 */
export function dailyPnl(fills: Iterable<Fill>, days: number | null, now: number): DayPnl[] {
  const byDay = new Map<number, { realized: Fixed; fees: Fixed; trades: number }>();
  let first: number | null = null;
  replayPnl(fx(0), fills, Infinity, (f, _key, realized) => {
    const d = Math.floor(f.ts / DAY_MS);
    first = first === null ? d : Math.min(first, d);
    const b = byDay.get(d) ?? { realized: fx(0), fees: fx(0), trades: 0 };
    b.realized = (b.realized + realized) as Fixed;
    b.fees = (b.fees + f.fee) as Fixed;
    b.trades++;
    byDay.set(d, b);
  });
  const today = Math.floor(now / DAY_MS);
  const from = days === null ? (first ?? today) : today - days + 1;
  const out: DayPnl[] = [];
  for (let d = from; d <= today; d++) {
    const b = byDay.get(d);
    out.push({ day: new Date(d * DAY_MS).toISOString().slice(0, 10), realized: b ? toNumber(b.realized) : 0, fees: b ? toNumber(b.fees) : 0, trades: b?.trades ?? 0 });
  }
  return out;
}

/** Every engine ledger under engine/state, read-only: days per venue, summed. */
export function dailyPnlFromLedgers(paths: StackPaths, days: number | null, now: number): DayPnl[] {
  const sum = new Map<string, { realized: number; fees: number; trades: number }>();
  const venues = readEachLedger(paths, (_venue, ledger) => {
    for (const d of dailyPnl(ledger.fills(), days, now)) {
      const s = sum.get(d.day) ?? { realized: 0, fees: 0, trades: 0 };
      s.realized += d.realized;
      s.fees += d.fees;
      s.trades += d.trades;
      sum.set(d.day, s);
    }
  });
  if (venues.length === 0) return dailyPnl([], days, now);
  return [...sum.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([day, s]) => ({ day, ...s }));
}
