// The kill switch against a real engine whose venue answers after a delay, so orders are
// really in flight when the kill lands: no order that starts after set() resolves is
// accepted, cancel_open also catches orders still on their way to the venue, the flag
// persists, and graded trading states are pushed to the engine before set() resolves.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../../src/core/decimal.js';
import { symbol } from '../../../src/core/ids.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { AlertPayload } from '../../../src/bus/topics.js';
import { Engine, type SubmitOutcome } from '../../../src/engine/engine.js';
import { LocalEngineHandle } from '../../../src/engine/engineHandle.js';
import { Ledger } from '../../../src/engine/ledger.js';
import { OrderLog } from '../../../src/engine/orderLog.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { KillSwitch } from '../../../src/ops/killSwitch.js';
import { TradingStates } from '../../../src/ops/governance/tradingStates.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';

const BTC = symbol('BTCUSDT');
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function setup(latencyMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-'));
  dirs.push(dir);
  const venue = new SimVenue({ id: 'sim', startingBalances: { USDT: '1000000' }, latencyMs, book: { fixedLevelQty: { BTCUSDT: '100' } }, statePath: join(dir, 'venue.sqlite'), now: Date.now });
  venue.onBar({ symbol: BTC, ts: Date.now(), open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 1000 });
  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const orderLog = new OrderLog(join(dir, 'orders.jsonl'));
  const bus = new InProcessBus();
  const metrics = createMetrics({ collectProcess: false });
  const engine = new Engine({
    name: 'engine_sim', venue, ledger, orderLog, snapshotPath: null, startingCash: fx('1000000'),
    limits: { tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('100000'), maxOrdersPerMin: 1_000_000 },
    tradingEnabled: true, bus, logger: silentLogger(), metrics,
  });
  const engines = [new LocalEngineHandle(engine)];
  const kill = new KillSwitch(join(dir, 'state.json'), () => engines, bus, silentLogger(), metrics, null);
  const close = async () => {
    await engine.close();
    await venue.close();
    ledger.close();
    orderLog.close();
  };
  return { dir, engine, engines, kill, bus, metrics, venue, close };
}

test('under concurrent order flow, no order that starts after the kill returns is accepted', async () => {
  const s = setup(3);
  const alerts: AlertPayload[] = [];
  s.bus.subscribe('alert', (a) => alerts.push(a));
  let killedAt = Infinity;
  const results: { startedAt: number; out: SubmitOutcome }[] = [];
  let seq = 0;
  const worker = async () => {
    for (let i = 0; i < 40; i++) {
      const startedAt = performance.now();
      const out = await s.engine.submit({ clientOrderId: `flow-${seq++}`, symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.001'), price: null });
      results.push({ startedAt, out });
    }
  };
  const flow = Promise.all(Array.from({ length: 8 }, worker));
  await new Promise((r) => setTimeout(r, 40));
  await s.kill.set(false, 'operator:test', 'drill');
  killedAt = performance.now();
  await flow;
  const before = results.filter((r) => r.startedAt < killedAt);
  const afterKill = results.filter((r) => r.startedAt >= killedAt);
  assert.ok(before.some((r) => r.out.kind === 'accepted'), 'orders flowed before the kill');
  assert.ok(afterKill.length > 50, `orders kept coming after the kill (${afterKill.length})`);
  for (const r of afterKill) assert.equal(r.out.kind === 'rejected' && r.out.reason, 'TRADING_DISABLED');
  assert.equal(s.engine.tradingEnabled, false);
  assert.ok(alerts.some((a) => a.key === 'kill_switch:paused' && a.severity === 'CRITICAL'));
  await s.close();
});

test('kill with cancel_open cancels resting orders, including ones still in flight to the venue', async () => {
  const s = setup(15);
  const limit = (i: number) => s.engine.submit({ clientOrderId: `rest-${i}`, symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('0.001'), price: fx('59000'), timeInForce: 'GTC' });
  const first = await Promise.all([limit(1), limit(2)]);
  assert.ok(first.every((o) => o.kind === 'accepted'));
  const inflight = [limit(3), limit(4)]; // not yet answered by the venue when the kill lands
  const { canceled } = await s.kill.set(false, 'operator:test', 'cancel everything', { cancelOpen: true });
  const late = await Promise.all(inflight);
  // An order still being recorded when the kill lands never reaches the venue (rejected
  // TRADING_DISABLED); one the venue already has is canceled. Either way nothing stays open.
  const refused = late.filter((o) => o.kind === 'rejected' && o.reason === 'TRADING_DISABLED').length;
  assert.equal(canceled + refused, 4);
  assert.ok(canceled >= 2);
  assert.deepEqual(s.engine.listOpenOrders(), []);
  assert.deepEqual(await s.venue.fetchOpenOrders(), []);
  await s.close();
});

test('the flag persists across a restart; TRADING_ENABLED=false at start always wins', async () => {
  const s = setup(0);
  await s.kill.set(false, 'operator:test', 'overnight');
  const file = JSON.parse(readFileSync(join(s.dir, 'state.json'), 'utf8')) as { trading_enabled: boolean; actor: string; reason: string };
  assert.deepEqual([file.trading_enabled, file.actor, file.reason], [false, 'operator:test', 'overnight']);
  const again = new KillSwitch(join(s.dir, 'state.json'), () => s.engines, s.bus, silentLogger(), null, null);
  assert.equal(again.enabled, false);
  assert.equal(again.current.reason, 'overnight');
  await again.set(true, 'operator:test', 'morning');
  assert.equal(new KillSwitch(join(s.dir, 'state.json'), () => s.engines, s.bus, silentLogger(), null, false).enabled, false);
  await s.close();
});

test('trading states are enforced by the engine once set() resolves, persisted, exported and alerted', async () => {
  const s = setup(3);
  const alerts: AlertPayload[] = [];
  s.bus.subscribe('alert', (a) => alerts.push(a));
  const path = join(s.dir, 'trading_states.json');
  const states = new TradingStates(path, () => s.engines, s.bus, silentLogger(), s.metrics);
  await states.pushAll();
  assert.equal((await s.engine.submit({ symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null })).kind, 'accepted');
  const change = await states.set('global', null, 'REDUCING', 'operator:test', 'market disruption');
  assert.equal(change.changed, true);
  assert.equal(change.previous?.state, 'ACTIVE');
  const add = await s.engine.submit({ symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.001'), price: null });
  assert.equal(add.kind === 'rejected' && add.reason, 'TRADING_REDUCING');
  assert.equal((await s.engine.submit({ symbol: BTC, side: 'SELL', type: 'MARKET', qty: fx('0.004'), price: null })).kind, 'accepted');
  await states.set('venue', 'engine_sim', 'HALTED', 'governance', 'venue error rate 60%');
  const sell = await s.engine.submit({ symbol: BTC, side: 'SELL', type: 'MARKET', qty: fx('0.001'), price: null });
  assert.equal(sell.kind === 'rejected' && sell.reason, 'TRADING_HALTED');
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { global: { state: string; actor: string; reason: string }; venues: Record<string, { state: string }> };
  assert.deepEqual([doc.global.state, doc.global.actor, doc.global.reason], ['REDUCING', 'operator:test', 'market disruption']);
  assert.equal(doc.venues.engine_sim?.state, 'HALTED');
  const text = await s.metrics.registry.metrics();
  assert.match(text, /hmm_trading_state\{scope="global",target="global"\} 1/);
  assert.match(text, /hmm_trading_state\{scope="venue",target="engine_sim"\} 2/);
  assert.ok(alerts.some((a) => a.key === 'trading_state:venue:engine_sim:HALTED' && a.severity === 'CRITICAL'));
  // Latched across a restart.
  const reloaded = new TradingStates(path, () => s.engines, s.bus, silentLogger(), null);
  assert.equal(reloaded.viewFor('engine_sim').venue, 'HALTED');
  assert.equal(reloaded.viewFor('engine_sim').global, 'REDUCING');
  await s.close();
});

test('a damaged ops/state.json fails safe: trading stays paused until an operator resumes', async () => {
  for (const content of ['{"trading_enabled": fal', '{"trading_enabled": "yes"}', '']) {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-state-'));
    dirs.push(dir);
    const path = join(dir, 'state.json');
    writeFileSync(path, content);
    const ks = new KillSwitch(path, () => [], new InProcessBus(), silentLogger(), null, null);
    assert.equal(ks.enabled, false, JSON.stringify(content));
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).trading_enabled, false);
    await ks.set(true, 'operator', 'checked the damage');
    assert.equal(new KillSwitch(path, () => [], new InProcessBus(), silentLogger(), null, null).enabled, true);
  }
  const fresh = mkdtempSync(join(tmpdir(), 'hmm-kill-state-'));
  dirs.push(fresh);
  assert.equal(new KillSwitch(join(fresh, 'state.json'), () => [], new InProcessBus(), silentLogger(), null, null).enabled, true, 'no file = default on');
});
