// The backtester runs the live path: deterministic for a seed, the engine's risk rails
// really apply, the curve and the report agree with the engine's own books.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelId, symbol } from '../../../src/core/ids.js';
import { SyntheticMarket } from '../../../src/market/synthetic.js';
import { runBacktest } from '../../../src/replay/backtest.js';
import { curveCsv, formatReport, thinCurve } from '../../../src/replay/report.js';
import { MaCrossoverModel } from '../../../src/strategy/ma/maCrossover.js';

const bars = new SyntheticMarket({ seed: 5, symbols: ['BTCUSDT', 'ETHUSDT'], intervalMs: 60_000 }).generate(3000);
const ma = () => new MaCrossoverModel(modelId('ma'), [symbol('BTCUSDT'), symbol('ETHUSDT')]);

test('same bars, same model → the same report, and the report agrees with its equity curve', async () => {
  const a = await runBacktest({ model: ma(), bars });
  const b = await runBacktest({ model: ma(), bars });
  const strip = (r: typeof a.report) => ({ ...r, elapsed_sec: 0, bars_per_sec: 0 });
  assert.deepEqual(strip(a.report), strip(b.report));
  assert.equal(a.report.bars, 6000);
  assert.equal(a.report.steps, 3000);
  assert.equal(a.curve.length, 3000);
  assert.ok(a.report.orders > 10, `orders ${a.report.orders}`);
  assert.equal(a.report.trades >= a.report.orders, true);
  assert.ok(a.report.fees > 0);
  // The float curve's last point matches the engine's exact valuation to the cent.
  assert.ok(Math.abs(a.curve.at(-1)!.equity - a.report.final_equity) < 0.02, `${a.curve.at(-1)!.equity} vs ${a.report.final_equity}`);
  assert.ok(a.report.max_drawdown_pct >= 0 && a.report.exposure_time_pct > 0);
});

test('the engine\'s risk rails apply: with MAX_ORDERS_PER_MIN 0 every order is refused by RATE_LIMIT', async () => {
  const r = await runBacktest({ model: ma(), bars, limits: { maxOrdersPerMin: 0 } });
  assert.equal(r.report.orders, 0);
  assert.ok(r.report.rejected > 0);
  assert.deepEqual(Object.keys(r.report.rejections), ['RATE_LIMIT']);
  assert.equal(r.report.final_equity, 10_000);
});

test('costs come from the sim venue config: no fees and no slippage beats the default costs', async () => {
  const costly = await runBacktest({ model: ma(), bars });
  const free = await runBacktest({ model: ma(), bars, sim: { takerBps: 0, slippageBps: 0 } });
  assert.equal(free.report.fees, 0);
  assert.ok(free.report.final_equity > costly.report.final_equity);
});

test('curve files: thinned for JSON, every step in CSV with drawdown', () => {
  const curve = Array.from({ length: 5000 }, (_, i) => ({ ts: i, equity: 100 - (i % 10), exposure: 0 }));
  const thin = thinCurve(curve, 100);
  assert.equal(thin.length, 100);
  assert.equal(thin[0], curve[0]);
  assert.equal(thin.at(-1), curve.at(-1));
  const csv = curveCsv(curve.slice(0, 3)).trim().split('\n');
  assert.equal(csv[0], 'ts,time,equity,exposure_usd,drawdown_pct');
  assert.equal(csv.length, 4);
  assert.match(csv[2]!, /,99\.00,0\.00,1\.0000$/);
});

test('the printed report: Sharpe annualised in market time with the bars behind it, "—" with the reason when withheld', async () => {
  const { report } = await runBacktest({ model: ma(), bars: bars.slice(0, 400) });
  assert.equal(report.bars_observed, 199, 'one return per step after the first');
  assert.match(formatReport(report), /sharpe \/ sortino\s+-?\d+\.\d\d \/ -?\d+\.\d\d \(annualised in market time, 199 bar returns\)/);
  const withheld = formatReport({ ...report, sharpe: null, sortino: null, sharpe_reason: '12 of 120 bars' });
  assert.match(withheld, /sharpe \/ sortino\s+— \/ — \(annualised in market time: 12 of 120 bars\)/);
});
