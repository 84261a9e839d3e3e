// One HTTP round trip per distributed signal: the router (control plane) reaches a real engine
// served over real HTTP through HttpEngineHandle, and every request the engine API receives is
// counted. A signal is one POST /orders stating money; the engine sizes it against its own
// price and the model's position. The embedded stack (LocalEngineHandle) takes the same path
// and sizes the same signal to the same order.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { fx } from '../../src/core/decimal.js';
import { modelId } from '../../src/core/ids.js';
import type { Signal } from '../../src/core/signal.js';
import { engineRoutes } from '../../src/engine/engineApi.js';
import { LocalEngineHandle } from '../../src/engine/engineHandle.js';
import { HttpEngineHandle } from '../../src/engine/httpEngineHandle.js';
import { createOpsServer } from '../../src/ops/opsApi.js';
import type { TokenSource } from '../../src/ops/auth.js';
import { silentLogger } from '../../src/obs/logger.js';
import { StrategyRouter } from '../../src/portfolio/strategyRouter.js';
import { BTC, bar, engineFixture, removeDir, type EngineFixture } from '../support/engineFixture.js';

const TOKEN = 'round-trip-token-0123456789';
const tokens: TokenSource = { origin: 'env', verify: (v) => v === TOKEN, fingerprint: () => 'test' };
// The shipped MIN_NOTIONAL_USDT / MAX_NOTIONAL_USDT defaults.
const LIMITS = { minNotionalUsd: fx('10'), maxNotionalUsd: fx('2000') };

let remote: EngineFixture;
let embedded: EngineFixture;
let app: FastifyInstance;
let requests: string[] = [];
let url: string;
let viaHttp: StrategyRouter;
let inProcess: StrategyRouter;
const weights: Record<string, number> = { ma_v1: 0.5, shadow_v1: 0 };

const router = (engine: HttpEngineHandle | LocalEngineHandle) => new StrategyRouter({
  engines: () => [engine], weight: (m) => weights[m] ?? 0, quota: () => 1000, liveModels: () => Object.keys(weights),
  ...LIMITS, log: silentLogger(), metrics: null,
});
const sig = (over: Partial<Signal>): Signal => ({ model: modelId('ma_v1'), symbol: BTC, action: 'BUY', strength: 0.8, ts: 1_000, ...over });

before(async () => {
  remote = engineFixture();
  embedded = engineFixture();
  app = await createOpsServer({ log: silentLogger(), token: tokens });
  app.addHook('onRequest', async (req) => { requests.push(`${req.method} ${req.url.split('?')[0]}`); });
  await app.register(engineRoutes(remote.engine, null));
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  viaHttp = router(new HttpEngineHandle({ name: 'engine_sim', url, token: TOKEN }));
  inProcess = router(new LocalEngineHandle(embedded.engine));
  await viaHttp.indexEngines(); // once at start-up, not per signal
  await inProcess.indexEngines();
});

beforeEach(() => { requests = []; });

after(async () => {
  await app.close();
  for (const f of [remote, embedded]) {
    await f.close();
    removeDir(f.dir);
  }
});

test('a distributed signal is exactly one HTTP request to its engine: POST /orders', async () => {
  const r = await viaHttp.route(sig({}), { clientOrderId: 'rt-buy' });
  assert.equal(r.outcome, 'routed');
  assert.deepEqual(requests, ['POST /orders']);
  // quota × weight × strength = 1000 × 0.5 × 0.8 = 400 USD at 60000 → 0.00666 BTC (step 0.00001).
  assert.equal(r.order?.qty, '0.00666');
  assert.equal(r.notional_usd, 399.6);
  assert.equal(remote.engine.modelQty('ma_v1', BTC), r.order?.filled_qty);
  // The embedded stack takes the same path and sizes the same signal to the same order.
  const local = await inProcess.route(sig({}), { clientOrderId: 'rt-buy' });
  assert.deepEqual([local.outcome, local.order?.qty, local.notional_usd], [r.outcome, r.order?.qty, r.notional_usd]);
});

test('a flat target is one request and closes exactly what the model holds; already flat is one request and a skip', async () => {
  remote.venue.onBar(bar(BTC, 61_000, 2_000));
  const held = remote.engine.modelQty('ma_v1', BTC);
  assert.notEqual(held, '0');
  const flat = await viaHttp.route(sig({ action: 'SELL', targetExposure: 0, ts: 2_000 }));
  assert.equal(flat.outcome, 'routed');
  assert.equal(flat.order?.side, 'SELL');
  assert.equal(flat.order?.qty, held);
  assert.equal(remote.engine.modelQty('ma_v1', BTC), '0');
  assert.deepEqual(requests, ['POST /orders']);

  requests = [];
  const again = await viaHttp.route(sig({ action: 'SELL', targetExposure: 0, ts: 3_000 }));
  assert.equal(again.outcome, 'skipped');
  assert.equal(again.reason, 'BELOW_MIN_NOTIONAL');
  assert.equal(again.order, null);
  assert.deepEqual(requests, ['POST /orders']);
  assert.equal(remote.engine.getOrder('ma_v1-BTCUSDT-3000'), undefined);
});

test('a signal of strength 0 is one request and a skip, as it was before the engine sized', async () => {
  const r = await viaHttp.route(sig({ strength: 0, ts: 3_500 }));
  assert.deepEqual([r.outcome, r.reason, r.notional_usd], ['skipped', 'BELOW_MIN_NOTIONAL', 0]);
  assert.deepEqual(requests, ['POST /orders']);
});

test('a retried signal (same client order id) replays its order instead of placing a second', async () => {
  const first = await viaHttp.route(sig({ ts: 4_000 }));
  const retry = await viaHttp.route(sig({ ts: 4_000 }));
  assert.equal(first.duplicate, false);
  assert.equal(retry.duplicate, true);
  assert.equal(retry.order?.client_order_id, first.order?.client_order_id);
  assert.deepEqual(requests, ['POST /orders', 'POST /orders']);
});

test('counterpart: a shadow model\'s signal (weight 0) and a hold reach no engine at all', async () => {
  assert.equal((await viaHttp.route(sig({ model: modelId('shadow_v1'), ts: 5_000 }))).outcome, 'shadow');
  assert.equal((await viaHttp.route(sig({ action: 'HOLD', ts: 5_000 }))).outcome, 'skipped');
  assert.deepEqual(requests, []);
});

test('POST /orders states money one way only: a target sets its own side, money needs a model and a MARKET order', async () => {
  const post = async (body: Record<string, unknown>) => {
    const res = await fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  const base = { symbol: 'BTCUSDT', model: 'ma_v1' };
  assert.equal((await post({ ...base, target_usd: '100', side: 'BUY' })).status, 400);
  assert.equal((await post({ symbol: 'BTCUSDT', side: 'BUY', notional_usd: '100' })).status, 400);
  assert.equal((await post({ ...base, side: 'BUY', notional_usd: '100', quantity: '0.01' })).status, 400);
  assert.equal((await post({ ...base, side: 'BUY', type: 'LIMIT', price: '50000', notional_usd: '100' })).status, 400);
  assert.equal((await post({ ...base, notional_usd: '100' })).status, 400); // no side
  const skip = await post({ ...base, client_order_id: 'rt-min', side: 'BUY', notional_usd: '5' });
  assert.deepEqual([skip.status, skip.body['status'], skip.body['error']], [200, 'not_sized', 'BELOW_MIN_NOTIONAL']);
  // Counterpart: the same money stated well is placed, with the engine's own limits as clip and floor.
  const ok = await post({ ...base, client_order_id: 'rt-ok', side: 'BUY', notional_usd: '100' });
  assert.deepEqual([ok.status, ok.body['status'], ok.body['notional_usd']], [201, 'accepted', '99.43']); // 0.00163 BTC at 61000
});

test('money without a side is refused the same with an admission check: never a default BUY', async () => {
  // The engine process configures an admission check (its STORAGE and trading-state refusals),
  // which sizes a money order before admitting it; that path used to default the side to BUY.
  const gated = await createOpsServer({ log: silentLogger(), token: tokens });
  await gated.register(engineRoutes(embedded.engine, null, { admission: () => null }));
  try {
    const post = (body: Record<string, unknown>) => gated.inject({ method: 'POST', url: '/orders', headers: { 'x-ops-token': TOKEN }, payload: body });
    const bare = await post({ symbol: 'BTCUSDT', model: 'ma_v1', client_order_id: 'rt-noside', notional_usd: '100' });
    assert.equal(bare.statusCode, 400, bare.body);
    assert.equal(bare.json().field, 'side');
    assert.equal(embedded.engine.getOrder('rt-noside'), undefined);
    // Counterpart: with its side the same money is placed through the admission check.
    const sided = await post({ symbol: 'BTCUSDT', model: 'ma_v1', client_order_id: 'rt-sided', side: 'BUY', notional_usd: '100' });
    assert.equal(sided.statusCode, 201, sided.body);
  } finally {
    await gated.close();
  }
});
