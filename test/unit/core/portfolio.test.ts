import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyFill, emptyPortfolio, replayFills, valuePortfolio, type Portfolio } from '../../../src/core/portfolio.js';
import { fx, fromRaw, mul, toDecimalString } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, venueId } from '../../../src/core/ids.js';
import type { Fill } from '../../../src/core/order.js';

const BTC = symbol('BTCUSDT');

function f(side: 'BUY' | 'SELL', qty: string, price: string, fee = '0', sym = BTC, id = 't'): Fill {
  return { tradeId: id, clientOrderId: clientOrderId('c'), venue: venueId('sim'), symbol: sym, side, qty: fx(qty), price: fx(price), fee: fx(fee), liquidity: 'TAKER', model: null, ts: 0 };
}

test('buy then sell books realized PnL, fees and cash exactly', () => {
  let p = emptyPortfolio(fx('10000'));
  p = applyFill(p, f('BUY', '0.1', '60000', '6'));
  p = applyFill(p, f('BUY', '0.1', '62000', '6.2'));
  assert.equal(toDecimalString(p.positions.get(BTC)!.avgPrice), '61000');
  p = applyFill(p, f('SELL', '0.15', '63000', '9.45'));
  assert.equal(toDecimalString(p.realizedPnl), '300');
  assert.equal(toDecimalString(p.fees), '21.65');
  assert.equal(toDecimalString(p.positions.get(BTC)!.qty), '0.05');
  // cash = 10000 − 6000 − 6 − 6200 − 6.2 + 9450 − 9.45
  assert.equal(toDecimalString(p.cash), '7228.35');
  const v = valuePortfolio(p, () => fx('64000'));
  assert.equal(v.unrealizedPnl, 150);
  assert.equal(v.equity, 7228.35 + 3200);
});

test('a sell through zero flips the position at the fill price', () => {
  let p = emptyPortfolio(fx('0'));
  p = applyFill(p, f('BUY', '1', '100'));
  p = applyFill(p, f('SELL', '3', '110'));
  const pos = p.positions.get(BTC)!;
  assert.equal(toDecimalString(pos.qty), '-2');
  assert.equal(toDecimalString(pos.avgPrice), '110');
  assert.equal(toDecimalString(p.realizedPnl), '10');
});

const fillArb = fc.record({
  side: fc.constantFrom('BUY' as const, 'SELL' as const),
  qty: fc.bigInt({ min: 1n, max: 5_000_000n }), // up to 0.05 in 1e-8 units
  price: fc.bigInt({ min: 1_000_000_000n, max: 10_000_000_000_000n }),
  fee: fc.bigInt({ min: 0n, max: 100_000n }),
  sym: fc.constantFrom('BTCUSDT', 'ETHUSDT'),
});

test('replaying the same fills reproduces cash and positions exactly', () => {
  fc.assert(fc.property(fc.array(fillArb, { maxLength: 60 }), (raw) => {
    const fills = raw.map((r, i) => ({ ...f(r.side, '0', '0', '0', symbol(r.sym), `t${i}`), qty: fromRaw(r.qty), price: fromRaw(r.price), fee: fromRaw(r.fee) }));
    let live: Portfolio = emptyPortfolio(fx('100000'));
    for (const x of fills) live = applyFill(live, x);
    const replayed = replayFills(fx('100000'), fills);
    assert.equal(replayed.cash, live.cash);
    assert.equal(replayed.realizedPnl, live.realizedPnl);
    assert.equal(replayed.fees, live.fees);
    for (const [s, pos] of live.positions) assert.deepEqual(replayed.positions.get(s), pos);
    // Cash is exactly start − Σ signed notionals − Σ fees: no money appears or disappears.
    let expected = fx('100000') as bigint;
    for (const x of fills) expected += (x.side === 'BUY' ? -mul(x.qty, x.price) : mul(x.qty, x.price)) - x.fee;
    assert.equal(live.cash, expected);
    // Net quantity per symbol is the signed sum of fill quantities.
    for (const s of ['BTCUSDT', 'ETHUSDT']) {
      const net = fills.filter((x) => x.symbol === s).reduce((a, x) => a + (x.side === 'BUY' ? x.qty : -x.qty), 0n);
      assert.equal(live.positions.get(symbol(s))?.qty ?? 0n, net);
    }
  }), { numRuns: 200 });
});
