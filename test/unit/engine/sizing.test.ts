// Sizing at the engine (sizing.ts and Engine.submitNotional): the control plane's money turned
// into a quantity against the engine's last price and the model's own position, on the lot
// step, clipped to the maximum, skipped below the minimum, and a flat target closing exactly
// what the model holds (not what another model or the account holds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fx, toDecimalString } from '../../../src/core/decimal.js';
import { modelId } from '../../../src/core/ids.js';
import { sizeNotional, type NotionalOrderRequest } from '../../../src/engine/sizing.js';
import { tradingDoc } from '../../support/tradingState.js';
import { BTC, ETH, bar, engineFixture, removeDir } from '../../support/engineFixture.js';

const STEP = fx('0.00001');
const req = (intent: NotionalOrderRequest['intent'], over: Partial<NotionalOrderRequest> = {}): NotionalOrderRequest => ({
  symbol: BTC, model: modelId('m'), intent, maxNotionalUsd: fx('2000'), minNotionalUsd: fx('10'), ...over,
});
const market = (price: string, held = '0') => ({ price: fx(price), held: fx(held), stepSize: STEP });

test('a notional BUY is money ÷ price, rounded down to the lot step, in exact decimals', () => {
  const s = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('100') }), market('60000.13'));
  assert.equal(s.kind, 'sized');
  if (s.kind !== 'sized') return;
  assert.equal(s.side, 'BUY');
  assert.equal(toDecimalString(s.qty), '0.00166'); // 100 / 60000.13 = 0.0016666…, floored to 0.00001
  assert.equal(toDecimalString(s.notionalUsd), '99.6002158'); // 0.00166 × 60000.13
});

test('the maximum clips an order rather than refusing it; a SELL never sells more than the model holds', () => {
  const big = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('9000') }), market('50000'));
  assert.equal(big.kind === 'sized' && toDecimalString(big.qty), '0.04'); // 2000 / 50000
  const sell = sizeNotional(req({ kind: 'notional', side: 'SELL', notionalUsd: fx('1000') }), market('50000', '0.0035'));
  assert.equal(sell.kind === 'sized' && toDecimalString(sell.qty), '0.0035');
  const within = sizeNotional(req({ kind: 'notional', side: 'SELL', notionalUsd: fx('100') }), market('50000', '0.0035'));
  assert.equal(within.kind === 'sized' && toDecimalString(within.qty), '0.002');
});

test('a target trades the difference to the model\'s position; target 0 sells exactly what it holds, dust included', () => {
  const up = sizeNotional(req({ kind: 'target', targetUsd: fx('1000') }), market('50000', '0.005'));
  assert.deepEqual(up.kind === 'sized' && [up.side, toDecimalString(up.qty)], ['BUY', '0.015']);
  const down = sizeNotional(req({ kind: 'target', targetUsd: fx('500') }), market('50000', '0.02'));
  assert.deepEqual(down.kind === 'sized' && [down.side, toDecimalString(down.qty)], ['SELL', '0.01']);
  const flat = sizeNotional(req({ kind: 'target', targetUsd: fx('0') }), market('50000', '0.01234567'));
  assert.deepEqual(flat.kind === 'sized' && [flat.side, toDecimalString(flat.qty)], ['SELL', '0.01234567']);
  // Counterpart: a flat target worth more than the maximum is sold in clipped steps, not at once.
  const large = sizeNotional(req({ kind: 'target', targetUsd: fx('0') }), market('50000', '0.1'));
  assert.deepEqual(large.kind === 'sized' && [large.side, toDecimalString(large.qty)], ['SELL', '0.04']);
});

test('below the minimum, already at target, without a price or without the symbol: nothing is sized', () => {
  const tiny = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('9.99') }), market('50000'));
  assert.deepEqual(tiny.kind === 'not_sized' && [tiny.reason, toDecimalString(tiny.notionalUsd)], ['BELOW_MIN_NOTIONAL', '9.5']);
  const atTarget = sizeNotional(req({ kind: 'target', targetUsd: fx('1000') }), market('50000', '0.02'));
  assert.equal(atTarget.kind === 'not_sized' && atTarget.reason, 'BELOW_MIN_NOTIONAL');
  const nothingHeld = sizeNotional(req({ kind: 'notional', side: 'SELL', notionalUsd: fx('100') }), market('50000'));
  assert.equal(nothingHeld.kind === 'not_sized' && nothingHeld.reason, 'BELOW_MIN_NOTIONAL');
  const noPrice = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('100') }), { price: undefined, held: fx(0), stepSize: STEP });
  assert.equal(noPrice.kind === 'not_sized' && noPrice.reason, 'NO_MARKET_DATA');
  const unknown = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('100') }), { price: fx('1'), held: fx(0), stepSize: undefined });
  assert.equal(unknown.kind === 'not_sized' && unknown.reason, 'UNKNOWN_SYMBOL');
  // Counterpart: exactly the minimum is placed.
  const exact = sizeNotional(req({ kind: 'notional', side: 'BUY', notionalUsd: fx('10') }), market('50000'));
  assert.equal(exact.kind, 'sized');
});

test('the engine sizes against its own last price, the instrument\'s step and the model\'s own position', async () => {
  const f = engineFixture();
  try {
    const e = f.engine;
    const a = modelId('model_a');
    const b = modelId('model_b');
    const buy = (model: typeof a, id: string, usd: string) => e.submitNotional({ clientOrderId: id, symbol: BTC, model, intent: { kind: 'notional', side: 'BUY', notionalUsd: fx(usd) }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    const first = await buy(a, 'n-a1', '1200');
    assert.equal(first.outcome.kind, 'accepted');
    if (first.outcome.kind !== 'accepted') return;
    assert.equal(first.outcome.order.qty, '0.02'); // 1200 / 60000
    assert.equal(toDecimalString(first.notionalUsd), '1200');
    await buy(b, 'n-b1', '600');
    const heldA = e.modelQty('model_a', BTC);
    assert.equal(heldA, first.outcome.order.filled_qty);

    // ETH trades in steps of 0.0001: the instrument's step, not BTC's.
    const eth = await e.submitNotional({ clientOrderId: 'n-eth', symbol: ETH, model: a, intent: { kind: 'notional', side: 'BUY', notionalUsd: fx('100') }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    assert.equal(eth.outcome.kind === 'accepted' && eth.outcome.order.qty, '0.0333');

    // A flat target for model_a sells exactly what model_a holds; model_b's position stays.
    f.venue.onBar(bar(BTC, 61_000, 2_000));
    const flat = await e.submitNotional({ clientOrderId: 'n-a-flat', symbol: BTC, model: a, intent: { kind: 'target', targetUsd: fx('0') }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    assert.equal(flat.outcome.kind, 'accepted');
    if (flat.outcome.kind !== 'accepted') return;
    assert.equal(flat.outcome.order.side, 'SELL');
    assert.equal(flat.outcome.order.qty, heldA);
    assert.equal(e.modelQty('model_a', BTC), '0');
    assert.equal(e.modelQty('model_b', BTC), '0.01');

    // A retry of the same money under the same id replays, though the fill moved the position.
    const again = await e.submitNotional({ clientOrderId: 'n-a-flat', symbol: BTC, model: a, intent: { kind: 'target', targetUsd: fx('0') }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    assert.equal(again.outcome.kind === 'accepted' && again.outcome.duplicate, true);
    // Counterpart: other money under that id is a conflict, never a second order.
    const clash = await e.submitNotional({ clientOrderId: 'n-a-flat', symbol: BTC, model: a, intent: { kind: 'target', targetUsd: fx('100') }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    assert.equal(clash.outcome.kind, 'conflict');

    // Already flat: nothing is booked.
    const orders = e.recentOrders(100).length;
    const none = await e.submitNotional({ clientOrderId: 'n-a-flat2', symbol: BTC, model: a, intent: { kind: 'target', targetUsd: fx('0') }, maxNotionalUsd: fx('50000'), minNotionalUsd: fx('10') });
    assert.equal(none.outcome.kind === 'not_sized' && none.outcome.reason, 'BELOW_MIN_NOTIONAL');
    assert.equal(e.recentOrders(100).length, orders);
    assert.equal(e.getOrder('n-a-flat2'), undefined);
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('the engine\'s risk rails still judge a sized order (a halted model is refused, with its reason)', async () => {
  const f = engineFixture();
  try {
    await f.engine.applyTradingState(tradingDoc(1, { models: { m: 'HALTED' } }));
    const r = await f.engine.submitNotional({ clientOrderId: 'n-halt', ...req({ kind: 'notional', side: 'BUY', notionalUsd: fx('100') }) });
    assert.equal(r.outcome.kind, 'rejected');
    // Counterpart: another model trades.
    const ok = await f.engine.submitNotional({ clientOrderId: 'n-ok', ...req({ kind: 'notional', side: 'BUY', notionalUsd: fx('100') }, { model: modelId('other') }) });
    assert.equal(ok.outcome.kind, 'accepted');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});
