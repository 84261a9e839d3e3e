// Market data as the rest of the stack sees it, whatever its source (synthetic, replay, venue).
import type { Symbol } from './ids.js';

/** One OHLCV bar. Prices are plain numbers here: models do statistics on them; the
 *  engine converts to exact decimals (rounded to tick) at the order boundary. */
export interface Bar {
  readonly symbol: Symbol;
  /** Bar open time, epoch milliseconds. */
  readonly ts: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}
