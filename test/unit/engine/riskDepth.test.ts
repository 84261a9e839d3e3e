// Rails in depth (pure): trading states, price band, equity floor, drawdown breaker, loss
// streak, exposure caps, max open orders — and the promise that a reducing order is never
// trapped by the rails that exist to stop risk from growing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkRiskRails, closingPnl, isReducingOrder, LossStreak, projectedPosition, worstState,
  type RiskBook, type RiskLimits, type RiskOrder, type RiskState, type TradingState,
} from '../../../src/engine/riskRails.js';
import { type Fixed, abs, fromRaw, fx, mul } from '../../../src/core/decimal.js';
import { instrument } from '../../../src/core/instrument.js';
import { symbol } from '../../../src/core/ids.js';

const BTC = instrument(symbol('BTCUSDT'), 'BTC', 'USDT', { stepSize: '0.00001', tickSize: '0.01', minQty: '0.00001', minNotional: '5' });
const limits: RiskLimits = {
  tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('5000'), maxOrdersPerMin: 100,
  exposureCapSymbolUsd: fx('3000'), exposureCapTotalUsd: fx('5000'), equityFloorUsd: fx('8000'), maxDrawdownPct: 10,
  lossStreakLimit: 3, lossStreakCooldownMs: 60_000, priceBandPct: 5, maxOpenOrders: 2,
};
const flat: RiskBook = {
  positionQty: fx(0), openBuyQty: fx(0), openSellQty: fx(0), symbolExposureUsd: fx(0), totalExposureUsd: fx(0),
  openOrders: 0, equityUsd: fx('10000'), peakEquityUsd: fx('10000'), lossStreak: 0, lossCooldownUntil: null, now: 1_000,
};
/** Long 0.04 BTC at a 60 000 mark = 2400 USD in this symbol. */
const long: RiskBook = { ...flat, positionQty: fx('0.04'), symbolExposureUsd: fx('2400'), totalExposureUsd: fx('2400') };
const state = (book: RiskBook, tradingState: TradingState = 'ACTIVE'): RiskState => ({ instrument: BTC, lastPrice: fx('60000'), ordersLastMinute: 0, tradingState, book });
const buy = (qty: string, price: string | null = null): RiskOrder => ({ symbol: symbol('BTCUSDT'), side: 'BUY', qty: fx(qty), price: price === null ? null : fx(price) });
const sell = (qty: string, price: string | null = null): RiskOrder => ({ ...buy(qty, price), side: 'SELL' });

function reason(d: ReturnType<typeof checkRiskRails>): string {
  return d.ok ? 'OK' : d.reason;
}

test('each depth rail rejects with its own reason code and a message', () => {
  const cases: [string, ReturnType<typeof checkRiskRails>][] = [
    ['TRADING_HALTED', checkRiskRails(buy('0.001'), limits, state(flat, 'HALTED'))],
    ['TRADING_REDUCING', checkRiskRails(buy('0.001'), limits, state(flat, 'REDUCING'))],
    ['PRICE_BAND', checkRiskRails(buy('0.001', '64000'), limits, state(flat))],
    ['PRICE_BAND', checkRiskRails(sell('0.001', '56000'), limits, state(long))],
    ['EQUITY_FLOOR', checkRiskRails(buy('0.001'), limits, state({ ...flat, equityUsd: fx('7999') }))],
    ['DRAWDOWN_BREAKER', checkRiskRails(buy('0.001'), limits, state({ ...flat, equityUsd: fx('8900'), peakEquityUsd: fx('10000') }))],
    ['LOSS_STREAK_COOLDOWN', checkRiskRails(buy('0.001'), limits, state({ ...flat, lossCooldownUntil: 2_000 }))],
    ['EXPOSURE_SYMBOL_CAP', checkRiskRails(buy('0.02'), limits, state(long))],
    ['EXPOSURE_SYMBOL_CAP', checkRiskRails(buy('0.005'), limits, state({ ...long, openBuyQty: fx('0.006') }))],
    ['EXPOSURE_TOTAL_CAP', checkRiskRails(buy('0.01'), limits, state({ ...long, totalExposureUsd: fx('4500') }))],
    ['MAX_OPEN_ORDERS', checkRiskRails(buy('0.001', '59000'), limits, state({ ...flat, openOrders: 2 }))],
  ];
  for (const [want, d] of cases) {
    assert.equal(reason(d), want);
    if (!d.ok) assert.ok(d.message.length > 10, want);
  }
  assert.equal(reason(checkRiskRails(buy('0.001'), limits, state(flat))), 'OK');
  // A passive limit far from the mark cannot fill worse than its price: only the aggressive side is banded.
  assert.equal(reason(checkRiskRails(buy('0.001', '30000'), limits, state(flat))), 'OK');
  // A market order never rests, so MAX_OPEN_ORDERS does not apply to it.
  assert.equal(reason(checkRiskRails(buy('0.001'), limits, state({ ...flat, openOrders: 2 }))), 'OK');
  // The loss-streak cooldown ends on time.
  assert.equal(reason(checkRiskRails(buy('0.001'), limits, state({ ...flat, lossCooldownUntil: 1_000 }))), 'OK');
});

test('the kill switch beats HALTED, and HALTED beats everything else, reducing orders included', () => {
  assert.equal(reason(checkRiskRails(sell('0.01'), limits, { ...state(long, 'HALTED'), tradingDisabled: true })), 'TRADING_DISABLED');
  assert.equal(reason(checkRiskRails(sell('0.01'), limits, state(long, 'HALTED'))), 'TRADING_HALTED');
});

test('a reducing order passes REDUCING, the equity floor, the drawdown breaker, the loss cooldown and breached caps', () => {
  const stressed: RiskBook = {
    ...long, equityUsd: fx('5000'), peakEquityUsd: fx('10000'), lossCooldownUntil: 99_999,
    symbolExposureUsd: fx('9000'), totalExposureUsd: fx('20000'), positionQty: fx('0.15'),
  };
  const d = checkRiskRails(sell('0.05'), limits, state(stressed, 'REDUCING'));
  assert.ok(d.ok, reason(d));
  assert.equal(d.ok && d.reducing, true);
  // ...but not one that would flip the position short, nor one stacked on open sells past flat.
  assert.equal(reason(checkRiskRails(sell('0.2'), { ...limits, maxNotionalUsdt: fx('50000') }, state(stressed, 'REDUCING'))), 'TRADING_REDUCING');
  assert.equal(reason(checkRiskRails(sell('0.05'), limits, state({ ...stressed, openSellQty: fx('0.12') }, 'REDUCING'))), 'TRADING_REDUCING');
  // Adding to a position is not reducing, whatever the state.
  assert.equal(reason(checkRiskRails(buy('0.001'), limits, state(stressed, 'REDUCING'))), 'TRADING_REDUCING');
  assert.equal(reason(checkRiskRails(buy('0.001'), limits, state(stressed))), 'EQUITY_FLOOR');
});

test('without a book, REDUCING refuses everything (it cannot tell what shrinks exposure)', () => {
  const d = checkRiskRails(sell('0.001'), limits, { instrument: BTC, lastPrice: fx('60000'), ordersLastMinute: 0, tradingState: 'REDUCING' });
  assert.equal(reason(d), 'TRADING_REDUCING');
});

test('worstState, projectedPosition and isReducingOrder', () => {
  assert.equal(worstState('ACTIVE', undefined, 'REDUCING'), 'REDUCING');
  assert.equal(worstState('REDUCING', 'HALTED', 'ACTIVE'), 'HALTED');
  assert.equal(worstState(), 'ACTIVE');
  assert.equal(projectedPosition(buy('0.01'), { ...long, openBuyQty: fx('0.02') }), fx('0.07'));
  assert.equal(isReducingOrder(sell('0.04'), long), true);
  assert.equal(isReducingOrder(sell('0.04001'), long), false);
  assert.equal(isReducingOrder(buy('0.01'), { ...long, positionQty: fx('-0.02') }), true);
  assert.equal(isReducingOrder(sell('0.01'), flat), false);
});

test('loss streak: consecutive losing exits start a cooldown; a winning exit resets the count', () => {
  const s = new LossStreak();
  assert.equal(s.record(fx('-1'), 1, 3, 60_000), false);
  assert.equal(s.record(fx('-1'), 2, 3, 60_000), false);
  assert.equal(s.record(fx('5'), 3, 3, 60_000), false);
  assert.equal(s.streak, 0);
  s.record(fx('-1'), 4, 3, 60_000);
  s.record(fx('0'), 5, 3, 60_000); // break-even is neither
  s.record(fx('-1'), 6, 3, 60_000);
  assert.equal(s.record(fx('-2'), 7, 3, 60_000), true);
  assert.equal(s.cooldownUntil, 60_007);
  assert.equal(s.streak, 0);
  assert.ok(s.cooldownActive(60_006) && !s.cooldownActive(60_007));
  const off = new LossStreak();
  for (let i = 0; i < 10; i++) assert.equal(off.record(fx('-1'), i, 0, 60_000), false);
});

test('closingPnl counts only fills that closed quantity, net of their fee', () => {
  assert.equal(closingPnl(fx(0), fx('1'), fx(0), fx('0.1')), null);
  assert.equal(closingPnl(fx('1'), fx('2'), fx(0), fx('0.1')), null);
  assert.equal(closingPnl(fx('2'), fx('1'), fx('3'), fx('0.5')), fx('2.5'));
  assert.equal(closingPnl(fx('1'), fx('-1'), fx('-3'), fx('0.5')), fx('-3.5'));
});

// The property: a risk check never lets an over-limit order by.
const raw = (lo: bigint, hi: bigint) => fc.bigInt({ min: lo, max: hi });
test('property: an accepted order that grows exposure stays within both caps; under REDUCING only reducing orders pass', () => {
  fc.assert(fc.property(
    raw(-20_000_000n, 20_000_000n), // position qty raw (±0.2 BTC)
    raw(0n, 10_000_000n), raw(0n, 10_000_000n), // open buy / sell qty raw
    raw(1n, 10_000_000n), // order qty raw
    fc.boolean(),
    raw(0n, 2_000_000_000_000n), // other symbols' exposure raw (≤ 20 000 USD)
    fc.constantFrom<TradingState>('ACTIVE', 'REDUCING'),
    (posRaw, ob, os, qRaw, isBuy, otherRaw, ts) => {
      const mark = fx('60000');
      const positionQty = fromRaw(posRaw);
      const symbolExposureUsd = mul(abs(positionQty), mark);
      const book: RiskBook = { ...flat, positionQty, openBuyQty: fromRaw(ob), openSellQty: fromRaw(os), symbolExposureUsd, totalExposureUsd: (symbolExposureUsd + fromRaw(otherRaw)) as Fixed };
      const order: RiskOrder = { symbol: symbol('BTCUSDT'), side: isBuy ? 'BUY' : 'SELL', qty: fromRaw(qRaw - (qRaw % 1000n) || 1000n), price: null };
      const d = checkRiskRails(order, { ...limits, maxNotionalUsdt: fx('100000'), equityFloorUsd: null, maxDrawdownPct: null }, state(book, ts));
      if (!d.ok) return;
      const after = mul(abs(projectedPosition(order, book)), mark);
      if (after > symbolExposureUsd) {
        assert.ok(after <= limits.exposureCapSymbolUsd!, 'symbol cap');
        assert.ok(book.totalExposureUsd - symbolExposureUsd + after <= limits.exposureCapTotalUsd!, 'total cap');
      }
      if (ts === 'REDUCING') {
        assert.ok(d.reducing);
        const p = projectedPosition(order, book);
        assert.ok(abs(p) < abs(positionQty) && (p === 0n || (p > 0n) === (positionQty > 0n)));
      }
    },
  ), { numRuns: 3000 });
});
