// A simulated spot exchange behind the Venue interface: instruments and their filters,
// balances with locks, a taker book derived from bar volume, maker fills when later bars
// trade through a resting limit, and optionally its own SQLite books so a restarted engine
// has something to reconcile against. Market data arrives through onBar(); the money math
// lives in matching.ts and this class only applies it.
// Longer than the ~500 lines a file aims for, on purpose: the order book, the balances and
// their locks, and the persisted books are one state that every submit, cancel and bar changes
// in one step; split across classes, each step would reach into the others' maps. The pure
// parts are elsewhere (matching.ts: money math; simStore.ts: the SQLite books).
import { type Fixed, ZERO, fx, floorToStep } from '../../core/decimal.js';
import { type ClientOrderId, type Symbol, type VenueId, symbol as toSymbol, venueId } from '../../core/ids.js';
import { type Instrument, conformPrice, instrument } from '../../core/instrument.js';
import type { Bar } from '../../core/marketData.js';
import type { Fill, Liquidity, OrderSide } from '../../core/order.js';
import { Rng } from '../../core/random.js';
import type { Venue, VenueCancelResult, VenueEvent, VenueOrderRequest, VenueOrderState, VenueSubmitResult } from '../venue.js';
import {
  type BookSide,
  type RestingView,
  type SimReject,
  allocateMakerFills,
  barTradesThrough,
  buyLockAmount,
  fillFee,
  fillNotional,
  sumQty,
  takerBuyCost,
  validateOrder,
  volumeShareQty,
  walkBook,
} from './matching.js';
import { type AssetBalance, type MarketRow, type SimOrder, SimStateStore } from './simStore.js';
import { InvalidValueError } from '../../core/errors.js';
import { reportStorageFault } from '../../util/storageHealth.js';

export const DEFAULT_SIM_INSTRUMENTS: readonly Instrument[] = [
  instrument(toSymbol('BTCUSDT'), 'BTC', 'USDT', { stepSize: '0.00001', tickSize: '0.01', minQty: '0.00001', minNotional: '5' }),
  instrument(toSymbol('ETHUSDT'), 'ETH', 'USDT', { stepSize: '0.0001', tickSize: '0.01', minQty: '0.0001', minNotional: '5' }),
];

export interface SimBookOptions {
  /** Levels of the synthetic book on each side; default 5. */
  readonly levels?: number;
  /** Each level is this much worse than the previous; default 2 bps. */
  readonly levelSpacingBps?: number;
  /** Share of a bar's volume resting on each side of the book, split evenly over the
   *  levels; default 0.1. */
  readonly volumeShare?: number;
  /** Fixed base quantity per level by symbol, instead of the volume share. */
  readonly fixedLevelQty?: Readonly<Record<string, Fixed | string>>;
}

export interface SimVenueOptions {
  /** Venue id the fills and the router use, e.g. 'sim'. */
  readonly id: string;
  readonly instruments?: readonly Instrument[];
  /** Balances of a fresh venue by asset; default 100000 USDT. Ignored when resuming from statePath. */
  readonly startingBalances?: Readonly<Record<string, Fixed | string>>;
  /** Default 10 bps. */
  readonly takerFeeBps?: number;
  /** Default 2 bps. */
  readonly makerFeeBps?: number;
  /** Distance of the best level from the last price; default 1 bp. */
  readonly slippageBps?: number;
  /** Random extra slippage in [0, jitter) bps drawn per taker order; default 0 (exact). */
  readonly slippageJitterBps?: number;
  readonly book?: SimBookOptions;
  /** Share of a bar's volume available to crossed resting orders of one side, scaled by a
   *  seeded factor in [0.5, 1.5); default 0.05. */
  readonly makerVolumeShare?: number;
  /** Delay before submit and cancel take effect; default 0 (tests and benchmarks). */
  readonly latencyMs?: number;
  /** Seed for slippage jitter and maker partials; default 1. */
  readonly seed?: number;
  /** SQLite file for the venue's books; in memory only when absent. */
  readonly statePath?: string;
  /** Clock for event times; default the open time of the latest bar (deterministic backtests).
   *  Pass Date.now for a live demo. */
  readonly now?: () => number;
}

/** Per-symbol market state: last price, this bar's book and the resting orders. */
interface MarketState {
  readonly inst: Instrument;
  readonly fixedLevelQty: Fixed | null;
  last: Fixed | undefined;
  /** Depth per level; null until first needed after a bar (computed from `barVolume` then:
   *  most bars see no order, and the conversion allocated on every one). */
  levelQty: Fixed | null;
  barVolume: number;
  consumedAsks: Fixed;
  consumedBids: Fixed;
  ts: number;
  readonly resting: SimOrder[];
}

export interface BalanceView {
  readonly free: Fixed;
  readonly locked: Fixed;
  readonly total: Fixed;
}

const META_ORDER_SEQ = 'order_seq';
const META_TRADE_SEQ = 'trade_seq';
const META_BARS = 'bars_seen';
const META_CLOCK = 'clock_ts';

export class SimVenue implements Venue {
  readonly id: VenueId;
  readonly allowsShort = false;

  private readonly instrumentMap: Map<Symbol, Instrument>;
  private readonly markets = new Map<string, MarketState>();
  private readonly orders = new Map<string, SimOrder>();
  private readonly fills = new Map<string, Fill[]>();
  private readonly balanceMap = new Map<string, AssetBalance>();
  private readonly takerFeeBps: number;
  private readonly makerFeeBps: number;
  private readonly maxFeeBps: number;
  private readonly slippageBps: number;
  private readonly jitterBps: number;
  private readonly levels: number;
  private readonly levelSpacingBps: number;
  private readonly volumeShare: number;
  private readonly makerVolumeShare: number;
  private readonly latencyMs: number;
  private readonly seed: number;
  private readonly nowFn: (() => number) | null;
  private readonly store: SimStateStore | null;
  private rng: Rng;
  private listener: ((e: VenueEvent) => void) | null = null;
  private orderSeq = 0;
  private tradeSeq = 0;
  private barsSeen = 0;
  private clockTs = 0;
  private closed = false;
  // Changes since the last flush; only tracked when a store exists.
  private readonly dirtyOrders = new Set<SimOrder>();
  private readonly dirtyAssets = new Set<string>();
  private readonly dirtyMarkets = new Set<MarketState>();
  private newFills: Fill[] = [];
  /** Group commit (with a store): operations answered through submit()/cancel() within one
   *  event-loop turn share one commit at the end of the turn, and none is answered before it. */
  private commitScheduled = false;
  /** Host ms (performance.now) of the last commit: marks alone commit at most once per MARKS_COMMIT_MS. */
  private committedAt = -Infinity;
  private commitWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly savedMeta = new Map<string, bigint>();

  constructor(opts: SimVenueOptions) {
    this.id = venueId(opts.id);
    this.takerFeeBps = nonNegative('takerFeeBps', opts.takerFeeBps ?? 10);
    this.makerFeeBps = nonNegative('makerFeeBps', opts.makerFeeBps ?? 2);
    this.maxFeeBps = Math.max(this.takerFeeBps, this.makerFeeBps);
    this.slippageBps = nonNegative('slippageBps', opts.slippageBps ?? 1);
    this.jitterBps = nonNegative('slippageJitterBps', opts.slippageJitterBps ?? 0);
    this.levels = opts.book?.levels ?? 5;
    if (!Number.isInteger(this.levels) || this.levels < 1) throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `book.levels must be a positive integer, got ${this.levels}`);
    this.levelSpacingBps = nonNegative('book.levelSpacingBps', opts.book?.levelSpacingBps ?? 2);
    this.volumeShare = nonNegative('book.volumeShare', opts.book?.volumeShare ?? 0.1);
    this.makerVolumeShare = nonNegative('makerVolumeShare', opts.makerVolumeShare ?? 0.05);
    this.latencyMs = nonNegative('latencyMs', opts.latencyMs ?? 0);
    this.seed = opts.seed ?? 1;
    this.nowFn = opts.now ?? null;

    const insts = opts.instruments ?? DEFAULT_SIM_INSTRUMENTS;
    this.instrumentMap = new Map(insts.map((i) => [i.symbol, i]));
    for (const inst of insts) {
      const fixedRaw = opts.book?.fixedLevelQty?.[inst.symbol];
      const fixedLevelQty = fixedRaw === undefined ? null : floorToStep(toFixed(`book.fixedLevelQty.${inst.symbol}`, fixedRaw), inst.stepSize);
      this.markets.set(inst.symbol, { inst, fixedLevelQty, last: undefined, levelQty: fixedLevelQty ?? ZERO, barVolume: 0, consumedAsks: ZERO, consumedBids: ZERO, ts: 0, resting: [] });
      for (const asset of [inst.base, inst.quote]) if (!this.balanceMap.has(asset)) this.balanceMap.set(asset, { free: ZERO, locked: ZERO });
    }

    this.store = opts.statePath === undefined ? null : new SimStateStore(opts.statePath);
    const snapshot = this.store?.load();
    if (snapshot !== undefined && snapshot.meta.has(META_ORDER_SEQ)) {
      this.resume(snapshot.orders, snapshot.fills, snapshot.balances, snapshot.markets, snapshot.meta);
    } else {
      for (const [asset, amount] of Object.entries(opts.startingBalances ?? { USDT: '100000' })) {
        const v = toFixed(`startingBalances.${asset}`, amount);
        if (v < 0n) throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `startingBalances.${asset} must not be negative`);
        this.balanceMap.set(asset, { free: v, locked: ZERO });
      }
      if (this.store !== null) {
        for (const a of this.balanceMap.keys()) this.dirtyAssets.add(a);
        this.flush();
      }
    }
    // Reseeded from the bars already seen so a resumed venue does not replay the same draws.
    this.rng = new Rng(mixSeed(this.seed, this.barsSeen));
  }

  instruments(): ReadonlyMap<Symbol, Instrument> {
    return this.instrumentMap;
  }

  lastPrice(sym: Symbol): Fixed | undefined {
    return this.markets.get(sym)?.last;
  }

  /** Copies of every asset's balance. */
  balances(): ReadonlyMap<string, BalanceView> {
    const out = new Map<string, BalanceView>();
    for (const [a, b] of this.balanceMap) out.set(a, { free: b.free, locked: b.locked, total: (b.free + b.locked) as Fixed });
    return out;
  }

  onEvent(listener: (event: VenueEvent) => void): void {
    this.listener = listener;
  }

  submit(req: VenueOrderRequest): Promise<VenueSubmitResult> {
    if (this.latencyMs > 0) return delay(this.latencyMs).then(() => this.committed(this.submitCore(req)));
    return this.committed(this.submitCore(req));
  }

  cancel(clientOrderId: ClientOrderId): Promise<VenueCancelResult> {
    if (this.latencyMs > 0) return delay(this.latencyMs).then(() => this.committed(this.cancelCore(clientOrderId)));
    return this.committed(this.cancelCore(clientOrderId));
  }

  /** Resolves with the answer once what produced it is on disk (at once without a store). */
  private committed<T>(answer: T): Promise<T> {
    // Closed: the answer is VENUE_CLOSED and nothing changed, and the store is gone.
    if (this.store === null || this.closed) return Promise.resolve(answer);
    return new Promise<void>((resolve, reject) => {
      this.commitWaiters.push({ resolve, reject });
      this.scheduleCommit();
    }).then(() => answer);
  }

  /** One commit at the end of this turn of the event loop for everything changed in it. */
  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    // (A synchronous flush in between, onBar or close, may already have answered them.)
    setImmediate(() => { if (this.commitScheduled) this.flush(); });
  }

  fetchOpenOrders(): Promise<VenueOrderState[]> {
    const open: SimOrder[] = [];
    for (const m of this.markets.values()) open.push(...m.resting);
    open.sort((a, b) => a.seq - b.seq);
    return Promise.resolve(open.map(toState));
  }

  fetchOrder(clientOrderId: ClientOrderId): Promise<VenueOrderState | null> {
    const o = this.findOrder(clientOrderId);
    return Promise.resolve(o === undefined ? null : toState(o));
  }

  fetchFills(clientOrderId: ClientOrderId): Promise<Fill[]> {
    const inMemory = this.fills.get(clientOrderId);
    return Promise.resolve(inMemory !== undefined ? [...inMemory] : (this.store?.findFills(clientOrderId) ?? []));
  }

  /** Open orders live in memory; closed ones (with a store) are read back from disk. */
  private findOrder(clientOrderId: ClientOrderId): SimOrder | undefined {
    return this.orders.get(clientOrderId) ?? this.store?.findOrder(clientOrderId);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.store !== null) this.flush();
    await this.store?.close();
  }

  /**
   * The synchronous form of submit (backtests call it directly), committed before it returns.
   * Fills and expiry that happen within the submission are returned in `events`, never sent
   * to the listener.
   */
  submitNow(req: VenueOrderRequest): VenueSubmitResult {
    const result = this.submitCore(req);
    if (this.store !== null) this.flush();
    return result;
  }

  /** The synchronous form of cancel, committed before it returns. */
  cancelNow(clientOrderId: ClientOrderId): VenueCancelResult {
    const result = this.cancelCore(clientOrderId);
    if (this.store !== null) this.flush();
    return result;
  }

  /** Matching and booking; the caller commits (now, or at the end of the turn). */
  private submitCore(req: VenueOrderRequest): VenueSubmitResult {
    const ts = this.now();
    if (this.closed) return reject({ code: 'VENUE_CLOSED', message: 'venue is closed' }, ts);
    const m = this.markets.get(req.symbol);
    if (m === undefined) return reject({ code: 'UNKNOWN_SYMBOL', message: `unknown symbol ${req.symbol}` }, ts);
    if (this.orders.has(req.clientOrderId) || this.store?.hasOrder(req.clientOrderId) === true) {
      return reject({ code: 'DUPLICATE_CLIENT_ORDER_ID', message: `client order id ${req.clientOrderId} already used` }, ts);
    }
    const invalid = validateOrder(m.inst, req, m.last);
    if (invalid !== null) return reject(invalid, ts);

    const isBuy = req.side === 'BUY';
    const book = this.bookSide(m, req.side);
    const plan = walkBook(book, req.side, req.qty, req.price);
    const quote = this.balanceMap.get(m.inst.quote)!;
    const base = this.balanceMap.get(m.inst.base)!;
    // Balance first, as an exchange does: a limit BUY must be able to pay for all of it at
    // its limit whatever its time in force; a market BUY for what it would actually take.
    if (isBuy) {
      const need = req.price === null ? takerBuyCost(plan, this.takerFeeBps) : buyLockAmount(req.qty, req.price, this.maxFeeBps);
      if (need > quote.free) return reject({ code: 'INSUFFICIENT_BALANCE', message: `needs ${need} ${m.inst.quote}, free ${quote.free}` }, ts);
    } else if (req.qty > base.free) {
      return reject({ code: 'INSUFFICIENT_BALANCE', message: `sells ${req.qty} ${m.inst.base}, free ${base.free}` }, ts);
    }

    const seq = ++this.orderSeq;
    const order: SimOrder = {
      clientOrderId: req.clientOrderId,
      venueOrderId: `${this.id}-${seq}`,
      symbol: req.symbol,
      side: req.side,
      type: req.type,
      qty: req.qty,
      price: req.price,
      timeInForce: req.timeInForce,
      seq,
      createdAt: ts,
      filledQty: ZERO,
      status: 'OPEN',
      locked: ZERO,
      updatedAt: ts,
    };
    this.orders.set(req.clientOrderId, order);
    this.markDirtyOrder(order);

    const events: VenueEvent[] = [];
    const planned = sumQty(plan);
    if (req.timeInForce === 'FOK' && planned < req.qty) {
      order.status = 'EXPIRED';
      events.push({ type: 'expired', clientOrderId: order.clientOrderId, ts, reason: 'FOK_NOT_FILLABLE' });
    } else {
      for (const f of plan) events.push({ type: 'fill', fill: this.applyTakerFill(order, m, f.qty, f.price, ts) });
      if (order.filledQty === order.qty) {
        order.status = 'FILLED';
      } else if (req.type === 'MARKET' || req.timeInForce !== 'GTC') {
        order.status = 'EXPIRED';
        events.push({ type: 'expired', clientOrderId: order.clientOrderId, ts, reason: 'INSUFFICIENT_LIQUIDITY' });
      } else {
        this.rest(order, m);
      }
    }
    return { kind: 'accepted', venueOrderId: order.venueOrderId, ts, events };
  }

  private cancelCore(clientOrderId: ClientOrderId): VenueCancelResult {
    const o = this.findOrder(clientOrderId);
    if (o === undefined) return { kind: 'not_found', message: `no order ${clientOrderId}` };
    if (o.status !== 'OPEN') return { kind: 'already_closed', message: `order ${clientOrderId} is ${o.status}` };
    const ts = this.now();
    this.closeResting(o, 'CANCELED', ts);
    return { kind: 'canceled', ts };
  }

  /**
   * Market data: sets the last price (on tick) and this bar's book, then fills resting
   * orders the bar traded through as MAKER. Those fills go to the listener and are also
   * returned, for callers that drive the venue without one.
   */
  onBar(bar: Bar): readonly VenueEvent[] {
    const m = this.markets.get(bar.symbol);
    if (m === undefined || this.closed) return [];
    if (bar.ts > this.clockTs) this.clockTs = bar.ts;
    this.barsSeen++;
    m.last = conformPrice(m.inst, fx(bar.close));
    m.levelQty = m.fixedLevelQty;
    m.barVolume = bar.volume;
    m.consumedAsks = ZERO;
    m.consumedBids = ZERO;
    m.ts = bar.ts;
    if (this.store !== null) this.dirtyMarkets.add(m);

    let events: VenueEvent[] = EMPTY_EVENTS;
    if (m.resting.length > 0) {
      events = [];
      const low = fx(bar.low);
      const high = fx(bar.high);
      const ts = this.now();
      for (const side of SIDES) {
        const crossed = m.resting.filter((o) => o.side === side && barTradesThrough(side, o.price!, low, high));
        if (crossed.length === 0) continue;
        const available = volumeShareQty(bar.volume, this.makerVolumeShare * (0.5 + this.rng.next()), m.inst.stepSize);
        const views: RestingView[] = crossed.map((o) => ({ side, price: o.price!, seq: o.seq, remaining: (o.qty - o.filledQty) as Fixed }));
        const alloc = allocateMakerFills(views, available);
        for (let i = 0; i < crossed.length; i++) {
          const q = alloc[i]!;
          if (q > 0n) events.push({ type: 'fill', fill: this.applyMakerFill(crossed[i]!, m, q, ts) });
        }
      }
    }
    // Fills are on disk before anyone hears of them. A bar that filled nothing only moved the
    // marks: those join the next commit — this turn's, if a second of host time has passed
    // since the last one, else whichever commit comes next (an order's, a fill's, a later
    // bar's, or close). A crash loses at most that second's marks, which the next bar sets
    // again: one bar of a live feed (a bar a second or slower), many of a replay, which
    // otherwise spent a SQLite transaction per step on marks nobody reads before a restart.
    if (this.store !== null) {
      if (events.length > 0) this.flush();
      else if (performance.now() - this.committedAt >= MARKS_COMMIT_MS) this.scheduleCommit();
    }
    if (this.listener !== null) for (const e of events) this.listener(e);
    return events;
  }

  // ---- internals ----------------------------------------------------------------------

  private now(): number {
    return this.nowFn !== null ? this.nowFn() : this.clockTs;
  }

  private levelQty(m: MarketState): Fixed {
    if (m.levelQty === null) m.levelQty = volumeShareQty(m.barVolume, this.volumeShare / this.levels, m.inst.stepSize);
    return m.levelQty;
  }

  private bookSide(m: MarketState, side: OrderSide): BookSide {
    const jitter = this.jitterBps > 0 ? this.rng.next() * this.jitterBps : 0;
    return {
      last: m.last!,
      tick: m.inst.tickSize,
      slippageBps: this.slippageBps + jitter,
      levelSpacingBps: this.levelSpacingBps,
      levels: this.levels,
      levelQty: this.levelQty(m),
      consumed: side === 'BUY' ? m.consumedAsks : m.consumedBids,
    };
  }

  private newFill(o: SimOrder, qty: Fixed, price: Fixed, fee: Fixed, liquidity: Liquidity, ts: number): Fill {
    const fill: Fill = {
      tradeId: `${this.id}-t${++this.tradeSeq}`,
      clientOrderId: o.clientOrderId,
      venue: this.id,
      symbol: o.symbol,
      side: o.side,
      qty,
      price,
      fee,
      liquidity,
      model: null,
      ts,
    };
    const list = this.fills.get(o.clientOrderId);
    if (list === undefined) this.fills.set(o.clientOrderId, [fill]);
    else list.push(fill);
    o.filledQty = (o.filledQty + qty) as Fixed;
    o.updatedAt = ts;
    if (this.store !== null) this.newFills.push(fill);
    return fill;
  }

  /** A taker fill settles straight from free balances (nothing was locked for it). */
  private applyTakerFill(o: SimOrder, m: MarketState, qty: Fixed, price: Fixed, ts: number): Fill {
    const notional = fillNotional(qty, price);
    const fee = fillFee(notional, this.takerFeeBps);
    const quote = this.balanceMap.get(m.inst.quote)!;
    const base = this.balanceMap.get(m.inst.base)!;
    if (o.side === 'BUY') {
      quote.free = (quote.free - notional - fee) as Fixed;
      base.free = (base.free + qty) as Fixed;
      m.consumedAsks = (m.consumedAsks + qty) as Fixed;
    } else {
      base.free = (base.free - qty) as Fixed;
      quote.free = (quote.free + notional - fee) as Fixed;
      m.consumedBids = (m.consumedBids + qty) as Fixed;
    }
    this.markDirtyAssets(m);
    return this.newFill(o, qty, price, fee, 'TAKER', ts);
  }

  /** A maker fill settles from the order's lock; a finished order gives back what is left. */
  private applyMakerFill(o: SimOrder, m: MarketState, qty: Fixed, ts: number): Fill {
    const price = o.price!;
    const notional = fillNotional(qty, price);
    const fee = fillFee(notional, this.makerFeeBps);
    const quote = this.balanceMap.get(m.inst.quote)!;
    const base = this.balanceMap.get(m.inst.base)!;
    if (o.side === 'BUY') {
      const cost = (notional + fee) as Fixed;
      o.locked = (o.locked - cost) as Fixed;
      quote.locked = (quote.locked - cost) as Fixed;
      base.free = (base.free + qty) as Fixed;
    } else {
      o.locked = (o.locked - qty) as Fixed;
      base.locked = (base.locked - qty) as Fixed;
      quote.free = (quote.free + notional - fee) as Fixed;
    }
    this.markDirtyAssets(m);
    const fill = this.newFill(o, qty, price, fee, 'MAKER', ts);
    if (o.filledQty === o.qty) this.closeResting(o, 'FILLED', ts);
    else this.markDirtyOrder(o);
    return fill;
  }

  /** Puts a GTC remainder on the book, reserving what it could still cost. */
  private rest(o: SimOrder, m: MarketState): void {
    const remaining = (o.qty - o.filledQty) as Fixed;
    const asset = this.balanceMap.get(o.side === 'BUY' ? m.inst.quote : m.inst.base)!;
    const lock = o.side === 'BUY' ? buyLockAmount(remaining, o.price!, this.maxFeeBps) : remaining;
    asset.free = (asset.free - lock) as Fixed;
    asset.locked = (asset.locked + lock) as Fixed;
    o.locked = lock;
    m.resting.push(o);
    this.markDirtyAssets(m);
  }

  private closeResting(o: SimOrder, status: 'FILLED' | 'CANCELED', ts: number): void {
    const m = this.markets.get(o.symbol)!;
    const asset = this.balanceMap.get(o.side === 'BUY' ? m.inst.quote : m.inst.base)!;
    asset.locked = (asset.locked - o.locked) as Fixed;
    asset.free = (asset.free + o.locked) as Fixed;
    o.locked = ZERO;
    o.status = status;
    o.updatedAt = ts;
    const i = m.resting.indexOf(o);
    if (i >= 0) m.resting.splice(i, 1);
    this.markDirtyAssets(m);
    this.markDirtyOrder(o);
  }

  private markDirtyOrder(o: SimOrder): void {
    if (this.store !== null) this.dirtyOrders.add(o);
  }

  private markDirtyAssets(m: MarketState): void {
    if (this.store === null) return;
    this.dirtyAssets.add(m.inst.base);
    this.dirtyAssets.add(m.inst.quote);
  }

  /** Commits everything changed since the last commit, then answers whoever waits for it. */
  private flush(): void {
    const store = this.store!;
    this.committedAt = performance.now();
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    this.commitScheduled = false;
    const balances: [string, AssetBalance][] = [];
    for (const a of this.dirtyAssets) balances.push([a, this.balanceMap.get(a)!]);
    const markets: MarketRow[] = [];
    for (const m of this.dirtyMarkets) if (m.last !== undefined) markets.push({ symbol: m.inst.symbol, last: m.last, levelQty: this.levelQty(m), ts: m.ts });
    const meta: [string, bigint][] = [];
    for (const [key, value] of [[META_ORDER_SEQ, this.orderSeq], [META_TRADE_SEQ, this.tradeSeq], [META_BARS, this.barsSeen], [META_CLOCK, this.clockTs]] as const) {
      const v = BigInt(value);
      if (this.savedMeta.get(key) !== v) meta.push([key, v]);
    }
    try {
      store.save({ orders: this.dirtyOrders, fills: this.newFills, balances, markets, meta });
    } catch (err) {
      // Nothing of this turn is acknowledged: the engine treats it as an unknown outcome and
      // reconciles by client order id.
      for (const w of waiters) w.reject(err as Error);
      // A full or failing disk is the root's storage state (the engine refuses new orders while
      // it stands); what changed stays dirty and is saved by the next commit that succeeds. A
      // bar or a close is not failed for it: the books in memory are the venue's truth.
      if (reportStorageFault(store.path, err)) return;
      if (waiters.length === 0) throw err;
      return;
    }
    for (const [k, v] of meta) this.savedMeta.set(k, v);
    // A closed order is history, kept on disk only, so memory stays flat however long the
    // venue runs (an open order stays in memory: the book matches against it).
    for (const o of this.dirtyOrders) {
      if (o.status === 'OPEN') continue;
      this.orders.delete(o.clientOrderId);
      this.fills.delete(o.clientOrderId);
    }
    this.dirtyOrders.clear();
    this.dirtyAssets.clear();
    this.dirtyMarkets.clear();
    this.newFills = [];
    for (const w of waiters) w.resolve();
  }

  private resume(orders: SimOrder[], fills: Fill[], balances: Map<string, AssetBalance>, markets: MarketRow[], meta: Map<string, bigint>): void {
    this.orderSeq = Number(meta.get(META_ORDER_SEQ) ?? 0n);
    this.tradeSeq = Number(meta.get(META_TRADE_SEQ) ?? 0n);
    this.barsSeen = Number(meta.get(META_BARS) ?? 0n);
    this.clockTs = Number(meta.get(META_CLOCK) ?? 0n);
    for (const [k, v] of meta) this.savedMeta.set(k, v);
    for (const [a, b] of balances) this.balanceMap.set(a, b);
    for (const row of markets) {
      const m = this.markets.get(row.symbol);
      if (m === undefined) continue;
      m.last = row.last;
      m.levelQty = m.fixedLevelQty ?? row.levelQty;
      m.ts = row.ts;
    }
    for (const o of orders) {
      this.orders.set(o.clientOrderId, o);
      if (o.status === 'OPEN') this.markets.get(o.symbol)?.resting.push(o);
    }
    for (const f of fills) {
      const list = this.fills.get(f.clientOrderId);
      if (list === undefined) this.fills.set(f.clientOrderId, [f]);
      else list.push(f);
    }
  }
}

const SIDES: readonly OrderSide[] = ['BUY', 'SELL'];
const EMPTY_EVENTS: VenueEvent[] = [];
/** Host ms between two commits of marks alone (onBar). */
const MARKS_COMMIT_MS = 1_000;

function reject(r: SimReject, ts: number): VenueSubmitResult {
  return { kind: 'rejected', code: r.code, message: r.message, ts };
}

function toState(o: SimOrder): VenueOrderState {
  return {
    clientOrderId: o.clientOrderId,
    venueOrderId: o.venueOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    qty: o.qty,
    price: o.price,
    filledQty: o.filledQty,
    status: o.status,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function nonNegative(key: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `SimVenue option ${key} must be a finite number ≥ 0, got ${v}`);
  return v;
}

function toFixed(key: string, v: Fixed | string): Fixed {
  if (typeof v !== 'string') return v;
  try {
    return fx(v);
  } catch (err) {
    throw new InvalidValueError('HMM_VENUE_INVALID_OPTION', `SimVenue option ${key}: ${(err as Error).message}`);
  }
}

function mixSeed(seed: number, n: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + n * 0x85ebca6b) | 0;
}
