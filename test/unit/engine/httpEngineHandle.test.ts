// The HTTP EngineHandle against a real engine served over real HTTP (ephemeral port): every
// method answers what LocalEngineHandle answers for the same engine. Routes the engine API
// does not have yet are served here by a small plugin over LocalEngineHandle, in the shape the
// handle expects (and only when the engine API lacks them, so this keeps passing once added).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { fx } from '../../../src/core/decimal.js';
import { modelId } from '../../../src/core/ids.js';
import { engineRoutes } from '../../../src/engine/engineApi.js';
import { LocalEngineHandle } from '../../../src/engine/engineHandle.js';
import {
  EngineHttpError, EngineRouteMissingError, EngineUnreachableError, HttpEngineHandle,
} from '../../../src/engine/httpEngineHandle.js';
import { createOpsServer } from '../../../src/ops/opsApi.js';
import type { TokenSource } from '../../../src/ops/auth.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { BTC, bar, engineFixture, removeDir, type EngineFixture } from '../../support/engineFixture.js';
import { tradingDoc } from '../../support/tradingState.js';

const TOKEN = 'http-handle-token-0123456789';
const tokens: TokenSource = { origin: 'env', verify: (v) => v === TOKEN, fingerprint: () => 'test' };

let fx1: EngineFixture;
let local: LocalEngineHandle;
let full: FastifyInstance; // engine API + the routes the handle needs
let bare: FastifyInstance; // the engine API as it is
let http: HttpEngineHandle;
let httpBare: HttpEngineHandle;

/** The routes the HTTP handle needs beyond today's engine API, over LocalEngineHandle. */
function missingRoutes(h: LocalEngineHandle) {
  return async (app: FastifyInstance) => {
    const add = (method: 'GET' | 'POST', url: string, handler: (req: { params: unknown; query: unknown; body: unknown }) => Promise<unknown>) => {
      if (!app.hasRoute({ method, url })) app.route({ method, url, handler });
    };
    add('GET', '/models/positions', async () => ({ positions: await h.modelPositions() }));
    add('GET', '/prices/:symbol', async (req) => ({ symbol: (req.params as { symbol: string }).symbol, price: await h.lastPrice((req.params as { symbol: string }).symbol) }));
    add('GET', '/history/orders', async (req) => ({ orders: await h.recentOrders(Number((req.query as { limit?: string }).limit ?? 50)) }));
    add('POST', '/orders/cancel-all', async (req) => ({ canceled: await h.cancelAllOpen(String((req.body as { actor?: string } | undefined)?.actor ?? 'api')) }));
  };
}

async function serve(withMissing: boolean): Promise<{ app: FastifyInstance; url: string }> {
  const app = await createOpsServer({ log: silentLogger(), token: tokens });
  await app.register(engineRoutes(fx1.engine, null));
  if (withMissing) await app.register(missingRoutes(local));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${addr.port}` };
}

before(async () => {
  fx1 = engineFixture();
  local = new LocalEngineHandle(fx1.engine);
  const a = await serve(true);
  const b = await serve(false);
  full = a.app;
  bare = b.app;
  http = new HttpEngineHandle({ name: 'engine_sim', url: a.url, token: TOKEN });
  httpBare = new HttpEngineHandle({ name: 'engine_sim', url: b.url, token: TOKEN });
});

after(async () => {
  await full.close();
  await bare.close();
  await fx1.close();
  removeDir(fx1.dir);
});

test('submit: accepted, replayed on the same id, conflict on a different request, rejections with their reason', async () => {
  const req = { clientOrderId: 'h-1', symbol: BTC, side: 'BUY' as const, type: 'MARKET' as const, qty: fx('0.01'), price: null, model: modelId('ma_v1') };
  const a = await http.submit(req);
  assert.equal(a.kind, 'accepted');
  if (a.kind === 'accepted') {
    assert.equal(a.duplicate, false);
    assert.deepEqual(a.order, await local.getOrder('h-1'));
  }
  const again = await http.submit(req);
  assert.equal(again.kind === 'accepted' && again.duplicate, true);
  const clash = await http.submit({ ...req, qty: fx('0.02') });
  assert.equal(clash.kind, 'conflict');
  const small = await http.submit({ ...req, clientOrderId: 'h-small', qty: fx('0.00001') });
  assert.equal(small.kind, 'rejected');
  if (small.kind === 'rejected') assert.equal(small.reason, (await local.getOrder('h-small'))!.reject_reason!.split(':')[0]);
});

test('submit without an id gets one (so a retry cannot double it), valid at Binance too', async () => {
  const out = await http.submit({ symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.001'), price: null });
  assert.equal(out.kind, 'accepted');
  assert.match(out.order.client_order_id, /^engine_sim-[a-z0-9]{9}-[0-9a-f]{12}$/);
  assert.ok(out.order.client_order_id.length <= 36);
});

test('cancel, orders and the engine\'s views match the local handle', async () => {
  const lim = await http.submit({ clientOrderId: 'h-lim', symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.01'), price: fx('59000'), timeInForce: 'GTC' });
  assert.equal(lim.kind, 'accepted');
  assert.deepEqual((await http.openOrders()).map((o) => o.client_order_id), (await local.openOrders()).map((o) => o.client_order_id));
  assert.ok((await http.openOrders()).some((o) => o.client_order_id === 'h-lim'));
  const c = await http.cancel('h-lim');
  assert.equal(c.kind, 'canceled');
  const c2 = await http.cancel('h-lim');
  assert.equal(c2.kind, 'not_open');
  if (c2.kind === 'not_open') assert.equal(c2.order.status, 'CANCELED');
  assert.equal((await http.cancel('nope')).kind, 'not_found');
  assert.equal(await http.getOrder('nope'), undefined);

  fx1.venue.onBar(bar(BTC, 61_000, 2_000));
  assert.deepEqual(await http.valuation(), await local.valuation());
  assert.deepEqual(await http.instruments(), await local.instruments());
  assert.deepEqual(await http.stats(), await local.stats());
  const h = await http.health();
  assert.equal(h.engine, 'ok');
  assert.equal(h.orders, (await local.health()).orders);
  assert.deepEqual(await http.modelPositions(), await local.modelPositions());
  assert.equal(await http.modelQty('ma_v1', 'BTCUSDT'), await local.modelQty('ma_v1', 'BTCUSDT'));
  assert.equal(await http.modelQty('ma_v1', 'ETHUSDT'), '0');
  assert.equal(await http.lastPrice('BTCUSDT'), await local.lastPrice('BTCUSDT'));
  assert.equal(await http.lastPrice('DOGEUSDT'), null);
  assert.deepEqual((await http.recentOrders(3)).map((o) => o.client_order_id), (await local.recentOrders(3)).map((o) => o.client_order_id));
});

test('control: the trading-state document reaches the engine once per version; a wrong token is refused', async () => {
  const base = fx1.engine.health().trading_state?.version ?? 0;
  const graded = await http.applyTradingState(tradingDoc(base + 1, { venues: { engine_sim: 'REDUCING' }, models: { ma_v1: 'HALTED' } }));
  assert.deepEqual([graded.applied, graded.version], [true, base + 1]);
  assert.deepEqual(fx1.engine.currentTradingStates, { global: 'ACTIVE', venue: 'REDUCING', models: { ma_v1: 'HALTED' } });
  assert.equal((await http.applyTradingState(tradingDoc(base + 1))).applied, false, 'a version already applied is ignored');
  assert.deepEqual(fx1.engine.currentTradingStates, { global: 'ACTIVE', venue: 'REDUCING', models: { ma_v1: 'HALTED' } });
  const halted = await http.applyTradingState(tradingDoc(base + 2, { global: 'HALTED' }));
  assert.deepEqual([halted.applied, halted.trading_enabled], [true, false]);
  assert.equal(fx1.engine.tradingEnabled, false);
  await http.applyTradingState(tradingDoc(base + 3));
  assert.equal(fx1.engine.tradingEnabled, true);
  const noToken = new HttpEngineHandle({ name: 'engine_sim', url: `http://127.0.0.1:${(full.server.address() as { port: number }).port}`, token: 'wrong-token-0123456789' });
  await assert.rejects(noToken.applyTradingState(tradingDoc(base + 4, { global: 'HALTED' })), (e: unknown) => e instanceof EngineHttpError && e.status === 401);
  assert.equal(fx1.engine.tradingEnabled, true);
  assert.equal(fx1.engine.health().trading_state?.version, base + 3);
});

test('reconcile and its report through HTTP', async () => {
  const r = await http.reconcile();
  assert.equal(r.ok, true);
  const s = await http.reconcileReport();
  assert.equal(s.engine, fx1.engine.name);
  assert.ok(s.passes >= 1);
});

test('cancel-all: the sweep route when there is one, one by one when not', async () => {
  for (const id of ['sweep-1', 'sweep-2']) await http.submit({ clientOrderId: id, symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.01'), price: fx('58000'), timeInForce: 'GTC' });
  assert.equal(await http.cancelAllOpen('test'), 2);
  await httpBare.submit({ clientOrderId: 'sweep-3', symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.01'), price: fx('58000'), timeInForce: 'GTC' });
  assert.equal(await httpBare.cancelAllOpen('test'), 1);
  assert.deepEqual(await local.openOrders(), []);
});

test('routes today\'s engine API lacks are named, not papered over', async (t) => {
  for (const [method, url, call] of [
    ['GET', '/models/positions', () => httpBare.modelPositions()],
    ['GET', '/prices/:symbol', () => httpBare.lastPrice('BTCUSDT')],
    ['GET', '/history/orders', () => httpBare.recentOrders(5)],
  ] as const) {
    if (bare.hasRoute({ method, url })) {
      t.diagnostic(`${method} ${url} exists now`);
      continue;
    }
    await assert.rejects(call(), (e: unknown) => e instanceof EngineRouteMissingError && e.message.includes(url.split('/:')[0]!));
  }
});

test('an engine that does not answer is reported as unreachable', async () => {
  const dead = new HttpEngineHandle({ name: 'engine_dead', url: 'http://127.0.0.1:1', token: null, timeoutMs: 500 });
  await assert.rejects(dead.health(), (e: unknown) => e instanceof EngineUnreachableError && /engine_dead/.test(e.message));
});

