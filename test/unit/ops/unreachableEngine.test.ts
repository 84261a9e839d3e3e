// One engine that does not answer must not blind the operator or block the kill switch:
// aggregates cover the engines that answer and name the one that did not; a kill (or any
// trading-state change) reaches every engine that answers, persists, reports the missing one,
// and is applied by it when it answers again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import type { TradingStateDocument } from '../../../src/core/tradingState.js';
import { createLogger, silentLogger } from '../../../src/obs/logger.js';
import { aggregateExposure, aggregateMetrics, aggregatePortfolio } from '../../../src/ops/aggregate.js';
import { KillSwitch } from '../../../src/ops/killSwitch.js';
import { TradingStates } from '../../../src/ops/governance/tradingStates.js';
import type { Valuation } from '../../../src/core/portfolio.js';

const valuation: Valuation = {
  cash: 900, equity: 1000, exposure: 100, realizedPnl: 5, unrealizedPnl: -1, fees: 2,
  positions: [{ symbol: 'BTCUSDT' as never, qty: 0.001, avgPrice: 100000, lastPrice: 100000, marketValue: 100, unrealizedPnl: -1, realizedPnl: 5, fees: 2 }],
};

function handle(name: string, up: boolean, applied: string[]): EngineHandle & { up: boolean } {
  const down = () => Promise.reject(new Error(`connect ECONNREFUSED (${name})`));
  let version = 0;
  const h = {
    up,
    name,
    valuation: () => (h.up ? Promise.resolve(valuation) : down()),
    stats: () => (h.up ? Promise.resolve({ orders_submitted: 1, orders_rejected: 0, rejected_by_reason: {}, orders_filled: 1, fills: 1, idempotent_replays: 0, routing_ms: { p50: 1, p99: 1, max: 1, samples: 1 } }) : down()),
    health: () => (h.up ? Promise.resolve({ engine: 'ok', venue: name, trading_enabled: true, open_orders: 0, orders: 1, fills: 1 }) : down()),
    applyTradingState: (doc: TradingStateDocument) => {
      if (!h.up) return down();
      if (doc.version <= version) return Promise.resolve({ applied: false, version, canceled: 0, trading_enabled: doc.global.state !== 'HALTED' });
      version = doc.version;
      applied.push(`${name}:${doc.global.state}`);
      return Promise.resolve({ applied: true, version, canceled: doc.global.cancel_open ? 2 : 0, trading_enabled: doc.global.state !== 'HALTED' });
    },
  };
  return h as unknown as EngineHandle & { up: boolean };
}

test('aggregates cover the engines that answer and name the one that does not', async () => {
  const engines = [handle('engine_sim', true, []), handle('engine_binance', false, [])];
  const p = await aggregatePortfolio(engines, () => 1000);
  assert.equal(p.equity, 1000);
  assert.deepEqual(Object.keys(p.venues), ['engine_sim']);
  assert.match(p.unreachable.engine_binance!, /ECONNREFUSED/);
  const x = await aggregateExposure(engines);
  assert.equal(x.totals.gross_usd, 100);
  assert.ok('engine_binance' in x.unreachable);
  const m = await aggregateMetrics(engines);
  assert.equal((m.venues.engine_binance as { reachable: boolean }).reachable, false);
  assert.equal((m.venues.engine_sim as { reachable: boolean }).reachable, true);
});

test('a kill reaches every engine that answers, persists, names the one that did not, and reaches it when it answers again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-unreachable-'));
  try {
    const applied: string[] = [];
    const bus = new InProcessBus();
    const alerts: string[] = [];
    bus.subscribe('alert', (a) => alerts.push(a.title));
    const binance = handle('engine_binance', false, applied);
    const engines = [handle('engine_sim', true, applied), binance];
    const logPath = join(dir, 'ops.log');
    const log = createLogger({ file: logPath, stdout: false, level: 'info' });
    const states = new TradingStates({ path: join(dir, 'trading_states.json'), engines: () => engines, bus, log, metrics: null, retryMs: 20 });
    const ks = new KillSwitch(states);
    const r = await ks.set(false, 'operator', 'drill', { cancelOpen: true });
    assert.deepEqual(applied, ['engine_sim:HALTED'], 'the others are halted');
    assert.deepEqual(r.unreachable, ['engine_binance']);
    assert.equal(r.canceled, 2);
    const file = JSON.parse(readFileSync(join(dir, 'trading_states.json'), 'utf8')) as { global: { state: string; cancel_open?: boolean } };
    assert.deepEqual([file.global.state, file.global.cancel_open], ['HALTED', true], 'persisted, with the drain');
    assert.ok(alerts.includes('Kill switch incomplete'));
    log.flush();
    assert.match(readFileSync(logPath, 'utf8'), /\[RISK\] kill switch \(pause\) did not reach engine_binance \(connect ECONNREFUSED/);

    // The engine answers again: the retry brings it the persisted state, once.
    binance.up = true;
    const until = Date.now() + 5_000;
    while (!applied.includes('engine_binance:HALTED') && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    assert.deepEqual(applied, ['engine_sim:HALTED', 'engine_binance:HALTED']);
    await new Promise((res) => setTimeout(res, 60));
    assert.equal(applied.length, 2, 'no retry once every engine has it');
    log.flush();
    assert.match(readFileSync(logPath, 'utf8'), /\[RISK\] engine_binance reached again: trading state v\d+ \(global HALTED\) applied/);
    // The counterpart: with every engine answering, a change is named nowhere as missing.
    const resumed = await ks.set(true, 'operator', 'drill over');
    assert.deepEqual(resumed.unreachable, []);
    assert.deepEqual(applied.slice(2), ['engine_sim:ACTIVE', 'engine_binance:ACTIVE']);
    states.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a graded state set while an engine is down is applied by the others and named; the answer does not fail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-unreachable-'));
  try {
    const applied: string[] = [];
    const engines = [handle('engine_sim', true, applied), handle('engine_binance', false, applied)];
    const states = new TradingStates({ path: join(dir, 'trading_states.json'), engines: () => engines, bus: new InProcessBus(), log: silentLogger(), metrics: null, retryMs: 60_000 });
    const change = await states.set('model', 'ma_v1', 'HALTED', 'operator', 'review');
    assert.deepEqual(change.unreachable, ['engine_binance']);
    assert.equal(change.changed, true);
    assert.deepEqual(applied, ['engine_sim:ACTIVE']);
    assert.equal(JSON.parse(readFileSync(join(dir, 'trading_states.json'), 'utf8')).models.ma_v1.state, 'HALTED');
    states.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
