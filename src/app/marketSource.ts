// Where a process's bars come from, chosen once at start: the seeded synthetic market (the
// offline default, MARKET_DATA=synthetic) or a venue's public OHLCV (MARKET_DATA=binance, or
// always for a live venue's own engine). Either way the caller gets the same three things: a
// warm-up history, a stream of bar steps, and a close. Also the small ring of recent bars an
// engine serves at GET /bars so a control plane in another process can warm its models.
import type { Exchange } from 'ccxt';
import type { StackConfig } from '../config/config.js';
import type { Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { SyntheticMarket } from '../market/synthetic.js';
import { readMarketState } from '../market/marketState.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { quarantineFile } from '../util/quarantine.js';
import { reportStorageFault } from '../util/storageHealth.js';
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

/** The farthest a saved anchor may trail its state (steps regenerated at start, about a second
 *  of CPU); the stack keeps it WARMUP_BARS behind. */
const MAX_ANCHOR_STEPS = 1_000_000;

/** The seeded synthetic market: WARMUP_BARS of history, then one bar per symbol every
 *  MARKET_INTERVAL_MS, each spanning BAR_INTERVAL_MS of market time (a day in minutes).
 *  With a state file the market continues where the previous run stopped (market.ts): its
 *  warm-up history is the bars that run emitted, and its next bar follows the last one. */
export function syntheticSource(
  config: StackConfig,
  symbols: readonly Symbol[],
  opts: { readonly statePath?: string | null; readonly log?: Logger | null; readonly now?: number } = {},
): MarketSource {
  const statePath = opts.statePath ?? null;
  const log = opts.log ?? null;
  const base = { seed: config.marketSeed, symbols, intervalMs: config.barIntervalMs, driftScale: config.marketDrift };
  // Steps of warm-up a restart needs; the anchor trails the market by this many.
  const warmSteps = Math.max(1, config.warmupBars);
  let market: SyntheticMarket | null = null;
  // The generator where the warm-up history starts (market.ts: the anchor), and the bars from
  // before it that a first-format file held and the warm-up still needs (usually none).
  let anchor: SyntheticMarket | null = null;
  let before: Bar[] = [];
  let history: Bar[] = [];
  let resumed = '';
  if (statePath !== null) {
    const read = readMarketState(statePath);
    if (read.kind === 'ok') {
      try {
        const saved = read.market;
        if (saved.anchor === null) {
          market = new SyntheticMarket({ ...base, resume: saved.state });
          anchor = new SyntheticMarket({ ...base, resume: saved.state });
          before = saved.bars.slice();
          history = saved.bars.slice();
        } else {
          // The warm-up history is the bars the market emitted from its anchor on: regenerated,
          // and the generator that regenerated them is then at the saved state.
          // Steps beyond this warm-up (WARMUP_BARS was lowered) are run through, not kept.
          const regen = new SyntheticMarket({ ...base, resume: saved.anchor });
          const steps = saved.state.steps - saved.anchor.steps;
          if (!(steps >= 0 && steps <= Math.max(warmSteps, MAX_ANCHOR_STEPS))) throw new RangeError(`its anchor (step ${saved.anchor.steps}) is not within ${Math.max(warmSteps, MAX_ANCHOR_STEPS)} steps before its state (step ${saved.state.steps})`);
          const skip = Math.max(0, steps - warmSteps);
          regen.forEachBar(skip, () => undefined);
          const regenerated = regen.generate(steps - skip);
          const expected = new SyntheticMarket({ ...base, resume: saved.state }).snapshot();
          if (JSON.stringify(regen.snapshot()) !== JSON.stringify(expected)) throw new RangeError('the history regenerated from its anchor does not end at its state');
          market = regen;
          anchor = new SyntheticMarket({ ...base, resume: saved.anchor });
          before = skip > 0 ? [] : saved.bars.slice();
          history = [...before, ...regenerated];
        }
        history = config.warmupBars === 0 ? [] : history.slice(-config.warmupBars * symbols.length);
        resumed = `, resumed at step ${market.steps}`;
        log?.info({ file: statePath, steps: market.steps }, `[MARKET] synthetic market resumed from ${statePath} at step ${market.steps} (next bar ${new Date(market.nextTs).toISOString()})`);
      } catch (err) {
        // A state for another seed, drift or symbol list, or one this version's generator cannot
        // reproduce (an upgrade that changed it, or damage that still parses): that market is not
        // this one. It is set aside as evidence before this market's first save replaces it.
        let movedTo: string | null = null;
        try { movedTo = quarantineFile(statePath); } catch { /* said below: could not move */ }
        log?.warn({ file: statePath, err: (err as Error).message, moved_to: movedTo }, `[MARKET] ${statePath} does not fit the configured market (${(err as Error).message}); moved to ${movedTo ?? '(could not move)'}; starting from seed ${config.marketSeed}`);
        market = null;
        history = [];
      }
    } else if (read.kind === 'damaged') {
      log?.error({ file: statePath, reason: read.reason, moved_to: read.movedTo }, `[MARKET] ERROR ${statePath} is damaged (${read.reason}); moved to ${read.movedTo ?? '(could not move)'}; starting from seed ${config.marketSeed}`);
    }
  }
  if (market === null) {
    market = new SyntheticMarket({ ...base, startTs: (opts.now ?? Date.now()) - config.warmupBars * config.barIntervalMs });
    anchor = new SyntheticMarket({ ...base, resume: market.snapshot() });
    before = [];
    for (let i = 0; i < config.warmupBars; i++) history.push(...market.nextBars());
  }
  const m = market;
  const a = anchor!;
  // Keeps the anchor warmSteps behind the market, and only the stored bars the warm-up needs.
  const trail = (): void => {
    while (m.steps - a.steps > warmSteps) a.nextBars();
    const room = (warmSteps - (m.steps - a.steps)) * symbols.length;
    if (before.length > room) before = before.slice(before.length - room);
  };
  trail();
  // Every step writes the generator state with its anchor — a few hundred bytes, not the warm-up
  // bars — so a restart (even after a crash) continues from a state and a history that agree.
  const save = (): void => {
    if (statePath === null) return;
    try {
      // The generator state is derived data a crash may lose a few steps of; no fsync needed.
      writeJsonAtomic(statePath, { state: m.snapshot(), anchor: a.snapshot(), bars: before }, undefined, { fsync: false });
    } catch (err) {
      // A full disk is reported (new orders stop until writes succeed); said once, not every round.
      const storageFault = reportStorageFault(statePath, err);
      if (!storageFault) log?.error({ file: statePath, err: (err as Error).message }, `[MARKET] ERROR could not write ${statePath}: ${(err as Error).message}`);
    }
  };
  const step = (): Bar[] => {
    const bars = m.nextBars();
    trail();
    save();
    return bars;
  };
  let timer: NodeJS.Timeout | null = null;
  save();
  return {
    description: `synthetic (seed ${config.marketSeed}${config.marketDrift === 1 ? '' : `, drift ×${config.marketDrift}`}, a bar every ${config.marketIntervalMs} ms${resumed})`,
    kind: 'synthetic',
    history,
    start(onBars) {
      timer = setInterval(() => onBars(step()), config.marketIntervalMs);
      // The first step at once: prices are known as soon as the stack is up.
      onBars(step());
    },
    async close() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      save();
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
 *  stack's clock at start) ends a fresh synthetic warm-up history; with `statePath` the
 *  synthetic market continues where the previous run stopped. */
export function openMarketSource(opts: { readonly config: StackConfig; readonly env: Env; readonly symbols: readonly Symbol[]; readonly log: Logger; readonly now?: number; readonly statePath?: string | null }): Promise<MarketSource> {
  if (opts.config.marketData.source === 'synthetic') return Promise.resolve(syntheticSource(opts.config, opts.symbols, { statePath: opts.statePath ?? null, log: opts.log, now: opts.now }));
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
