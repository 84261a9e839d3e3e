// A live venue behind the Venue interface, through ccxt's unified API (Binance spot first;
// Kraken, Bybit and other ccxt exchanges by configuration). This module owns the conversation
// with the exchange: markets → instruments at start, orders under OUR client order id, cancels,
// open orders, per-trade fills, balances, the clock offset, and the venue-wide request gate
// (429 backoff, 418 ban). The rules it keeps:
//   - every order carries our client order id as the venue's client id, so an order whose
//     submission timed out is found by asking for that id — never by sending it again;
//   - a submit's outcome is "unknown" only when the request may have reached the venue
//     (timeout, 5xx, dropped connection); it is then resolved by querying, and on Binance an
//     order still absent once its recvWindow has passed can no longer be placed (NOT_PLACED);
//   - reads are retried on transient failures; nothing is retried while the gate is closed;
//   - fills are per venue trade, de-duplicated by trade id, and handed over before the
//     cancel/expiry that ends their order;
//   - a poll that keeps failing marks the view stale; the first success after it resyncs open
//     orders and balances over REST.
// Fills arrive by polling (open orders, then the trades of orders whose filled quantity moved).
// A user-data stream would feed the same two entry points (settleOrder, catchUpFills) and the
// stale watchdog would then watch the stream's last message instead of the last poll.
// Longer than the ~500 lines a file aims for, on purpose: submit, the resolution of unknown
// outcomes, the poll loop and the request gate share one state (the tracked orders, the trade
// ids seen, the gate and the clock offset), and the rules above hold only because one object
// changes it. What is pure is out already: ccxtMapping.ts (ccxt shapes → ours), ccxtErrors.ts
// (what a failure means), requestGate.ts (429/418 back-off), ccxtConfig.ts.
import ccxt, { type Exchange } from 'ccxt';
import { type Fixed, ZERO, floorToStep, fx, toDecimalString } from '../../core/decimal.js';
import { type ClientOrderId, type Symbol, type VenueId, clientOrderId as toClientOrderId, venueId } from '../../core/ids.js';
import { type Instrument, conformPrice } from '../../core/instrument.js';
import type { Fill, OrderSide } from '../../core/order.js';
import type { Logger } from '../../obs/logger.js';
import { RecentIds } from '../../util/recentIds.js';
import type { Venue, VenueCancelResult, VenueEvent, VenueOrderRequest, VenueOrderState, VenueSubmitResult } from '../venue.js';
import { type ErrorClass, classifyError, scrubMessage } from './ccxtErrors.js';
import type { CcxtCredentials, CcxtVenueConfig } from './ccxtConfig.js';
import {
  type FillConversion, type MarketLike, type OrderLike, type TradeLike,
  TICK_SIZE, fillFromTrade, instrumentFromMarket, orderStateFrom, ourSymbolOf, roundedFixed,
} from './ccxtMapping.js';
import { type GateState, RequestGate } from './requestGate.js';
import { InvalidValueError } from '../../core/errors.js';
import { VenueError } from '../errors.js';

export interface CcxtVenueOptions {
  /** ccxt exchange id (binance, kraken, bybit, ...). */
  readonly exchangeId: string;
  /** Our venue id; default the exchange id. */
  readonly id?: string;
  /** Our symbols to trade (BTCUSDT): each must be a spot market at the venue. */
  readonly symbols: readonly string[];
  readonly credentials: CcxtCredentials | null;
  /** Replaces the scheme and host of every REST endpoint (a proxy, or a local fake in tests). */
  readonly apiBase?: string | null;
  /** Exact replacements for entries of ccxt's urls.api, by key (public, private, ...). */
  readonly urls?: Readonly<Record<string, string>>;
  /** Extra ccxt exchange options (venue quirks); merged over ours. */
  readonly exchangeOptions?: Readonly<Record<string, unknown>>;
  readonly sandbox?: boolean;
  /** Validity window of a signed request (Binance recvWindow); default 5000. */
  readonly recvWindowMs?: number;
  /** Per-request timeout; default 10000. */
  readonly timeoutMs?: number;
  /** ccxt's milliseconds per unit of request weight (its throttle); default the exchange's own
   *  (Binance 50 ms: 1200 weight/min). Lower it only for an account with higher limits. */
  readonly rateLimitMs?: number;
  /** Background poll of orders, fills and prices; 0 = no loop (the caller runs pollOnce). Default 2000. */
  readonly pollIntervalMs?: number;
  /** Balances are re-read this often, and after fills; default 30000. */
  readonly balanceIntervalMs?: number;
  /** No successful poll for this long marks the view stale; default max(15000, 5 × poll). */
  readonly staleAfterMs?: number;
  /** Clock offset re-measured this often; default 10 minutes. */
  readonly clockSyncIntervalMs?: number;
  /** Longest a call waits for a closed gate (429/418) before giving up; default 3000. */
  readonly maxGateWaitMs?: number;
  /** Retries of a read after a transient failure; default 3. */
  readonly readRetries?: number;
  /** Pause between queries resolving an unknown submit; default 500. */
  readonly resolveDelayMs?: number;
  /** Queries before an unresolved submit is handed to reconciliation; default 6. */
  readonly resolveAttempts?: number;
  /** Which ccxt createOrder param carries our id; default newClientOrderId on Binance, else clientOrderId. */
  readonly clientOrderIdParam?: string;
  /** Client ids the venue accepts; default Binance's ^[a-zA-Z0-9-_]{1,36}$. */
  readonly clientOrderIdPattern?: RegExp;
  /** A request not placed within its recvWindow never will be (Binance); default true on Binance. */
  readonly recvWindowBoundsPlacement?: boolean;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A read the venue could not answer (unavailable, rate limited, banned, refused). */
export class VenueRequestError extends VenueError {
  constructor(readonly venue: string, readonly op: string, code: string, message: string, readonly cls: ErrorClass | null = null) {
    super(code, `${venue} ${op}: ${message}`);
  }
}

/** A submit whose outcome could not be established: reconciliation must settle the order. */
export class SubmitOutcomeUnknownError extends VenueError {
  constructor(readonly venue: string, readonly clientOrderId: string, message: string) {
    super('HMM_VENUE_SUBMIT_OUTCOME_UNKNOWN', `${venue} submit ${clientOrderId}: outcome unknown (${message}); left for reconciliation, not re-sent`);
  }
}

export interface BalanceView {
  readonly free: Fixed;
  readonly locked: Fixed;
  readonly total: Fixed;
}

export interface CcxtVenueStatus {
  readonly venue: string;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly stale: boolean;
  readonly last_poll_ok_at: string | null;
  readonly resyncs: number;
  readonly gate: GateState;
  readonly clock_offset_ms: number;
  readonly last_clock_sync_at: string | null;
  readonly requests: number;
  readonly errors: number;
  readonly last_error: string | null;
  readonly tracked_orders: number;
  readonly unresolved_submits: readonly string[];
  /** Fees the venue took in the base asset, by asset: what a position's exit cannot sell. */
  readonly base_fees: Readonly<Record<string, string>>;
}

interface MarketRef {
  readonly symbol: Symbol;
  readonly ccxtSymbol: string;
  readonly marketId: string;
  readonly inst: Instrument;
}

interface Tracked {
  readonly clientOrderId: ClientOrderId;
  readonly market: MarketRef;
  /** Known once we sent it or read it from the venue. */
  side: OrderSide | null;
  venueOrderId: string | null;
  /** Σ qty of the fills handed to the engine (submit result or listener). */
  emitted: Fixed;
  /** submitting: our submit is in flight (its events go in its result); open: the poll follows
   *  it; closed: fully settled. */
  phase: 'submitting' | 'open' | 'closed';
}

const BINANCE_CLIENT_ID = /^[a-zA-Z0-9_-]{1,36}$/;
const SYNTHETIC_ID = /^venue:([A-Za-z0-9_-]{1,24}):([A-Za-z0-9_-]{1,36})$/;
const SEEN_TRADES_MAX = 100_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type ExchangeCtor = new (config: Record<string, unknown>) => Exchange;

/** Rewrites every URL string under urls.api to the given origin (keeping each path). */
export function rewriteApiUrls(api: unknown, base: string): unknown {
  if (typeof api === 'string') return api.replace(/^https?:\/\/[^/]+/, base);
  if (api !== null && typeof api === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(api as Record<string, unknown>)) out[k] = rewriteApiUrls(v, base);
    return out;
  }
  return api;
}

export class CcxtVenue implements Venue {
  readonly id: VenueId;
  readonly allowsShort = false;
  readonly exchange: Exchange;

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly gate: RequestGate;
  private readonly exchangeId: string;
  private readonly symbolsWanted: readonly string[];
  private readonly recvWindowMs: number;
  private readonly pollIntervalMs: number;
  private readonly balanceIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly clockSyncIntervalMs: number;
  private readonly maxGateWaitMs: number;
  private readonly readRetries: number;
  private readonly resolveDelayMs: number;
  private readonly resolveAttempts: number;
  private readonly clientIdParam: string;
  private readonly clientIdPattern: RegExp;
  private readonly recvWindowBoundsPlacement: boolean;
  private readonly secrets: readonly string[];

  private readonly markets = new Map<Symbol, MarketRef>();
  private readonly marketsByCcxt = new Map<string, MarketRef>();
  private readonly instrumentMap = new Map<Symbol, Instrument>();
  private readonly prices = new Map<Symbol, Fixed>();
  /** Prices of fee currencies in a quote currency ("BNB/USDT"), for fees paid in a third asset. */
  private readonly feePrices = new Map<string, { px: Fixed; at: number }>();
  private readonly tracked = new Map<ClientOrderId, Tracked>();
  /** Symbol of every order seen this run (cancel and fetchOrder know where to look). */
  private readonly symbolOf = new Map<ClientOrderId, Symbol>();
  /** Trade ids already emitted as fills, the newest SEEN_TRADES_MAX: trades older than that are
   *  long settled in the ledger, which de-duplicates on its own as well. */
  private readonly seenTrades = new RecentIds(SEEN_TRADES_MAX);
  /** Client ids this process has sent: never sent twice (the venue's own duplicate check
   *  covers only open orders). */
  private readonly sent = new RecentIds<ClientOrderId>(SEEN_TRADES_MAX);
  private readonly unresolved = new Set<ClientOrderId>();
  private balanceMap = new Map<string, BalanceView>();
  private readonly baseFees = new Map<string, Fixed>();
  private listener: ((e: VenueEvent) => void) | null = null;

  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  private stale = false;
  private lastPollOkAt: number;
  private lastBalanceAt = 0;
  private balanceDirty = true;
  private lastClockSyncAt: number | null = null;
  private resyncs = 0;
  private requests = 0;
  private errors = 0;
  private lastError: string | null = null;
  private lastPollErrorLogAt = 0;

  /** The venue as configured from the environment (loadCcxtVenueConfig). */
  static fromConfig(cfg: CcxtVenueConfig, logger: Logger): Promise<CcxtVenue> {
    return CcxtVenue.start({
      exchangeId: cfg.exchangeId, symbols: cfg.symbols, credentials: cfg.credentials, apiBase: cfg.apiBase, sandbox: cfg.sandbox,
      recvWindowMs: cfg.recvWindowMs, timeoutMs: cfg.timeoutMs, pollIntervalMs: cfg.pollIntervalMs, staleAfterMs: cfg.staleAfterMs,
      exchangeOptions: cfg.exchangeOptions, logger,
    });
  }

  /** Creates the venue and loads what it needs before the engine may use it. */
  static async start(opts: CcxtVenueOptions): Promise<CcxtVenue> {
    const v = new CcxtVenue(opts);
    try {
      await v.init();
    } catch (err) {
      await v.close();
      throw err;
    }
    return v;
  }

  private constructor(opts: CcxtVenueOptions) {
    this.exchangeId = opts.exchangeId;
    this.id = venueId(opts.id ?? opts.exchangeId);
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.gate = new RequestGate(this.now);
    this.symbolsWanted = opts.symbols.map((s) => s.toUpperCase());
    this.recvWindowMs = opts.recvWindowMs ?? 5_000;
    this.pollIntervalMs = opts.pollIntervalMs ?? 2_000;
    this.balanceIntervalMs = opts.balanceIntervalMs ?? 30_000;
    this.staleAfterMs = opts.staleAfterMs ?? Math.max(15_000, 5 * this.pollIntervalMs);
    this.clockSyncIntervalMs = opts.clockSyncIntervalMs ?? 600_000;
    this.maxGateWaitMs = opts.maxGateWaitMs ?? 3_000;
    this.readRetries = opts.readRetries ?? 3;
    this.resolveDelayMs = opts.resolveDelayMs ?? 500;
    this.resolveAttempts = opts.resolveAttempts ?? 6;
    const isBinance = opts.exchangeId.startsWith('binance');
    this.clientIdParam = opts.clientOrderIdParam ?? (isBinance ? 'newClientOrderId' : 'clientOrderId');
    this.clientIdPattern = opts.clientOrderIdPattern ?? BINANCE_CLIENT_ID;
    this.recvWindowBoundsPlacement = opts.recvWindowBoundsPlacement ?? isBinance;
    this.lastPollOkAt = this.now();

    const Ctor = (ccxt as unknown as Record<string, ExchangeCtor | undefined>)[opts.exchangeId];
    if (typeof Ctor !== 'function') throw new InvalidValueError('HMM_VENUE_UNKNOWN_EXCHANGE', `${JSON.stringify(opts.exchangeId)} is not a ccxt exchange`);
    const creds = opts.credentials;
    this.secrets = creds ? [creds.apiKey.reveal(), creds.secret.reveal(), ...(creds.password ? [creds.password.reveal()] : [])] : [];
    const baseOptions: Record<string, unknown> = { defaultType: 'spot', recvWindow: this.recvWindowMs };
    if (isBinance) {
      // Spot only: no futures/options exchangeInfo at start, and no sapi calls (currencies,
      // margin pairs) that a spot-trading key may not be allowed to make.
      Object.assign(baseOptions, { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false, fetchMargins: false, warnOnFetchOpenOrdersWithoutSymbol: false });
    }
    this.exchange = new Ctor({
      enableRateLimit: true,
      ...(opts.rateLimitMs !== undefined ? { rateLimit: opts.rateLimitMs } : {}),
      timeout: opts.timeoutMs ?? 10_000,
      ...(creds ? { apiKey: creds.apiKey.reveal(), secret: creds.secret.reveal(), ...(creds.password ? { password: creds.password.reveal() } : {}) } : {}),
      options: { ...baseOptions, ...(opts.exchangeOptions ?? {}) },
    });
    if (opts.sandbox) this.exchange.setSandboxMode(true);
    if (opts.apiBase) this.exchange.urls['api'] = rewriteApiUrls(this.exchange.urls['api'], opts.apiBase) as typeof this.exchange.urls['api'];
    if (opts.urls) {
      const api = this.exchange.urls['api'] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(opts.urls)) api[k] = v;
    }
    // Every HTTP response passes here first: the gate learns of 429/418 from the status and
    // headers, which ccxt's exceptions do not carry.
    const original = this.exchange.onRestResponse.bind(this.exchange);
    this.exchange.onRestResponse = (status: number, statusText: string, url: string, method: string, headers: Record<string, string>, body: string, reqHeaders: unknown, reqBody: unknown) => {
      this.onHttpResponse(status, headers, typeof body === 'string' ? body : '');
      return original(status, statusText, url, method, headers, body, reqHeaders, reqBody) as string;
    };
  }

  private async init(): Promise<void> {
    await this.read('loadMarkets', () => this.exchange.loadMarkets());
    const problems: string[] = [];
    const bySymbol = new Map<string, MarketLike>();
    for (const m of Object.values(this.exchange.markets ?? {}) as MarketLike[]) {
      if (m.spot === false) continue;
      bySymbol.set(ourSymbolOf(m), m);
    }
    for (const s of this.symbolsWanted) {
      const m = bySymbol.get(s);
      if (m === undefined) {
        problems.push(`${s}: no spot market at ${this.exchangeId}`);
        continue;
      }
      const r = instrumentFromMarket(m, this.exchange.precisionMode ?? TICK_SIZE, this.nts);
      if (!r.ok) {
        problems.push(`${s}: ${r.reason}`);
        continue;
      }
      const ref: MarketRef = { symbol: r.instrument.symbol, ccxtSymbol: m.symbol, marketId: m.id, inst: r.instrument };
      this.markets.set(ref.symbol, ref);
      this.marketsByCcxt.set(ref.ccxtSymbol, ref);
      this.instrumentMap.set(ref.symbol, r.instrument);
    }
    if (problems.length > 0) throw new Error(`[VENUE] ${this.id}: cannot trade ${problems.join('; ')}`);
    await this.syncClock('start');
    await this.refreshPrices().catch((err: Error) => this.log.warn(`[VENUE] ${this.id}: no prices at start (${this.scrub(err.message)}); retrying in the poll`));
    if (this.exchange.apiKey) {
      await this.refreshBalances();
      // Orders already open at the venue (a previous run's) are followed from now on.
      await this.fetchOpenOrders();
    }
    this.lastPollOkAt = this.now();
    const insts = [...this.instrumentMap.values()].map((i) => `${i.symbol} step ${toDecimalString(i.stepSize)} tick ${toDecimalString(i.tickSize)} min ${toDecimalString(i.minNotional)}`);
    this.log.info({ venue: this.id, exchange: this.exchangeId }, `[VENUE] ${this.id} ready (${this.exchangeId}): ${insts.join(', ')}; clock offset ${this.clockOffsetMs()} ms; ${this.exchange.apiKey ? 'trading' : 'market data only (no API key)'}`);
    if (this.pollIntervalMs > 0) this.schedulePoll();
  }

  // ---- Venue interface ------------------------------------------------------------------

  instruments(): ReadonlyMap<Symbol, Instrument> {
    return this.instrumentMap;
  }

  lastPrice(sym: Symbol): Fixed | undefined {
    return this.prices.get(sym);
  }

  onEvent(listener: (event: VenueEvent) => void): void {
    this.listener = listener;
  }

  async submit(req: VenueOrderRequest): Promise<VenueSubmitResult> {
    const reject = (code: string, message: string): VenueSubmitResult => ({ kind: 'rejected', code, message, ts: this.now() });
    if (this.closed) return reject('VENUE_CLOSED', 'venue is closed');
    const m = this.markets.get(req.symbol);
    if (m === undefined) return reject('UNKNOWN_SYMBOL', `${this.id} does not trade ${req.symbol}`);
    if (!this.clientIdPattern.test(req.clientOrderId)) {
      return reject('INVALID_CLIENT_ORDER_ID', `${this.id} takes client order ids matching ${this.clientIdPattern.source}; ${req.clientOrderId} does not`);
    }
    if (!this.exchange.apiKey) return reject('AUTH_FAILED', `${this.id} has no API credentials configured`);
    if (this.sent.has(req.clientOrderId) || this.unresolved.has(req.clientOrderId)) {
      return reject('DUPLICATE_CLIENT_ORDER_ID', `client order id ${req.clientOrderId} was already sent to ${this.id}`);
    }
    // The engine sends conformed quantities; refuse rather than let ccxt round one silently.
    const amountText = this.exchange.amountToPrecision(m.ccxtSymbol, Number(toDecimalString(req.qty)));
    if (amountText === undefined || fx(amountText) !== req.qty) {
      return reject('QTY_STEP', `quantity ${toDecimalString(req.qty)} is not a multiple of step ${toDecimalString(m.inst.stepSize)}`);
    }
    let priceArg: number | undefined;
    if (req.type === 'LIMIT') {
      if (req.price === null) return reject('INVALID_PRICE', 'a LIMIT order needs a price');
      const priceText = this.exchange.priceToPrecision(m.ccxtSymbol, Number(toDecimalString(req.price)));
      if (priceText === undefined || fx(priceText) !== req.price) return reject('PRICE_TICK', `price ${toDecimalString(req.price)} is not a multiple of tick ${toDecimalString(m.inst.tickSize)}`);
      priceArg = Number(priceText);
    }
    const params: Record<string, unknown> = { [this.clientIdParam]: req.clientOrderId };
    if (req.type === 'LIMIT') params['timeInForce'] = req.timeInForce;

    const t: Tracked = { clientOrderId: req.clientOrderId, market: m, side: req.side, venueOrderId: null, emitted: ZERO, phase: 'submitting' };
    this.tracked.set(t.clientOrderId, t);
    this.symbolOf.set(t.clientOrderId, m.symbol);
    this.sent.add(t.clientOrderId);
    let clockRetried = false;
    let rateLimited = 0;
    try {
      for (;;) {
        const wait = this.gate.waitMs();
        if (wait > 0) {
          if (wait > this.maxGateWaitMs) {
            this.tracked.delete(t.clientOrderId);
            const st = this.gate.state();
            return reject(st.reason === 'ip_ban' ? 'VENUE_BANNED' : 'VENUE_RATE_LIMITED', `${this.id} requests paused until ${new Date(st.until).toISOString()} (${st.reason === 'ip_ban' ? 'IP ban, HTTP 418' : 'rate limit, HTTP 429'}); order not sent`);
          }
          await sleep(wait);
        }
        // Binance checks the request's timestamp against recvWindow: once that window has
        // passed, an order that is not at the venue can no longer be placed.
        const placementDeadline = this.venueNow() + this.recvWindowMs;
        this.requests++;
        let o: OrderLike;
        try {
          o = (await this.exchange.createOrder(m.ccxtSymbol, req.type.toLowerCase(), req.side.toLowerCase(), Number(amountText), priceArg, params)) as OrderLike;
        } catch (err) {
          const c = classifyError(err);
          this.noteError('submit', c);
          // Not processed: the gate decides whether to wait or give up; a venue that keeps
          // refusing without a 429 (an order-rate code) gets a few tries, not a loop.
          if (c.kind === 'rate_limited' && ++rateLimited <= 3) {
            if (this.gate.waitMs() === 0) await sleep(250 * rateLimited);
            continue;
          }
          if (c.kind === 'rate_limited') return this.rejectTracked(t, 'VENUE_RATE_LIMITED', c.message);
          if (c.kind === 'clock' && !clockRetried) {
            clockRetried = true;
            await this.syncClock('-1021 on submit');
            continue;
          }
          if (c.kind === 'clock') return this.rejectTracked(t, 'CLOCK_SKEW', `${c.message} (clock offset ${this.clockOffsetMs()} ms after a resync)`);
          if (c.kind === 'auth') return this.rejectTracked(t, 'AUTH_FAILED', c.message);
          if (c.kind === 'duplicate') return await this.resolveDuplicate(t, req, c.message);
          if (c.kind === 'rejected') {
            if (c.reason === 'INSUFFICIENT_BALANCE') return this.rejectTracked(t, c.reason, await this.insufficientMessage(req, m, c.message));
            return this.rejectTracked(t, c.reason, c.venueCode ? `${c.message} (venue code ${c.venueCode})` : c.message);
          }
          if (c.kind === 'not_found') return this.rejectTracked(t, 'VENUE_REJECTED', c.message);
          return await this.resolveUnknown(t, req, placementDeadline, c.message);
        }
        // Accepted: anything failing from here on is ours, and the order stands (outer catch).
        return await this.acceptedFrom(t, o, 'response');
      }
    } catch (err) {
      if (err instanceof SubmitOutcomeUnknownError) throw err;
      // A failure of our own after the order may have been accepted: same as unknown.
      this.tracked.delete(t.clientOrderId);
      this.unresolved.add(t.clientOrderId);
      throw new SubmitOutcomeUnknownError(this.id, t.clientOrderId, this.scrub((err as Error).message));
    }
  }

  async cancel(id: ClientOrderId): Promise<VenueCancelResult> {
    if (this.closed) return { kind: 'not_found', message: `${this.id} is closed` };
    for (const m of this.candidateMarkets(id)) {
      const t = this.trackedFor(id, m);
      let o: OrderLike;
      try {
        o = await this.read('cancel', () => this.exchange.cancelOrder(this.venueOrderIdArg(id, t), m.ccxtSymbol, this.idParams(id)) as Promise<OrderLike>);
      } catch (err) {
        if (!(err instanceof VenueRequestError) || err.cls?.kind !== 'not_found') throw err;
        // -2011: unknown, or already closed. Which one the order's own record says.
        const full = await this.queryOrder(id, m);
        if (full === null) continue;
        await this.settleOrder(t, full);
        const st = orderStateFrom(full, id, m.symbol, this.nts);
        return st.status === 'OPEN'
          ? { kind: 'not_found', message: `${this.id} refused to cancel ${id} (${err.message})` }
          : { kind: 'already_closed', message: `order ${id} is ${st.status} at ${this.id}` };
      }
      // Fills that happened before the cancel are handed over before the cancel itself.
      if (o.id) t.venueOrderId = o.id;
      const filled = o.filled === undefined || o.filled === null ? ZERO : fx(this.nts(o.filled));
      for (let i = 0; i < 3 && t.emitted < filled; i++) {
        if (i > 0) await sleep(200);
        await this.catchUpFills(t).catch((e: Error) => this.log.warn(`[VENUE] ${this.id}: fills of canceled ${id} unreadable: ${this.scrub(e.message)}`));
      }
      if (t.emitted < filled) {
        this.log.error({ venue: this.id, clientOrderId: id }, `[RECON] ${this.id}: ${id} canceled with ${toDecimalString(filled)} filled but only ${toDecimalString(t.emitted)} in its trades; reconciliation will compare`);
      }
      t.phase = 'closed';
      this.tracked.delete(id);
      return { kind: 'canceled', ts: o.timestamp ?? this.now() };
    }
    return { kind: 'not_found', message: `${this.id} has no order ${id}` };
  }

  async fetchOpenOrders(): Promise<VenueOrderState[]> {
    const out: VenueOrderState[] = [];
    for (const m of this.markets.values()) {
      const list = await this.read('fetchOpenOrders', () => this.exchange.fetchOpenOrders(m.ccxtSymbol) as Promise<OrderLike[]>);
      for (const o of list) {
        const id = this.clientIdOf(o, m);
        const st = orderStateFrom(o, id, m.symbol, this.nts);
        out.push(st);
        this.symbolOf.set(id, m.symbol);
        if (!this.tracked.has(id)) {
          // Followed from here on; what filled before we saw it is reconciliation's to book.
          this.tracked.set(id, { clientOrderId: id, market: m, side: st.side, venueOrderId: st.venueOrderId, emitted: st.filledQty, phase: 'open' });
        }
      }
    }
    return out;
  }

  async fetchOrder(id: ClientOrderId): Promise<VenueOrderState | null> {
    for (const m of this.candidateMarkets(id)) {
      const o = await this.queryOrder(id, m);
      if (o !== null) return orderStateFrom(o, id, m.symbol, this.nts);
    }
    return null;
  }

  async fetchFills(id: ClientOrderId): Promise<Fill[]> {
    for (const m of this.candidateMarkets(id)) {
      const t = this.tracked.get(id);
      let venueOrderId = t?.venueOrderId ?? null;
      if (venueOrderId === null) {
        const o = await this.queryOrder(id, m);
        if (o === null || o.id === undefined) continue;
        venueOrderId = o.id;
      }
      const trades = await this.tradesOf(venueOrderId, m);
      const out: Fill[] = [];
      for (const tr of trades) out.push((await this.convertTrade(tr, id, m, t?.side ?? null)).fill);
      return out;
    }
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling?.catch(() => undefined);
    const ex = this.exchange as unknown as { close?: () => Promise<void> };
    await ex.close?.().catch(() => undefined);
  }

  // ---- beyond the interface: balances, status, the poll -----------------------------------

  balances(): ReadonlyMap<string, BalanceView> {
    return this.balanceMap;
  }

  /** What an exit can sell: the free base balance rounded down to the step. Base-asset fees
   *  make this smaller than the bought quantity; size exits from it. */
  sellableQty(sym: Symbol): Fixed {
    const m = this.markets.get(sym);
    if (m === undefined) return ZERO;
    return floorToStep(this.balanceMap.get(m.inst.base)?.free ?? ZERO, m.inst.stepSize);
  }

  /** Our clock minus the venue's, in ms (ccxt subtracts it from every signed timestamp). */
  clockOffsetMs(): number {
    const d = (this.exchange.options as Record<string, unknown>)['timeDifference'];
    return typeof d === 'number' ? d : 0;
  }

  status(): CcxtVenueStatus {
    return {
      venue: this.id,
      exchange: this.exchangeId,
      symbols: [...this.markets.keys()],
      stale: this.stale,
      last_poll_ok_at: new Date(this.lastPollOkAt).toISOString(),
      resyncs: this.resyncs,
      gate: this.gate.state(),
      clock_offset_ms: this.clockOffsetMs(),
      last_clock_sync_at: this.lastClockSyncAt === null ? null : new Date(this.lastClockSyncAt).toISOString(),
      requests: this.requests,
      errors: this.errors,
      last_error: this.lastError,
      tracked_orders: [...this.tracked.values()].filter((t) => t.phase !== 'closed').length,
      unresolved_submits: [...this.unresolved],
      base_fees: Object.fromEntries([...this.baseFees].map(([a, v]) => [a, toDecimalString(v)])),
    };
  }

  /** One pass of the poll: prices, the orders we follow (fills, closes), balances when due. */
  pollOnce(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = this.pollBody().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.pollOnce().finally(() => this.schedulePoll());
    }, this.pollIntervalMs);
    this.timer.unref?.();
  }

  private async pollBody(): Promise<void> {
    if (this.closed) return;
    if (this.gate.waitMs() > 0) {
      // Nothing at all goes to a venue that told us to stop.
      this.checkStale();
      return;
    }
    try {
      if (this.lastClockSyncAt === null || this.now() - this.lastClockSyncAt >= this.clockSyncIntervalMs) await this.syncClock('periodic');
      await this.refreshPrices();
      if (this.exchange.apiKey) {
        await this.followOrders();
        if (this.balanceDirty || this.now() - this.lastBalanceAt >= this.balanceIntervalMs) await this.refreshBalances();
      }
      const wasStale = this.stale;
      this.lastPollOkAt = this.now();
      if (wasStale) await this.resync();
    } catch (err) {
      const now = this.now();
      if (now - this.lastPollErrorLogAt >= 30_000) {
        this.lastPollErrorLogAt = now;
        this.log.warn({ venue: this.id }, `[VENUE] ${this.id} poll failed: ${this.scrub((err as Error).message)}`);
      }
    }
    this.checkStale();
  }

  private checkStale(): void {
    const age = this.now() - this.lastPollOkAt;
    if (!this.stale && age > this.staleAfterMs) {
      this.stale = true;
      this.log.warn({ venue: this.id, age_ms: age }, `[RECON] ${this.id}: no successful venue poll for ${Math.round(age / 1000)}s; order, fill and balance view is stale, resyncing over REST when the venue answers`);
    }
  }

  /** After a stale spell: every open order and the balances, re-read from the venue. */
  private async resync(): Promise<void> {
    const open = await this.fetchOpenOrders();
    await this.followOrders();
    await this.refreshBalances();
    this.stale = false;
    this.resyncs++;
    this.log.info({ venue: this.id }, `[RECON] ${this.id}: resynced after a stale spell: ${open.length} open orders, balances re-read`);
  }

  /** Settles every order we follow: fills it gained, and its end if it left the open list. */
  private async followOrders(): Promise<void> {
    const bySymbol = new Map<Symbol, Tracked[]>();
    for (const t of this.tracked.values()) {
      if (t.phase !== 'open') continue;
      const list = bySymbol.get(t.market.symbol) ?? [];
      list.push(t);
      bySymbol.set(t.market.symbol, list);
    }
    for (const [sym, list] of bySymbol) {
      const m = this.markets.get(sym)!;
      const open = await this.read('fetchOpenOrders', () => this.exchange.fetchOpenOrders(m.ccxtSymbol) as Promise<OrderLike[]>);
      const byId = new Map<string, OrderLike>();
      for (const o of open) byId.set(this.clientIdOf(o, m), o);
      for (const t of list) {
        if (t.phase !== 'open') continue; // settled meanwhile (a cancel)
        const o = byId.get(t.clientOrderId) ?? (await this.queryOrder(t.clientOrderId, m));
        if (o === null) {
          this.log.error({ venue: this.id, clientOrderId: t.clientOrderId }, `[RECON] ${this.id}: ${t.clientOrderId} is no longer known to the venue; left to reconciliation`);
          this.tracked.delete(t.clientOrderId);
          continue;
        }
        await this.settleOrder(t, o);
      }
    }
  }

  /** Hands over the order's new fills, then its end (cancel/expiry) once every fill is out. */
  private async settleOrder(t: Tracked, o: OrderLike): Promise<void> {
    if (o.id) t.venueOrderId = o.id;
    const st = orderStateFrom(o, t.clientOrderId, t.market.symbol, this.nts);
    t.side = st.side;
    if (st.filledQty > t.emitted) await this.catchUpFills(t);
    if (st.status === 'OPEN' || t.phase === 'closed') return;
    if (t.emitted < st.filledQty) return; // fills not all readable yet: the next poll finishes it
    t.phase = 'closed';
    this.tracked.delete(t.clientOrderId);
    if ((st.status === 'CANCELED' || st.status === 'EXPIRED') && st.filledQty < st.qty) {
      this.emit({ type: st.status === 'CANCELED' ? 'canceled' : 'expired', clientOrderId: t.clientOrderId, ts: o.timestamp ?? this.now(), reason: `${st.status} at ${this.id}` });
    }
  }

  /** Reads the order's trades and hands over the ones not handed over before. */
  private async catchUpFills(t: Tracked): Promise<void> {
    if (t.venueOrderId === null) return;
    const trades = await this.tradesOf(t.venueOrderId, t.market);
    for (const tr of trades) {
      const c = await this.convertTrade(tr, t.clientOrderId, t.market, t.side);
      if (this.seenTrades.has(c.fill.tradeId)) continue;
      this.markSeen(c);
      t.emitted = (t.emitted + c.fill.qty) as Fixed;
      this.emit({ type: 'fill', fill: c.fill });
    }
  }

  private emit(e: VenueEvent): void {
    if (this.listener === null) return;
    try {
      this.listener(e);
    } catch (err) {
      this.log.error({ venue: this.id, err }, `[VENUE] ${this.id}: the event listener failed: ${(err as Error).message}`);
    }
  }

  // ---- submit outcomes ------------------------------------------------------------------------

  private rejectTracked(t: Tracked, code: string, message: string): VenueSubmitResult {
    this.tracked.delete(t.clientOrderId);
    return { kind: 'rejected', code, message, ts: this.now() };
  }

  /** The accepted result for an order the venue has: its fills so far (from the response,
   *  else read), and its end if it already ended (IOC remainder, market out of liquidity). */
  private async acceptedFrom(t: Tracked, o: OrderLike, via: 'response' | 'query'): Promise<VenueSubmitResult> {
    if (o.id === undefined) throw new Error(`${this.id} returned an order without an id (${via})`);
    t.venueOrderId = o.id;
    const st = orderStateFrom(o, t.clientOrderId, t.market.symbol, this.nts);
    const events: VenueEvent[] = [];
    const take = async (trades: readonly TradeLike[]) => {
      for (const tr of trades) {
        const c = await this.convertTrade(tr, t.clientOrderId, t.market, t.side);
        if (this.seenTrades.has(c.fill.tradeId)) continue;
        this.markSeen(c);
        t.emitted = (t.emitted + c.fill.qty) as Fixed;
        events.push({ type: 'fill', fill: c.fill });
      }
    };
    await take(o.trades ?? []);
    if (st.filledQty > t.emitted) {
      // The response carried fewer fills than the order has: read its trades.
      await this.tradesOf(o.id, t.market).then(take, (err: Error) => {
        this.log.warn({ venue: this.id, clientOrderId: t.clientOrderId }, `[VENUE] ${this.id}: fills of ${t.clientOrderId} unreadable now (${this.scrub(err.message)}); the poll will hand them over`);
      });
    }
    t.phase = 'open';
    if (st.status !== 'OPEN' && t.emitted >= st.filledQty) {
      t.phase = 'closed';
      this.tracked.delete(t.clientOrderId);
      if ((st.status === 'CANCELED' || st.status === 'EXPIRED') && st.filledQty < st.qty) {
        events.push({ type: st.status === 'CANCELED' ? 'canceled' : 'expired', clientOrderId: t.clientOrderId, ts: o.timestamp ?? this.now(), reason: `${st.status} at ${this.id}` });
      }
    }
    if (via === 'query') this.log.warn({ venue: this.id, clientOrderId: t.clientOrderId }, `[RECON] ${this.id}: submit of ${t.clientOrderId} had no answer; found at the venue by its client order id (${st.status}), not re-sent`);
    return { kind: 'accepted', venueOrderId: o.id, ts: o.timestamp ?? this.now(), events };
  }

  /**
   * The submit may have reached the venue: ask for the order by our client id until it shows
   * up, or until it provably cannot (its recvWindow passed), or until we run out of attempts —
   * then the order is left to reconciliation and the caller gets SubmitOutcomeUnknownError.
   */
  private async resolveUnknown(t: Tracked, req: VenueOrderRequest, placementDeadline: number, why: string): Promise<VenueSubmitResult> {
    this.log.warn({ venue: this.id, clientOrderId: t.clientOrderId }, `[RECON] ${this.id}: submit of ${t.clientOrderId} outcome unknown (${this.scrub(why)}); querying the venue by client order id`);
    const m = t.market;
    for (let attempt = 1; ; attempt++) {
      await sleep(this.resolveDelayMs);
      if (this.closed) break;
      let o: OrderLike | null;
      try {
        o = await this.queryOrder(t.clientOrderId, m);
      } catch (err) {
        if (attempt >= this.resolveAttempts) break;
        this.log.warn(`[RECON] ${this.id}: query for ${t.clientOrderId} failed (${this.scrub((err as Error).message)}); retrying`);
        continue;
      }
      if (o !== null) {
        if (!this.sameOrder(o, req)) {
          this.tracked.delete(t.clientOrderId);
          this.unresolved.add(t.clientOrderId);
          throw new SubmitOutcomeUnknownError(this.id, t.clientOrderId, 'the venue has a different order under this client order id');
        }
        return this.acceptedFrom(t, o, 'query');
      }
      if (this.recvWindowBoundsPlacement && this.venueNow() > placementDeadline + this.resolveDelayMs) {
        this.log.warn({ venue: this.id, clientOrderId: t.clientOrderId }, `[RECON] ${this.id}: ${t.clientOrderId} is not at the venue and its recvWindow has passed: it was not placed`);
        return this.rejectTracked(t, 'NOT_PLACED', `no answer to the submit (${this.scrub(why)}), and the venue has no order ${t.clientOrderId} after its ${this.recvWindowMs} ms recvWindow`);
      }
      if (!this.recvWindowBoundsPlacement && attempt >= this.resolveAttempts) break;
    }
    this.tracked.delete(t.clientOrderId);
    this.unresolved.add(t.clientOrderId);
    this.log.error({ venue: this.id, clientOrderId: t.clientOrderId }, `[RECON] ${this.id}: submit of ${t.clientOrderId} still unresolved; reconciliation will settle it (not re-sent)`);
    throw new SubmitOutcomeUnknownError(this.id, t.clientOrderId, this.scrub(why));
  }

  /** "Duplicate order sent": ours if the venue's order under this id is the one we asked for. */
  private async resolveDuplicate(t: Tracked, req: VenueOrderRequest, message: string): Promise<VenueSubmitResult> {
    let o: OrderLike | null = null;
    try {
      o = await this.queryOrder(t.clientOrderId, t.market);
    } catch {
      /* unreadable: refuse below, nothing new was placed */
    }
    if (o !== null && this.sameOrder(o, req)) return this.acceptedFrom(t, o, 'query');
    return this.rejectTracked(t, 'DUPLICATE_CLIENT_ORDER_ID', `${message} (client order id ${t.clientOrderId} is in use at ${this.id})`);
  }

  private sameOrder(o: OrderLike, req: VenueOrderRequest): boolean {
    try {
      const st = orderStateFrom(o, req.clientOrderId, req.symbol, this.nts);
      return st.side === req.side && st.qty === req.qty && st.type === req.type && (req.type === 'MARKET' || st.price === req.price);
    } catch {
      return false;
    }
  }

  private async insufficientMessage(req: VenueOrderRequest, m: MarketRef, message: string): Promise<string> {
    await this.refreshBalances().catch(() => undefined);
    const asset = req.side === 'BUY' ? m.inst.quote : m.inst.base;
    const free = this.balanceMap.get(asset)?.free ?? ZERO;
    const extra = req.side === 'SELL'
      ? `; free ${toDecimalString(free)} ${asset}, sellable ${toDecimalString(this.sellableQty(m.symbol))} after step rounding${this.baseFees.has(asset) ? ` (fees taken in ${asset} this run: ${toDecimalString(this.baseFees.get(asset)!)})` : ''}`
      : `; free ${toDecimalString(free)} ${asset}`;
    return `${message}${extra}`;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /**
   * A read (or an idempotent request such as a cancel): waits out a short closed gate, retries
   * transient failures with backoff, re-syncs the clock once on -1021, and otherwise throws
   * VenueRequestError. Not-found answers are thrown at once (callers decide what they mean).
   */
  private async read<T>(op: string, fn: () => Promise<T>): Promise<T> {
    let clockRetried = false;
    for (let attempt = 0; ; attempt++) {
      await this.passGate(op);
      this.requests++;
      try {
        return await fn();
      } catch (err) {
        const c = classifyError(err);
        if (c.kind === 'not_found') throw new VenueRequestError(this.id, op, 'NOT_FOUND', c.message, c);
        this.noteError(op, c);
        if (c.kind === 'clock' && !clockRetried) {
          clockRetried = true;
          await this.syncClock(`-1021 on ${op}`);
          continue;
        }
        if ((c.kind === 'unknown_outcome' || c.kind === 'rate_limited') && attempt < this.readRetries) {
          // A 429 closed the gate (passGate waits it out); otherwise back off here.
          if (this.gate.waitMs() === 0) await sleep(Math.min(2_000, (c.kind === 'rate_limited' ? 250 : 100) * 2 ** attempt));
          continue;
        }
        const code = c.kind === 'rejected' ? c.reason : c.kind.toUpperCase();
        throw new VenueRequestError(this.id, op, code, this.scrub(c.message), c);
      }
    }
  }

  private async passGate(op: string): Promise<void> {
    const wait = this.gate.waitMs();
    if (wait === 0) return;
    const st = this.gate.state();
    if (wait > this.maxGateWaitMs) {
      const code = st.reason === 'ip_ban' ? 'VENUE_BANNED' : 'VENUE_RATE_LIMITED';
      throw new VenueRequestError(this.id, op, code, `requests paused until ${new Date(st.until).toISOString()} (${st.reason === 'ip_ban' ? 'IP ban, HTTP 418' : 'rate limit, HTTP 429'}); not sent`);
    }
    await sleep(wait);
  }

  /** The order under our client id (or a synthetic id's venue id) at one market; null if unknown. */
  private async queryOrder(id: ClientOrderId, m: MarketRef): Promise<OrderLike | null> {
    try {
      const o = await this.read('fetchOrder', () => this.exchange.fetchOrder(this.venueOrderIdArg(id, this.tracked.get(id) ?? null), m.ccxtSymbol, this.idParams(id)) as Promise<OrderLike>);
      this.symbolOf.set(id, m.symbol);
      return o;
    } catch (err) {
      if (err instanceof VenueRequestError && err.cls?.kind === 'not_found') return null;
      throw err;
    }
  }

  private async tradesOf(venueOrderId: string, m: MarketRef): Promise<TradeLike[]> {
    if (this.exchange.has['fetchOrderTrades'] === true) {
      return this.read('fetchOrderTrades', () => this.exchange.fetchOrderTrades(venueOrderId, m.ccxtSymbol) as Promise<TradeLike[]>);
    }
    const all = await this.read('fetchMyTrades', () => this.exchange.fetchMyTrades(m.ccxtSymbol) as Promise<TradeLike[]>);
    return all.filter((tr) => tr.order === venueOrderId);
  }

  private async convertTrade(tr: TradeLike, id: ClientOrderId, m: MarketRef, side: OrderSide | null): Promise<FillConversion> {
    for (const f of tr.fees !== undefined && tr.fees.length > 0 ? tr.fees : tr.fee ? [tr.fee] : []) {
      const ccy = f.currency?.toUpperCase();
      if (ccy && ccy !== m.inst.base.toUpperCase() && ccy !== m.inst.quote.toUpperCase()) await this.ensureFeePrice(ccy, m.inst.quote);
    }
    const c = fillFromTrade(tr, {
      clientOrderId: id, venue: this.id, symbol: m.symbol, marketId: m.marketId, base: m.inst.base, quote: m.inst.quote, nts: this.nts,
      ...(side !== null ? { orderSide: side } : {}),
      quotePriceOf: (ccy) => this.feePrices.get(`${ccy}/${m.inst.quote}`)?.px,
    });
    for (const u of c.unconverted) {
      this.log.warn({ venue: this.id, tradeId: c.fill.tradeId }, `[VENUE] ${this.id}: fee of ${toDecimalString(u.amount)} ${u.currency} on ${c.fill.tradeId} has no ${m.inst.quote} price; left out of the fill's quote fee`);
    }
    return c;
  }

  private markSeen(c: FillConversion): void {
    this.seenTrades.add(c.fill.tradeId);
    this.balanceDirty = true;
    const base = this.markets.get(c.fill.symbol)?.inst.base;
    if (c.feeBase > 0n && base !== undefined) this.baseFees.set(base, ((this.baseFees.get(base) ?? ZERO) + c.feeBase) as Fixed);
  }

  private async ensureFeePrice(ccy: string, quote: string): Promise<void> {
    const key = `${ccy}/${quote}`;
    const cached = this.feePrices.get(key);
    if (cached && this.now() - cached.at < 60_000) return;
    if (!this.exchange.markets?.[key]) return;
    try {
      const tk = await this.read('fetchTicker', () => this.exchange.fetchTicker(key));
      if (typeof tk.last === 'number') this.feePrices.set(key, { px: roundedFixed(tk.last, this.nts), at: this.now() });
    } catch {
      /* the fee stays unconverted (logged by the caller) */
    }
  }

  private async refreshPrices(): Promise<void> {
    const syms = [...this.markets.values()];
    if (syms.length === 0) return;
    const set = (m: MarketRef, last: number | undefined) => {
      if (typeof last === 'number' && Number.isFinite(last) && last > 0) this.prices.set(m.symbol, conformPrice(m.inst, roundedFixed(last, this.nts)));
    };
    if (this.exchange.has['fetchLastPrices'] === true) {
      const lp = await this.read('fetchLastPrices', () => this.exchange.fetchLastPrices(syms.map((m) => m.ccxtSymbol)));
      for (const m of syms) set(m, lp[m.ccxtSymbol]?.price);
    } else if (this.exchange.has['fetchTickers'] === true) {
      const tk = await this.read('fetchTickers', () => this.exchange.fetchTickers(syms.map((m) => m.ccxtSymbol)));
      for (const m of syms) set(m, tk[m.ccxtSymbol]?.last);
    } else {
      for (const m of syms) set(m, (await this.read('fetchTicker', () => this.exchange.fetchTicker(m.ccxtSymbol))).last);
    }
  }

  private async refreshBalances(): Promise<void> {
    if (!this.exchange.apiKey) return;
    const b = await this.read('fetchBalance', () => this.exchange.fetchBalance());
    const next = new Map<string, BalanceView>();
    const free = (b.free ?? {}) as unknown as Record<string, number | undefined>;
    const used = (b.used ?? {}) as unknown as Record<string, number | undefined>;
    const total = (b.total ?? {}) as unknown as Record<string, number | undefined>;
    for (const asset of new Set([...Object.keys(free), ...Object.keys(total)])) {
      const f = free[asset] ?? 0;
      const u = used[asset] ?? 0;
      const tot = total[asset] ?? f + u;
      next.set(asset, { free: roundedFixed(f, this.nts), locked: roundedFixed(u, this.nts), total: roundedFixed(tot, this.nts) });
    }
    this.balanceMap = next;
    this.lastBalanceAt = this.now();
    this.balanceDirty = false;
  }

  private async syncClock(why: string): Promise<void> {
    if (this.exchange.has['fetchTime'] !== true) return;
    await this.passGate('fetchTime');
    this.requests++;
    try {
      await this.exchange.loadTimeDifference();
      this.lastClockSyncAt = this.now();
      const off = this.clockOffsetMs();
      if (why !== 'periodic' || Math.abs(off) > this.recvWindowMs / 2) {
        this.log.info({ venue: this.id, clock_offset_ms: off }, `[VENUE] ${this.id} clock synced (${why}): local clock ${off >= 0 ? 'ahead of' : 'behind'} the venue by ${Math.abs(off)} ms`);
      }
    } catch (err) {
      const c = classifyError(err);
      this.noteError('fetchTime', c);
      if (why === 'start') throw new VenueRequestError(this.id, 'fetchTime', c.kind.toUpperCase(), this.scrub(c.message), c);
      this.log.warn(`[VENUE] ${this.id} clock sync failed (${why}): ${this.scrub(c.message)}`);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private readonly nts = (n: number): string => this.exchange.numberToString(n) as string;

  /** The venue's clock as ccxt signs requests with it. */
  private venueNow(): number {
    return Date.now() - this.clockOffsetMs();
  }

  private onHttpResponse(status: number, headers: Record<string, string>, body: string): void {
    const change = this.gate.onResponse(status, headers ?? {}, body);
    if (change === null) return;
    const until = new Date(change.until).toISOString();
    if (change.reason === 'ip_ban') {
      this.log.error({ venue: this.id, until }, `[VENUE] ${this.id} answered HTTP ${change.status}: IP banned until ${until}; no requests to ${this.id} until then`);
    } else {
      this.log.warn({ venue: this.id, until }, `[VENUE] ${this.id} answered HTTP 429 (rate limit): requests paused until ${until}`);
    }
  }

  private noteError(op: string, c: ErrorClass): void {
    this.errors++;
    this.lastError = `${op}: ${this.scrub(c.message)}`;
  }

  private scrub(message: string): string {
    return scrubMessage(message, this.secrets);
  }

  /** Our client id for a venue order: its own client id when it has one we can carry, else a
   *  synthetic id naming market and venue order id (an order placed outside this stack). */
  private clientIdOf(o: OrderLike, m: MarketRef): ClientOrderId {
    if (o.clientOrderId) {
      try {
        return toClientOrderId(o.clientOrderId);
      } catch {
        /* not representable: synthetic below */
      }
    }
    return toClientOrderId(`venue:${m.marketId}:${o.id ?? 'unknown'}`);
  }

  private idParams(id: ClientOrderId): Record<string, unknown> {
    return SYNTHETIC_ID.test(id) ? {} : { clientOrderId: id };
  }

  private venueOrderIdArg(id: ClientOrderId, t: Tracked | null): string {
    const syn = SYNTHETIC_ID.exec(id);
    if (syn) return syn[2]!;
    return t?.venueOrderId ?? '';
  }

  /** Where to look for an order: its known market, else every market we trade. */
  private candidateMarkets(id: ClientOrderId): MarketRef[] {
    const syn = SYNTHETIC_ID.exec(id);
    if (syn) return [...this.markets.values()].filter((m) => m.marketId === syn[1]);
    const sym = this.tracked.get(id)?.market.symbol ?? this.symbolOf.get(id);
    const known = sym === undefined ? undefined : this.markets.get(sym);
    return known ? [known] : [...this.markets.values()];
  }

  private trackedFor(id: ClientOrderId, m: MarketRef): Tracked {
    const t = this.tracked.get(id);
    if (t) return t;
    const fresh: Tracked = { clientOrderId: id, market: m, side: null, venueOrderId: null, emitted: ZERO, phase: 'open' };
    return fresh;
  }
}
