// Regime → action policy and bar features: the rules a trader relies on, with plain numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import { decideRegimeAction, orderStatesByReturn, validatePolicyConfig, DEFAULT_POLICY } from '../../../src/strategy/hmm/policy.js';
import { FeatureStream, computeFeatures, fitStandardisation, warmupBars } from '../../../src/strategy/hmm/features.js';
import { HmmError } from '../../../src/strategy/hmm/errors.js';

// States 0,1,2 with mean returns +0.5, −1, 0 (feature 0); feature 1 irrelevant.
const means = Float64Array.of(0.5, 9, -1, 9, 0, 9);
const order = orderStatesByReturn(means, 3, 2);
const cfg = { ...DEFAULT_POLICY, enterThreshold: 0.7, exitThreshold: 0.5 };

test('states are ordered by mean log return: bearish first, bullish last', () => {
  assert.deepEqual(Array.from(order), [1, 2, 0]);
});

test('bullish posterior above enterThreshold → BUY with strength = confidence and scaled exposure', () => {
  const d = decideRegimeAction([0.8, 0.1, 0.1], order, { ...cfg, maxExposure: 0.5 }, 'HOLD');
  assert.equal(d.action, 'BUY');
  assert.equal(d.confidence, 0.8);
  assert.equal(d.targetExposure, 0.4);
  assert.equal(d.regime, 2);
});

test('bearish posterior above enterThreshold → SELL to flat on spot, short only when allowed', () => {
  const spot = decideRegimeAction([0.05, 0.9, 0.05], order, cfg, 'BUY');
  assert.equal(spot.action, 'SELL');
  assert.equal(spot.confidence, 0.9);
  assert.equal(spot.targetExposure, 0);
  assert.equal(spot.regime, 0);
  const margin = decideRegimeAction([0.05, 0.9, 0.05], order, { ...cfg, shortOnBearish: true }, 'HOLD');
  assert.equal(margin.targetExposure, -0.9);
});

test('no regime above enterThreshold → HOLD without a target exposure', () => {
  const d = decideRegimeAction([0.4, 0.3, 0.3], order, cfg, 'HOLD');
  assert.equal(d.action, 'HOLD');
  assert.equal(d.targetExposure, undefined);
  assert.equal(d.regime, 2);
});

test('hysteresis: an open BUY holds above exitThreshold and ends below it', () => {
  assert.equal(decideRegimeAction([0.6, 0.2, 0.2], order, cfg, 'BUY').action, 'BUY');
  assert.equal(decideRegimeAction([0.6, 0.2, 0.2], order, cfg, 'HOLD').action, 'HOLD');
  assert.equal(decideRegimeAction([0.45, 0.3, 0.25], order, cfg, 'BUY').action, 'HOLD');
  assert.equal(decideRegimeAction([0.2, 0.55, 0.25], order, cfg, 'SELL').action, 'SELL');
});

test('a one-state model never trades', () => {
  assert.equal(decideRegimeAction([1], Int32Array.of(0), cfg, 'HOLD').action, 'HOLD');
});

test('invalid policy config names the key', () => {
  assert.throws(() => validatePolicyConfig({ ...cfg, enterThreshold: 1.2 }), /policy.enterThreshold/);
  assert.throws(() => validatePolicyConfig({ ...cfg, exitThreshold: 0.9 }), /policy.exitThreshold/);
  assert.throws(() => validatePolicyConfig({ ...cfg, minBarsWarmup: -1 }), /policy.minBarsWarmup/);
});

const SYM = symbol('BTCUSDT');
function bar(i: number, close: number, volume = 100): Bar {
  return { symbol: SYM, ts: 1_700_000_000_000 + i * 60_000, open: close, high: close, low: close, close, volume };
}

test('features: log return and rolling volatility match a direct computation', () => {
  const closes = [100, 101, 99.5, 102, 103.1, 102.2, 104, 103.9];
  const spec = { volWindow: 3, volumeZ: false, volumeWindow: 5 };
  const { obs, barIndex } = computeFeatures(closes.map((c, i) => bar(i, c)), spec);
  assert.equal(warmupBars(spec), 4);
  assert.equal(obs.n, closes.length - 3);
  assert.equal(barIndex[0], 3);
  for (let t = 0; t < obs.n; t++) {
    const i = barIndex[t]!;
    const rets = [i - 2, i - 1, i].map((j) => Math.log(closes[j]! / closes[j - 1]!));
    const m = rets.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(rets.reduce((a, r) => a + (r - m) ** 2, 0) / 3);
    assert.ok(Math.abs(obs.data[2 * t]! - rets[2]!) < 1e-15);
    assert.ok(Math.abs(obs.data[2 * t + 1]! - sd) < 1e-12);
  }
});

test('features: volume z-score of log(1+volume) against its window', () => {
  const spec = { volWindow: 2, volumeZ: true, volumeWindow: 4 };
  const vols = [10, 20, 30, 40, 500];
  const { obs } = computeFeatures(vols.map((v, i) => bar(i, 100 + i, v)), spec);
  const lv = vols.slice(1).map(Math.log1p);
  const m = lv.reduce((a, b) => a + b) / 4;
  const sd = Math.sqrt(lv.reduce((a, x) => a + (x - m) ** 2, 0) / 4);
  assert.equal(obs.d, 3);
  assert.ok(Math.abs(obs.data[(obs.n - 1) * 3 + 2]! - (lv[3]! - m) / sd) < 1e-12);
});

test('features: the incremental stream stays exact over a long series (no running-sum drift)', () => {
  const spec = { volWindow: 20, volumeZ: true, volumeWindow: 30 };
  const stream = new FeatureStream(spec);
  let price = 100;
  const closes: number[] = [];
  let s = 1;
  for (let i = 0; i < 50_000; i++) {
    s = (s * 16807) % 2147483647;
    price *= Math.exp((s / 2147483647 - 0.5) * 0.02);
    closes.push(price);
    const row = stream.push(bar(i, price, 1000 + (s % 5000)));
    if (i === 49_999) {
      const rets = closes.slice(-21).map((c, j, a) => (j === 0 ? 0 : Math.log(c / a[j - 1]!))).slice(1);
      const m = rets.reduce((a, b) => a + b) / 20;
      const sd = Math.sqrt(rets.reduce((a, r) => a + (r - m) ** 2, 0) / 20);
      assert.ok(row !== null && Math.abs(row[1]! - sd) < 1e-12 * Math.max(1, sd), `${row?.[1]} vs ${sd}`);
    }
  }
});

test('features: a bad bar is an HmmError naming the bar', () => {
  const bars = [bar(0, 100), bar(1, 101), bar(2, NaN), bar(3, 99)];
  assert.throws(() => computeFeatures(bars, { volWindow: 2, volumeZ: false, volumeWindow: 2 }),
    (e: unknown) => e instanceof HmmError && /bar 2 .*close is NaN/.test(e.message));
});

test('standardisation of a constant feature uses std 1 instead of dividing by zero', () => {
  const stats = fitStandardisation({ data: Float64Array.of(1, 5, 2, 5, 3, 5), n: 3, d: 2 });
  assert.deepEqual(stats.mean, [2, 5]);
  assert.equal(stats.std[1], 1);
  assert.ok(Math.abs(stats.std[0]! - Math.sqrt(2 / 3)) < 1e-15);
});

test('the trend feature is the mean log return over trendWindow bars, last column; trendWindow 0 means none', () => {
  const closes = [100, 101, 103, 102, 105, 107, 106];
  const bars: Bar[] = closes.map((c, i) => ({ symbol: symbol('BTCUSDT'), ts: (i + 1) * 60_000, open: c, high: c, low: c, close: c, volume: 1 }));
  const spec = { volWindow: 2, volumeZ: false, volumeWindow: 2, trendWindow: 3 };
  assert.equal(warmupBars(spec), 4, 'three returns need four bars');
  const { obs, barIndex } = computeFeatures(bars, spec);
  assert.equal(obs.d, 3);
  assert.equal(barIndex[0], 3, 'the first row belongs to the fourth bar');
  for (let t = 0; t < obs.n; t++) {
    const i = barIndex[t]!;
    const expected = Math.log(closes[i]! / closes[i - 3]!) / 3;
    assert.ok(Math.abs(obs.data[t * 3 + 2]! - expected) < 1e-12, `row ${t}: ${obs.data[t * 3 + 2]} vs ${expected}`);
  }
  assert.equal(computeFeatures(bars, { ...spec, trendWindow: 0 }).obs.d, 2);
  assert.throws(() => new FeatureStream({ ...spec, trendWindow: 1 }), /trendWindow must be 0 \(none\) or an integer ≥ 2/);
});
