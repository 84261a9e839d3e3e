// Engine.applyTradingState, the one engine method that owns "halt and drain": a document's
// version is applied once (the same change reaches an engine by push, by bus and from every ops
// replica), an older one never undoes a newer one, the global HALTED is the kill
// (TRADING_DISABLED, trading_enabled false), a HALTED with cancel_open cancels the open orders and
// one without leaves them, and the engine's own stops are lifted only by what may lift them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fx } from '../../../src/core/decimal.js';
import { BTC, engineFixture, removeDir } from '../../support/engineFixture.js';
import { tradingDoc } from '../../support/tradingState.js';

const buy = (id: string) => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'MARKET' as const, qty: fx('0.001'), price: null });
const rest = (id: string) => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'LIMIT' as const, qty: fx('0.001'), price: fx('50000'), timeInForce: 'GTC' as const });

test('a version is applied once; a repeat or an older one is ignored and never undoes a newer one', async () => {
  const f = engineFixture();
  try {
    const first = await f.engine.applyTradingState(tradingDoc(10, { global: 'HALTED' }));
    assert.deepEqual(first, { applied: true, version: 10, canceled: 0, trading_enabled: false });
    assert.equal((await f.engine.applyTradingState(tradingDoc(10, { global: 'HALTED' }))).applied, false);
    const stale = await f.engine.applyTradingState(tradingDoc(9));
    assert.deepEqual([stale.applied, stale.version, stale.trading_enabled], [false, 10, false], 'a late older document does not resume');
    const r = await f.engine.submit(buy('halted-1'));
    assert.equal(r.kind === 'rejected' && r.reason, 'TRADING_DISABLED', 'the global HALTED is the kill');
    assert.equal(f.engine.health().trading_enabled, false);
    assert.equal((await f.engine.applyTradingState(tradingDoc(11))).applied, true);
    assert.equal((await f.engine.submit(buy('active-1'))).kind, 'accepted');
    assert.deepEqual(f.engine.health().trading_state, { version: 11, applied: 2, ignored: 2, stopped: null });
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('HALTED with cancel_open drains the open orders; a HALTED without it leaves them resting', async () => {
  const f = engineFixture();
  try {
    for (const id of ['r-1', 'r-2']) assert.equal((await f.engine.submit(rest(id))).kind, 'accepted');
    const plain = await f.engine.applyTradingState(tradingDoc(1, { global: 'HALTED' }));
    assert.equal(plain.canceled, 0);
    assert.equal(f.engine.listOpenOrders().length, 2, 'a pause without cancel_open keeps resting orders');
    const drained = await f.engine.applyTradingState(tradingDoc(2, { global: 'HALTED', cancelOpen: true }));
    assert.equal(drained.canceled, 2);
    assert.deepEqual(f.engine.listOpenOrders(), []);
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('a venue entry applies only to the engine it names; its HALTED is TRADING_HALTED, not the kill', async () => {
  const f = engineFixture();
  try {
    await f.engine.applyTradingState(tradingDoc(1, { venues: { engine_binance: 'HALTED' } }));
    assert.equal((await f.engine.submit(buy('other-venue'))).kind, 'accepted');
    await f.engine.applyTradingState(tradingDoc(2, { venues: { engine_sim: 'HALTED' } }));
    const r = await f.engine.submit(buy('this-venue'));
    assert.equal(r.kind === 'rejected' && r.reason, 'TRADING_HALTED');
    assert.equal(f.engine.tradingEnabled, true, 'TRADING_ENABLED mirrors the global state only');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});

test('a stop "until the state is known" (Redis unreadable at start) is lifted by the first document', async () => {
  const f = engineFixture({ tradingEnabled: false, startStop: { reason: 'cluster state unreadable', until: 'document' } });
  try {
    assert.equal(f.engine.health().trading_state?.stopped, 'cluster state unreadable');
    assert.equal((await f.engine.submit(buy('s-1'))).kind, 'rejected');
    await f.engine.applyTradingState(tradingDoc(5, { at: new Date(0).toISOString() }));
    assert.equal(f.engine.tradingEnabled, true);
    assert.equal((await f.engine.submit(buy('s-2'))).kind, 'accepted');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});
