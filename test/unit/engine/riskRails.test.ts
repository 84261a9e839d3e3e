import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkRiskRails, OrderRateWindow, type RiskLimits, type RiskState } from '../../../src/engine/riskRails.js';
import { fx, fromRaw, mul } from '../../../src/core/decimal.js';
import { instrument } from '../../../src/core/instrument.js';
import { symbol } from '../../../src/core/ids.js';

const BTC = instrument(symbol('BTCUSDT'), 'BTC', 'USDT', { stepSize: '0.00001', tickSize: '0.01', minQty: '0.00001', minNotional: '5' });
const limits: RiskLimits = { tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('2000'), maxOrdersPerMin: 5 };
const state: RiskState = { instrument: BTC, lastPrice: fx('60000'), ordersLastMinute: 0 };
const order = (qty: string, price: string | null = null) => ({ symbol: symbol('BTCUSDT'), side: 'BUY' as const, qty: fx(qty), price: price === null ? null : fx(price) });

test('each rail rejects with its reason code', () => {
  const cases: [string, ReturnType<typeof checkRiskRails>][] = [
    ['TRADING_DISABLED', checkRiskRails(order('0.01'), limits, { ...state, tradingDisabled: true })],
    ['SYMBOL_NOT_ALLOWED', checkRiskRails({ ...order('0.01'), symbol: symbol('ETHUSDT') }, limits, state)],
    ['UNKNOWN_SYMBOL', checkRiskRails(order('0.01'), limits, { ...state, instrument: undefined })],
    ['NO_MARKET_DATA', checkRiskRails(order('0.01'), limits, { ...state, lastPrice: undefined })],
    ['INVALID_QUANTITY', checkRiskRails(order('0'), limits, state)],
    ['QTY_STEP', checkRiskRails(order('0.000015'), limits, state)],
    ['PRICE_TICK', checkRiskRails(order('0.01', '60000.005'), limits, state)],
    ['MIN_NOTIONAL', checkRiskRails(order('0.0001'), limits, state)],
    ['MAX_NOTIONAL', checkRiskRails(order('0.1'), limits, state)],
    ['RATE_LIMIT', checkRiskRails(order('0.01'), limits, { ...state, ordersLastMinute: 5 })],
  ];
  for (const [reason, d] of cases) {
    assert.equal(d.ok, false, reason);
    if (!d.ok) {
      assert.equal(d.reason, reason);
      assert.ok(d.message.length > 0);
    }
  }
  const ok = checkRiskRails(order('0.01'), limits, state);
  assert.ok(ok.ok);
});

test('the kill switch wins over every other check', () => {
  const d = checkRiskRails(order('999'), limits, { ...state, ordersLastMinute: 999, tradingDisabled: true });
  assert.ok(!d.ok && d.reason === 'TRADING_DISABLED');
});

test('no order outside the limits ever passes, and every order inside them does', () => {
  // Mostly on the instrument's grid and around the notional limits, sometimes anywhere: drawn
  // uniformly, no order of 2000 was on both grids, so none passed and nothing was judged.
  const onGrid = (unit: bigint, minUnits: bigint, maxUnits: bigint) => fc.bigInt({ min: minUnits, max: maxUnits }).map((k) => k * unit);
  const anyQty = fc.bigInt({ min: -1_000_000_000n, max: 10_000_000_000n });
  const anyPrice = fc.bigInt({ min: 1n, max: 10n ** 15n });
  const qtyArb = fc.oneof({ arbitrary: onGrid(BTC.stepSize, 1n, 10_000n), weight: 4 }, { arbitrary: anyQty, weight: 1 }); // 0.00001–0.1 BTC
  const priceArb = fc.oneof({ arbitrary: onGrid(BTC.tickSize, 100_000n, 10_000_000n), weight: 4 }, { arbitrary: anyPrice, weight: 1 }); // 1 000–100 000 USD
  const RUNS = 2000;
  let passed = 0;
  fc.assert(fc.property(
    qtyArb, fc.option(priceArb, { nil: null }), priceArb, fc.integer({ min: 0, max: 10 }), fc.constantFrom(true, true, true, false),
    (qtyRaw, priceRaw, lastRaw, recent, enabled) => {
      const o = { symbol: symbol('BTCUSDT'), side: 'BUY' as const, qty: fromRaw(qtyRaw), price: priceRaw === null ? null : fromRaw(priceRaw) };
      const d = checkRiskRails(o, limits, { instrument: BTC, lastPrice: fromRaw(lastRaw), ordersLastMinute: recent, tradingDisabled: !enabled });
      const notional = mul(o.qty, o.price ?? fromRaw(lastRaw));
      // The instrument's own rules (min qty one step, venue minimum 5 USD) lie inside these.
      const inside = enabled
        && o.qty > 0n && o.qty % BTC.stepSize === 0n
        && (o.price === null || o.price % BTC.tickSize === 0n)
        && notional >= limits.minNotionalUsdt && notional <= limits.maxNotionalUsdt
        && recent < limits.maxOrdersPerMin;
      assert.equal(d.ok, inside, `qty ${o.qty} price ${o.price} last ${lastRaw} recent ${recent} enabled ${enabled}: ${d.ok ? 'passed' : d.reason}`);
      if (d.ok) {
        passed++;
        assert.equal(d.notional, notional);
      }
    },
  ), { numRuns: RUNS });
  assert.ok(passed >= RUNS / 20, `only ${passed} of ${RUNS} orders passed: the property judged too few`);
});

test('the order-rate window forgets orders older than a minute', () => {
  const w = new OrderRateWindow(60_000);
  for (let i = 0; i < 10; i++) w.record(1000 + i);
  assert.equal(w.count(1010), 10);
  assert.equal(w.count(61_004), 5);
  assert.equal(w.count(62_000), 0);
});
