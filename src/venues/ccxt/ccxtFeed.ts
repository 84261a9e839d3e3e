// Market data from a venue's public OHLCV (ccxt fetchOHLCV, polled): the bars a live venue
// trades on, as the same Bar stream the synthetic feed emits. Owns the symbol mapping (our
// BTCUSDT → the venue's BTC/USDT), the warm-up history, and the rule that only CLOSED bars
// are emitted — a venue's last kline is still forming, and a model fed a bar that later
// changes would act on a price that never closed. No credentials: public endpoints only.
//
// Decisions:
//   - Polling, not a WebSocket: one request per symbol per MARKET_POLL_MS is far inside every
//     venue's public limits, and a poll that fails is simply retried (logged, rate-limited);
//     a WS stream would feed the same onBars.
//   - A bar counts as closed once its open time + timeframe + a settle margin (a tenth of the
//     timeframe, at most 2 s: our clock may run ahead of the venue's) has passed.
//   - Each symbol resumes from its last emitted bar (since = last + timeframe), so a poll that
//     failed for a while catches up with every bar it missed (up to 1000), in time order.
//   - Steps are emitted grouped by open time, like the synthetic feed: the venues's bars of one
//     minute arrive together when their symbols are polled in the same round.
import ccxt, { type Exchange } from 'ccxt';
import { type Symbol, symbol as toSymbol } from '../../core/ids.js';
import type { Bar } from '../../core/marketData.js';
import type { Logger } from '../../obs/logger.js';
import type { CcxtVenueConfig } from './ccxtConfig.js';
import { ourSymbolOf } from './ccxtMapping.js';
import { rewriteApiUrls } from './ccxtVenue.js';
import { type BarFeed, groupByTs } from '../../market/feed.js';
import { InvalidValueError } from '../../core/errors.js';

/** The part of a ccxt exchange the feed uses (a stub in unit tests). */
export interface OhlcvSource {
  readonly id: string;
  loadMarkets(): Promise<unknown>;
  readonly markets: Record<string, unknown> | undefined;
  fetchOHLCV(symbol: string, timeframe?: string, since?: number, limit?: number): Promise<unknown[][]>;
}

export interface VenueFeedOptions {
  readonly source: OhlcvSource;
  /** Our symbols (BTCUSDT); each must be a spot market at the venue. */
  readonly symbols: readonly string[];
  readonly timeframe: string;
  readonly timeframeMs: number;
  readonly pollMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Rows per request: Binance's spot maximum. */
const MAX_ROWS = 1000;

/** How long after its nominal close a bar is taken as final (our clock may lead the venue's). */
export function settleMarginMs(timeframeMs: number): number {
  return Math.min(2_000, Math.floor(timeframeMs / 10));
}

/**
 * The closed bars among ccxt OHLCV rows ([ts, open, high, low, close, volume]) that open after
 * `afterTs`, oldest first. Rows with a missing or non-positive price are dropped (a venue's
 * gap), as are duplicates of one open time (the later row wins: it is the venue's correction).
 */
export function closedBarsFrom(rows: readonly unknown[][], sym: Symbol, timeframeMs: number, now: number, afterTs: number | null): Bar[] {
  const byTs = new Map<number, Bar>();
  const margin = settleMarginMs(timeframeMs);
  for (const r of rows) {
    const [ts, open, high, low, close, volume] = r as [unknown, unknown, unknown, unknown, unknown, unknown];
    if (typeof ts !== 'number' || !Number.isFinite(ts)) continue;
    if (afterTs !== null && ts <= afterTs) continue;
    if (ts + timeframeMs + margin > now) continue; // still forming
    const px = [open, high, low, close].map((v) => (typeof v === 'number' ? v : Number(v)));
    if (px.some((v) => !Number.isFinite(v) || v <= 0)) continue;
    const vol = typeof volume === 'number' ? volume : Number(volume);
    const [o, h, l, c] = px as [number, number, number, number];
    byTs.set(ts, { symbol: sym, ts, open: o, high: Math.max(h, o, c), low: Math.min(l, o, c), close: c, volume: Number.isFinite(vol) && vol >= 0 ? vol : 0 });
  }
  return [...byTs.values()].sort((a, b) => a.ts - b.ts);
}

interface Tracked {
  readonly ours: Symbol;
  readonly venueSymbol: string;
  lastTs: number | null;
}

export class VenueFeed implements BarFeed {
  private readonly source: OhlcvSource;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly timeframe: string;
  private readonly timeframeMs: number;
  private readonly pollMs: number;
  private readonly tracked: Tracked[];
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;
  private lastWarnAt = 0;
  private lastOkAt: number | null = null;

  /** Loads the venue's markets and maps our symbols onto them; a symbol it lacks stops start-up. */
  static async open(opts: VenueFeedOptions): Promise<VenueFeed> {
    if (opts.source.markets === undefined) await opts.source.loadMarkets();
    const bySymbol = new Map<string, string>();
    for (const [ccxtSymbol, m] of Object.entries(opts.source.markets ?? {})) {
      const market = m as { base?: string; quote?: string; spot?: boolean };
      if (market.spot === false || typeof market.base !== 'string' || typeof market.quote !== 'string') continue;
      const ours = ourSymbolOf({ base: market.base, quote: market.quote });
      if (!bySymbol.has(ours)) bySymbol.set(ours, ccxtSymbol);
    }
    const missing = opts.symbols.filter((s) => !bySymbol.has(s.toUpperCase()));
    if (missing.length > 0) throw new Error(`[MARKET] ${opts.source.id} has no spot market for ${missing.join(', ')}: it cannot feed them`);
    return new VenueFeed(opts, opts.symbols.map((s) => ({ ours: toSymbol(s.toUpperCase()), venueSymbol: bySymbol.get(s.toUpperCase())!, lastTs: null })));
  }

  private constructor(opts: VenueFeedOptions, tracked: Tracked[]) {
    this.source = opts.source;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.timeframe = opts.timeframe;
    this.timeframeMs = opts.timeframeMs;
    this.pollMs = opts.pollMs;
    if (!(this.timeframeMs > 0)) throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `timeframeMs must be positive, got ${this.timeframeMs}`);
    if (!(this.pollMs > 0)) throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `pollMs must be positive, got ${this.pollMs}`);
    this.tracked = tracked;
  }

  get running(): boolean {
    return this.timer !== null || this.polling !== null;
  }

  /** Epoch ms of the last poll that answered for every symbol; null before the first. */
  get lastSuccessAt(): number | null {
    return this.lastOkAt;
  }

  /** The last `bars` closed bars of every symbol, oldest first; the live poll continues after them. */
  async history(bars: number): Promise<Bar[]> {
    const out: Bar[] = [];
    if (bars <= 0) return out;
    const limit = Math.min(MAX_ROWS, bars + 2); // the forming bar and one to spare
    for (const t of this.tracked) {
      const rows = await this.source.fetchOHLCV(t.venueSymbol, this.timeframe, undefined, limit);
      const closed = closedBarsFrom(rows, t.ours, this.timeframeMs, this.now(), null).slice(-bars);
      if (closed.length > 0) t.lastTs = closed.at(-1)!.ts;
      out.push(...closed);
    }
    this.lastOkAt = this.now();
    return out.sort((a, b) => a.ts - b.ts || (a.symbol < b.symbol ? -1 : 1));
  }

  /** One poll: the closed bars every symbol gained since the last, oldest first. A symbol whose
   *  request fails keeps its position (its bars come with the next successful poll). */
  async pollOnce(): Promise<Bar[]> {
    const fresh: Bar[] = [];
    let failed: Error | null = null;
    for (const t of this.tracked) {
      const since = t.lastTs === null ? undefined : t.lastTs + this.timeframeMs;
      let rows: unknown[][];
      try {
        rows = await this.source.fetchOHLCV(t.venueSymbol, this.timeframe, since, MAX_ROWS);
      } catch (err) {
        failed = err as Error;
        continue;
      }
      const closed = closedBarsFrom(rows, t.ours, this.timeframeMs, this.now(), t.lastTs);
      if (closed.length > 0) t.lastTs = closed.at(-1)!.ts;
      fresh.push(...closed);
    }
    if (failed) {
      this.failures++;
      const now = this.now();
      if (now - this.lastWarnAt >= 30_000) {
        this.lastWarnAt = now;
        this.log.warn({ venue: this.source.id, failures: this.failures }, `[MARKET] ${this.source.id} OHLCV poll failed (${failed.message}); retrying every ${this.pollMs} ms — models get no new bars meanwhile`);
      }
    } else {
      if (this.failures > 0) this.log.info({ venue: this.source.id }, `[MARKET] ${this.source.id} OHLCV poll recovered after ${this.failures} failures`);
      this.failures = 0;
      this.lastOkAt = this.now();
    }
    return fresh.sort((a, b) => a.ts - b.ts || (a.symbol < b.symbol ? -1 : 1));
  }

  start(onBars: (bars: readonly Bar[]) => void): void {
    if (this.timer !== null || this.polling !== null) throw new Error('VenueFeed already started');
    this.stopped = false;
    const tick = () => {
      this.timer = null;
      this.polling = this.pollOnce()
        .then((bars) => {
          if (this.stopped) return;
          for (const step of groupByTs(bars)) onBars(step);
        })
        .catch((err: Error) => this.log.error({ err }, `[MARKET] ${this.source.id} bars could not be delivered: ${err.message}`))
        .finally(() => {
          this.polling = null;
          if (!this.stopped) {
            this.timer = setTimeout(tick, this.pollMs);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Stops and waits for a poll in flight. */
  async close(): Promise<void> {
    this.stop();
    await this.polling;
  }
}

/**
 * A ccxt exchange for public market data only (no credentials), pointed where the venue's
 * configuration points (CCXT_API_BASE for a proxy or a local fake, CCXT_SANDBOX).
 */
export function createMarketDataExchange(cfg: Pick<CcxtVenueConfig, 'exchangeId' | 'apiBase' | 'sandbox' | 'timeoutMs' | 'exchangeOptions'>): Exchange {
  type Ctor = new (config: Record<string, unknown>) => Exchange;
  const C = (ccxt as unknown as Record<string, Ctor | undefined>)[cfg.exchangeId];
  if (typeof C !== 'function') throw new InvalidValueError('HMM_VENUE_UNKNOWN_EXCHANGE', `${JSON.stringify(cfg.exchangeId)} is not a ccxt exchange`);
  const options: Record<string, unknown> = { defaultType: 'spot' };
  if (cfg.exchangeId.startsWith('binance')) {
    // Spot markets only, and none of the authenticated sapi calls loadMarkets may make.
    Object.assign(options, { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false, fetchMargins: false });
  }
  const ex = new C({ enableRateLimit: true, timeout: cfg.timeoutMs, options: { ...options, ...cfg.exchangeOptions } });
  if (cfg.sandbox) ex.setSandboxMode(true);
  if (cfg.apiBase) ex.urls['api'] = rewriteApiUrls(ex.urls['api'], cfg.apiBase) as typeof ex.urls['api'];
  return ex;
}
