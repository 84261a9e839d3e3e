// One engine that does not answer must not blind the operator or block the kill switch:
// aggregates cover the engines that answer and name the one that did not; a kill reaches
// every engine that answers, persists, and reports the missing one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { aggregateExposure, aggregateMetrics, aggregatePortfolio } from '../../../src/ops/aggregate.js';
import { KillSwitch } from '../../../src/ops/killSwitch.js';
import type { Valuation } from '../../../src/core/portfolio.js';

const valuation: Valuation = {
  cash: 900, equity: 1000, exposure: 100, realizedPnl: 5, unrealizedPnl: -1, fees: 2,
  positions: [{ symbol: 'BTCUSDT' as never, qty: 0.001, avgPrice: 100000, lastPrice: 100000, marketValue: 100, unrealizedPnl: -1, realizedPnl: 5, fees: 2 }],
};

function handle(name: string, up: boolean, applied: string[]): EngineHandle {
  const down = () => Promise.reject(new Error(`connect ECONNREFUSED (${name})`));
  return {
    name,
    valuation: () => (up ? Promise.resolve(valuation) : down()),
    stats: () => (up ? Promise.resolve({ orders_submitted: 1, orders_rejected: 0, rejected_by_reason: {}, orders_filled: 1, fills: 1, idempotent_replays: 0, routing_ms: { p50: 1, p99: 1, max: 1, samples: 1 } }) : down()),
    health: () => (up ? Promise.resolve({ engine: 'ok', venue: name, trading_enabled: true, open_orders: 0, orders: 1, fills: 1 }) : down()),
    setTradingEnabled: (enabled: boolean) => {
      if (!up) return down();
      applied.push(`${name}:${enabled}`);
      return Promise.resolve();
    },
    cancelAllOpen: () => (up ? Promise.resolve(2) : down()),
  } as unknown as EngineHandle;
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

test('a kill reaches every engine that answers, persists, and names the one that did not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-unreachable-'));
  try {
    const applied: string[] = [];
    const bus = new InProcessBus();
    const alerts: string[] = [];
    bus.subscribe('alert', (a) => alerts.push(a.title));
    const engines = [handle('engine_sim', true, applied), handle('engine_binance', false, applied)];
    const ks = new KillSwitch(join(dir, 'state.json'), () => engines, bus, silentLogger(), null, null);
    const r = await ks.set(false, 'operator', 'drill', { cancelOpen: true });
    assert.deepEqual(applied, ['engine_sim:false']);
    assert.deepEqual(r.unreachable, ['engine_binance']);
    assert.equal(r.canceled, 2);
    assert.equal(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).trading_enabled, false);
    assert.ok(alerts.includes('Kill switch incomplete'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
