// Where a process's bars come from, chosen once at start: the seeded synthetic market (the
// offline default, MARKET_DATA=synthetic) or a venue's public OHLCV (MARKET_DATA=binance, or
// always for a live venue's own engine). Either way the caller gets the same three things: a
// warm-up history, a stream of bar steps, and a close. Also the small ring of recent bars an
// engine serves at GET /bars so a control plane in another process can warm its models.
import type { Exchange } from 'ccxt';
import type { StackConfig } from '../config/config.js';
import type { Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { SyntheticFeed, SyntheticMarket } from '../market/synthetic.js';
import type { Logger } from '../obs/logger.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface MarketSource {
  /** For the start-up line: "synthetic (seed 7)", "binance 1m OHLCV every 5000 ms". */
  readonly description: string;
  readonly kind: 'synthetic' | 'venue';
  /** Warm-up bars, oldest first (every symbol). */
  readonly history: readonly Bar[];
  /** Begins emitting steps of bars (one per symbol, same open time). */
  start(onBars: (bars: readonly Bar[]) => void): void;
  /** Stops emitting and waits for a poll in flight. */
  close(): Promise<void>;
}

/** The seeded synthetic market: WARMUP_BARS of history, then one bar per symbol every
 *  MARKET_INTERVAL_MS, each spanning BAR_INTERVAL_MS of market time (a day in minutes). */
export function syntheticSource(config: StackConfig, symbols: readonly Symbol[], now = Date.now()): MarketSource {
  const market = new SyntheticMarket({ seed: config.marketSeed, symbols, intervalMs: config.barIntervalMs, startTs: now - config.warmupBars * config.barIntervalMs });
  const history: Bar[] = [];
  for (let i = 0; i < config.warmupBars; i++) history.push(...market.nextBars());
  let feed: SyntheticFeed | null = null;
  return {
    description: `synthetic (seed ${config.marketSeed}, a bar every ${config.marketIntervalMs} ms)`,
    kind: 'synthetic',
    history,
    start(onBars) {
      feed = new SyntheticFeed({ market, emitEveryMs: config.marketIntervalMs });
      feed.start(onBars);
      // The first step at once: prices are known as soon as the stack is up.
      onBars(market.nextBars());
    },
    async close() {
      feed?.stop();
    },
  };
}

/**
 * A venue's public bars through ccxt. With `exchange` (a live venue's own ccxt instance) the
 * feed shares its request throttle; without, a credential-less instance is made from the
 * venue's configuration (CCXT_API_BASE, CCXT_SANDBOX, ...).
 */
export async function venueSource(opts: {
  readonly config: StackConfig;
  readonly env: Env;
  readonly exchangeId: string;
  readonly symbols: readonly Symbol[];
  readonly log: Logger;
  readonly exchange?: Exchange;
}): Promise<MarketSource> {
  const { config, log } = opts;
  const md = config.marketData;
  // ccxt is loaded only here, when a venue's data is asked for: it adds about 75 MB of
  // resident memory, which the default stack (synthetic data, sim venue) does not need.
  const { VenueFeed, createMarketDataExchange } = await import('../venues/ccxt/ccxtFeed.js');
  const { loadCcxtVenueConfig } = await import('../venues/ccxt/ccxtConfig.js');
  const exchange = opts.exchange ?? createMarketDataExchange(loadCcxtVenueConfig(opts.exchangeId, opts.env));
  const feed = await VenueFeed.open({ source: exchange, symbols: opts.symbols, timeframe: md.timeframe, timeframeMs: md.timeframeMs, pollMs: md.pollMs, log });
  let history: Bar[];
  try {
    history = await feed.history(config.warmupBars);
  } catch (err) {
    throw new Error(`[MARKET] ${opts.exchangeId}: warm-up history unavailable: ${(err as Error).message}`);
  }
  log.info({ venue: opts.exchangeId, bars: history.length }, `[MARKET] ${opts.exchangeId}: ${history.length} bars of ${md.timeframe} history for ${opts.symbols.join(', ')}`);
  return {
    description: `${opts.exchangeId} ${md.timeframe} OHLCV, polled every ${md.pollMs} ms`,
    kind: 'venue',
    history,
    start(onBars) {
      feed.start(onBars);
    },
    close() {
      return feed.close();
    },
  };
}

/** The market source MARKET_DATA names, for a process trading on the sim venue. `now` (the
 *  stack's clock at start) ends the synthetic warm-up history. */
export function openMarketSource(opts: { readonly config: StackConfig; readonly env: Env; readonly symbols: readonly Symbol[]; readonly log: Logger; readonly now?: number }): Promise<MarketSource> {
  if (opts.config.marketData.source === 'synthetic') return Promise.resolve(syntheticSource(opts.config, opts.symbols, opts.now));
  return venueSource({ ...opts, exchangeId: opts.config.marketData.source });
}

/** The last `capacity` bars seen (history and live), for GET /bars. */
export class RecentBars {
  private readonly bars: Bar[] = [];

  constructor(private readonly capacity: number) {}

  push(...bars: readonly Bar[]): void {
    this.bars.push(...bars);
    if (this.bars.length > this.capacity * 1.5) this.bars.splice(0, this.bars.length - this.capacity);
  }

  last(n: number): Bar[] {
    const all = this.bars.length > this.capacity ? this.bars.slice(-this.capacity) : this.bars;
    return all.slice(-Math.max(0, n));
  }
}
