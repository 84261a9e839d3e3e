// The metrics collector against a control plane made of plain objects: regime posteriors
// read generically from model diagnostics, weights and quotas per model, drawdown from the
// running equity peak, engine reachability, per-model PnL, and bus event counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type client from 'prom-client';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import type { ModelPositionView } from '../../../src/engine/views.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { createMetrics, type Metrics } from '../../../src/obs/metrics.js';
import type { ModelInfo, OpsContext } from '../../../src/ops/context.js';
import { MetricsCollector } from '../../../src/ops/metricsCollector.js';

interface FakeEngine {
  name: string;
  equity: number;
  down: boolean;
  positions: ModelPositionView[];
}

function engineHandle(e: FakeEngine): EngineHandle {
  const fail = () => Promise.reject(new Error(`${e.name} unreachable`));
  return {
    name: e.name,
    health: async () => (e.down ? fail() : { engine: 'ok', venue: e.name, trading_enabled: true, open_orders: 2, orders: 0, fills: 0, recovered: { recovered: false } }),
    valuation: async () => (e.down ? fail() : {
      cash: e.equity - 100, equity: e.equity, exposure: 100, realizedPnl: 1, unrealizedPnl: 2, fees: 0.5,
      positions: [{ symbol: 'BTCUSDT', qty: -0.002, avgPrice: 50_000, lastPrice: 50_000, marketValue: -100, unrealizedPnl: 0 }],
    }),
    modelPositions: async () => (e.down ? fail() : e.positions),
    lastPrice: async () => '51000',
  } as unknown as EngineHandle;
}

function setup() {
  const metrics = createMetrics({ collectProcess: false });
  const bus = new InProcessBus();
  const engines: FakeEngine[] = [{ name: 'engine_a', equity: 10_000, down: false, positions: [{ model: 'hmm_v1', symbol: 'BTCUSDT', qty: '0.01', avgPrice: '50000', realizedPnl: '5', fees: '1' }] }];
  let models: ModelInfo[] = [
    { id: 'ma_v1', kind: 'ma', symbols: ['BTCUSDT'], diagnostics: {} },
    { id: 'hmm_v1', kind: 'hmm', symbols: ['BTCUSDT'], diagnostics: { posterior_0: 0.1, posterior_1: 0.7, posterior_2: 0.2, regime: 1, bars_filtered: 500 } },
  ];
  const ctx = {
    metrics, bus, log: silentLogger(),
    killSwitch: { enabled: true },
    weights: { current: { weights: { ma_v1: 1, hmm_v1: 0.25 } } },
    allocator: { quota: (m: string) => (m === 'ma_v1' ? 6000 : 2000) },
    models: () => models,
    engines: () => engines.map(engineHandle),
    baselineEquity: (name: string) => (name === 'engine_b' ? 5_000 : 10_000),
  } as unknown as OpsContext;
  return { ctx, metrics, bus, engines, setModels: (m: ModelInfo[]) => { models = m; } };
}

async function values(m: Metrics, name: string): Promise<Record<string, number>> {
  const metric = m.registry.getSingleMetric(name) as client.Metric | undefined;
  assert.ok(metric, name);
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) out[Object.values(v.labels).join('/')] = v.value;
  return out;
}

test('the regime posterior is exported per model and state from any model that reports posterior_<i>', async () => {
  const { ctx, metrics, setModels } = setup();
  const c = new MetricsCollector(ctx);
  await c.refresh();
  assert.deepEqual(await values(metrics, 'hmm_regime_posterior'), { 'hmm_v1/0': 0.1, 'hmm_v1/1': 0.7, 'hmm_v1/2': 0.2 });
  assert.deepEqual(await values(metrics, 'hmm_model_regime'), { hmm_v1: 1 });
  // A refit with two states (or a model leaving) leaves no stale series behind.
  setModels([{ id: 'hmm_v1', kind: 'hmm', symbols: ['BTCUSDT'], diagnostics: { posterior_0: 0.4, posterior_1: 0.6, regime: 1 } }]);
  await c.refresh();
  assert.deepEqual(await values(metrics, 'hmm_regime_posterior'), { 'hmm_v1/0': 0.4, 'hmm_v1/1': 0.6 });
});

test('weights, quotas, the kill switch and the engine\'s book are exported', async () => {
  const { ctx, metrics } = setup();
  await new MetricsCollector(ctx).refresh();
  assert.deepEqual(await values(metrics, 'hmm_model_weight'), { ma_v1: 1, hmm_v1: 0.25 });
  assert.deepEqual(await values(metrics, 'hmm_capital_quota_usd'), { ma_v1: 6000, hmm_v1: 2000 });
  assert.deepEqual(await values(metrics, 'hmm_trading_enabled'), { global: 1, engine_a: 1 });
  assert.deepEqual(await values(metrics, 'hmm_engine_up'), { engine_a: 1 });
  assert.deepEqual(await values(metrics, 'hmm_equity_usd'), { engine_a: 10_000 });
  assert.deepEqual(await values(metrics, 'hmm_open_orders'), { engine_a: 2 });
  assert.deepEqual(await values(metrics, 'hmm_exposure_usd'), { 'engine_a/BTCUSDT': 100 });
  assert.deepEqual(await values(metrics, 'hmm_exposure_net_usd'), { 'engine_a/BTCUSDT': -100 });
  // per-model PnL from the model's own book: realized 5 + (51000 - 50000) × 0.01 − fees 1
  assert.deepEqual(await values(metrics, 'hmm_model_pnl_usd'), { ma_v1: 0, hmm_v1: 14 });
  assert.deepEqual(await values(metrics, 'hmm_model_exposure_usd'), { ma_v1: 0, hmm_v1: 510 });
});

test('drawdown is measured from the running equity peak, per engine and for the portfolio', async () => {
  const { ctx, metrics, engines } = setup();
  const c = new MetricsCollector(ctx);
  await c.refresh();
  engines[0]!.equity = 10_500;
  await c.refresh();
  engines[0]!.equity = 9_450;
  await c.refresh();
  const dd = await values(metrics, 'hmm_drawdown_ratio');
  assert.ok(Math.abs(dd.engine_a! - 0.1) < 1e-12, String(dd.engine_a));
  assert.ok(Math.abs(dd.portfolio! - 0.1) < 1e-12);
  assert.deepEqual(await values(metrics, 'hmm_equity_peak_usd'), { engine_a: 10_500, portfolio: 10_500 });
  engines[0]!.equity = 11_000; // a new high: no drawdown
  await c.refresh();
  assert.deepEqual(await values(metrics, 'hmm_drawdown_ratio'), { engine_a: 0, portfolio: 0 });
});

test('the portfolio drawdown is governance\'s: its stated peak, the starting capital before any — not a peak that restarts with the process', async () => {
  // Pass rule: a collector started after a loss (equity 9,500 of a 10,000 start) reads 5 %
  // before governance speaks, and 5 % of governance's peak (11,000 → 10,450) once it states it;
  // the engine's own scope also counts from its starting capital.
  const { ctx, metrics, bus, engines } = setup();
  const c = new MetricsCollector(ctx, { intervalMs: 3_600_000 });
  engines[0]!.equity = 9_500;
  c.start();
  try {
    await c.refresh();
    let dd = await values(metrics, 'hmm_drawdown_ratio');
    assert.ok(Math.abs(dd.portfolio! - 0.05) < 1e-12 && Math.abs(dd.engine_a! - 0.05) < 1e-12, JSON.stringify(dd));
    bus.publish('metrics.update', { equity: 10_450, drawdown_pct: 5, peak_equity: 11_000 });
    engines[0]!.equity = 10_450;
    await c.refresh();
    dd = await values(metrics, 'hmm_drawdown_ratio');
    assert.ok(Math.abs(dd.portfolio! - 0.05) < 1e-12, String(dd.portfolio));
    assert.equal((await values(metrics, 'hmm_equity_peak_usd')).portfolio, 11_000);
    // Counterpart: an operator's injected metrics without governance's pair move nothing, and
    // governance's next statement replaces whatever was stated before (nothing sticks).
    bus.publish('metrics.update', { pnl_unrealized: -150 });
    await c.refresh();
    assert.equal((await values(metrics, 'hmm_equity_peak_usd')).portfolio, 11_000);
    bus.publish('metrics.update', { drawdown_pct: 40, peak_equity: 1e9 });
    bus.publish('metrics.update', { equity: 10_780, drawdown_pct: 2, peak_equity: 11_000 });
    await c.refresh();
    dd = await values(metrics, 'hmm_drawdown_ratio');
    assert.ok(Math.abs(dd.portfolio! - 0.02) < 1e-12, String(dd.portfolio));
  } finally {
    await c.stop();
  }
});

test('an unreachable engine reads as down and does not fake a portfolio drawdown', async () => {
  const { ctx, metrics, engines } = setup();
  engines.push({ name: 'engine_b', equity: 5_000, down: false, positions: [] });
  const c = new MetricsCollector(ctx, { engineTimeoutMs: 200 });
  await c.refresh();
  engines[1]!.down = true;
  await c.refresh();
  assert.deepEqual(await values(metrics, 'hmm_engine_up'), { engine_a: 1, engine_b: 0 });
  assert.equal((await values(metrics, 'hmm_drawdown_ratio')).portfolio, 0, 'the missing 5,000 is not a loss');
  assert.ok((await values(metrics, 'hmm_metrics_collector_errors_total')).engine! >= 1);
});

test('governance.action and alert events on the bus are counted, with zero series from the start', async () => {
  const { ctx, metrics, bus } = setup();
  const c = new MetricsCollector(ctx, { intervalMs: 60_000 });
  c.start();
  try {
    assert.deepEqual(await values(metrics, 'hmm_alerts_total'), { INFO: 0, WARNING: 0, CRITICAL: 0 });
    bus.publish('governance.action', { action: 'reduce_exposure', cause: 'drawdown', detail: {}, ts: 1 });
    bus.publish('governance.action', { action: 'reduce_exposure', cause: 'drawdown', detail: {}, ts: 2 });
    bus.publish('alert', { severity: 'CRITICAL', title: 't', message: 'm', key: 'k', ts: 3 });
    assert.deepEqual(await values(metrics, 'hmm_governance_events_total'), { reduce_exposure: 2 });
    assert.equal((await values(metrics, 'hmm_alerts_total')).CRITICAL, 1);
  } finally {
    await c.stop();
  }
  // stopped: events no longer counted
  bus.publish('governance.action', { action: 'reduce_exposure', cause: 'x', detail: {}, ts: 4 });
  assert.deepEqual(await values(metrics, 'hmm_governance_events_total'), { reduce_exposure: 2 });
});
