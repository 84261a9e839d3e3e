// The restate capability of the model interface (src/strategy/model.ts), as the MA crossover
// has it: asked after warm-up or by a new leader, it re-states its current view on its next bar;
// not asked, it stays silent while its view holds. The control plane relies on exactly this
// instead of knowing the model's class.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelId, symbol } from '../../../src/core/ids.js';
import type { Model } from '../../../src/strategy/model.js';
import { MaCrossoverModel } from '../../../src/strategy/ma/maCrossover.js';

const BTC = symbol('BTCUSDT');
const bar = (close: number, ts: number) => ({ symbol: BTC, ts, open: close, high: close, low: close, close, volume: 1 });

function warmedUp(): { model: Model; next: (close: number) => ReturnType<Model['onBar']> } {
  const model: Model = new MaCrossoverModel(modelId('ma_test'), [BTC], { fast: 2, slow: 4, band: 0.0001 });
  let ts = 0;
  const next = (close: number) => model.onBar(bar(close, (ts += 60_000)));
  // A rising market: the first decided bar announces long, and the view then holds.
  for (const c of [100, 101, 102, 103]) next(c);
  return { model, next };
}

test('asked to restate, the MA crossover re-announces its current view on the next bar', () => {
  const { model, next } = warmedUp();
  assert.equal(next(104), null, 'the view holds: nothing to say');
  assert.equal(typeof model.restateOnNextBar, 'function', 'the capability is declared');
  model.restateOnNextBar?.();
  const s = next(105);
  assert.ok(s !== null, 'the next bar re-states');
  assert.equal(s.action, 'BUY');
  assert.equal(s.targetExposure, 1);
  assert.equal(next(106), null, 'once: then silent again while the view holds');
});

test('not asked, the MA crossover stays silent while its view holds', () => {
  const { next } = warmedUp();
  for (const c of [104, 105, 106, 107]) assert.equal(next(c), null);
});

test('the inverted MA crossover is long exactly where the plain one is flat, and a spec carries invert', async () => {
  const { validateModelSpec } = await import('../../../src/strategy/modelSpec.js');
  const cfg = { fast: 2, slow: 4, band: 0.0001 };
  const plain = new MaCrossoverModel(modelId('ma_plain'), [BTC], cfg);
  const inverted = new MaCrossoverModel(modelId('ma_inverted'), [BTC], { ...cfg, invert: true });
  const closes = [100, 101, 102, 103, 104, 103, 101, 99, 98, 99, 101, 104, 106, 105, 102, 100];
  let decided = 0;
  closes.forEach((c, i) => {
    plain.onBar(bar(c, (i + 1) * 60_000));
    inverted.onBar(bar(c, (i + 1) * 60_000));
    const p = plain.diagnostics()['position_BTCUSDT']!;
    const q = inverted.diagnostics()['position_BTCUSDT']!;
    if (p === -1) return;
    decided++;
    assert.equal(q, 1 - p, `bar ${i}: plain ${p}, inverted ${q}`);
  });
  assert.ok(decided >= 10);
  const spec = validateModelSpec({ kind: 'ma', symbols: ['BTCUSDT'], params: { ...cfg, invert: true } });
  assert.deepEqual(spec.params, { ...cfg, invert: true });
  assert.throws(() => validateModelSpec({ kind: 'ma', symbols: ['BTCUSDT'], params: { ...cfg, invert: 'yes' } }), /params\.invert must be a boolean/);
});
