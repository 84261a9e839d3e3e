// The engine's order path: idempotency (concurrent duplicates, retries, conflicts), the
// kill switch, rejections in the audit log, and the ledger as the source of truth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { fx, toDecimalString } from '../../../src/core/decimal.js';
import { replayFills } from '../../../src/core/portfolio.js';
import { BTC, ETH, bar, engineFixture, removeDir } from '../../support/engineFixture.js';
import { tradingDoc } from '../../support/tradingState.js';

const buy = (id: string, qty = '0.01') => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'MARKET' as const, qty: fx(qty), price: null });

test('concurrent duplicates of one client order id create exactly one order', async () => {
  const fx1 = engineFixture();
  try {
    const results = await Promise.all(Array.from({ length: 25 }, () => fx1.engine.submit(buy('dup-1'))));
    assert.equal(results.filter((r) => r.kind === 'accepted' && !r.duplicate).length, 1);
    assert.ok(results.every((r) => r.kind === 'accepted' && r.order.client_order_id === 'dup-1'));
    assert.equal(fx1.ledger.counts().orders, 1);
    assert.equal(fx1.ledger.fillsForOrder('dup-1').reduce((a, f) => a + f.qty, 0n), fx('0.01'));
    assert.equal((await fx1.venue.fetchFills(fx1.engine.getOrder('dup-1')!.client_order_id as never)).length, fx1.ledger.fillsForOrder('dup-1').length);
  } finally {
    await fx1.close();
    removeDir(fx1.dir);
  }
});

test('a retry after restart returns the stored order; a different order under the same id is a conflict', async () => {
  let f = engineFixture();
  try {
    const first = await f.engine.submit(buy('retry-1'));
    assert.equal(first.kind, 'accepted');
    f = await f.reopen();
    const again = await f.engine.submit(buy('retry-1'));
    assert.equal(again.kind, 'accepted');
    assert.ok(again.kind === 'accepted' && again.duplicate);
    assert.equal(f.ledger.counts().orders, 1);
    const other = await f.engine.submit(buy('retry-1', '0.02'));
    assert.equal(other.kind, 'conflict');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('property: any interleaving of duplicate submissions books each id once', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 30 }), async (ids) => {
    const f = engineFixture();
    try {
      await Promise.all(ids.map((i) => f.engine.submit(buy(`p-${i}`))));
      assert.equal(f.ledger.counts().orders, new Set(ids).size);
      const venueOpenOrFilled = await Promise.all([...new Set(ids)].map((i) => f.venue.fetchOrder(`p-${i}` as never)));
      assert.ok(venueOpenOrFilled.every((o) => o !== null));
    } finally {
      await f.close();
      removeDir(f.dir);
    }
  }), { numRuns: 15 });
});

test('with trading disabled every order is rejected TRADING_DISABLED and logged', async () => {
  const f = engineFixture({ tradingEnabled: false });
  try {
    const r = await f.engine.submit(buy('k-1'));
    assert.equal(r.kind, 'rejected');
    assert.ok(r.kind === 'rejected' && r.reason === 'TRADING_DISABLED');
    assert.equal(f.ledger.fillsForOrder('k-1').length, 0);
    assert.equal(await f.venue.fetchOrder('k-1' as never), null, 'never reached the venue');
    const lines = readFileSync(f.orderLogPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const line = lines.find((l) => l.client_order_id === 'k-1');
    assert.equal(line.status, 'REJECTED');
    assert.equal(line.reason, 'TRADING_DISABLED');
    assert.equal(typeof line.routing_time, 'number');
    // A document decided before this start does not lift the start-up stop; a resume after it does.
    await f.engine.applyTradingState(tradingDoc(1, { at: new Date(Date.now() - 60_000).toISOString() }));
    assert.equal((await f.engine.submit(buy('k-2'))).kind, 'rejected');
    await f.engine.applyTradingState(tradingDoc(2));
    assert.equal((await f.engine.submit(buy('k-3'))).kind, 'accepted');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('every order event is one JSON line with routing_time on the submission path', async () => {
  const f = engineFixture();
  try {
    await f.engine.submit(buy('log-1'));
    await f.engine.submit({ ...buy('log-2'), qty: fx('0.0001') }); // 6 USDT: above the venue's 5, below MIN_NOTIONAL_USDT 10
    const lines = readFileSync(f.orderLogPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= 3);
    const accepted = lines.find((l) => l.client_order_id === 'log-1' && l.event === 'order.accepted');
    assert.ok(accepted.routing_time >= 0);
    const rejected = lines.find((l) => l.client_order_id === 'log-2');
    assert.equal(rejected.reason, 'MIN_NOTIONAL');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('resting limit orders fill later and the ledger replays to the live portfolio', async () => {
  let f = engineFixture();
  try {
    const r = await f.engine.submit({ clientOrderId: 'lim-1', symbol: ETH, side: 'BUY', type: 'LIMIT', qty: fx('1'), price: fx('2990'), timeInForce: 'GTC' });
    assert.ok(r.kind === 'accepted' && r.order.status === 'ACCEPTED');
    assert.equal(f.engine.listOpenOrders().length, 1);
    f.venue.onBar({ symbol: ETH, ts: 2_000, open: 2995, high: 2996, low: 2980, close: 2985, volume: 100_000 });
    assert.equal(f.engine.getOrder('lim-1')!.status, 'FILLED');
    await f.engine.submit(buy('m-1', '0.05'));
    await f.engine.submit({ ...buy('m-2', '0.02'), side: 'SELL' });
    const live = f.engine.portfolioState();
    const replayed = replayFills(fx('100000'), f.ledger.fills());
    assert.equal(toDecimalString(replayed.cash), toDecimalString(live.cash));
    assert.deepEqual(replayed.positions, live.positions);
    f = await f.reopen();
    assert.equal(f.engine.portfolioState().cash, live.cash);
    assert.deepEqual(f.engine.portfolioState().positions, live.positions);
    assert.ok(f.engine.recovery.recovered);
    // The venue's balances agree with the engine's cash to the last unit.
    assert.equal(f.venue.balances().get('USDT')!.total, live.cash);
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('cancel moves an open order to CANCELED once', async () => {
  const f = engineFixture();
  try {
    await f.engine.submit({ clientOrderId: 'c-1', symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.01'), price: fx('50000'), timeInForce: 'GTC' });
    const c = await f.engine.cancel('c-1');
    assert.equal(c.kind, 'canceled');
    assert.equal(f.engine.listOpenOrders().length, 0);
    const again = await f.engine.cancel('c-1');
    assert.equal(again.kind, 'not_open');
    assert.equal((await f.engine.cancel('nope')).kind, 'not_found');
    f.venue.onBar(bar(BTC, 40_000, 3_000));
    assert.equal(f.engine.getOrder('c-1')!.status, 'CANCELED');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});
