// Pure translation of ccxt's markets, orders and trades into our exact types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ccxt from 'ccxt';
import fc from 'fast-check';
import { fx, mul, toDecimalString } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, venueId } from '../../../src/core/ids.js';
import {
  DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE, type MarketLike,
  exactFixed, fillFromTrade, instrumentFromMarket, orderStateFrom, ourSymbolOf, roundedFixed, venueStatusOf,
} from '../../../src/venues/ccxt/ccxtMapping.js';

const nts = (n: number) => new ccxt.binance().numberToString(n) as string;

const binanceBtc: MarketLike = {
  id: 'BTCUSDT', symbol: 'BTC/USDT', base: 'BTC', quote: 'USDT', spot: true, active: true,
  precision: { amount: 0.00001, price: 0.01 }, limits: { amount: { min: 0.00001 }, cost: { min: 5 } },
};

test('a TICK_SIZE market (Binance) gives the step and tick themselves', () => {
  const r = instrumentFromMarket(binanceBtc, TICK_SIZE, nts);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.instrument.symbol, 'BTCUSDT');
  assert.equal(toDecimalString(r.instrument.stepSize), '0.00001');
  assert.equal(toDecimalString(r.instrument.tickSize), '0.01');
  assert.equal(toDecimalString(r.instrument.minQty), '0.00001');
  assert.equal(toDecimalString(r.instrument.minNotional), '5');
});

test('DECIMAL_PLACES counts decimals; SIGNIFICANT_DIGITS and sub-1e-8 steps are refused with a reason', () => {
  const kraken: MarketLike = { id: 'XXBTZUSD', symbol: 'BTC/USD', base: 'BTC', quote: 'USD', spot: true, precision: { amount: 8, price: 1 }, limits: {} };
  const r = instrumentFromMarket(kraken, DECIMAL_PLACES, nts);
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.instrument.symbol, 'BTCUSD');
    assert.equal(toDecimalString(r.instrument.stepSize), '0.00000001');
    assert.equal(toDecimalString(r.instrument.tickSize), '0.1');
    assert.equal(r.instrument.minQty, r.instrument.stepSize, 'no minimum given: one step');
    assert.equal(r.instrument.minNotional, 0n);
  }
  const sig = instrumentFromMarket(kraken, SIGNIFICANT_DIGITS, nts);
  assert.equal(sig.ok, false);
  const tiny = instrumentFromMarket({ ...binanceBtc, precision: { amount: 1e-10, price: 0.01 } }, TICK_SIZE, nts);
  assert.equal(tiny.ok, false);
  if (!tiny.ok) assert.match(tiny.reason, /more than 8 decimal places/);
  assert.equal(instrumentFromMarket({ ...binanceBtc, active: false }, TICK_SIZE, nts).ok, false);
  assert.equal(instrumentFromMarket({ ...binanceBtc, spot: false }, TICK_SIZE, nts).ok, false);
});

test('our symbol is base and quote run together', () => {
  assert.equal(ourSymbolOf({ base: 'BTC', quote: 'USDT' }), 'BTCUSDT');
  assert.equal(ourSymbolOf({ base: '1000SHIB', quote: 'USD' }), '1000SHIBUSD');
});

test('exact decimals from ccxt numbers: refused, never rounded; fees rounded half-even past 8 places', () => {
  assert.equal(exactFixed(0.1, 'x', nts), fx('0.1'));
  assert.equal(exactFixed(60000.01, 'x', nts), fx('60000.01'));
  assert.throws(() => exactFixed(0.123456789, 'price', nts), /price: more than 8 decimal places/);
  assert.throws(() => exactFixed(undefined, 'amount', nts), /amount is missing/);
  assert.equal(roundedFixed('0.000000125', nts), fx('0.00000012'));
  assert.equal(roundedFixed('0.000000135', nts), fx('0.00000014'));
  assert.equal(roundedFixed('0.0000001251', nts), fx('0.00000013'));
  assert.equal(roundedFixed(1.5, nts), fx('1.5'));
});

test('property: any 8-decimal amount survives the trip through a ccxt number', () => {
  fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n }), (units) => {
    const v = fx(`${units / 10n ** 8n}.${(units % 10n ** 8n).toString().padStart(8, '0')}`);
    assert.equal(exactFixed(Number(toDecimalString(v)), 'v', nts), v);
  }));
});

test('order status: closed short of its quantity ended as EXPIRED; rejected after acceptance too', () => {
  assert.equal(venueStatusOf('closed', fx('1'), fx('1')), 'FILLED');
  assert.equal(venueStatusOf('closed', fx('0.4'), fx('1')), 'EXPIRED');
  assert.equal(venueStatusOf('canceled', fx('0.4'), fx('1')), 'CANCELED');
  assert.equal(venueStatusOf('expired', fx('0'), fx('1')), 'EXPIRED');
  assert.equal(venueStatusOf('rejected', fx('0'), fx('1')), 'EXPIRED');
  assert.equal(venueStatusOf('open', fx('0'), fx('1')), 'OPEN');
  assert.equal(venueStatusOf(undefined, fx('0'), fx('1')), 'OPEN');
  const st = orderStateFrom({ id: '77', side: 'sell', type: 'limit', amount: 0.5, price: 61000.5, filled: 0.2, status: 'open' }, clientOrderId('c-1'), symbol('BTCUSDT'), nts);
  assert.deepEqual(st, {
    clientOrderId: 'c-1', venueOrderId: '77', symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', qty: fx('0.5'), price: fx('61000.5'), filledQty: fx('0.2'), status: 'OPEN',
  });
  assert.equal(orderStateFrom({ id: '78', side: 'buy', type: 'market', amount: 1, price: 60000, filled: 1, status: 'closed' }, clientOrderId('c-2'), symbol('BTCUSDT'), nts).price, null);
});

const ctx = {
  clientOrderId: clientOrderId('c-9'), venue: venueId('binance'), symbol: symbol('BTCUSDT'), marketId: 'BTCUSDT', base: 'BTC', quote: 'USDT', nts,
  quotePriceOf: (ccy: string) => (ccy === 'BNB' ? fx('600') : undefined),
};

test('a trade as a Fill: quote fee as is, base fee converted at the fill price, third asset at its price', () => {
  const quoteFee = fillFromTrade({ id: '5', side: 'sell', amount: 0.01, price: 60000, takerOrMaker: 'taker', timestamp: 9, fee: { cost: 0.6, currency: 'USDT' } }, ctx);
  assert.equal(quoteFee.fill.tradeId, 'BTCUSDT-5', 'trade ids are per symbol at Binance: prefixed');
  assert.equal(quoteFee.fill.fee, fx('0.6'));
  assert.equal(quoteFee.fill.side, 'SELL');
  assert.equal(quoteFee.fill.liquidity, 'TAKER');
  assert.equal(quoteFee.feeBase, 0n);

  const baseFee = fillFromTrade({ id: '6', side: 'buy', amount: 0.01, price: 60000, takerOrMaker: 'maker', fee: { cost: 0.00001, currency: 'BTC' } }, ctx);
  assert.equal(baseFee.fill.fee, mul(fx('0.00001'), fx('60000')));
  assert.equal(baseFee.feeBase, fx('0.00001'));
  assert.equal(baseFee.fill.liquidity, 'MAKER');
  assert.equal(baseFee.fill.qty, fx('0.01'), 'Fill.qty is what traded; the base fee is reported apart');

  const bnb = fillFromTrade({ id: '7', side: 'buy', amount: 0.01, price: 60000, fees: [{ cost: 0.001, currency: 'BNB' }] }, ctx);
  assert.equal(bnb.fill.fee, fx('0.6'));
  const unknown = fillFromTrade({ id: '8', side: 'buy', amount: 0.01, price: 60000, fees: [{ cost: 3, currency: 'XYZ' }] }, ctx);
  assert.equal(unknown.fill.fee, 0n);
  assert.deepEqual(unknown.unconverted, [{ currency: 'XYZ', amount: fx('3') }]);

  const noSide = fillFromTrade({ id: '9', amount: 0.01, price: 60000 }, { ...ctx, orderSide: 'SELL' });
  assert.equal(noSide.fill.side, 'SELL', 'fills inside an order response take the order side');
  assert.throws(() => fillFromTrade({ side: 'buy', amount: 1, price: 1 }, ctx), /trade id is missing/);
});
