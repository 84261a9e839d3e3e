// The engine's own HTTP API over a running stack: submit (idempotent), get, cancel, open
// orders, portfolio, health, metrics; bad input refused with a JSON error naming the field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';
import { tokenFingerprint } from '../../src/ops/auth.js';

const TOKEN = 'engine-api-test-token-0123';
let root: string;
let stack: Stack;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-engine-api-'));
  // The model runs in shadow (weight 0) from the first bar: these tests drive the engine directly.
  mkdirSync(join(root, 'ops'), { recursive: true });
  writeFileSync(join(root, 'ops/strategy_weights.json'), JSON.stringify({ weights: { ma_crossover_v1: 0 } }));
  stack = await startStack({
    env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '200', WARMUP_BARS: '50', MAX_NOTIONAL_USDT: '5000' },
    stdout: false,
  });
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { 'x-ops-token': TOKEN }) {
  const res = await fetch(stack.engineUrl + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

test('submit a market order by quantity, then read it back with its fills', async () => {
  const r = await call('POST', '/orders', { client_order_id: 'api-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.status, 'accepted');
  assert.equal(r.json.order.status, 'FILLED');
  assert.equal(r.json.order.filled_qty, '0.001');
  assert.equal(typeof r.json.routing_time_ms, 'number');
  const again = await call('POST', '/orders', { client_order_id: 'api-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001' });
  assert.equal(again.status, 200);
  assert.equal(again.json.duplicate, true);
  const got = await call('GET', '/orders/api-1');
  assert.equal(got.status, 200);
  assert.equal(got.json.fills.reduce((a: number, f: { qty: string }) => a + Number(f.qty), 0), 0.001);
  const p = await call('GET', '/portfolio');
  assert.equal(p.json.positions.find((x: { symbol: string }) => x.symbol === 'BTCUSDT').qty, 0.001);
});

test('X-Idempotency-Key header works like client_order_id; a different order under the same key is 409', async () => {
  const h = { 'x-ops-token': TOKEN, 'x-idempotency-key': 'hdr-1' };
  const a = await call('POST', '/orders', { symbol: 'ETHUSDT', side: 'BUY', quote_usd: 50 }, h);
  assert.equal(a.status, 201);
  assert.equal(a.json.order.client_order_id, 'hdr-1');
  const b = await call('POST', '/orders', { symbol: 'ETHUSDT', side: 'BUY', quote_usd: 60 }, h);
  assert.equal(b.status, 409);
});

test('a resting limit order is listed open and can be canceled', async () => {
  const r = await call('POST', '/orders', { client_order_id: 'lim-api', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', price: '1000.00', quantity: '0.01', time_in_force: 'GTC' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.order.status, 'ACCEPTED');
  const open = await call('GET', '/orders');
  assert.ok(open.json.orders.some((o: { client_order_id: string }) => o.client_order_id === 'lim-api'));
  assert.equal((await call('DELETE', '/orders/lim-api', undefined)).json.status, 'canceled');
  assert.equal((await call('DELETE', '/orders/lim-api', undefined)).status, 409);
  assert.equal((await call('DELETE', '/orders/no-such', undefined)).status, 404);
  assert.equal((await call('GET', '/orders/no-such')).status, 404);
});

test('cancel-all records who swept: the presenting operator, or the Ops API\'s caller via it', async () => {
  const operator = `operator:${tokenFingerprint(TOKEN)}`;
  // The in-process stack's engine logs to ops.log; each sweep's line names its actor.
  const sweeps = () => readFileSync(join(root, 'ops/logs/ops.log'), 'utf8').split('\n').filter((l) => l.includes('open orders (')).map((l) => (JSON.parse(l) as { msg: string }).msg);
  const rest = async (id: string) => {
    const r = await call('POST', '/orders', { client_order_id: id, symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', price: '1000.00', quantity: '0.01', time_in_force: 'GTC' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  };

  await rest('sweep-direct');
  const direct = await call('POST', '/orders/cancel-all', {});
  assert.equal(direct.status, 200, JSON.stringify(direct.json));
  assert.equal(direct.json.canceled, 1);
  assert.equal((await call('GET', '/orders/sweep-direct')).json.order.status, 'CANCELED');
  assert.ok(sweeps().at(-1)!.endsWith(`canceled 1 open orders (${operator})`), JSON.stringify(sweeps()));

  // The Ops API relays its caller's identity in the body (HttpEngineHandle.cancelAllOpen).
  await rest('sweep-relayed');
  const relayed = await call('POST', '/orders/cancel-all', { actor: 'operator:0123abcd' });
  assert.equal(relayed.json.canceled, 1);
  assert.ok(sweeps().at(-1)!.endsWith(`canceled 1 open orders (operator:0123abcd via ${operator})`), JSON.stringify(sweeps()));

  // Through the Ops API (here in the same process): its caller, as its other mutating routes record.
  await rest('sweep-ops');
  const viaOps = await fetch(`${stack.opsUrl}/orders/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify({ all: true, reason: 'actor drill' }) });
  assert.equal(viaOps.status, 200);
  assert.equal(((await viaOps.json()) as { canceled: number }).canceled, 1);
  assert.ok(sweeps().at(-1)!.endsWith(`canceled 1 open orders (${operator})`), JSON.stringify(sweeps()));
  assert.ok(!sweeps().some((m) => m.includes('engine_api')), 'no sweep is put down to the engine API itself');
});

test('risk rails answer with reason codes and HTTP status', async () => {
  const small = await call('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 7 });
  assert.equal(small.status, 422);
  assert.equal(small.json.error, 'MIN_NOTIONAL');
  const big = await call('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quantity: 1 });
  assert.equal(big.status, 422);
  assert.equal(big.json.error, 'MAX_NOTIONAL');
  const sym = await call('POST', '/orders', { symbol: 'DOGEUSDT', side: 'BUY', quantity: 1 });
  assert.equal(sym.status, 403);
  assert.equal(sym.json.error, 'SYMBOL_NOT_ALLOWED');
  const step = await call('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.000123' });
  assert.equal(step.json.error, 'QTY_STEP');
  const sellUnheld = await call('POST', '/orders', { symbol: 'ETHUSDT', side: 'SELL', quantity: '1' });
  assert.equal(sellUnheld.status, 422);
  assert.equal(sellUnheld.json.error, 'INSUFFICIENT_BALANCE');
});

test('bad input: 4xx JSON naming the field, and nothing reaches the ledger', async () => {
  const before = stack.engine.health().orders;
  const cases: [unknown, string][] = [
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 'NaN' }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: -1 }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 1e300 }, 'quantity'],
    // Beyond what the ledger's 64-bit amounts hold: refused by the schema, not a 500 at the bind.
    [{ symbol: 'BTCUSDT', side: 'BUY', quote_usd: 1e20 }, 'quote_usd'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quote_usd: '100000000000000000000' }, 'quote_usd'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: '99999999999' }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: '0.000000001' }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'HOLD', quantity: 1 }, 'side'],
    [{ symbol: 'BTC/USDT', side: 'BUY', quantity: 1 }, 'symbol'],
    [{ side: 'BUY', quantity: 1 }, 'symbol'],
    [{ symbol: 'BTCUSDT', side: 'BUY' }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 1, quote_usd: 5 }, 'quantity'],
    [{ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: 1 }, 'price'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 1, price: 5 }, 'price'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 1, leverage: 5 }, 'leverage'],
    [{ symbol: 'BTCUSDT', side: 'BUY', quantity: 1, client_order_id: 'has spaces' }, 'client_order_id'],
  ];
  for (const [body, field] of cases) {
    const r = await call('POST', '/orders', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.json)}`);
    assert.equal(typeof r.json.error, 'string');
    assert.equal(r.json.field, field, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`);
  }
  const malformed = await call('POST', '/orders', '{"symbol": ');
  assert.equal(malformed.status, 400);
  const unauth = await call('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001' }, {});
  assert.equal(unauth.status, 401);
  assert.equal(stack.engine.health().orders, before);
});

test('health and metrics', async () => {
  const h = await call('GET', '/health');
  assert.equal(h.json.engine, 'ok');
  const res = await fetch(stack.engineUrl + '/metrics');
  assert.match(await res.text(), /hmm_orders_rejected_total\{venue="engine_sim",reason="MIN_NOTIONAL"\}/);
});
