// The fake Binance at the wire, without ccxt: requests signed here by hand, so the checks the
// adapter's tests rely on (signature, timestamp window, filters, duplicate ids, error codes)
// are known to be enforced, not merely tolerated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { FakeBinance } from '../support/fakeBinance.js';

const KEY = 'wireKey0123456789';
const SECRET = 'wireSecret0123456789';
const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET, balances: { USDT: '1000' } });
let base = '';

before(async () => {
  base = await fake.start();
});
after(() => fake.stop());

async function call(method: string, path: string, params: Record<string, string>, opts: { sign?: boolean; key?: string; secret?: string; inBody?: boolean; tamper?: boolean } = {}) {
  const q = new URLSearchParams({ ...params, ...(opts.sign === false ? {} : { timestamp: params['timestamp'] ?? String(Date.now()) }) }).toString();
  const sig = createHmac('sha256', opts.secret ?? SECRET).update(q).digest('hex');
  const signed = opts.sign === false ? q : `${q}&signature=${opts.tamper ? sig.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) : sig}`;
  const headers: Record<string, string> = {};
  if (opts.sign !== false) headers['X-MBX-APIKEY'] = opts.key ?? KEY;
  let url = `${base}/api/v3${path}`;
  let body: string | undefined;
  if (opts.inBody) {
    body = signed;
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (signed) {
    url += `?${signed}`;
  }
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { code?: number; msg?: string }, headers: res.headers };
}

test('public endpoints answer in Binance\'s shapes', async () => {
  assert.deepEqual((await call('GET', '/ping', {}, { sign: false })).body, {});
  const time = (await call('GET', '/time', {}, { sign: false })).body;
  assert.ok(Math.abs(Number(time['serverTime']) - Date.now()) < 2000);
  const info = (await call('GET', '/exchangeInfo', {}, { sign: false })).body as unknown as { symbols: { symbol: string; filters: { filterType: string; [k: string]: unknown }[] }[] };
  const btc = info.symbols.find((s) => s.symbol === 'BTCUSDT')!;
  const f = Object.fromEntries(btc.filters.map((x) => [x.filterType, x]));
  assert.equal(f['PRICE_FILTER']!['tickSize'], '0.01000000');
  assert.equal(f['LOT_SIZE']!['stepSize'], '0.00001000');
  assert.equal(f['NOTIONAL']!['minNotional'], '5.00000000');
  assert.deepEqual((await call('GET', '/ticker/price', { symbol: 'BTCUSDT' }, { sign: false })).body, { symbol: 'BTCUSDT', price: '60000.00000000' });
  const err = await call('GET', '/ticker/price', { symbol: 'NOPE' }, { sign: false });
  assert.deepEqual([err.status, err.body.code], [400, -1121]);
});

test('signed endpoints: key, signature (query or body) and timestamp window are enforced', async () => {
  assert.equal((await call('GET', '/account', {})).status, 200);
  assert.equal((await call('POST', '/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.0001', newClientOrderId: 'wire-body' }, { inBody: true })).status, 200);
  const noKey = await fetch(`${base}/api/v3/account?timestamp=${Date.now()}&signature=00`);
  assert.equal(((await noKey.json()) as { code: number }).code, -2014);
  assert.deepEqual(pick(await call('GET', '/account', {}, { key: 'other-key' })), [401, -2015]);
  assert.deepEqual(pick(await call('GET', '/account', {}, { secret: 'not-the-secret' })), [400, -1022]);
  assert.deepEqual(pick(await call('GET', '/account', {}, { tamper: true })), [400, -1022]);
  assert.deepEqual(pick(await call('GET', '/account', { timestamp: String(Date.now() - 10_000) })), [400, -1021]);
  assert.deepEqual(pick(await call('GET', '/account', { timestamp: String(Date.now() - 10_000), recvWindow: '20000' })), [200, undefined]);
  assert.deepEqual(pick(await call('GET', '/account', { timestamp: String(Date.now() + 5_000) })), [400, -1021]);
});

test('orders: filters, balance, duplicate ids among open orders, unknown orders', async () => {
  const o = (extra: Record<string, string>) => call('POST', '/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '50000', ...extra });
  assert.deepEqual(pick(await o({ price: '50000.001' })), [400, -1013]);
  assert.equal((await o({ price: '50000.001' })).body.msg, 'Filter failure: PRICE_FILTER');
  assert.equal((await o({ quantity: '0.000015' })).body.msg, 'Filter failure: LOT_SIZE');
  assert.equal((await o({ quantity: '0.00001' })).body.msg, 'Filter failure: NOTIONAL');
  assert.equal((await o({ quantity: '1' })).body.msg, 'Account has insufficient balance for requested action.');
  const placed = await o({ newClientOrderId: 'wire-1' });
  assert.equal(placed.status, 200);
  assert.equal(placed.body['status'], 'NEW');
  assert.deepEqual([(await o({ newClientOrderId: 'wire-1' })).body.code, (await o({ newClientOrderId: 'wire-1' })).body.msg], [-2010, 'Duplicate order sent.']);
  assert.equal((await o({ newClientOrderId: 'bad.id' })).body.code, -1100);
  const got = await call('GET', '/order', { symbol: 'BTCUSDT', origClientOrderId: 'wire-1' });
  assert.equal(got.body['clientOrderId'], 'wire-1');
  assert.deepEqual(pick(await call('GET', '/order', { symbol: 'BTCUSDT', origClientOrderId: 'nope' })), [400, -2013]);
  assert.equal((await call('DELETE', '/order', { symbol: 'BTCUSDT', origClientOrderId: 'wire-1' })).body['status'], 'CANCELED');
  assert.deepEqual(pick(await call('DELETE', '/order', { symbol: 'BTCUSDT', origClientOrderId: 'wire-1' })), [400, -2011]);
  // Once the first is closed, Binance accepts the id again: the adapter must never rely on it.
  assert.equal((await o({ newClientOrderId: 'wire-1' })).status, 200);
  const acct = (await call('GET', '/account', {})).body as unknown as { balances: { asset: string; free: string; locked: string }[] };
  assert.equal(acct.balances.find((b) => b.asset === 'USDT')!.locked, '50.00000000');
});

test('a market order fills at the set price with the commission in the asset received', async () => {
  fake.setPrice('BTCUSDT', '50000');
  const r = await call('POST', '/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: 'wire-mkt', newOrderRespType: 'FULL' });
  const fills = r.body['fills'] as { price: string; qty: string; commission: string; commissionAsset: string; tradeId: number }[];
  assert.equal(r.body['status'], 'FILLED');
  assert.deepEqual(fills.map((f) => [f.price, f.qty, f.commission, f.commissionAsset]), [['50000.00000000', '0.00100000', '0.00000100', 'BTC']]);
  const trades = (await call('GET', '/myTrades', { symbol: 'BTCUSDT', orderId: String(r.body['orderId']) })).body as unknown as { id: number; isBuyer: boolean }[];
  assert.deepEqual(trades.map((t) => [t.id, t.isBuyer]), [[fills[0]!.tradeId, true]]);
});

test('scripted faults: 429 with Retry-After, 418 ban, 5xx after accepting', async () => {
  fake.inject({ path: '/openOrders' }, { kind: 'status', status: 429, retryAfterSec: 7 });
  const limited = await call('GET', '/openOrders', { symbol: 'BTCUSDT' });
  assert.deepEqual([limited.status, limited.headers.get('retry-after'), limited.body.code], [429, '7', -1003]);
  assert.equal((await call('GET', '/openOrders', { symbol: 'BTCUSDT' })).status, 200, 'only the next one');
  fake.inject({ method: 'POST', path: '/order' }, { kind: 'status', status: 503, afterAccept: true });
  const r = await call('POST', '/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.0001', newClientOrderId: 'wire-5xx' });
  assert.equal(r.status, 503);
  assert.equal(fake.orderByClientId('wire-5xx')?.status, 'FILLED', 'the venue acted although it answered 5xx');
  fake.ban(1500);
  const banned = await call('GET', '/ping', {}, { sign: false });
  assert.equal(banned.status, 418);
  assert.match(String(banned.body.msg), /banned until \d{13}/);
  assert.equal(banned.headers.get('retry-after'), '2');
});

function pick(r: { status: number; body: { code?: number } }): [number, number | undefined] {
  return [r.status, r.body.code];
}
