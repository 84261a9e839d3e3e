// engine/state/market.json: where the synthetic market stopped (its generator state) and where
// its warm-up history starts (the generator state that many steps earlier, the anchor), so a
// restarted stack continues the same market — no price jump, same regime process — instead of
// restarting from its seed. The generator is deterministic from a state, so the warm-up bars are
// regenerated from the anchor at start rather than stored: the file is a few hundred bytes
// whatever WARMUP_BARS is, written atomically every step and at close (so a restart after a
// crash continues from a state and a history that agree: app/marketSource.ts). A file of the
// first format (the state and the emitted bars themselves, no anchor) is still read. A file
// that cannot be read is set aside as market.json.damaged (never deleted: it is evidence) and the
// market starts from its seed, with an ERROR naming the file; one that reads but does not fit
// the configured market (another seed, drift or symbol list) is a WARN, and the market starts
// from its seed (app/marketSource.ts).
import { existsSync, readFileSync } from 'node:fs';
import { quarantineFile } from '../util/quarantine.js';
import type { Bar } from '../core/marketData.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { SyntheticMarketState } from './synthetic.js';

export interface PersistedMarket {
  /** Where the market stopped: its next bar follows this state. */
  readonly state: SyntheticMarketState;
  /** Where the warm-up history starts: the generator resumed from it, run up to `state`, emits
   *  the bars the market emitted. Null in a file of the first format, whose bars are stored. */
  readonly anchor: SyntheticMarketState | null;
  /** Stored bars, oldest first: with an anchor, only bars from before it still within the warm-up
   *  (after a first-format file was resumed; usually none); without, the whole recent history. */
  readonly bars: readonly Bar[];
}

export type MarketStateRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'ok'; readonly market: PersistedMarket }
  | { readonly kind: 'damaged'; readonly reason: string; readonly movedTo: string | null };

function isBar(b: unknown): b is Bar {
  const o = b as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || typeof o.symbol !== 'string') return false;
  return ['ts', 'open', 'high', 'low', 'close', 'volume'].every((k) => typeof o[k] === 'number' && Number.isFinite(o[k] as number));
}

/** Reads the persisted market; a damaged file is moved aside and reported, never thrown. */
export function readMarketState(path: string): MarketStateRead {
  if (!existsSync(path)) return { kind: 'missing' };
  let reason: string;
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { state?: SyntheticMarketState; anchor?: SyntheticMarketState; bars?: unknown[] };
    if (!doc || typeof doc !== 'object' || !doc.state || typeof doc.state !== 'object') reason = 'no state object';
    else if (doc.anchor !== undefined && (!doc.anchor || typeof doc.anchor !== 'object')) reason = 'anchor is not a state object';
    else if (!Array.isArray(doc.bars) || !doc.bars.every(isBar)) reason = 'bars is not a list of bars';
    else return { kind: 'ok', market: { state: doc.state, anchor: doc.anchor ?? null, bars: doc.bars.map((b) => ({ ...b, symbol: toSymbol(b.symbol) })) } };
  } catch (err) {
    reason = (err as Error).message;
  }
  return quarantine(path, reason);
}

/** Moves a file that cannot be used aside (util/quarantine.ts), so the next start does not trip on it. */
function quarantine(path: string, reason: string): MarketStateRead {
  try {
    return { kind: 'damaged', reason, movedTo: quarantineFile(path) };
  } catch {
    return { kind: 'damaged', reason, movedTo: null };
  }
}
