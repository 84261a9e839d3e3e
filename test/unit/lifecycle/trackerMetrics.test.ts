// The strategy tracker measures every model once per bar in market time: a live model on its
// engine book, a shadow model on the shadow book, as returns on the capital each had at work,
// never across a change of book, annualised with the bar interval whatever the wall speed of
// the feed, and with the evidence (bars, trades, vs-live differences) behind each figure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimClock } from '../../../src/core/clock.js';
import { fx } from '../../../src/core/decimal.js';
import { modelId, symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import { Rng } from '../../../src/core/random.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import type { ModelPositionView } from '../../../src/engine/views.js';
import { silentLogger } from '../../../src/obs/logger.js';
import type { EvidencePolicy } from '../../../src/lifecycle/evidencePolicy.js';
import { annualisePerBar, addObservation, emptyMoments, seriesStats } from '../../../src/lifecycle/evidence.js';
import { ShadowBook } from '../../../src/lifecycle/shadowBook.js';
import { StrategyRegistry } from '../../../src/lifecycle/strategyRegistry.js';
import { StrategyTracker } from '../../../src/lifecycle/strategyTracker.js';
import { parsePolicies } from '../../../src/ops/policies.js';
import { DEFAULT_SIM_INSTRUMENTS } from '../../../src/venues/sim/simVenue.js';

const SHIPPED = parsePolicies(readFileSync(new URL('../../../ops/policies.yaml', import.meta.url), 'utf8'));
const MINUTE = 60_000;
const T0 = Date.parse('2026-01-05T00:00:00Z');
const bar = (sym: string, close: number, ts: number): Bar => ({ symbol: symbol(sym), ts, open: close, high: close, low: close, close, volume: 1000 });
const fill = (model: string, side: 'BUY' | 'SELL', qty: string, price: number, ts: number, fee = '0', n = 0) => ({
  venue: 'sim', tradeId: `t-${model}-${ts}-${n}`, clientOrderId: `c-${model}-${ts}-${n}`, model, symbol: 'BTCUSDT', side, qty, price: price.toFixed(2), fee, liquidity: 'TAKER', ts,
});

function harness(dir: string, o: { positions?: ModelPositionView[]; weights: Record<string, number>; clock?: SimClock; quota?: number; evidence?: () => EvidencePolicy }) {
  const engine = { name: 'e', modelPositions: async () => o.positions ?? [], lastPrice: async () => null } as unknown as EngineHandle;
    let tracker: StrategyTracker | null = null;
    const shadow = new ShadowBook({
      path: null, instruments: new Map(DEFAULT_SIM_INSTRUMENTS.map((i) => [i.symbol as string, { stepSize: i.stepSize, tickSize: i.tickSize }])),
    takerFeeBps: 0, slippageBps: 0, minNotionalUsd: fx('1'), maxNotionalUsd: fx('100000'), quota: () => o.quota ?? 2000, log: silentLogger(),
      onFill: (m, f, r) => tracker?.onShadowFill(m, f, r),
    });
    const registry = new StrategyRegistry(join(dir, 'reg.json'), silentLogger());
  const ts = new Date(T0).toISOString();
  registry.commit((d) => {
    for (const id of Object.keys(o.weights)) {
      if (d.models.some((m) => m.id === id)) continue;
      const stage = (o.weights[id] ?? 0) > 0 ? 'live' as const : 'shadow' as const;
      d.models.push({ id, kind: 'ma', version: 1, stage, created_at: ts, stage_since: ts, symbols: ['BTCUSDT'], params: { fast: 2, slow: 5, band: 0 }, replaced: null, metrics: null, tracking: null });
    }
  });
    const bus = new InProcessBus();
    tracker = new StrategyTracker({
    engines: () => [engine], shadow, registry, weight: (m) => o.weights[m] ?? 0, quota: () => o.quota ?? 2000, models: () => Object.keys(o.weights),
    scoreMetric: () => 'pnl', bus, log: silentLogger(), clock: o.clock ?? new SimClock(T0), evidencePolicy: o.evidence ?? (() => SHIPPED.evidence),
    });
  return { tracker, shadow, bus };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracker-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('live PnL from the engine book, shadow from the shadow book, returns on capital at work, one sample per bar', withDir(async (dir) => {
  const weights: Record<string, number> = { live: 0.5, paper: 0 };
  const { tracker, shadow, bus } = harness(dir, { weights, positions: [{ model: 'live', symbol: 'BTCUSDT', qty: '10', avgPrice: '100', realizedPnl: '0', fees: '1' }] });
  await tracker.start();
  const publish = (b: Bar) => { shadow.onBar(b); bus.publish('market.bar', b); };
  publish(bar('BTCUSDT', 100, T0));
  shadow.execute({ model: modelId('paper'), symbol: symbol('BTCUSDT'), action: 'BUY', strength: 1, targetExposure: 0.5, ts: T0 });
  publish(bar('BTCUSDT', 110, T0 + MINUTE));
  // A second copy of a bar already sampled is not a new observation.
  publish(bar('BTCUSDT', 110, T0 + MINUTE));

    const live = tracker.report('live');
    assert.equal(live.source, 'live');
    assert.equal(live.pnl, 99); // 10 × (110 − 100) − 1 fee
    // Return on quota × weight = 1000: (99 − (−1)) / 1000 = 10 %.
    assert.ok(Math.abs(live.total.return_pct - 10) < 1e-6, `${live.total.return_pct}`);
    assert.equal(live.total.exposure_time_pct, 100);
  assert.equal(live.total.samples, 2);
  assert.equal(live.total.bars_observed, 1);
  assert.ok(Math.abs(live.total.hours - 1 / 60) < 1e-6, 'market hours, from bar timestamps');

    const paper = tracker.report('paper');
    assert.equal(paper.source, 'shadow');
    assert.equal(paper.pnl, 100); // 10 BTC bought at 100 for 1000 (0.5 × 2000), now 110
    assert.ok(Math.abs(paper.total.return_pct - 5) < 1e-6, 'on quota × paper weight 1 = 2000');
    assert.equal(paper.total.trades, 1);
    assert.equal(paper.score, 100);
  // The paper model's bar is paired with the live model's: 5 % − 10 %.
  const ev = tracker.evidence('paper')!;
  assert.equal(ev.vsLive.n, 1);
  assert.ok(Math.abs(ev.vsLive.mean - (0.05 - 0.1)) < 1e-9);
  assert.equal(tracker.evidence('live')!.vsLive.n, 0, 'the live model is not compared with itself');
  assert.equal(tracker.evidence('nope'), null);

  // A live fill on the bus moves the engine book: marked at the next bar.
  bus.publish('trade.fill', fill('live', 'SELL', '10', 110, T0 + MINUTE, '1'));
  publish(bar('BTCUSDT', 120, T0 + 2 * MINUTE));
  assert.equal(tracker.report('live').pnl, 98, 'sold at 110: realized 100 − 2 fees, flat at 120');
  assert.equal(tracker.report('live').exposure_usd, 0);

    // Promoted: its figures now come from the engine book; no return across the switch.
  const before = tracker.report('paper').total;
    weights.paper = 0.1;
  publish(bar('BTCUSDT', 121, T0 + 3 * MINUTE));
    assert.equal(tracker.report('paper').source, 'live');
  assert.equal(tracker.report('paper').total.return_pct, before.return_pct);
  assert.equal(tracker.report('paper').total.bars_observed, before.bars_observed);
  // Every book is marked at the bar the tracker samples, whichever subscriber saw it first:
  // the shadow book has not had this bar yet and still marks the paper position at 121.
  bus.publish('market.bar', bar('BTCUSDT', 130, T0 + 4 * MINUTE));
  assert.equal(shadow.view('paper').pnl, 210);
  assert.equal(tracker.report('paper').shadow_pnl, 300);
    tracker.stop();
}));

test('several symbols: one sample per bar timestamp, once every symbol has its bar', withDir(async (dir) => {
  const { tracker, bus } = harness(dir, { weights: { live: 1 }, positions: [{ model: 'live', symbol: 'ETHUSDT', qty: '1', avgPrice: '10', realizedPnl: '0', fees: '0' }] });
  await tracker.start();
  for (let i = 0; i < 5; i++) {
    bus.publish('market.bar', bar('BTCUSDT', 100, T0 + i * MINUTE));
    bus.publish('market.bar', bar('ETHUSDT', 10 + i, T0 + i * MINUTE));
  }
  const m = tracker.report('live').total;
  assert.equal(m.samples, 5);
  // Each return is marked at that timestamp's ETH close, never the previous one's.
  assert.equal(tracker.report('live').pnl, 4);
  // +1 USD a bar on a 2000 budget: four returns of 0.05 %.
  assert.equal(m.bars_observed, 4);
  assert.ok(Math.abs(m.return_pct - ((1 + 1 / 2000) ** 4 - 1) * 100) < 1e-4, `${m.return_pct}`);
  tracker.stop();
}));

/** One model holding a fixed quantity worth its whole budget at the first bar, on a price that
 *  moves by p0 × (μ + σ z) each bar, so its per-bar return is exactly μ + σ z. */
async function driftRun(dir: string, o: { bars: number; mu: number; sigma: number; seed: number; wallMsPerBar: number }) {
  const clock = new SimClock(T0);
  const p0 = 1000;
  // This is about the arithmetic in market time, not about when the figure is precise enough
  // to show (the noise bound has its own test below): a loose bound.
  const { tracker, bus } = harness(dir, { weights: { live: 1 }, quota: 2000, clock, evidence: () => ({ ...SHIPPED.evidence, max_sharpe_se: 1000 }) });
  await tracker.start();
  // Four fills (two buys of 1 BTC each, in halves) make the trade minimum: 2 BTC × 1000 = 2000.
  for (let n = 0; n < 4; n++) bus.publish('trade.fill', fill('live', 'BUY', '0.5', p0, T0, '0', n));
  const rng = new Rng(o.seed);
  const zs: number[] = [];
  let price = p0;
  let i = 0;
  // The feed delivers one bar per wallMsPerBar of the clock, as the live feed does per
  // MARKET_INTERVAL_MS; bar timestamps advance by one market minute whatever the wall speed.
  const feed = clock.setInterval(() => {
    if (i > 0) {
      const z = rng.normal();
      zs.push(z);
      price += p0 * (o.mu + o.sigma * z);
    }
    bus.publish('market.bar', bar('BTCUSDT', price, T0 + i * MINUTE));
    i++;
  }, o.wallMsPerBar);
  clock.advanceBy(o.wallMsPerBar * o.bars);
  clock.clear(feed);
  tracker.stop();
  return { tracker, zs };
}

test('a known drift series gives the expected annualised Sharpe, whatever the wall speed of the feed', withDir(async (dir) => {
  const o = { bars: 4001, mu: 0.0005, sigma: 0.01, seed: 7 };
  const fast = await driftRun(join(dir, 'fast'), { ...o, wallMsPerBar: 50 });
  const slow = await driftRun(join(dir, 'slow'), { ...o, wallMsPerBar: 1000 });
  const a = fast.tracker.report('live');
  const b = slow.tracker.report('live');
  assert.deepEqual(a.total, b.total, 'same bars at two wall speeds: the same figures');
  assert.deepEqual(fast.tracker.evidence('live'), slow.tracker.evidence('live'));

  // The figure is the per-bar Sharpe of μ + σz, annualised with the 1-minute bar interval.
  const m = emptyMoments();
  for (const z of fast.zs) addObservation(m, o.mu + o.sigma * z);
  const st = seriesStats(m);
  const expected = annualisePerBar(st.mean / st.stdev, MINUTE);
  assert.equal(a.total.bars_observed, 4000);
  assert.ok(a.total.sharpe !== null && Math.abs(a.total.sharpe - expected) < 1e-3 * Math.abs(expected), `${a.total.sharpe} vs ${expected}`);
  // And the estimate is where the true Sharpe (0.05 per bar ≈ 36 a year) says it should be:
  // within 3 standard errors (√(1/n) per bar).
  const truth = annualisePerBar(o.mu / o.sigma, MINUTE);
  const se = annualisePerBar(Math.sqrt(1 / 4000), MINUTE);
  assert.ok(Math.abs(a.total.sharpe - truth) < 3 * se, `${a.total.sharpe} vs ${truth} ± ${se}`);
  assert.ok(Math.abs(a.total.hours - 4000 / 60) < 1e-6, 'market hours');
  assert.equal(a.evidence.marketMs, 4000 * MINUTE);
}));

test('Sharpe is null with the reason below the shipped evidence minimum, then while it is noise, a number once precise enough', withDir(async (dir) => {
  const { min_bars: minBars, min_trades: minTrades } = SHIPPED.evidence;
  assert.ok(minBars >= 3 && minTrades >= 1, 'the shipped policy asks for evidence');
  let policy: EvidencePolicy = SHIPPED.evidence;
  const { tracker, bus } = harness(dir, { weights: { live: 1 }, quota: 2000, evidence: () => policy });
  await tracker.start();
  const rng = new Rng(3);
  let price = 1000;
  const step = (i: number) => { price *= 1 + 0.01 * rng.normal(); bus.publish('market.bar', bar('BTCUSDT', price, T0 + i * MINUTE)); };
  bus.publish('trade.fill', fill('live', 'BUY', '1', 1000, T0));
  for (let i = 0; i <= minBars; i++) step(i); // minBars returns, 1 trade
  let m = tracker.report('live').total;
  assert.equal(m.bars_observed, minBars);
  assert.equal(m.sharpe, null);
  assert.equal(m.sortino, null);
  assert.equal(m.sharpe_reason, `1 of ${minTrades} trades`);
  for (let n = 1; n < minTrades; n++) bus.publish('trade.fill', fill('live', 'BUY', '0.001', price, T0, '0', n));
  m = tracker.report('live').total;
  // Minimums met, but 120 minute bars annualise to a figure with a ±66 standard error.
  assert.equal(m.sharpe, null, JSON.stringify(m));
  assert.match(m.sharpe_reason ?? '', /^annualised Sharpe still ±6\d\.\d \(standard error from 120 bars\); shown below ±5 from about \d+ bars/);
  policy = { ...SHIPPED.evidence, max_sharpe_se: 100 };
  m = tracker.report('live').total;
  assert.equal(typeof m.sharpe, 'number', JSON.stringify(m));
  assert.equal(typeof m.sortino, 'number');
  assert.equal(m.sharpe_reason, null);
  // The counterpart: bars short of the minimum with every trade made still withhold it.
  const fresh = harness(join(dir, 'fresh'), { weights: { live: 1 }, quota: 2000 });
  await fresh.tracker.start();
  for (let n = 0; n < minTrades; n++) fresh.bus.publish('trade.fill', fill('live', 'BUY', '0.001', 1000, T0, '0', n));
  for (let i = 0; i < 13; i++) fresh.bus.publish('market.bar', bar('BTCUSDT', 1000 + i, T0 + i * MINUTE));
  assert.equal(fresh.tracker.report('live').total.sharpe, null);
  assert.equal(fresh.tracker.report('live').total.sharpe_reason, `12 of ${minBars} bars`);
  fresh.tracker.stop();
  tracker.stop();
}));

test('evidence and figures resume from the registry after a restart', withDir(async (dir) => {
  const weights = { live: 1, paper: 0 };
  const first = harness(dir, { weights });
  await first.tracker.start();
  first.bus.publish('trade.fill', fill('live', 'BUY', '1', 1000, T0));
  for (let i = 0; i < 10; i++) {
    first.shadow.onBar(bar('BTCUSDT', 1000 + 3 * i, T0 + i * MINUTE));
    first.bus.publish('market.bar', bar('BTCUSDT', 1000 + 3 * i, T0 + i * MINUTE));
  }
  const before = first.tracker.evidenceAll();
  first.tracker.stop(); // persists into the registry
  const second = harness(dir, { weights });
  assert.deepEqual(second.tracker.evidenceAll(), before);
  assert.equal(before.get('live')!.bars, 9);
  // The idle shadow model: 0 returns on its paper budget, paired with the live model's bars.
  assert.equal(before.get('paper')!.bars, 9);
  assert.equal(before.get('paper')!.vsLive.n, 9);
  assert.ok(before.get('paper')!.vsLive.mean < 0, 'idle while live gained');
  // The restarted feed begins earlier in market time than the last saved bar (a paper market
  // that restarts from its warm-up): the series continues instead of waiting to catch up.
  await second.tracker.start();
  for (let i = 0; i < 4; i++) second.bus.publish('market.bar', bar('BTCUSDT', 1000 + i, T0 + i * MINUTE));
  assert.equal(second.tracker.evidence('live')!.bars, 9 + 3, 'no return across the restart, one per bar after it');
  assert.equal(second.tracker.evidence('live')!.marketMs, 12 * MINUTE);
  second.tracker.stop();
}));
