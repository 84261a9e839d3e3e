// A local stand-in for Binance's spot REST API (https://developers.binance.com/docs/binance-spot-api-docs/rest-api),
// over real HTTP on an ephemeral loopback port, speaking enough of the real wire protocol for
// ccxt's binance class: the public endpoints it reads at start (ping, time, exchangeInfo with
// the real PRICE_FILTER / LOT_SIZE / NOTIONAL filter shapes, ticker/price, bookTicker, depth,
// 24hr, klines for the venue market-data feed), and the signed ones (order POST/GET/DELETE, openOrders, myTrades, account) with the
// checks Binance makes: X-MBX-APIKEY, HMAC-SHA256 over the query string + body, timestamp
// within recvWindow of the server clock (which can be skewed). Errors carry Binance's real
// codes and messages (-1013 filter failure, -2010 insufficient balance / duplicate order,
// -1021 timestamp, -1022 signature, -2013 no such order, -2011 unknown order on cancel).
// Orders fill against a settable price; commissions are charged in the asset received, as on
// an account without BNB. Faults can be scripted: 429 with Retry-After, a 418 ban, 5xx, and
// a hang (optionally after the order was accepted). Every request is recorded.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Fixed, ZERO, fx, mul, toDecimalString, floorToStep, isMultipleOf } from '../../src/core/decimal.js';

export interface FakeSymbol {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly tickSize: string;
  readonly stepSize: string;
  readonly minQty: string;
  readonly minNotional: string;
  readonly price: string;
}

export interface FakeBinanceOptions {
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly symbols?: readonly FakeSymbol[];
  /** Starting free balances by asset; default 10000 USDT. */
  readonly balances?: Readonly<Record<string, string>>;
  /** Commission rate for taker and maker fills; default 0.001 (0.1 %). */
  readonly commissionRate?: string;
  /** Server clock = Date.now() + this (a skewed venue clock). */
  readonly clockOffsetMs?: number;
  /** A MARKET order fills in this many trades (per-trade quantities); default 1. */
  readonly marketFillParts?: number;
}

export const DEFAULT_FAKE_SYMBOLS: readonly FakeSymbol[] = [
  { symbol: 'BTCUSDT', base: 'BTC', quote: 'USDT', tickSize: '0.01', stepSize: '0.00001', minQty: '0.00001', minNotional: '5', price: '60000' },
  { symbol: 'ETHUSDT', base: 'ETH', quote: 'USDT', tickSize: '0.01', stepSize: '0.0001', minQty: '0.0001', minNotional: '5', price: '3000' },
];

export interface FakeRequest {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  status: number;
}

type OrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED';

export interface FakeOrder {
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'BUY' | 'SELL';
  readonly type: 'MARKET' | 'LIMIT';
  readonly timeInForce: string;
  readonly origQty: Fixed;
  readonly price: Fixed;
  executedQty: Fixed;
  cummulativeQuoteQty: Fixed;
  status: OrderStatus;
  readonly time: number;
  updateTime: number;
  /** Funds reserved for the unfilled rest (quote for a BUY, base for a SELL). */
  locked: Fixed;
}

export interface FakeTrade {
  readonly id: number;
  readonly orderId: number;
  readonly symbol: string;
  readonly price: Fixed;
  readonly qty: Fixed;
  readonly quoteQty: Fixed;
  readonly commission: Fixed;
  readonly commissionAsset: string;
  readonly time: number;
  readonly isBuyer: boolean;
  readonly isMaker: boolean;
}

export interface FaultMatch {
  readonly method?: string;
  /** Path relative to /api/v3, e.g. '/order'. */
  readonly path?: string;
}

export type Fault =
  | { readonly kind: 'status'; readonly status: 429 | 500 | 502 | 503 | 504; readonly retryAfterSec?: number; readonly afterAccept?: boolean }
  | { readonly kind: 'hang'; readonly afterAccept: boolean };

interface ScriptedFault {
  readonly match: FaultMatch;
  readonly fault: Fault;
  times: number;
}

class BinanceError extends Error {
  constructor(readonly http: number, readonly code: number, msg: string) {
    super(msg);
  }
}

const SIGNED = new Set(['/order', '/openOrders', '/myTrades', '/account']);
const CLIENT_ID_RE = /^[a-zA-Z0-9-_]{1,36}$/;
const fmt = (v: Fixed): string => {
  const s = toDecimalString(v);
  const [i, f = ''] = s.split('.');
  return `${i}.${f.padEnd(8, '0')}`;
};

export class FakeBinance {
  readonly requests: FakeRequest[] = [];
  readonly orders: FakeOrder[] = [];
  readonly trades: FakeTrade[] = [];
  readonly balances = new Map<string, { free: Fixed; locked: Fixed }>();
  readonly prices = new Map<string, Fixed>();
  clockOffsetMs: number;
  marketFillParts: number;
  private readonly symbols = new Map<string, FakeSymbol>();
  private readonly commission: Fixed;
  private readonly script: ScriptedFault[] = [];
  private bannedUntil = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private orderSeq = 1000;
  private tradeSeq = 5000;
  base = '';

  constructor(private readonly opts: FakeBinanceOptions) {
    for (const s of opts.symbols ?? DEFAULT_FAKE_SYMBOLS) {
      this.symbols.set(s.symbol, s);
      this.prices.set(s.symbol, fx(s.price));
      for (const a of [s.base, s.quote]) if (!this.balances.has(a)) this.balances.set(a, { free: ZERO, locked: ZERO });
    }
    for (const [a, v] of Object.entries(opts.balances ?? { USDT: '10000' })) this.balances.set(a, { free: fx(v), locked: ZERO });
    this.commission = fx(opts.commissionRate ?? '0.001');
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    this.marketFillParts = opts.marketFillParts ?? 1;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  serverTime(): number {
    return Date.now() + this.clockOffsetMs;
  }

  // ---- scripting -------------------------------------------------------------------------

  /** The next `times` requests matching `match` meet `fault`. */
  inject(match: FaultMatch, fault: Fault, times = 1): void {
    this.script.push({ match, fault, times });
  }

  clearFaults(): void {
    this.script.length = 0;
  }

  /** Every request gets 418 until `ms` from now (Binance's IP ban). */
  ban(ms: number): void {
    this.bannedUntil = Date.now() + ms;
  }

  setPrice(symbol: string, price: string): void {
    const px = fx(price);
    this.prices.set(symbol, px);
    // Resting limits the new price trades through fill in full at their own price (maker).
    for (const o of this.orders) {
      if (o.symbol !== symbol || (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED')) continue;
      if ((o.side === 'BUY' && px <= o.price) || (o.side === 'SELL' && px >= o.price)) this.fillResting(o.clientOrderId);
    }
  }

  /** Fills (part of) a resting order as maker at its own price. */
  fillResting(clientOrderId: string, qty?: string): void {
    const o = this.orders.find((x) => x.clientOrderId === clientOrderId && (x.status === 'NEW' || x.status === 'PARTIALLY_FILLED'));
    if (!o) throw new Error(`no open order ${clientOrderId}`);
    const rest = (o.origQty - o.executedQty) as Fixed;
    this.execute(o, qty === undefined ? rest : fx(qty), o.price, true);
  }

  orderByClientId(id: string): FakeOrder | undefined {
    return [...this.orders].reverse().find((o) => o.clientOrderId === id);
  }

  countRequests(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : '';
    const rawBody = await new Promise<string>((resolve) => {
      let b = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (b += c));
      req.on('end', () => resolve(b));
    });
    const params: Record<string, string> = {};
    for (const src of [rawQuery, rawBody]) for (const [k, v] of new URLSearchParams(src)) params[k] = v;
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/api\/v3/, '');
    const entry: FakeRequest = { at: Date.now(), method, path, params, status: 0 };
    this.requests.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'x-mbx-used-weight-1m': '1', ...headers });
      res.end(JSON.stringify(body));
    };

    if (Date.now() < this.bannedUntil) {
      const retry = Math.max(1, Math.ceil((this.bannedUntil - Date.now()) / 1000));
      return send(418, { code: -1003, msg: `Way too many requests; IP(127.0.0.1) banned until ${this.bannedUntil}. Please use WebSocket Streams for live updates to avoid bans.` }, { 'retry-after': String(retry) });
    }
    const scripted = this.takeFault(method, path);
    if (scripted?.kind === 'status' && !scripted.afterAccept) {
      if (scripted.status === 429) {
        return send(429, { code: -1003, msg: 'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use WebSocket Streams for live updates to avoid polling the API.' }, { 'retry-after': String(scripted.retryAfterSec ?? 1) });
      }
      return send(scripted.status, { code: -1001, msg: 'Internal error; unable to process your request. Please try again.' });
    }
    if (scripted?.kind === 'hang' && !scripted.afterAccept) {
      entry.status = -1;
      return; // never answered; the socket is destroyed at stop()
    }
    try {
      if (SIGNED.has(path)) this.authenticate(req, rawQuery, rawBody, params);
      const body = this.route(method, path, params);
      if (scripted?.kind === 'hang') {
        entry.status = -1;
        return;
      }
      if (scripted?.kind === 'status') return send(scripted.status, { code: -1001, msg: 'Internal error; unable to process your request. Please try again.' });
      return send(200, body);
    } catch (err) {
      if (err instanceof BinanceError) return send(err.http, { code: err.code, msg: err.message });
      return send(500, { code: -1000, msg: `An unknown error occurred while processing the request. ${(err as Error).message}` });
    }
  }

  private takeFault(method: string, path: string): Fault | null {
    const i = this.script.findIndex((s) => (s.match.method === undefined || s.match.method === method) && (s.match.path === undefined || s.match.path === path));
    if (i < 0) return null;
    const s = this.script[i]!;
    if (--s.times <= 0) this.script.splice(i, 1);
    return s.fault;
  }

  /** X-MBX-APIKEY, then HMAC-SHA256(secret, totalParams) where totalParams is the query string
   *  followed by the body, without the signature itself; then the timestamp window. */
  private authenticate(req: IncomingMessage, rawQuery: string, rawBody: string, params: Record<string, string>): void {
    const key = req.headers['x-mbx-apikey'];
    if (typeof key !== 'string' || key === '') throw new BinanceError(401, -2014, 'API-key format invalid.');
    if (key !== this.opts.apiKey) throw new BinanceError(401, -2015, 'Invalid API-key, IP, or permissions for action.');
    const strip = (s: string) => s.replace(/(^|&)signature=[^&]*/, '');
    const signature = params['signature'];
    if (signature === undefined) throw new BinanceError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
    const payload = strip(rawQuery) + strip(rawBody);
    const expected = createHmac('sha256', this.opts.apiSecret).update(payload).digest('hex');
    const a = Buffer.from(expected);
    const b = Buffer.from(signature);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new BinanceError(400, -1022, 'Signature for this request is not valid.');
    const ts = Number(params['timestamp']);
    if (!Number.isFinite(ts)) throw new BinanceError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
    const recvWindow = params['recvWindow'] === undefined ? 5000 : Number(params['recvWindow']);
    if (!(recvWindow > 0 && recvWindow <= 60000)) throw new BinanceError(400, -1131, 'recvWindow must be less than 60000');
    const now = this.serverTime();
    if (ts >= now + 1000) throw new BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
    if (now - ts > recvWindow) throw new BinanceError(400, -1021, 'Timestamp for this request is outside of the recvWindow.');
  }

  private route(method: string, path: string, p: Record<string, string>): unknown {
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /ping':
        return {};
      case 'GET /time':
        return { serverTime: this.serverTime() };
      case 'GET /exchangeInfo':
        return this.exchangeInfo();
      case 'GET /ticker/price':
        return this.perSymbol(p, (s) => ({ symbol: s, price: fmt(this.prices.get(s)!) }));
      case 'GET /ticker/bookTicker':
        return this.perSymbol(p, (s) => {
          const px = fmt(this.prices.get(s)!);
          return { symbol: s, bidPrice: px, bidQty: '10.00000000', askPrice: px, askQty: '10.00000000' };
        });
      case 'GET /ticker/24hr':
        return this.perSymbol(p, (s) => this.ticker24(s));
      case 'GET /klines':
        return this.klines(p);
      case 'GET /depth': {
        const s = this.symbolOf(p);
        const px = fmt(this.prices.get(s.symbol)!);
        return { lastUpdateId: this.tradeSeq, bids: [[px, '10.00000000']], asks: [[px, '10.00000000']] };
      }
      case 'POST /order':
        return this.newOrder(p);
      case 'GET /order':
        return this.orderJson(this.findOrder(p, -2013, 'Order does not exist.'));
      case 'DELETE /order':
        return this.cancelOrder(p);
      case 'GET /openOrders': {
        if (p['symbol'] !== undefined) this.symbolOf(p);
        return this.orders.filter((o) => (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') && (p['symbol'] === undefined || o.symbol === p['symbol'])).map((o) => this.orderJson(o));
      }
      case 'GET /myTrades':
        return this.myTrades(p);
      case 'GET /account':
        return this.account(p);
      default:
        throw new BinanceError(404, -1000, `no such endpoint ${method} /api/v3${path}`);
    }
  }

  private perSymbol(p: Record<string, string>, one: (s: string) => unknown): unknown {
    if (p['symbol'] !== undefined) return one(this.symbolOf(p).symbol);
    if (p['symbols'] !== undefined) {
      let list: unknown;
      try {
        list = JSON.parse(p['symbols']);
      } catch {
        throw new BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.");
      }
      if (!Array.isArray(list)) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.");
      return list.map((s) => one(this.symbolOf({ symbol: String(s) }).symbol));
    }
    return [...this.symbols.keys()].map(one);
  }

  private symbolOf(p: Record<string, string>): FakeSymbol {
    const name = p['symbol'];
    if (name === undefined || name === '') throw new BinanceError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    const s = this.symbols.get(name);
    if (!s) throw new BinanceError(400, -1121, 'Invalid symbol.');
    return s;
  }

  private exchangeInfo(): unknown {
    return {
      timezone: 'UTC',
      serverTime: this.serverTime(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
      ],
      exchangeFilters: [],
      symbols: [...this.symbols.values()].map((s) => ({
        symbol: s.symbol,
        status: 'TRADING',
        baseAsset: s.base,
        baseAssetPrecision: 8,
        quoteAsset: s.quote,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        baseCommissionPrecision: 8,
        quoteCommissionPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
        icebergAllowed: true,
        ocoAllowed: true,
        otoAllowed: true,
        quoteOrderQtyMarketAllowed: true,
        allowTrailingStop: true,
        cancelReplaceAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: false,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: fmt(fx(s.tickSize)), maxPrice: '1000000.00000000', tickSize: fmt(fx(s.tickSize)) },
          { filterType: 'LOT_SIZE', minQty: fmt(fx(s.minQty)), maxQty: '9000.00000000', stepSize: fmt(fx(s.stepSize)) },
          { filterType: 'ICEBERG_PARTS', limit: 10 },
          { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '100.00000000', stepSize: '0.00000000' },
          { filterType: 'TRAILING_DELTA', minTrailingAboveDelta: 10, maxTrailingAboveDelta: 2000, minTrailingBelowDelta: 10, maxTrailingBelowDelta: 2000 },
          { filterType: 'PERCENT_PRICE_BY_SIDE', bidMultiplierUp: '5', bidMultiplierDown: '0.2', askMultiplierUp: '5', askMultiplierDown: '0.2', avgPriceMins: 5 },
          { filterType: 'NOTIONAL', minNotional: fmt(fx(s.minNotional)), applyMinToMarket: true, maxNotional: '9000000.00000000', applyMaxToMarket: false, avgPriceMins: 5 },
          { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
          { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: 5 },
        ],
        permissions: [],
        permissionSets: [['SPOT']],
        defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
        allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
      })),
    };
  }

  /** Binance's kline intervals, in milliseconds (the ones tests use). */
  static readonly KLINE_MS: Readonly<Record<string, number>> = { '1s': 1_000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '1d': 86_400_000 };

  /**
   * The close of the kline opening at bucket `k` (open time / interval): the symbol's current
   * price moved by a slow wave, so moving-average models see trends turn. Replace it to script
   * a price path.
   */
  klineClose: (symbol: string, k: number, price: number) => number = (_s, k, price) => price * (1 + 0.004 * Math.sin(k / 6));

  /** GET /api/v3/klines: [openTime, open, high, low, close, volume, closeTime, quoteVolume,
   *  trades, takerBase, takerQuote, ignore], oldest first, the last one still forming. */
  private klines(p: Record<string, string>): unknown {
    const s = this.symbolOf(p);
    const interval = p['interval'];
    const ms = interval === undefined ? undefined : FakeBinance.KLINE_MS[interval];
    if (ms === undefined) throw new BinanceError(400, -1120, 'Invalid interval.');
    const limit = p['limit'] === undefined ? 500 : Number(p['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.");
    const now = this.serverTime();
    const last = Math.floor(Math.min(now, p['endTime'] === undefined ? now : Number(p['endTime'])) / ms);
    const first = p['startTime'] === undefined ? last - limit + 1 : Math.max(Math.ceil(Number(p['startTime']) / ms), last - 100_000);
    const price = Number(toDecimalString(this.prices.get(s.symbol)!));
    const tick = Number(s.tickSize);
    const round = (x: number) => (Math.round(x / tick) * tick).toFixed(8);
    const rows: unknown[] = [];
    for (let k = first; k <= last && rows.length < limit; k++) {
      const open = this.klineClose(s.symbol, k - 1, price);
      const close = this.klineClose(s.symbol, k, price);
      const high = Math.max(open, close) * 1.0005;
      const low = Math.min(open, close) * 0.9995;
      const volume = 10 + (k % 7);
      rows.push([k * ms, round(open), round(high), round(low), round(close), volume.toFixed(8), (k + 1) * ms - 1, (volume * close).toFixed(8), 100, (volume / 2).toFixed(8), ((volume / 2) * close).toFixed(8), '0']);
    }
    return rows;
  }

  private ticker24(s: string): unknown {
    const px = fmt(this.prices.get(s)!);
    const now = this.serverTime();
    return {
      symbol: s, priceChange: '0.00000000', priceChangePercent: '0.000', weightedAvgPrice: px, prevClosePrice: px, lastPrice: px, lastQty: '0.00100000',
      bidPrice: px, bidQty: '10.00000000', askPrice: px, askQty: '10.00000000', openPrice: px, highPrice: px, lowPrice: px, volume: '100.00000000',
      quoteVolume: '0.00000000', openTime: now - 86_400_000, closeTime: now, firstId: 1, lastId: this.tradeSeq, count: 1,
    };
  }

  private num(p: Record<string, string>, name: string): Fixed {
    const v = p[name];
    if (v === undefined || v === '') throw new BinanceError(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
    try {
      return fx(v);
    } catch {
      throw new BinanceError(400, -1100, `Illegal characters found in parameter '${name}'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.`);
    }
  }

  private newOrder(p: Record<string, string>): unknown {
    const s = this.symbolOf(p);
    const side = p['side'];
    if (side !== 'BUY' && side !== 'SELL') throw new BinanceError(400, -1117, 'Invalid side.');
    const type = p['type'];
    if (type !== 'MARKET' && type !== 'LIMIT') throw new BinanceError(400, -1116, 'Invalid orderType.');
    const tif = type === 'LIMIT' ? p['timeInForce'] : 'GTC';
    if (tif === undefined || !['GTC', 'IOC', 'FOK'].includes(tif)) throw new BinanceError(400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.");
    const qty = this.num(p, 'quantity');
    const price = type === 'LIMIT' ? this.num(p, 'price') : ZERO;
    const clientOrderId = p['newClientOrderId'] ?? `fake${this.orderSeq + 1}`;
    if (!CLIENT_ID_RE.test(clientOrderId)) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.");
    if (this.orders.some((o) => o.clientOrderId === clientOrderId && (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED'))) {
      throw new BinanceError(400, -2010, 'Duplicate order sent.');
    }
    const last = this.prices.get(s.symbol)!;
    if (type === 'LIMIT' && (price < fx(s.tickSize) || !isMultipleOf(price, fx(s.tickSize)))) throw new BinanceError(400, -1013, 'Filter failure: PRICE_FILTER');
    if (qty < fx(s.minQty) || !isMultipleOf(qty, fx(s.stepSize))) throw new BinanceError(400, -1013, 'Filter failure: LOT_SIZE');
    if (mul(qty, type === 'LIMIT' ? price : last) < fx(s.minNotional)) throw new BinanceError(400, -1013, 'Filter failure: NOTIONAL');
    const quote = this.balances.get(s.quote)!;
    const base = this.balances.get(s.base)!;
    if (side === 'BUY' && mul(qty, type === 'LIMIT' ? price : last, 'up') > quote.free) throw new BinanceError(400, -2010, 'Account has insufficient balance for requested action.');
    if (side === 'SELL' && qty > base.free) throw new BinanceError(400, -2010, 'Account has insufficient balance for requested action.');

    const now = this.serverTime();
    const o: FakeOrder = {
      orderId: ++this.orderSeq, clientOrderId, symbol: s.symbol, side, type, timeInForce: tif, origQty: qty, price,
      executedQty: ZERO, cummulativeQuoteQty: ZERO, status: 'NEW', time: now, updateTime: now, locked: ZERO,
    };
    this.orders.push(o);
    const fills: FakeTrade[] = [];
    const marketable = type === 'MARKET' || (side === 'BUY' ? price >= last : price <= last);
    if (marketable) {
      const parts = type === 'MARKET' ? Math.max(1, this.marketFillParts) : 1;
      const step = fx(s.stepSize);
      let left = qty;
      for (let i = 0; i < parts && left > 0n; i++) {
        const q = i === parts - 1 ? left : floorToStep((qty / BigInt(parts)) as Fixed, step);
        if (q <= 0n) continue;
        fills.push(this.execute(o, q, last, false));
        left = (left - q) as Fixed;
      }
    } else if (tif === 'GTC') {
      // Resting: reserve what it can still cost.
      const lockAsset = side === 'BUY' ? quote : base;
      o.locked = side === 'BUY' ? mul(qty, price, 'up') : qty;
      lockAsset.free = (lockAsset.free - o.locked) as Fixed;
      lockAsset.locked = (lockAsset.locked + o.locked) as Fixed;
    } else {
      o.status = 'EXPIRED';
    }
    return {
      ...this.orderJson(o, true),
      fills: fills.map((t) => ({ price: fmt(t.price), qty: fmt(t.qty), commission: fmt(t.commission), commissionAsset: t.commissionAsset, tradeId: t.id })),
    };
  }

  /** One trade: moves balances (from the lock for a resting order), commission in the asset received. */
  private execute(o: FakeOrder, qty: Fixed, price: Fixed, maker: boolean): FakeTrade {
    const s = this.symbols.get(o.symbol)!;
    const quote = this.balances.get(s.quote)!;
    const base = this.balances.get(s.base)!;
    const notional = mul(qty, price);
    const now = this.serverTime();
    let commission: Fixed;
    let commissionAsset: string;
    if (o.side === 'BUY') {
      commission = mul(qty, this.commission, 'up');
      commissionAsset = s.base;
      if (maker) {
        o.locked = (o.locked - notional) as Fixed;
        quote.locked = (quote.locked - notional) as Fixed;
      } else {
        quote.free = (quote.free - notional) as Fixed;
      }
      base.free = (base.free + qty - commission) as Fixed;
    } else {
      commission = mul(notional, this.commission, 'up');
      commissionAsset = s.quote;
      if (maker) {
        o.locked = (o.locked - qty) as Fixed;
        base.locked = (base.locked - qty) as Fixed;
      } else {
        base.free = (base.free - qty) as Fixed;
      }
      quote.free = (quote.free + notional - commission) as Fixed;
    }
    o.executedQty = (o.executedQty + qty) as Fixed;
    o.cummulativeQuoteQty = (o.cummulativeQuoteQty + notional) as Fixed;
    o.updateTime = now;
    o.status = o.executedQty === o.origQty ? 'FILLED' : 'PARTIALLY_FILLED';
    if (o.status === 'FILLED' && o.locked !== 0n) this.unlock(o);
    const t: FakeTrade = { id: ++this.tradeSeq, orderId: o.orderId, symbol: o.symbol, price, qty, quoteQty: notional, commission, commissionAsset, time: now, isBuyer: o.side === 'BUY', isMaker: maker };
    this.trades.push(t);
    return t;
  }

  private unlock(o: FakeOrder): void {
    const s = this.symbols.get(o.symbol)!;
    const asset = this.balances.get(o.side === 'BUY' ? s.quote : s.base)!;
    asset.locked = (asset.locked - o.locked) as Fixed;
    asset.free = (asset.free + o.locked) as Fixed;
    o.locked = ZERO;
  }

  private findOrder(p: Record<string, string>, code: number, msg: string): FakeOrder {
    const s = this.symbolOf(p);
    const byId = p['orderId'];
    const byClient = p['origClientOrderId'];
    if (byId === undefined && byClient === undefined) throw new BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
    const candidates = this.orders.filter((o) => o.symbol === s.symbol && (byId !== undefined ? String(o.orderId) === byId : o.clientOrderId === byClient));
    // A reused client id (after the earlier order filled) names the most recent order, as on Binance.
    const o = candidates[candidates.length - 1];
    if (!o) throw new BinanceError(400, code, msg);
    return o;
  }

  private cancelOrder(p: Record<string, string>): unknown {
    const o = this.findOrder(p, -2011, 'Unknown order sent.');
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw new BinanceError(400, -2011, 'Unknown order sent.');
    if (o.locked !== 0n) this.unlock(o);
    o.status = 'CANCELED';
    o.updateTime = this.serverTime();
    return { ...this.orderJson(o, true), origClientOrderId: o.clientOrderId, clientOrderId: `cancel${o.orderId}` };
  }

  private orderJson(o: FakeOrder, ack = false): Record<string, unknown> {
    const common = {
      symbol: o.symbol, orderId: o.orderId, orderListId: -1, clientOrderId: o.clientOrderId, price: fmt(o.price), origQty: fmt(o.origQty),
      executedQty: fmt(o.executedQty), cummulativeQuoteQty: fmt(o.cummulativeQuoteQty), status: o.status, timeInForce: o.timeInForce,
      type: o.type, side: o.side, workingTime: o.time, selfTradePreventionMode: 'EXPIRE_MAKER',
    };
    if (ack) return { ...common, transactTime: o.updateTime, origQuoteOrderQty: '0.00000000' };
    return { ...common, stopPrice: '0.00000000', icebergQty: '0.00000000', time: o.time, updateTime: o.updateTime, isWorking: true, origQuoteOrderQty: '0.00000000' };
  }

  private myTrades(p: Record<string, string>): unknown {
    const s = this.symbolOf(p);
    const limit = Math.min(1000, Number(p['limit'] ?? 500));
    let list = this.trades.filter((t) => t.symbol === s.symbol);
    if (p['orderId'] !== undefined) list = list.filter((t) => String(t.orderId) === p['orderId']);
    if (p['fromId'] !== undefined) list = list.filter((t) => t.id >= Number(p['fromId']));
    if (p['startTime'] !== undefined) list = list.filter((t) => t.time >= Number(p['startTime']));
    if (p['endTime'] !== undefined) list = list.filter((t) => t.time <= Number(p['endTime']));
    return list.slice(0, limit).map((t) => ({
      symbol: t.symbol, id: t.id, orderId: t.orderId, orderListId: -1, price: fmt(t.price), qty: fmt(t.qty), quoteQty: fmt(t.quoteQty),
      commission: fmt(t.commission), commissionAsset: t.commissionAsset, time: t.time, isBuyer: t.isBuyer, isMaker: t.isMaker, isBestMatch: true,
    }));
  }

  private account(p: Record<string, string>): unknown {
    const omitZero = p['omitZeroBalances'] === 'true';
    const rate = fmt(this.commission);
    return {
      makerCommission: 10, takerCommission: 10, buyerCommission: 0, sellerCommission: 0,
      commissionRates: { maker: rate, taker: rate, buyer: '0.00000000', seller: '0.00000000' },
      canTrade: true, canWithdraw: true, canDeposit: true, brokered: false, requireSelfTradePrevention: false, preventSor: false,
      updateTime: this.serverTime(), accountType: 'SPOT',
      balances: [...this.balances].filter(([, b]) => !omitZero || b.free + b.locked > 0n).map(([asset, b]) => ({ asset, free: fmt(b.free), locked: fmt(b.locked) })),
      permissions: ['SPOT'], uid: 1,
    };
  }
}
