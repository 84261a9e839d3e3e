// The ensemble votes: weighted mean of member stances, quorum, HOLD keeps a stance, emits only
// on a change of target; and the ensemble's members are its own instances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelId, symbol, type Symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import type { Signal } from '../../../src/core/signal.js';
import { EnsembleModel, stanceOf } from '../../../src/strategy/ensemble/ensemble.js';
import type { Model } from '../../../src/strategy/model.js';

const BTC = symbol('BTCUSDT');
const ETH = symbol('ETHUSDT');

/** A member that says what it is told on the next bar. */
class Scripted implements Model {
  readonly kind = 'ma' as const;
  next: Partial<Signal> | null = null;
  bars = 0;
  constructor(readonly id: ReturnType<typeof modelId>, readonly symbols: readonly Symbol[]) {}
  onBar(bar: Bar): Signal | null {
    this.bars++;
    const n = this.next;
    this.next = null;
    return n === null ? null : { model: this.id, symbol: bar.symbol, action: 'BUY', strength: 1, ts: bar.ts, ...n };
  }
}

const bar = (ts: number, s: Symbol = BTC): Bar => ({ symbol: s, ts, open: 100, high: 101, low: 99, close: 100, volume: 10 });

test('weighted vote of the members that have a stance, quantised, emitted only on change', () => {
  const a = new Scripted(modelId('a'), [BTC]);
  const b = new Scripted(modelId('b'), [BTC]);
  const e = new EnsembleModel(modelId('ens'), [{ model: a, weight: 3 }, { model: b, weight: 1 }], { resolution: 0.05, quorum: 0.5 });
  a.next = { action: 'BUY', targetExposure: 1 };
  const s1 = e.onBar(bar(1));
  assert.equal(s1?.targetExposure, 1); // a alone holds 75 % of the vote ≥ quorum
  assert.equal(s1?.action, 'BUY');
  assert.equal(e.onBar(bar(2)), null); // nothing changed
  b.next = { action: 'SELL', targetExposure: 0 };
  const s2 = e.onBar(bar(3));
  assert.equal(s2?.targetExposure, 0.75);
  assert.equal(s2?.action, 'SELL');
  b.next = { action: 'HOLD', targetExposure: undefined }; // HOLD keeps b's stance
  assert.equal(e.onBar(bar(4)), null);
  a.next = { action: 'SELL', targetExposure: 0 };
  assert.equal(e.onBar(bar(5))?.targetExposure, 0);
  assert.equal(a.bars, 5);
  assert.equal(b.bars, 5);
});

test('no signal until the quorum of weight has spoken', () => {
  const a = new Scripted(modelId('a'), [BTC]);
  const b = new Scripted(modelId('b'), [BTC]);
  const e = new EnsembleModel(modelId('ens'), [{ model: a, weight: 1 }, { model: b, weight: 3 }], { quorum: 0.5 });
  a.next = { targetExposure: 1 };
  assert.equal(e.onBar(bar(1)), null); // 25 % < 50 %
  b.next = { targetExposure: 1 };
  assert.equal(e.onBar(bar(2))?.targetExposure, 1);
});

test('quorum counts only the members that trade the symbol', () => {
  const both = new Scripted(modelId('both'), [BTC, ETH]);
  const btcOnly = new Scripted(modelId('btc'), [BTC]);
  const e = new EnsembleModel(modelId('ens'), [{ model: both, weight: 1 }, { model: btcOnly, weight: 1 }], { quorum: 0.75 });
  assert.deepEqual([...e.symbols].sort(), ['BTCUSDT', 'ETHUSDT']);
  both.next = { targetExposure: 1 };
  assert.equal(e.onBar(bar(1, ETH))?.targetExposure, 1); // the only ETH member is the whole ETH vote
  assert.equal(btcOnly.bars, 0); // never fed a symbol it does not trade
});

test('stances: target wins, BUY without target is its strength, SELL is flat, HOLD keeps', () => {
  const s = (x: Partial<Signal>): Signal => ({ model: modelId('x'), symbol: BTC, action: 'BUY', strength: 0.4, ts: 0, ...x });
  assert.equal(stanceOf(s({ targetExposure: 0.3 })), 0.3);
  assert.equal(stanceOf(s({})), 0.4);
  assert.equal(stanceOf(s({ action: 'SELL' })), 0);
  assert.equal(stanceOf(s({ action: 'HOLD' })), undefined);
});

test('bad configurations are refused', () => {
  const a = new Scripted(modelId('a'), [BTC]);
  assert.throws(() => new EnsembleModel(modelId('e'), []), /at least one member/);
  assert.throws(() => new EnsembleModel(modelId('e'), [{ model: a, weight: 0 }]), /weight/);
  assert.throws(() => new EnsembleModel(modelId('e'), [{ model: a, weight: 1 }, { model: a, weight: 1 }]), /twice/);
  assert.throws(() => new EnsembleModel(modelId('e'), [{ model: a, weight: 1 }], { resolution: 0 }), /resolution/);
});
