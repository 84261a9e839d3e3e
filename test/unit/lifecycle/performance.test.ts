// The performance figures every model is judged by, against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceAccumulator, YEAR_MS, reviveState } from '../../../src/lifecycle/performance.js';

test('Sharpe, Sortino, drawdown and return from a known series', () => {
  const acc = new PerformanceAccumulator();
  const rets = [0.01, -0.02, 0.03, 0.01];
  acc.addSample(null, false, 0);
  rets.forEach((r, i) => acc.addSample(r, i % 2 === 0, (i + 1) * 60_000));
  const m = acc.metrics();
  const mean = rets.reduce((a, b) => a + b, 0) / 4;
  const sd = Math.sqrt(rets.reduce((a, r) => a + (r - mean) ** 2, 0) / 3);
  const perYear = Math.sqrt(YEAR_MS / 60_000);
  assert.ok(Math.abs(m.sharpe - (mean / sd) * perYear) < 1e-3, `${m.sharpe}`);
  const down = Math.sqrt((0.02 ** 2) / 4);
  assert.ok(Math.abs(m.sortino - (mean / down) * perYear) < 1e-3);
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
