// The backtester: runs one model over a bar history through the very path live trading uses
// — the strategy router's sizing, the engine's idempotency and risk rails, the sim venue's
// book, fees and slippage, the OMS and the portfolio — with an in-memory ledger, no order
// log, no snapshot, a silent logger and no metrics. Nothing here re-implements execution:
// if a live order would be rejected or clipped, so is the backtest's. Time is the bars'
// time (engine clock, venue clock and rate limits all run on it), so a run is deterministic.
import { type Fixed, fx, toNumber } from '../core/decimal.js';
import { modelId, type Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Fill } from '../core/order.js';
import { applyFill, emptyPortfolio } from '../core/portfolio.js';
import { InProcessBus } from '../bus/bus.js';
import { Engine } from '../engine/engine.js';
import { LocalEngineHandle } from '../engine/engineHandle.js';
import { Ledger } from '../engine/ledger.js';
import { OrderLog } from '../engine/orderLog.js';
import { silentLogger } from '../obs/logger.js';
import { SingleModelAllocation } from '../portfolio/allocator.js';
import { DEFAULT_CAPITAL_POLICY, type CapitalPolicy } from '../portfolio/capitalPolicy.js';
import { StrategyRouter } from '../portfolio/strategyRouter.js';
import type { Signal } from '../core/signal.js';
import type { Model } from '../strategy/model.js';
import { PerformanceAccumulator, type PerformanceMetrics } from '../lifecycle/performance.js';
import { SimVenue } from '../venues/sim/simVenue.js';
import { FloatBook, type SymbolMark } from './floatBook.js';

export interface BacktestOptions {
  readonly model: Model;
  /** Time-ordered bars (several symbols interleaved by time is fine). */
  readonly bars: Iterable<Bar>;
  /** Default 10000 USDT. */
  readonly startingCash?: string;
  /** The sim venue's costs (config.sim); defaults are the stack's defaults. */
  readonly sim?: { readonly takerBps?: number; readonly makerBps?: number; readonly slippageBps?: number; readonly seed?: number };
  /** Risk rails; defaults are the stack's (MIN 10, MAX 2000 USDT, 60 orders/min). */
  readonly limits?: { readonly minNotionalUsdt?: string; readonly maxNotionalUsdt?: string; readonly maxOrdersPerMin?: number };
  readonly capitalPolicy?: CapitalPolicy;
  /** Router weight of the model; default 1 (live at full weight). */
  readonly weight?: number;
  /** Keep the equity curve (one point per time step); default true. */
  readonly keepCurve?: boolean;
}

export interface CurvePoint {
  readonly ts: number;
  readonly equity: number;
  readonly exposure: number;
}

export interface BacktestReport extends PerformanceMetrics {
  readonly model: string;
  readonly kind: string;
  readonly symbols: readonly string[];
  readonly bars: number;
  readonly steps: number;
  readonly from: string | null;
  readonly to: string | null;
  readonly starting_equity: number;
  readonly final_equity: number;
  readonly pnl: number;
  readonly fees: number;
  readonly signals: number;
  readonly orders: number;
  readonly rejected: number;
  readonly rejections: Record<string, number>;
  /** Buy-and-hold of the first symbol over the same bars, for context. */
  readonly buy_and_hold_return_pct: number | null;
  readonly elapsed_sec: number;
  readonly bars_per_sec: number;
}

export interface BacktestResult {
  readonly report: BacktestReport;
  readonly curve: readonly CurvePoint[];
}

export async function runBacktest(opts: BacktestOptions): Promise<BacktestResult> {
  const started = performance.now();
  const model = opts.model;
  const cash = opts.startingCash ?? '10000';
  // What moves on every time step lives on this object, not in `let`s the closures below
  // capture: V8 boxes a captured double afresh on every write (an allocation per bar each),
  // an object's number field is updated in place.
  const at = {
    /** Backtest time: the current step's timestamp (engine clock, venue clock, rate limits). */
    clock: 0,
    /** The benchmark symbol's latest close (NaN before its first bar). */
    lastClose: NaN,
    quota: 0,
    quotaChangedAt: 0,
    nextAllocation: -Infinity,
    /** Equity at the previous step's close, for the step's return. */
    prevEquity: toNumber(fx(cash)),
  };
  const bus = new InProcessBus();
  const log = silentLogger();
  const venue = new SimVenue({
    id: 'sim',
    startingBalances: { USDT: cash },
    takerFeeBps: opts.sim?.takerBps ?? 10,
    makerFeeBps: opts.sim?.makerBps ?? 2,
    slippageBps: opts.sim?.slippageBps ?? 2,
    seed: opts.sim?.seed ?? 11,
  });
  const ledger = new Ledger(':memory:');
  const orderLog = new OrderLog(null);
  const minNotional = fx(opts.limits?.minNotionalUsdt ?? '10');
  const maxNotional = fx(opts.limits?.maxNotionalUsdt ?? '2000');
  const engine = new Engine({
    name: 'engine_backtest', venue, ledger, orderLog, snapshotPath: null, startingCash: fx(cash),
    limits: { tradeSymbols: new Set(model.symbols), minNotionalUsdt: minNotional, maxNotionalUsdt: maxNotional, maxOrdersPerMin: opts.limits?.maxOrdersPerMin ?? 60 },
    tradingEnabled: true, bus, logger: log, metrics: null, now: () => at.clock,
  });
  const handle = new LocalEngineHandle(engine);
  const policy = opts.capitalPolicy ?? DEFAULT_CAPITAL_POLICY;
  const weight = opts.weight ?? 1;
  const id = model.id as string;
  const allocation = new SingleModelAllocation(id, policy);
  const router = new StrategyRouter({
    engines: () => [handle], weight: () => weight, quota: () => at.quota, liveModels: () => [id],
    minNotionalUsd: minNotional, maxNotionalUsd: maxNotional, log, metrics: null,
  });
  await router.indexEngines();

  const book = new FloatBook(toNumber(fx(cash)), model.symbols);
  const perf = new PerformanceAccumulator();
  let mirror = emptyPortfolio(fx(0));
  bus.subscribe('trade.fill', (f) => {
    const fill: Fill = {
      tradeId: f.tradeId, clientOrderId: f.clientOrderId as Fill['clientOrderId'], venue: venue.id, symbol: f.symbol as Symbol,
      side: f.side === 'SELL' ? 'SELL' : 'BUY', qty: fx(f.qty), price: fx(f.price), fee: fx(f.fee), liquidity: 'TAKER', model: modelId(id), ts: f.ts,
    };
    const before = mirror;
    mirror = applyFill(before, fill);
    const prev = before.positions.get(fill.symbol);
    const reducing = prev !== undefined && prev.qty !== 0n && (prev.qty > 0n) !== (fill.side === 'BUY');
    perf.addFill(reducing ? toNumber((mirror.realizedPnl - before.realizedPnl - fill.fee) as Fixed) : null);
  });

  const curve: CurvePoint[] = [];
  const keepCurve = opts.keepCurve ?? true;
  const rejections: Record<string, number> = {};
  let bars = 0;
  let steps = 0;
  let signals = 0;
  let orders = 0;
  let rejected = 0;
  let firstTs: number | null = null;
  let firstClose: number | null = null;
  const benchSymbol = model.symbols[0];

  // One time step at a time, as the live feed delivers it: every symbol's bar reaches the
  // venue first, then the model sees them (so an order never fills at a stale price). The
  // step is synchronous unless the model signals: most bars never touch a promise. The
  // step's bars and their marks are step[0 .. stepLen): the arrays are reused, never
  // truncated (setting an array's length is a runtime call).
  const step: Bar[] = [];
  const stepMarks: SymbolMark[] = [];
  let stepLen = 0;
  const pending: Signal[] = [];
  const stepBars = (): void => {
    const ts = step[0]!.ts;
    at.clock = ts;
    for (let i = 0; i < stepLen; i++) {
      const bar = step[i]!;
      bars++;
      venue.onBar(bar);
      stepMarks[i]!.last = bar.close;
      if (bar.symbol === benchSymbol) {
        if (firstClose === null) firstClose = bar.close;
        at.lastClose = bar.close;
      }
    }
    engine.onMarketData();
    book.mark();
    if (ts >= at.nextAllocation) {
      // The allocator's own decision function, on backtest time.
      const q = allocation.plan(book.equity, at.quota > 0 ? at.quota : undefined, at.quotaChangedAt, ts).quotas[id] ?? 0;
      if (q !== at.quota) at.quotaChangedAt = ts;
      at.quota = q;
      at.nextAllocation = ts + policy.refresh_sec * 1000;
    }
    for (let i = 0; i < stepLen; i++) {
      if (!stepMarks[i]!.traded) continue;
      const signal = model.onBar(step[i]!);
      if (signal !== null) pending.push(signal);
    }
    if (firstTs === null) firstTs = ts;
  };
  const routePending = async (): Promise<void> => {
    for (const signal of pending) {
      signals++;
      const r = await router.route(signal);
      if (r.outcome === 'routed') {
        orders++;
        book.copy(engine.portfolioState());
        book.mark();
      } else if (r.outcome === 'rejected') {
        rejected++;
        rejections[r.reason ?? 'UNKNOWN'] = (rejections[r.reason ?? 'UNKNOWN'] ?? 0) + 1;
      }
    }
    pending.length = 0;
  };
  const closeStep = (): void => {
    steps++;
    perf.addSample(steps === 1 ? null : book.equity / at.prevEquity - 1, book.exposure > 1e-9, at.clock);
    at.prevEquity = book.equity;
    if (keepCurve) curve.push({ ts: at.clock, equity: book.equity, exposure: book.exposure });
  };
  const addBar = (bar: Bar): void => {
    step[stepLen] = bar;
    stepMarks[stepLen] = book.symbol(bar.symbol);
    stepLen++;
  };

  // Walked by index (every caller passes an array; any other iterable is copied into one):
  // iterating would allocate a result object per bar.
  const list: readonly Bar[] = Array.isArray(opts.bars) ? (opts.bars as readonly Bar[]) : Array.from(opts.bars);
  for (let i = 0; i < list.length; i++) {
    const bar = list[i]!;
    if (stepLen > 0 && bar.ts !== step[0]!.ts) {
      stepBars();
      if (pending.length > 0) await routePending();
      closeStep();
      stepLen = 0;
    }
    addBar(bar);
  }
  if (stepLen > 0) {
    stepBars();
    if (pending.length > 0) await routePending();
    closeStep();
  }

  const v = engine.valuation();
  const elapsed = (performance.now() - started) / 1000;
  const metrics = perf.metrics();
  const startEquity = toNumber(fx(cash));
  const report: BacktestReport = {
    model: id, kind: model.kind, symbols: [...model.symbols], bars, steps,
    from: firstTs === null ? null : new Date(firstTs).toISOString(), to: firstTs === null ? null : new Date(at.clock).toISOString(),
    ...metrics,
    // The exact figure from the engine's valuation (the curve's last point is the float mirror).
    return_pct: Math.round(((v.equity - startEquity) / startEquity) * 100 * 1e4) / 1e4,
    starting_equity: startEquity, final_equity: Math.round(v.equity * 100) / 100, pnl: Math.round((v.equity - startEquity) * 100) / 100,
    fees: Math.round(v.fees * 100) / 100, signals, orders, rejected, rejections,
    buy_and_hold_return_pct: firstClose !== null ? Math.round((at.lastClose / firstClose - 1) * 100 * 1e4) / 1e4 : null,
    elapsed_sec: Math.round(elapsed * 1000) / 1000, bars_per_sec: elapsed > 0 ? Math.round(bars / elapsed) : 0,
  };
  await engine.close();
  await venue.close();
  ledger.close();
  orderLog.close();
  await bus.close();
  return { report, curve };
}
