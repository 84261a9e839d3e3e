// The kill switch (the global HALTED of the one trading state) against a real engine whose venue
// answers after a delay, so orders are really in flight when the kill lands: no order that
// starts after set() resolves is accepted, cancel_open also catches orders still on their way to
// the venue, the state persists in ops/trading_states.json (an old ops/state.json is migrated
// once), graded trading states are pushed to the engine before set() resolves, and the engine
// applies each change once however many ways it reaches it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../../src/core/decimal.js';
import { symbol } from '../../../src/core/ids.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { AlertPayload } from '../../../src/bus/topics.js';
import type { SubmitOutcome } from '../../../src/engine/views.js';
import { LocalEngineHandle } from '../../../src/engine/engineHandle.js';
import { createLogger, silentLogger } from '../../../src/obs/logger.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { KillSwitch } from '../../../src/ops/killSwitch.js';
import { TradingStates } from '../../../src/ops/governance/tradingStates.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';
import { engineFixture } from '../../support/engineFixture.js';

const BTC = symbol('BTCUSDT');
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function setup(latencyMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-'));
  dirs.push(dir);
  const metrics = createMetrics({ collectProcess: false });
  const f = engineFixture({
    dir, startingCash: '1000000', snapshotPath: null, metrics,
    limits: { tradeSymbols: new Set(['BTCUSDT']), maxNotionalUsdt: fx('100000'), maxOrdersPerMin: 1_000_000 },
    venue: (d) => {
      const venue = new SimVenue({ id: 'sim', startingBalances: { USDT: '1000000' }, latencyMs, book: { fixedLevelQty: { BTCUSDT: '100' } }, statePath: join(d, 'venue.sqlite'), now: Date.now });
      venue.onBar({ symbol: BTC, ts: Date.now(), open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 1000 });
      return venue;
    },
  });
  const { engine, venue, bus, close } = f;
  const engines = [new LocalEngineHandle(engine)];
  const states = new TradingStates({ path: join(dir, 'trading_states.json'), engines: () => engines, bus, log: silentLogger(), metrics });
  const kill = new KillSwitch(states);
  return { dir, engine, engines, states, kill, bus, metrics, venue, close };
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

test('the kill persists across a restart as the global HALTED; TRADING_ENABLED=false at start always wins', async () => {
  const s = setup(0);
  const path = join(s.dir, 'trading_states.json');
  const reopen = (tradingEnabledAtStart: boolean | null = null) => new TradingStates({ path, engines: () => s.engines, bus: s.bus, log: silentLogger(), metrics: null, tradingEnabledAtStart });
  await s.kill.set(false, 'operator:test', 'overnight');
  const file = JSON.parse(readFileSync(path, 'utf8')) as { version: number; global: { state: string; actor: string; reason: string } };
  assert.deepEqual([file.global.state, file.global.actor, file.global.reason], ['HALTED', 'operator:test', 'overnight']);
  assert.ok(file.version > 0);
  const again = new KillSwitch(reopen());
  assert.equal(again.enabled, false);
  assert.equal(again.current.reason, 'overnight');
  await again.set(true, 'operator:test', 'morning');
  assert.equal(new KillSwitch(reopen()).enabled, true);
  const overridden = reopen(false);
  assert.equal(new KillSwitch(overridden).enabled, false);
  assert.deepEqual([overridden.current.global.actor, overridden.current.global.reason], ['startup', 'TRADING_ENABLED=false']);
  assert.ok(overridden.current.version > file.version, 'the override is a new version: engines apply it');
  await s.close();
});

test('a resume lifts only a HALTED: a global REDUCING is a grade of its own and stays', async () => {
  const s = setup(0);
  await s.states.set('global', null, 'REDUCING', 'governance', 'drawdown');
  const before = s.states.current.version;
  const r = await s.kill.set(true, 'operator:test', 'resume');
  assert.equal(r.state.trading_enabled, true);
  assert.equal(s.states.current.global.state, 'REDUCING');
  assert.equal(s.states.current.version, before, 'nothing changed, nothing pushed');
  await s.kill.set(false, 'operator:test', 'stop');
  await s.kill.set(true, 'operator:test', 'go');
  assert.equal(s.states.current.global.state, 'ACTIVE');
  await s.close();
});

test('each change is applied once by the engine, however many ways it arrives (push, bus, a second replica)', async () => {
  const s = setup(0);
  // As an engine process does: it also applies every document the bus carries.
  const viaBus: Promise<unknown>[] = [];
  s.bus.subscribe('trading.state', (p) => { viaBus.push(s.engine.applyTradingState(p.document)); });
  const applied = () => s.engine.health().trading_state!.applied;
  const start = applied();
  await s.kill.set(false, 'operator:test', 'drill');
  await s.states.set('model', 'ma_v1', 'REDUCING', 'governance', 'drawdown');
  await s.kill.set(true, 'operator:test', 'drill over');
  await Promise.all(viaBus);
  // A second replica that took the same document (and pushed it again) changes nothing.
  const replica = new TradingStates({ path: join(s.dir, 'replica_states.json'), engines: () => s.engines, bus: new InProcessBus(), log: silentLogger(), metrics: null });
  assert.equal(await replica.adopt(s.states.current, 'test'), true);
  await replica.pushAll();
  assert.equal(applied() - start, 3, 'three changes, three applications');
  assert.equal(s.engine.health().trading_state!.ignored, 4, 'three bus deliveries and one push were ignored');
  assert.equal(s.engine.health().trading_state!.version, s.states.current.version);
  // The counterpart: a new change is applied.
  await s.kill.set(false, 'operator:test', 'again');
  assert.equal(applied() - start, 4);
  await s.close();
});

test('trading states are enforced by the engine once set() resolves, persisted, exported and alerted', async () => {
  const s = setup(3);
  const alerts: AlertPayload[] = [];
  s.bus.subscribe('alert', (a) => alerts.push(a));
  const path = join(s.dir, 'trading_states.json');
  const states = s.states;
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
  const reloaded = new TradingStates({ path, engines: () => s.engines, bus: s.bus, log: silentLogger(), metrics: null });
  assert.equal(reloaded.viewFor('engine_sim').venue, 'HALTED');
  assert.equal(reloaded.viewFor('engine_sim').global, 'REDUCING');
  await s.close();
});

test('an old ops/state.json is migrated once: a pause becomes the global HALTED, said in the log', async () => {
  for (const enabled of [false, true]) {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-migrate-'));
    dirs.push(dir);
    const legacy = join(dir, 'state.json');
    writeFileSync(legacy, JSON.stringify({ trading_enabled: enabled, updated_at: '2026-01-02T03:04:05.000Z', actor: 'operator:abc', reason: 'old kill' }));
    const logPath = join(dir, 'ops.log');
    const log = createLogger({ file: logPath, stdout: false, level: 'info' });
    const open = () => new TradingStates({ path: join(dir, 'trading_states.json'), legacyKillPath: legacy, engines: () => [], bus: new InProcessBus(), log, metrics: null });
    const states = open();
    log.flush();
    assert.equal(states.enabled, enabled);
    if (!enabled) assert.deepEqual([states.current.global.actor, states.current.global.reason, states.current.global.updated_at], ['operator:abc', 'old kill', '2026-01-02T03:04:05.000Z']);
    assert.ok(!existsSync(legacy) && existsSync(`${legacy}.migrated`), 'read once: renamed');
    assert.match(readFileSync(logPath, 'utf8'), /\[RISK\] kill switch migrated from .*state\.json/);
    await new KillSwitch(states).set(true, 'operator', 'resume');
    assert.equal(open().enabled, true, 'not read again');
  }
});

test('a damaged state file fails safe: trading stays paused until an operator resumes', async () => {
  for (const content of ['{"trading_enabled": fal', '{"trading_enabled": "yes"}', '']) {
    // The old kill switch's file, damaged, at migration.
    const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-state-'));
    dirs.push(dir);
    const legacy = join(dir, 'state.json');
    writeFileSync(legacy, content);
    const open = () => new TradingStates({ path: join(dir, 'trading_states.json'), legacyKillPath: legacy, engines: () => [], bus: new InProcessBus(), log: silentLogger(), metrics: null });
    const ks = new KillSwitch(open());
    assert.equal(ks.enabled, false, JSON.stringify(content));
    assert.equal(JSON.parse(readFileSync(join(dir, 'trading_states.json'), 'utf8')).global.state, 'HALTED');
    await ks.set(true, 'operator', 'checked the damage');
    assert.equal(new KillSwitch(open()).enabled, true);
  }
  for (const content of ['{"global": {"state": "ACT', '{"global": {"state": "PAUSED"}}', '', '{"version": -1, "global": {"state": "ACTIVE"}}']) {
    // The trading-state document itself, damaged.
    const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-state-'));
    dirs.push(dir);
    const path = join(dir, 'trading_states.json');
    writeFileSync(path, content);
    const open = () => new TradingStates({ path, engines: () => [], bus: new InProcessBus(), log: silentLogger(), metrics: null });
    const ks = new KillSwitch(open());
    assert.equal(ks.enabled, false, JSON.stringify(content));
    await ks.set(true, 'operator', 'checked the damage');
    assert.equal(new KillSwitch(open()).enabled, true);
  }
  const fresh = mkdtempSync(join(tmpdir(), 'hmm-kill-state-'));
  dirs.push(fresh);
  assert.equal(new TradingStates({ path: join(fresh, 'trading_states.json'), legacyKillPath: join(fresh, 'state.json'), engines: () => [], bus: new InProcessBus(), log: silentLogger(), metrics: null }).enabled, true, 'no file = default on');
});
