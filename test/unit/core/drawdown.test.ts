// The one drawdown formula governance, the metrics gauges, the dashboard frames and the
// backtest's equity.csv state drawdown with: its figures, its edges (a peak ≤ 0, equity above
// the peak, NaN), and — for every peak a caller can hold (the running maximum, so never below
// equity) — the same bits as the expressions it replaced in those four places.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { drawdownPct, drawdownRatio, statedDrawdownPct } from '../../../src/core/drawdown.js';

test('drawdown is the share of the peak that equity stands below it', () => {
  assert.equal(drawdownRatio(10_000, 9_500), 0.05);
  assert.equal(drawdownPct(10_000, 9_150), 8.5);
  assert.equal(drawdownRatio(11_000, 10_450), (11_000 - 10_450) / 11_000);
  // A loss of everything, and beyond it (negative equity), is more than 100 %: not clipped.
  assert.equal(drawdownPct(10_000, 0), 100);
  assert.equal(drawdownPct(10_000, -5_000), 150);
});

test('no drawdown at or above the peak, nor from a peak with no capital in it', () => {
  assert.ok(Object.is(drawdownRatio(10_000, 10_000), 0));
  assert.ok(Object.is(drawdownRatio(10_000, 12_000), 0), 'equity above a stale peak is no drawdown, not a negative one');
  for (const peak of [0, -0, -1, -10_000, -Infinity, Number.NaN]) {
    assert.ok(Object.is(drawdownRatio(peak, -50), 0), `peak ${peak}`);
    assert.ok(Object.is(statedDrawdownPct(peak, -50), 0), `peak ${peak}`);
  }
});

test('a broken equity shows as NaN, not as "no drawdown"', () => {
  assert.ok(Number.isNaN(drawdownRatio(10_000, Number.NaN)));
  assert.ok(Number.isNaN(drawdownPct(Infinity, Infinity)));
});

test('the stated figure is the percentage to a thousandth, as governance publishes it', () => {
  // governance_state.json's peak from a seed-42 replay, and an equity 3.015 % below it.
  assert.equal(statedDrawdownPct(10_022.49062068, 9_720.3), 3.015);
  assert.equal(statedDrawdownPct(10_000, 9_999.99), 0);
  assert.equal(statedDrawdownPct(10_000, 9_999.9), 0.001);
});

test('bit for bit the expressions it replaced, for any peak a caller holds (the running maximum)', () => {
  const money = fc.double({ min: -1e12, max: 1e12, noNaN: true });
  fc.assert(
    fc.property(money, money, (held, equity) => {
      const peak = Math.max(held, equity);
      const ratio = drawdownRatio(peak, equity);
      // metricsCollector (gauge ratio), governance daemon (stated), stream frames (stated),
      // replay report equity.csv (percent), as each was written before.
      assert.ok(Object.is(ratio, peak > 0 ? Math.max(0, (peak - equity) / peak) : 0));
      const daemonPct = peak > 0 ? Math.max(0, ((peak - equity) / peak) * 100) : 0;
      assert.ok(Object.is(statedDrawdownPct(peak, equity), Math.round(daemonPct * 1000) / 1000));
      assert.ok(Object.is(statedDrawdownPct(peak, equity), peak > 0 ? Math.round(((peak - equity) / peak) * 100 * 1000) / 1000 : 0));
      assert.ok(Object.is(drawdownPct(peak, equity), peak > 0 ? ((peak - equity) / peak) * 100 : 0));
      assert.ok(ratio >= 0);
    }),
    { numRuns: 2000 },
  );
});
