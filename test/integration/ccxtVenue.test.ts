// The ccxt venue adapter against a fake Binance that speaks the real spot REST protocol over
// loopback (signed requests, real error codes). Nothing in the adapter knows it is a fake:
// it is pointed there by its API base URL, as CCXT_API_BASE would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { fx, mul, toDecimalString, floorToStep, type Fixed } from '../../src/core/decimal.js';
import { clientOrderId, symbol } from '../../src/core/ids.js';
import type { VenueEvent, VenueOrderRequest } from '../../src/venues/venue.js';
import { CcxtVenue, SubmitOutcomeUnknownError, VenueRequestError, type CcxtVenueOptions } from '../../src/venues/ccxt/ccxtVenue.js';
import { Secret } from '../../src/config/secret.js';
import { loadCcxtVenueConfig } from '../../src/venues/ccxt/ccxtConfig.js';
import { FakeBinance, type FakeBinanceOptions } from '../support/fakeBinance.js';

const KEY = 'hmmTestKey0123456789abcdefABCDEF';
const SECRET = 'hmmTestSecret0123456789abcdefABCDEFghij';
const BTC = symbol('BTCUSDT');
const ETH = symbol('ETHUSDT');

const logLines: string[] = [];
const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  // Whatever happened above, no credential reached a log line.
  const all = logLines.join('\n');
  assert.ok(!all.includes(KEY), 'API key must never be logged');
  assert.ok(!all.includes(SECRET), 'API secret must never be logged');
});

async function setup(fakeOpts: Partial<FakeBinanceOptions> = {}, venueOpts: Partial<CcxtVenueOptions> = {}) {
  const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET, ...fakeOpts });
  const base = await fake.start();
  const venue = await CcxtVenue.start({
    exchangeId: 'binance', symbols: ['BTCUSDT', 'ETHUSDT'],
    credentials: { apiKey: new Secret(KEY), secret: new Secret(SECRET), password: null },
    // ccxt's throttle would space requests by Binance's weights (exchangeInfo alone is 20 × 50 ms);
    // against the fake it only slows the tests down.
    apiBase: base, logger, pollIntervalMs: 0, recvWindowMs: 5000, timeoutMs: 1500, resolveDelayMs: 100, rateLimitMs: 1, ...venueOpts,
  });
  const events: VenueEvent[] = [];
  venue.onEvent((e) => events.push(e));
  cleanups.push(async () => {
    await venue.close();
    await fake.stop();
  });
  return { fake, venue, events };
}

const order = (id: string, o: Partial<VenueOrderRequest> = {}): VenueOrderRequest => ({
  clientOrderId: clientOrderId(id), symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.001'), price: null, timeInForce: 'IOC', ...o,
});

const fillsOf = (events: readonly VenueEvent[]) => events.flatMap((e) => (e.type === 'fill' ? [e.fill] : []));

test('instruments come from exchangeInfo filters exactly, and the clock offset is measured', async () => {
  const { venue } = await setup({ clockOffsetMs: -4000 });
  const btc = venue.instruments().get(BTC)!;
  assert.equal(toDecimalString(btc.stepSize), '0.00001');
  assert.equal(toDecimalString(btc.tickSize), '0.01');
  assert.equal(toDecimalString(btc.minQty), '0.00001');
  assert.equal(toDecimalString(btc.minNotional), '5');
  assert.equal(btc.base, 'BTC');
  assert.equal(toDecimalString(venue.instruments().get(ETH)!.stepSize), '0.0001');
  assert.equal(toDecimalString(venue.lastPrice(BTC)!), '60000');
  // The fake's clock runs 4 s behind ours: ccxt subtracts the measured offset when signing.
  assert.ok(Math.abs(venue.clockOffsetMs() - 4000) < 1000, `offset ${venue.clockOffsetMs()}`);
  assert.equal(toDecimalString(venue.balances().get('USDT')!.free), '10000');
});

test('a market order goes out under our client order id; per-trade fills; base fee converted at the fill price', async () => {
  const { fake, venue } = await setup({ marketFillParts: 3 });
  const r = await venue.submit(order('mkt-1', { qty: fx('0.003') }));
  assert.equal(r.kind, 'accepted');
  if (r.kind !== 'accepted') return;
  const post = fake.requests.find((q) => q.method === 'POST' && q.path === '/order')!;
  assert.equal(post.params['newClientOrderId'], 'mkt-1');
  assert.equal(post.params['quantity'], '0.003');
  const fills = fillsOf(r.events);
  assert.equal(fills.length, 3, 'one fill per venue trade');
  assert.equal(new Set(fills.map((f) => f.tradeId)).size, 3);
  assert.ok(fills.every((f) => f.tradeId.startsWith('BTCUSDT-')));
  assert.equal(toDecimalString(fills.reduce((a, f) => (a + f.qty) as Fixed, fx(0))), '0.003');
  // Commission is 0.1 % of the BTC received; Fill.fee is its value in USDT at the fill price.
  for (const f of fills) assert.equal(f.fee, mul(mul(f.qty, fx('0.001'), 'up'), f.price));
  const st = await venue.fetchOrder(clientOrderId('mkt-1'));
  assert.equal(st?.status, 'FILLED');
  // What an exit can sell is what is really free, rounded down to the step.
  await venue.pollOnce();
  const free = venue.balances().get('BTC')!.free;
  assert.equal(toDecimalString(free), '0.002997');
  assert.equal(toDecimalString(venue.sellableQty(BTC)), '0.00299');
  assert.equal(venue.status().base_fees['BTC'], '0.000003');
  const sell = await venue.submit(order('mkt-1-exit', { side: 'SELL', qty: fx('0.003') }));
  assert.equal(sell.kind, 'rejected');
  if (sell.kind === 'rejected') {
    assert.equal(sell.code, 'INSUFFICIENT_BALANCE');
    assert.match(sell.message, /sellable 0\.00299/);
  }
  const exit = await venue.submit(order('mkt-1-exit2', { side: 'SELL', qty: venue.sellableQty(BTC) }));
  assert.equal(exit.kind, 'accepted');
});

test('a resting limit fills through the poll, once, and a cancel hands over earlier fills first', async () => {
  const { fake, venue, events } = await setup();
  const r = await venue.submit(order('lim-1', { type: 'LIMIT', price: fx('59000'), timeInForce: 'GTC', qty: fx('0.002') }));
  assert.equal(r.kind, 'accepted');
  if (r.kind === 'accepted') assert.equal(r.events.length, 0);
  assert.deepEqual((await venue.fetchOpenOrders()).map((o) => o.clientOrderId), ['lim-1']);
  fake.fillResting('lim-1', '0.0005');
  await venue.pollOnce();
  await venue.pollOnce();
  assert.equal(fillsOf(events).length, 1, 'the poll hands over a fill exactly once');
  assert.equal(toDecimalString(fillsOf(events)[0]!.qty), '0.0005');
  assert.equal(fillsOf(events)[0]!.liquidity, 'MAKER');

  // Another partial fill the poll has not seen, then a cancel: the fill arrives before the cancel returns.
  fake.fillResting('lim-1', '0.0007');
  let fillsAtCancel = -1;
  const c = await venue.cancel(clientOrderId('lim-1')).then((x) => {
    fillsAtCancel = fillsOf(events).length;
    return x;
  });
  assert.equal(c.kind, 'canceled');
  assert.equal(fillsAtCancel, 2);
  assert.equal(toDecimalString(fillsOf(events)[1]!.qty), '0.0007');
  assert.equal(fake.orderByClientId('lim-1')!.status, 'CANCELED');
  await venue.pollOnce();
  assert.equal(events.filter((e) => e.type === 'canceled').length, 0, 'the engine books the cancel from the result, not twice');
  assert.deepEqual(await venue.fetchOpenOrders(), []);

  assert.equal((await venue.cancel(clientOrderId('never-sent'))).kind, 'not_found');
  await venue.submit(order('mkt-2'));
  const again = await venue.cancel(clientOrderId('mkt-2'));
  assert.equal(again.kind, 'already_closed');
});

test('a resting order the poll sees end (crossed, then expired elsewhere) is settled fills first', async () => {
  const { fake, venue, events } = await setup();
  await venue.submit(order('lim-2', { type: 'LIMIT', price: fx('59000'), timeInForce: 'GTC', qty: fx('0.001') }));
  fake.setPrice('BTCUSDT', '58000');
  await venue.pollOnce();
  const fills = fillsOf(events).filter((f) => f.clientOrderId === 'lim-2');
  assert.equal(fills.length, 1);
  assert.equal(toDecimalString(fills[0]!.price), '59000');
  assert.equal(toDecimalString(venue.lastPrice(BTC)!), '58000');
  assert.equal((await venue.fetchFills(clientOrderId('lim-2'))).length, 1);
});

test('venue rejections come back as reasons, and invalid ids are refused without a request', async () => {
  const { fake, venue } = await setup();
  const tooSmall = await venue.submit(order('small-1', { qty: fx('0.00001') }));
  assert.equal(tooSmall.kind, 'rejected');
  if (tooSmall.kind === 'rejected') {
    assert.equal(tooSmall.code, 'VENUE_FILTER');
    assert.match(tooSmall.message, /Filter failure: NOTIONAL/);
  }
  const broke = await venue.submit(order('big-1', { qty: fx('1') }));
  assert.equal(broke.kind, 'rejected');
  if (broke.kind === 'rejected') {
    assert.equal(broke.code, 'INSUFFICIENT_BALANCE');
    assert.match(broke.message, /insufficient balance/);
    assert.match(broke.message, /free 10000 USDT/);
  }
  const before = fake.requests.length;
  const bad = await venue.submit(order('has.dot:colon'));
  assert.equal(bad.kind, 'rejected');
  if (bad.kind === 'rejected') assert.equal(bad.code, 'INVALID_CLIENT_ORDER_ID');
  const offStep = await venue.submit(order('step-1', { qty: fx('0.000015') }));
  assert.equal(offStep.kind === 'rejected' && offStep.code, 'QTY_STEP');
  assert.equal(fake.requests.length, before, 'nothing was sent');
});

test('a submit that times out after the venue took it is found by client order id, never re-sent', async () => {
  const { fake, venue } = await setup({}, { timeoutMs: 400 });
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'hang', afterAccept: true });
  const r = await venue.submit(order('hang-1', { qty: fx('0.002') }));
  assert.equal(r.kind, 'accepted');
  if (r.kind === 'accepted') {
    assert.equal(r.venueOrderId, String(fake.orderByClientId('hang-1')!.orderId));
    assert.equal(toDecimalString(fillsOf(r.events).reduce((a, f) => (a + f.qty) as Fixed, fx(0))), '0.002');
  }
  assert.equal(fake.countRequests('POST', '/order'), 1, 'sent once');
  const q = fake.requests.find((x) => x.method === 'GET' && x.path === '/order')!;
  assert.equal(q.params['origClientOrderId'], 'hang-1');
  assert.equal(fake.orders.filter((o) => o.clientOrderId === 'hang-1').length, 1);
});

test('a 5xx after acceptance resolves as accepted; a 5xx before it, once the recvWindow has passed, as NOT_PLACED', async () => {
  const { fake, venue } = await setup({}, { recvWindowMs: 800 });
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 503, afterAccept: true });
  const took = await venue.submit(order('5xx-after'));
  assert.equal(took.kind, 'accepted');
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 502 });
  const lost = await venue.submit(order('5xx-before'));
  assert.equal(lost.kind, 'rejected');
  if (lost.kind === 'rejected') assert.equal(lost.code, 'NOT_PLACED');
  assert.equal(fake.countRequests('POST', '/order'), 2, 'one POST per order, no blind retries');
  assert.equal(fake.orderByClientId('5xx-before'), undefined);
});

test('an unresolvable submit is handed to reconciliation (thrown), not guessed', async () => {
  const { fake, venue } = await setup({}, { timeoutMs: 300, recvWindowBoundsPlacement: false, resolveAttempts: 2, readRetries: 0 });
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 504 });
  fake.inject({ method: 'GET', path: '/order' }, { kind: 'status', status: 503 }, 50);
  await assert.rejects(venue.submit(order('lost-1')), (err: unknown) => err instanceof SubmitOutcomeUnknownError && /reconciliation/.test(err.message));
  assert.deepEqual(venue.status().unresolved_submits, ['lost-1']);
  // The same id is never sent again by this adapter.
  const again = await venue.submit(order('lost-1'));
  assert.equal(again.kind === 'rejected' && again.code, 'DUPLICATE_CLIENT_ORDER_ID');
  assert.equal(fake.countRequests('POST', '/order'), 1);
});

test('reads ride out 5xx with retries and a 429 by waiting its Retry-After', async () => {
  const { fake, venue } = await setup({}, { maxGateWaitMs: 3000 });
  fake.inject({ method: 'GET', path: '/openOrders' }, { kind: 'status', status: 503 }, 2);
  assert.deepEqual(await venue.fetchOpenOrders(), []);
  fake.inject({ method: 'GET', path: '/openOrders' }, { kind: 'status', status: 429, retryAfterSec: 1 });
  assert.deepEqual(await venue.fetchOpenOrders(), []);
  const hit = fake.requests.findIndex((r) => r.status === 429);
  const next = fake.requests[hit + 1]!;
  assert.ok(next.at - fake.requests[hit]!.at >= 950, 'nothing was sent before Retry-After elapsed');
  assert.equal(venue.status().gate.rateLimitHits, 1);
});

test('a 429 on a submit (not processed) waits out Retry-After and sends it again: one order', async () => {
  const { fake, venue } = await setup({}, { maxGateWaitMs: 3000 });
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 429, retryAfterSec: 1 });
  const r = await venue.submit(order('429-1'));
  assert.equal(r.kind, 'accepted');
  const posts = fake.requests.filter((q) => q.method === 'POST' && q.path === '/order');
  assert.deepEqual(posts.map((q) => q.status), [429, 200]);
  assert.ok(posts[1]!.at - posts[0]!.at >= 950);
  assert.equal(fake.orders.filter((o) => o.clientOrderId === '429-1').length, 1);
  // A Retry-After longer than the adapter may wait: refused without sending.
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 429, retryAfterSec: 30 });
  const r2 = await venue.submit(order('429-2'));
  assert.equal(r2.kind === 'rejected' && r2.code, 'VENUE_RATE_LIMITED');
  assert.equal(fake.countRequests('POST', '/order'), 3);
});

test('a 418 ban stops every request to the venue until it lifts', async () => {
  const { fake, venue } = await setup({}, { maxGateWaitMs: 200 });
  fake.ban(900);
  await assert.rejects(venue.fetchOpenOrders(), (err: unknown) => err instanceof VenueRequestError && err.code === 'VENUE_BANNED');
  const seen = fake.requests.length;
  const r = await venue.submit(order('ban-1'));
  assert.equal(r.kind === 'rejected' && r.code, 'VENUE_BANNED');
  await venue.pollOnce();
  await assert.rejects(venue.fetchOrder(clientOrderId('ban-1')));
  assert.equal(fake.requests.length, seen, 'not one request during the ban');
  const gate = venue.status().gate;
  assert.equal(gate.reason, 'ip_ban');
  // Retry-After is in whole seconds (1 here): the adapter keeps to it even past the ban-until time.
  assert.ok(gate.until >= fake.requests[seen - 1]!.at + 950, 'closed for the whole Retry-After');
  await new Promise((res) => setTimeout(res, gate.until - Date.now() + 50));
  assert.deepEqual(await venue.fetchOpenOrders(), []);
  assert.equal((await venue.submit(order('ban-2'))).kind, 'accepted');
});

test('a clock that drifts outside recvWindow is re-synced and the request retried', async () => {
  const { fake, venue } = await setup();
  fake.clockOffsetMs = -20_000;
  const r = await venue.submit(order('clock-1'));
  assert.equal(r.kind, 'accepted');
  assert.ok(Math.abs(venue.clockOffsetMs() - 20_000) < 1000, `offset ${venue.clockOffsetMs()}`);
  assert.ok(fake.requests.some((q) => q.path === '/order' && q.status === 400), 'the first attempt met -1021');
  assert.equal(fake.orders.filter((o) => o.clientOrderId === 'clock-1').length, 1);
});

test('a duplicate client id is ours only if the venue order matches what we asked', async () => {
  const { fake, venue } = await setup();
  // A previous run placed it (a restart between send and acknowledgement); a second adapter
  // (the restarted process) sends the same id.
  const first = await venue.submit(order('dup-1', { type: 'LIMIT', price: fx('59000'), timeInForce: 'GTC' }));
  assert.equal(first.kind, 'accepted');
  const second = await CcxtVenue.start({
    exchangeId: 'binance', symbols: ['BTCUSDT'], credentials: { apiKey: new Secret(KEY), secret: new Secret(SECRET), password: null },
    apiBase: fake.base, logger, pollIntervalMs: 0, rateLimitMs: 1,
  });
  cleanups.push(() => second.close());
  const same = await second.submit(order('dup-1', { type: 'LIMIT', price: fx('59000'), timeInForce: 'GTC' }));
  assert.equal(same.kind, 'accepted');
  if (same.kind === 'accepted' && first.kind === 'accepted') assert.equal(same.venueOrderId, first.venueOrderId);
  const different = await second.submit(order('dup-1', { type: 'LIMIT', price: fx('58000'), timeInForce: 'GTC' }));
  assert.equal(different.kind === 'rejected' && different.code, 'DUPLICATE_CLIENT_ORDER_ID');
  assert.equal(fake.orders.filter((o) => o.clientOrderId === 'dup-1').length, 1);
});

test('a poll that keeps failing marks the view stale; recovery resyncs open orders and balances', async () => {
  const { fake, venue } = await setup({}, { staleAfterMs: 200, readRetries: 0 });
  fake.inject({ method: 'GET', path: '/ticker/price' }, { kind: 'status', status: 503 }, 1000);
  await venue.pollOnce();
  await new Promise((r) => setTimeout(r, 250));
  await venue.pollOnce();
  assert.equal(venue.status().stale, true);
  fake.clearFaults();
  const mark = fake.requests.length;
  await venue.pollOnce();
  assert.equal(venue.status().stale, false);
  assert.equal(venue.status().resyncs, 1);
  const after = fake.requests.slice(mark).map((r) => `${r.method} ${r.path}`);
  assert.ok(after.includes('GET /openOrders'), after.join(', '));
  assert.ok(after.includes('GET /account'), after.join(', '));
});

test('a wrong secret is refused by the venue (-1022) and stops start-up', async () => {
  const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET });
  const base = await fake.start();
  cleanups.push(() => fake.stop());
  await assert.rejects(
    CcxtVenue.start({ exchangeId: 'binance', symbols: ['BTCUSDT'], credentials: { apiKey: new Secret(KEY), secret: new Secret('wrong-secret-0123456789'), password: null }, apiBase: base, logger, pollIntervalMs: 0 }),
    /Signature for this request is not valid/,
  );
  await assert.rejects(
    CcxtVenue.start({ exchangeId: 'binance', symbols: ['DOGEUSDT'], credentials: null, apiBase: base, logger, pollIntervalMs: 0 }),
    /DOGEUSDT: no spot market/,
  );
});

test('sellable quantity is the free base balance rounded down to the step', async () => {
  const { venue } = await setup({ balances: { USDT: '1000', BTC: '0.0123456' } });
  assert.equal(venue.sellableQty(BTC), floorToStep(fx('0.0123456'), fx('0.00001')));
});

test('configured from the environment (CCXT_API_BASE), with ccxt\'s own throttle, the background poll hands over fills by itself', async () => {
  const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET });
  const base = await fake.start();
  const cfg = loadCcxtVenueConfig('binance', { BINANCE_API_KEY: KEY, BINANCE_API_SECRET: SECRET, CCXT_API_BASE: base, CCXT_POLL_MS: '100', TRADE_SYMBOLS: 'BTCUSDT' });
  const venue = await CcxtVenue.fromConfig(cfg, logger);
  cleanups.push(async () => {
    await venue.close();
    await fake.stop();
  });
  const events: VenueEvent[] = [];
  venue.onEvent((e) => events.push(e));
  const r = await venue.submit(order('env-1', { type: 'LIMIT', price: fx('59000'), timeInForce: 'GTC' }));
  assert.equal(r.kind, 'accepted');
  fake.setPrice('BTCUSDT', '58500');
  const end = Date.now() + 10_000;
  while (fillsOf(events).length === 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
  assert.equal(fillsOf(events).length, 1);
  assert.equal(toDecimalString(venue.lastPrice(BTC)!), '58500');
  assert.equal(fake.requests.find((q) => q.path === '/order' && q.method === 'POST')!.params['recvWindow'], '5000');
});
