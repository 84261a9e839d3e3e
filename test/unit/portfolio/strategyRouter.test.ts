import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fx, mul, toDecimalString } from '../../../src/core/decimal.js';
import { modelId, symbol } from '../../../src/core/ids.js';
import type { Signal } from '../../../src/core/signal.js';
import { sizeOrder } from '../../../src/portfolio/strategyRouter.js';

const sig = (over: Partial<Signal> = {}): Signal => ({ model: modelId('m'), symbol: symbol('BTCUSDT'), action: 'BUY', strength: 1, ts: 1, ...over });
const base = { weight: 1, quotaUsd: 1000, price: fx('50000'), held: fx('0'), maxNotional: fx('100000'), stepSize: fx('0.00001') };

test('notional = quota × weight × strength, rounded down to the step', () => {
  const r = sizeOrder(sig({ strength: 0.5 }), { ...base, weight: 0.1 });
  assert.equal(r.side, 'BUY');
  assert.equal(toDecimalString(r.qty), '0.001'); // 1000 × 0.1 × 0.5 = 50 USD at 50000
});

test('lowering the weight shrinks the order in proportion (the runbook\'s gradual resume)', () => {
  const full = sizeOrder(sig(), base).qty;
  const tenth = sizeOrder(sig(), { ...base, weight: 0.1 }).qty;
  assert.equal(full, fx('0.02'));
  assert.equal(tenth, fx('0.002'));
});

test('a target exposure trades the difference; flat sells exactly what is held', () => {
  const toTarget = sizeOrder(sig({ targetExposure: 1 }), { ...base, held: fx('0.005') });
  assert.equal(toTarget.side, 'BUY');
  assert.equal(toDecimalString(toTarget.qty), '0.015');
  const flat = sizeOrder(sig({ action: 'SELL', targetExposure: 0 }), { ...base, held: fx('0.01234567') });
  assert.equal(flat.side, 'SELL');
  assert.equal(toDecimalString(flat.qty), '0.01234567');
});

test('property: never sells more than held, never exceeds MAX_NOTIONAL, always a step multiple', () => {
  fc.assert(fc.property(
    fc.constantFrom('BUY' as const, 'SELL' as const), fc.double({ min: 0, max: 1, noNaN: true }), fc.option(fc.double({ min: -1, max: 1, noNaN: true }), { nil: undefined }),
    fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 100_000_000 }), fc.integer({ min: 100, max: 50_000 }),
    (action, strength, target, weight, quota, heldRaw, maxN) => {
      const held = fx(heldRaw / 1e5);
      const r = sizeOrder(sig({ action, strength, targetExposure: target }), { ...base, weight, quotaUsd: quota, held, maxNotional: fx(maxN) });
      assert.ok(r.qty >= 0n);
      if (r.side === 'SELL') assert.ok(r.qty <= held);
      const targetFlatSell = r.side === 'SELL' && target !== undefined && target <= 0 && r.qty === held;
      if (!targetFlatSell) {
        assert.ok(mul(r.qty, base.price) <= fx(maxN));
        assert.equal(r.qty % base.stepSize, 0n);
      }
    },
  ), { numRuns: 1000 });
});
