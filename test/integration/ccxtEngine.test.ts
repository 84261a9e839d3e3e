// The real engine (SQLite ledger, OMS, reconciliation) routing through the ccxt adapter to a
// fake Binance over loopback: the same code path a live engine_binance runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx, mul, toDecimalString } from '../../src/core/decimal.js';
import { symbol } from '../../src/core/ids.js';
import type { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/obs/logger.js';
import { CcxtVenue } from '../../src/venues/ccxt/ccxtVenue.js';
import { Secret } from '../../src/config/secret.js';
import { FakeBinance } from '../support/fakeBinance.js';
import { type EngineFixture, engineFixture, removeDir } from '../support/engineFixture.js';

const KEY = 'engineTestKey0123456789abcdef';
const SECRET = 'engineTestSecret0123456789abcdef';
const BTC = symbol('BTCUSDT');

const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET, balances: { USDT: '20000' } });
const dir = mkdtempSync(join(tmpdir(), 'hmm-ccxt-engine-'));
let venue: CcxtVenue;
let engine: Engine;
let fixture: EngineFixture<CcxtVenue>;

test.before(async () => {
  const base = await fake.start();
  venue = await CcxtVenue.start({
    exchangeId: 'binance', symbols: ['BTCUSDT', 'ETHUSDT'], credentials: { apiKey: new Secret(KEY), secret: new Secret(SECRET), password: null },
    apiBase: base, logger: silentLogger(), pollIntervalMs: 0, timeoutMs: 400, resolveDelayMs: 100, rateLimitMs: 1,
  });
  fixture = engineFixture({
    dir, venue: () => venue, name: 'engine_binance', startingCash: '20000',
    limits: { maxNotionalUsdt: fx('5000'), maxOrdersPerMin: 1000 },
  });
  engine = fixture.engine;
});

after(async () => {
  await fixture.close();
  await fake.stop();
  removeDir(dir);
});

test('a market order through the engine is filled, booked per trade with the fee in quote', async () => {
  const out = await engine.submit({ clientOrderId: 'eng-mkt-1', symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null });
  assert.equal(out.kind, 'accepted');
  assert.equal(out.order.status, 'FILLED');
  const fills = engine.fillsForOrder('eng-mkt-1');
  assert.equal(fills.length, 1);
  assert.equal(fills[0]!.tradeId, `BTCUSDT-${fake.trades.at(-1)!.id}`);
  // 0.1 % of 0.01 BTC taken in BTC, valued at the 60000 fill price.
  assert.equal(toDecimalString(fills[0]!.fee), toDecimalString(mul(fx('0.00001'), fx('60000'))));
  assert.equal(out.order.venue_order_id, String(fake.orderByClientId('eng-mkt-1')!.orderId));
});

test('a partially filled limit is canceled with every fill booked before the cancel', async () => {
  const out = await engine.submit({ clientOrderId: 'eng-lim-1', symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.01'), price: fx('59500'), timeInForce: 'GTC' });
  assert.equal(out.kind, 'accepted');
  assert.equal(out.order.status, 'ACCEPTED');
  fake.fillResting('eng-lim-1', '0.004');
  await venue.pollOnce();
  assert.equal(engine.getOrder('eng-lim-1')!.status, 'PARTIALLY_FILLED');
  fake.fillResting('eng-lim-1', '0.003'); // not yet polled when the cancel goes out
  const c = await engine.cancel('eng-lim-1');
  assert.equal(c.kind, 'canceled');
  const o = engine.getOrder('eng-lim-1')!;
  assert.equal(o.status, 'CANCELED');
  assert.equal(o.filled_qty, '0.007');
  assert.equal(engine.fillsForOrder('eng-lim-1').length, 2);
});

test('a submit that hangs after the venue took it is booked once, from the venue\'s own record', async () => {
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'hang', afterAccept: true });
  const out = await engine.submit({ clientOrderId: 'eng-hang-1', symbol: BTC, side: 'SELL', type: 'MARKET', qty: fx('0.005'), price: null });
  assert.equal(out.kind, 'accepted');
  assert.equal(out.order.status, 'FILLED');
  assert.equal(fake.orders.filter((o) => o.clientOrderId === 'eng-hang-1').length, 1);
});

test('reconciliation against the venue finds the engine in sync', async () => {
  const r = await engine.reconcile('manual');
  assert.equal(r.ok, true);
  assert.equal(r.in_sync, true, JSON.stringify(r.flagged));
  assert.equal(r.drift, 0);
});
