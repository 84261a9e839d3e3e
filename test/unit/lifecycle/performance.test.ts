// The performance figures every model is judged by, against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceAccumulator, YEAR_MS, reviveState } from '../../../src/lifecycle/performance.js';
import { DEFAULT_EVIDENCE_POLICY } from '../../../src/lifecycle/evidencePolicy.js';

test('Sharpe, Sortino, drawdown and return from a known series', () => {
  const acc = new PerformanceAccumulator();
  const rets = [0.01, -0.02, 0.03, 0.01];
  acc.addSample(null, false, 0);
  rets.forEach((r, i) => acc.addSample(r, i % 2 === 0, (i + 1) * 60_000));
  const m = acc.metrics();
  const mean = rets.reduce((a, b) => a + b, 0) / 4;
  const sd = Math.sqrt(rets.reduce((a, r) => a + (r - mean) ** 2, 0) / 3);
  const perYear = Math.sqrt(YEAR_MS / 60_000);
  assert.ok(Math.abs(m.sharpe! - (mean / sd) * perYear) < 1e-3, `${m.sharpe}`);
  const down = Math.sqrt((0.02 ** 2) / 4);
  assert.ok(Math.abs(m.sortino! - (mean / down) * perYear) < 1e-3);
  const idx = rets.reduce((a, r) => a * (1 + r), 1);
  assert.ok(Math.abs(m.return_pct - (idx - 1) * 100) < 1e-3);
  assert.ok(Math.abs(m.max_drawdown_pct - 2) < 1e-9); // 1.01 → 0.9898
  assert.equal(m.samples, 5);
  assert.equal(m.exposure_time_pct, 40); // 2 of 5
  assert.ok(Math.abs(m.hours - 4 / 60) < 1e-6);
});

test('a flat book scores 0, not NaN; win rate counts closing fills only', () => {
  const acc = new PerformanceAccumulator();
  for (let i = 0; i < 10; i++) acc.addSample(i === 0 ? null : 0, false, i * 1000);
  assert.equal(acc.metrics().sharpe, 0);
  assert.equal(acc.metrics().win_rate, null);
  acc.addFill(null);
  acc.addFill(5);
  acc.addFill(-1);
  acc.addFill(2);
  const m = acc.metrics();
  assert.equal(m.trades, 4);
  assert.equal(m.wins, 2);
  assert.equal(m.win_rate, 66.67);
});

test('state round-trips through JSON; malformed state starts fresh', () => {
  const acc = new PerformanceAccumulator();
  acc.addSample(null, true, 0);
  acc.addSample(0.01, true, 1000);
  acc.addSample(-0.005, true, 2000);
  const back = new PerformanceAccumulator(reviveState(JSON.parse(JSON.stringify(acc.state))));
  assert.deepEqual(back.metrics(), acc.metrics());
  assert.equal(reviveState({ samples: 'x' }).samples, 0);
  assert.equal(reviveState(null).samples, 0);
});

test('annualised with the stated bar interval, not the gaps between samples', () => {
  const acc = new PerformanceAccumulator();
  const rets = [0.01, -0.02, 0.03, 0.01, 0.002];
  acc.addSample(null, true, 0);
  // Two bars missing after the third: the gaps say 2 minutes on average, the feed says 1.
  [1, 2, 3, 6, 7].forEach((k, i) => acc.addSample(rets[i]!, true, k * 60_000));
  const byGaps = acc.metrics().sharpe!;
  const byBar = acc.metrics({ barIntervalMs: 60_000 }).sharpe!;
  assert.ok(Math.abs(byBar / byGaps - Math.sqrt(7 / 5)) < 1e-3, `${byBar} ${byGaps}`);
});

test('with an evidence policy: null with the reason below the minimum, numbers at it', () => {
  const acc = new PerformanceAccumulator();
  // A loose noise bound: this test is about the bar and trade minimums.
  const policy = { min_bars: 5, min_trades: 2, max_sharpe_se: 1000 };
  acc.addSample(null, true, 0);
  for (let i = 1; i <= 4; i++) acc.addSample(i % 2 ? 0.01 : -0.004, true, i * 60_000);
  let m = acc.metrics({ evidence: policy });
  assert.equal(m.sharpe, null);
  assert.equal(m.sortino, null);
  assert.equal(m.sharpe_reason, '4 of 5 bars, 0 of 2 trades');
  assert.equal(m.bars_observed, 4);
  assert.notEqual(acc.metrics().sharpe, null, 'without a policy the raw figure');
  acc.addSample(0.01, true, 5 * 60_000);
  acc.addFill(null);
  acc.addFill(1);
  m = acc.metrics({ evidence: policy });
  assert.equal(m.sharpe_reason, null);
  assert.ok(typeof m.sharpe === 'number' && m.sharpe > 0);
  assert.ok(typeof m.sortino === 'number' && m.sortino > 0);
  // The shipped policy asks for more than a handful of bars.
  assert.equal(acc.metrics({ evidence: DEFAULT_EVIDENCE_POLICY }).sharpe, null);
});

test('past the minimums, an annualised Sharpe stays null while its standard error exceeds the shipped bound; then a plausible figure', () => {
  // Minute bars with a small true edge (per-bar Sharpe 0.005, about 3.6 annualised), seeded.
  let seed = 7;
  const gauss = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const u = (seed + 1) / (2 ** 31 + 1);
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const v = (seed + 1) / (2 ** 31 + 1);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const acc = new PerformanceAccumulator();
  acc.addSample(null, true, 0);
  for (let i = 0; i < 6; i++) acc.addFill(i % 2 ? 1 : null);
  let i = 1;
  const run = (bars: number): void => {
    for (const end = i + bars; i < end; i++) acc.addSample(0.00001 + 0.002 * gauss(), true, i * 60_000);
  };
  run(200); // past min_bars (120) and min_trades (4): the figure would carry ±51
  let m = acc.metrics({ evidence: DEFAULT_EVIDENCE_POLICY, barIntervalMs: 60_000 });
  assert.equal(m.sharpe, null);
  assert.equal(m.sortino, null);
  assert.match(m.sharpe_reason ?? '', /annualised Sharpe still ±51\.\d \(standard error from 200 bars\); shown below ±5 from about 2102\d bars/);
  assert.notEqual(acc.metrics({ barIntervalMs: 60_000 }).sharpe, null, 'the raw figure exists; the policy withholds it');
  run(21_100);
  m = acc.metrics({ evidence: DEFAULT_EVIDENCE_POLICY, barIntervalMs: 60_000 });
  assert.equal(m.sharpe_reason, null);
  assert.ok(typeof m.sharpe === 'number' && Math.abs(m.sharpe) < 20, `a plausible annualised Sharpe, got ${m.sharpe}`);
});

test('a state saved by wall-clock sampling keeps its trade counts and drops its returns', () => {
  const legacy = { samples: 40, sumR: 0.5, sumR2: 0.1, sumDown2: 0.01, index: 1.5, peak: 1.6, maxDrawdown: 0.2, exposed: 30, trades: 12, wins: 5, losses: 3, firstTs: 0, lastTs: 40_000, sumDtMs: 39_000, returns: 39 };
  const s = reviveState(legacy);
  assert.equal(s.returns.n, 0);
  assert.equal(s.index, 1);
  assert.deepEqual([s.trades, s.wins, s.losses], [12, 5, 3]);
});
