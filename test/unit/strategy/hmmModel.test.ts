// The live HMM model end to end: train on bars with known regimes, then trade a fresh series
// from the same process — signals follow the true regime, fire only on changes, and a model
// reloaded from the registry behaves identically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../src/core/random.js';
import { symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import type { Signal } from '../../../src/core/signal.js';
import { HmmModel, trainHmmFromBars } from '../../../src/strategy/hmm/hmmModel.js';
import { loadLatestHmmModel, saveHmmModel, verifyStoredModel } from '../../../src/strategy/hmm/modelStore.js';
import { HmmError } from '../../../src/strategy/hmm/errors.js';

const SYM = symbol('BTCUSDT');

/** Two persistent regimes: calm uptrend (1) and volatile selloff (0). */
function regimeBars(n: number, seed: number): { bars: Bar[]; regime: Int8Array } {
  const rng = new Rng(seed);
  const bars: Bar[] = [];
  const regime = new Int8Array(n);
  let r = 1;
  let price = 30_000;
  for (let i = 0; i < n; i++) {
    if (rng.next() < 0.01) r = 1 - r;
    regime[i] = r;
    const ret = r === 1 ? 0.003 + 0.006 * rng.normal() : -0.006 + 0.02 * rng.normal();
    price *= Math.exp(ret);
    bars.push({
      symbol: SYM, ts: 1_700_000_000_000 + i * 3_600_000,
      open: price, high: price, low: price, close: price, volume: (r === 1 ? 50 : 150) * (1 + 0.3 * rng.next()),
    });
  }
  return { bars, regime };
}

const train = regimeBars(4000, 1);
const stored = trainHmmFromBars(train.bars, {
  id: 'btc-regime', k: 2, features: { volWindow: 10, trendWindow: 0 }, policy: { minBarsWarmup: 5 },
  fit: { seed: 3, nInit: 2 }, now: new Date('2024-01-02T03:04:05Z'),
});

test('trainHmmFromBars returns a verified stored model with states ordered bearish → bullish', () => {
  assert.equal(stored.version, 0);
  assert.equal(stored.k, 2);
  assert.equal(stored.d, 2);
  assert.equal(stored.createdAt, '2024-01-02T03:04:05.000Z');
  assert.deepEqual(stored.trainingWindow, { from: train.bars[0]!.ts, to: train.bars.at(-1)!.ts, bars: 4000 });
  assert.deepEqual(stored.features.names, ['logReturn', 'volatility']);
  assert.ok(stored.params.means[0]! < 0 && stored.params.means[2]! > 0, `standardised mean returns ${stored.params.means}`);
  // Bearish regime is the volatile one in this generator.
  assert.ok(stored.params.means[1]! > stored.params.means[3]!);
  assert.ok(Number.isFinite(stored.fit.logLikelihood) && Number.isFinite(stored.fit.bic));
  assert.doesNotThrow(() => verifyStoredModel(JSON.parse(JSON.stringify(stored)), 'round trip'));
});

function run(model: HmmModel, bars: readonly Bar[]): { signals: Signal[]; actionAt: string[] } {
  const signals: Signal[] = [];
  const actionAt: string[] = [];
  let current = 'HOLD';
  for (const b of bars) {
    const s = model.onBar(b);
    if (s) { signals.push(s); current = s.action; }
    actionAt.push(current);
  }
  return { signals, actionAt };
}

test('on a fresh series the model is long in the calm uptrend and flat in the selloff, signalling only on changes', () => {
  const live = regimeBars(4000, 99);
  const { signals, actionAt } = run(new HmmModel(stored, { symbol: SYM }), live.bars);
  assert.ok(signals.length >= 4, `${signals.length} signals`);
  for (let i = 1; i < signals.length; i++) assert.notEqual(signals[i]!.action, signals[i - 1]!.action);
  let agree = 0;
  let judged = 0;
  for (let i = 0; i < live.bars.length; i++) {
    if (actionAt[i] === 'HOLD') continue;
    judged++;
    if ((actionAt[i] === 'BUY') === (live.regime[i] === 1)) agree++;
  }
  assert.ok(judged > 3000 && agree / judged > 0.85, `agreement ${agree}/${judged}`);
  for (const s of signals) {
    assert.equal(s.model, 'btc-regime');
    if (s.action === 'BUY') assert.ok(s.targetExposure! >= 0.7 && s.strength === s.targetExposure);
    if (s.action === 'SELL') assert.equal(s.targetExposure, 0);
  }
});

test('diagnostics: posteriors per regime sum to 1 and regime is the argmax', () => {
  const model = new HmmModel(stored, { symbol: SYM });
  assert.equal(model.diagnostics()['regime'], -1);
  run(model, regimeBars(300, 5).bars);
  const d = model.diagnostics();
  assert.ok(Math.abs(d['posterior_0']! + d['posterior_1']! - 1) < 1e-12);
  assert.equal(d['regime'], d['posterior_1']! > d['posterior_0']! ? 1 : 0);
  assert.equal(d['bars_filtered'], 300 - 10);
});

test('other symbols, replayed timestamps and broken bars are ignored', () => {
  const model = new HmmModel(stored, { symbol: SYM });
  const { bars } = regimeBars(200, 6);
  run(model, bars);
  const before = model.diagnostics();
  assert.equal(model.onBar({ ...bars[50]!, close: bars[50]!.close * 2 }), null);
  assert.equal(model.onBar({ ...bars[199]!, symbol: symbol('ETHUSDT'), ts: bars[199]!.ts + 1 }), null);
  assert.equal(model.onBar({ ...bars[199]!, ts: bars[199]!.ts + 1, close: -1 }), null);
  const after = model.diagnostics();
  assert.equal(after['bars_filtered'], before['bars_filtered']);
  assert.equal(after['bars_rejected'], 1);
  assert.equal(after['posterior_0'], before['posterior_0']);
});

test('a model saved to and loaded from the registry emits exactly the same signals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-model-'));
  try {
    saveHmmModel(dir, stored);
    const loaded = loadLatestHmmModel(dir, 'btc-regime');
    assert.equal(loaded.version, 1);
    const bars = regimeBars(1500, 7).bars;
    assert.deepEqual(run(new HmmModel(loaded, { symbol: SYM }), bars).signals, run(new HmmModel(stored, { symbol: SYM }), bars).signals);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('training on too few bars is a clear error', () => {
  assert.throws(() => trainHmmFromBars(train.bars.slice(0, 8), { id: 'x', features: { volWindow: 10, trendWindow: 0 } }),
    (e: unknown) => e instanceof HmmError && /8 bars give no feature rows/.test(e.message));
  assert.throws(() => trainHmmFromBars(train.bars.slice(0, 12), { id: 'x', k: 3, features: { volWindow: 10, trendWindow: 0 } }),
    /need at least 3 observations to fit 3 states, got 2/);
});
