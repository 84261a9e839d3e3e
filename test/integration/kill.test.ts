// The runbook's Circuit Breaker Activation against a running stack over HTTP: POST /kill
// under concurrent order flow (no order accepted after the kill returns), cancel_open
// (no open order survives), the flag across a restart, then the Gradual Resume through
// weights (0.01, then 0.1: orders ten times larger).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

const TOKEN = 'test-token-0123456789abcdef';
let root: string;
let stack: Stack;
const env = () => ({
  HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100',
  MAX_ORDERS_PER_MIN: '100000', MAX_OPEN_ORDERS: '1000',
});

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), 'x-ops-token': TOKEN },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}
const ops = (method: string, path: string, body?: unknown) => call(stack.opsUrl, method, path, body);
const eng = (method: string, path: string, body?: unknown) => call(stack.engineUrl!, method, path, body);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-kill-'));
  stack = await startStack({ env: env(), stdout: false });
  await ops('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0 } });
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('POST /kill under concurrent order flow: every order sent after the kill returns is refused; cancel_open leaves nothing open', async () => {
  // Resting orders that the kill must cancel.
  for (let i = 0; i < 3; i++) {
    const r = await eng('POST', '/orders', { client_order_id: `rest-${i}`, symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', price: '1000', quantity: '0.01', time_in_force: 'GTC' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  let killReturnedAt = Infinity;
  const sent: { at: number; status: number; error: string | undefined }[] = [];
  let n = 0;
  let stop = false;
  const client = async () => {
    while (!stop) {
      const at = performance.now();
      const i = n++;
      // Alternate market orders with resting limit orders, so some are always open.
      const body = i % 2 === 0
        ? { client_order_id: `flow-${i}`, symbol: 'BTCUSDT', side: 'BUY', quote_usd: 12 }
        : { client_order_id: `flow-${i}`, symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', price: '100', quantity: '0.2', time_in_force: 'GTC' };
      const r = await eng('POST', '/orders', body);
      sent.push({ at, status: r.status, error: r.json.error });
    }
  };
  const clients = Array.from({ length: 8 }, client);
  const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 5)); };
  await until(() => sent.filter((s) => s.status === 201).length >= 20);
  const kill = await ops('POST', '/kill', { enabled: false, cancel_open: true, reason: 'circuit breaker drill' });
  killReturnedAt = performance.now();
  await until(() => sent.filter((s) => s.at >= killReturnedAt).length >= 40);
  stop = true;
  await Promise.all(clients);

  assert.equal(kill.status, 200);
  assert.equal(kill.json.state.trading_enabled, false);
  assert.ok(kill.json.canceled_orders >= 3, `canceled ${kill.json.canceled_orders}`);
  const beforeKill = sent.filter((s) => s.at < killReturnedAt);
  const afterKill = sent.filter((s) => s.at >= killReturnedAt);
  assert.ok(beforeKill.filter((s) => s.status === 201).length > 10, `orders were flowing: ${JSON.stringify(beforeKill.slice(0, 5))} (${beforeKill.length})`);
  assert.ok(afterKill.length > 10, `orders kept coming after the kill (${afterKill.length})`);
  for (const s of afterKill) assert.deepEqual([s.status, s.error], [403, 'TRADING_DISABLED']);
  // Nothing open at the engine, and nothing opens later.
  assert.deepEqual((await eng('GET', '/orders')).json.orders, []);
  const status = (await ops('GET', '/status')).json.state;
  assert.equal(status.trading_enabled, false);
  assert.equal(status.trading_state.reason, 'circuit breaker drill');
  assert.equal(status.engines.engine_sim.trading_enabled, false);
  const audit = readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; server: string; body: { cancel_open?: boolean } });
  assert.ok(audit.some((e) => e.server === 'ops' && e.action === 'trading.kill' && e.body.cancel_open === true));
  // Orders are data plane: with a valid token they are not audited, however many there are.
  assert.equal(audit.filter((e) => e.server === 'engine_sim' && e.action === 'order.submit').length, 0);
});

test('the kill survives a restart; then the runbook\'s gradual resume through weights', async () => {
  await stack.stop();
  stack = await startStack({ env: env(), stdout: false });
  const status = (await ops('GET', '/status')).json.state;
  assert.equal(status.trading_enabled, false);
  const refused = await eng('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 20 });
  assert.deepEqual([refused.status, refused.json.error], [403, 'TRADING_DISABLED']);

  // Resume, then 1 % of normal weight, then 10 %: each signal's order scales with it.
  assert.equal((await ops('POST', '/kill', { enabled: true, reason: 'risk reviewed' })).json.state.trading_enabled, true);
  const sized = async (w: number) => {
    assert.equal((await ops('POST', '/strategy/weights', { weights: { ma_crossover_v1: w } })).status, 200);
    const r = await ops('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover_v1', strength: 1 });
    return r.json as { outcome: string; notional_usd: number; reason: string | null };
  };
  const tiny = await sized(0.01);
  const small = await sized(0.1);
  assert.equal(small.outcome, 'routed', JSON.stringify(small));
  assert.ok(['routed', 'skipped'].includes(tiny.outcome), JSON.stringify(tiny));
  const quota = stack.context.allocator.quota('ma_crossover_v1') * stack.governance.daemon.effectiveMultiplier();
  assert.ok(Math.abs(small.notional_usd - Math.min(quota * 0.1, 2000)) < 60, `${small.notional_usd} vs ${quota} × 0.1`);
  assert.ok(Math.abs(tiny.notional_usd - quota * 0.01) < 60, `${tiny.notional_usd} vs ${quota} × 0.01`);
  await ops('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0 } });
});

test('global REDUCING over HTTP: new exposure refused, a sell of what is held passes', async () => {
  const buy = await eng('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002' });
  assert.equal(buy.status, 201, JSON.stringify(buy.json));
  const set = await ops('POST', '/trading/state', { scope: 'global', state: 'REDUCING', reason: 'market disruption' });
  assert.equal(set.status, 200);
  const more = await eng('POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002' });
  assert.deepEqual([more.status, more.json.error], [403, 'TRADING_REDUCING']);
  const sell = await eng('POST', '/orders', { symbol: 'BTCUSDT', side: 'SELL', quantity: '0.001' });
  assert.equal(sell.status, 201, JSON.stringify(sell.json));
  assert.equal((await ops('POST', '/trading/state', { scope: 'global', state: 'ACTIVE', reason: 'calm again' })).json.previous, 'REDUCING');
});
