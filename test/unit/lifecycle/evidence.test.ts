// Evidence statistics: the online moments equal the two-pass ones, the normal CDF is right
// where decisions are taken, and the probabilistic Sharpe ratio grows with evidence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addObservation, edgeOver, emptyMoments, normalCdf, probabilisticSharpe, reviveMoments, seriesStats } from '../../../src/lifecycle/evidence.js';
import { Rng } from '../../../src/core/random.js';

test('online moments equal two-pass mean, stdev, skewness and kurtosis', () => {
  const xs = [0.01, -0.02, 0.005, 0.03, -0.01, 0.0, 0.015, -0.04, 0.02, 0.001];
  const m = emptyMoments();
  for (const x of xs) addObservation(m, x);
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const c = (k: number) => xs.reduce((a, x) => a + (x - mean) ** k, 0) / n;
  const s = seriesStats(m);
  assert.ok(Math.abs(s.mean - mean) < 1e-15);
  assert.ok(Math.abs(s.stdev - Math.sqrt((c(2) * n) / (n - 1))) < 1e-12);
  assert.ok(Math.abs(s.skew - c(3) / c(2) ** 1.5) < 1e-9);
  assert.ok(Math.abs(s.kurtosis - c(4) / c(2) ** 2) < 1e-9);
  assert.deepEqual(reviveMoments(JSON.parse(JSON.stringify(m))), m);
  assert.deepEqual(reviveMoments({ n: -1, mean: 0, m2: 0, m3: 0, m4: 0 }), emptyMoments());
});

test('normalCdf at the quantiles decisions use', () => {
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-7);
  assert.ok(Math.abs(normalCdf(1.6448536) - 0.95) < 1e-6);
  assert.ok(Math.abs(normalCdf(-2.3263479) - 0.01) < 1e-6);
});

test('PSR: null without evidence, rises with n for the same edge, ~0.5 for no edge', () => {
  assert.equal(probabilisticSharpe(seriesStats(emptyMoments())), null);
  const rng = new Rng(5);
  const gauss = () => rng.normal();
  const psrAt = (n: number, drift: number) => {
    const m = emptyMoments();
    for (let i = 0; i < n; i++) addObservation(m, drift + 0.01 * gauss());
    return probabilisticSharpe(seriesStats(m))!;
  };
  const small = psrAt(30, 0.002);
  const large = psrAt(3000, 0.002);
  assert.ok(large > small && large > 0.99, `${small} → ${large}`);
  const none = psrAt(3000, 0);
  assert.ok(none > 0.02 && none < 0.98, `no edge gave ${none}`);
  const d = emptyMoments();
  for (let i = 0; i < 2000; i++) addObservation(d, -0.001 + 0.01 * gauss());
  assert.ok(edgeOver(d).probability! < 0.2);
});
