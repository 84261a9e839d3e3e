// The governance daemon as a loop: bus events in, actions out (a [GOV] line, a
// governance.action event, an alert, an audit entry, a metric), trading states pushed to the
// engines, memory that survives a restart. Engines are small fakes behind EngineHandle.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { AlertPayload, GovernanceActionPayload } from '../../../src/bus/topics.js';
import { type EngineTradingStates, type TradingStateDocument, engineView } from '../../../src/core/tradingState.js';
import type { EngineHealth } from '../../../src/engine/views.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import { createLogger } from '../../../src/obs/logger.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { AuditLog } from '../../../src/ops/audit.js';
import { GovernanceDaemon } from '../../../src/ops/governance/daemon.js';
import { DEFAULT_GOVERNANCE_POLICY, type GovernancePolicy } from '../../../src/ops/governance/policy.js';
import { TradingStates } from '../../../src/ops/governance/tradingStates.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

class FakeEngine {
  equity = 10_000;
  unrealized = 0;
  requests = 0;
  errors = 0;
  pushed: EngineTradingStates[] = [];
  constructor(readonly name: string) {}
  async valuation() {
    return { cash: this.equity, equity: this.equity, exposure: 0, realizedPnl: 0, unrealizedPnl: this.unrealized, fees: 0, positions: [] };
  }
  async health(): Promise<EngineHealth> {
    return {
      engine: 'ok', venue: this.name, trading_enabled: true, open_orders: 0, orders: 0, fills: 0,
      recovered: { recovered: false, at: '', fills_replayed: 0, orders: 0, open_orders: 0, positions: 0 },
      venue_calls: { requests: this.requests, errors: this.errors, last_error: this.errors ? 'ECONNRESET' : null, last_error_at: null },
    } as EngineHealth;
  }
  async stats() {
    return { orders_submitted: 0, orders_rejected: 0, rejected_by_reason: {}, orders_filled: 0, fills: 0, idempotent_replays: 0, routing_ms: { p50: 1, p99: 1, max: 1, samples: 1 } };
  }
  /** What the engine enforces after each document it applied (the view of it for this engine). */
  async applyTradingState(d: TradingStateDocument) {
    this.pushed.push(engineView(d, this.name));
    return { applied: true, version: d.version, canceled: 0, trading_enabled: d.global.state !== 'HALTED' };
  }
}

function setup(policy: Partial<GovernancePolicy> = {}, dir?: string) {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'hmm-gov-'));
  if (!dir) dirs.push(root);
  const logPath = join(root, 'ops.log');
  const log = createLogger({ file: logPath, stdout: false, level: 'debug' });
  const bus = new InProcessBus();
  const metrics = createMetrics({ collectProcess: false });
  const engine = new FakeEngine('engine_sim');
  const engines = () => [engine as unknown as EngineHandle];
  const tradingStates = new TradingStates({ path: join(root, 'trading_states.json'), engines, bus, log, metrics });
  const audit = new AuditLog(join(root, 'audit.jsonl'), log, metrics);
  let now = 1_000_000;
  const clock = { advance: (ms: number) => { now += ms; }, get now() { return now; } };
  const pol: GovernancePolicy = { ...DEFAULT_GOVERNANCE_POLICY, ...policy };
  const daemon = new GovernanceDaemon({
    statePath: join(root, 'governance_state.json'), policy: () => pol, bus, engines, tradingStates, log, metrics, audit,
    baselineEquity: 10_000, minNotionalUsd: 10, now: () => now,
  });
  const actions: GovernanceActionPayload[] = [];
  const alerts: AlertPayload[] = [];
  bus.subscribe('governance.action', (a) => actions.push(a));
  bus.subscribe('alert', (a) => alerts.push(a));
  const logLines = () => readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
  return { root, log, bus, metrics, engine, tradingStates, audit, daemon, actions, alerts, clock, logLines };
}

test('metrics.update {"pnl_unrealized": -150} reduces exposure: [GOV] line, governance.action, alert, audit, metric', async () => {
  const g = setup();
  g.daemon.start();
  g.bus.publish('metrics.update', { pnl_unrealized: -150 });
  await g.daemon.evaluate(false);
  assert.equal(g.daemon.effectiveMultiplier(), 0.7);
  const line = g.logLines().find((l) => l.msg.startsWith('[GOV] 📉 Exposure reduced'));
  assert.ok(line, 'the runbook line is in the log');
  assert.equal(line.msg, '[GOV] 📉 Exposure reduced ×1.00 → ×0.70 (pnl_unrealized -150 < -100, rule loss_100)');
  assert.equal(line.level, 'WARN');
  assert.equal(g.actions.length, 1);
  assert.equal(g.actions[0]!.action, 'reduce_exposure');
  assert.deepEqual({ from: g.actions[0]!.detail.from, to: g.actions[0]!.detail.to }, { from: 1, to: 0.7 });
  assert.ok(g.alerts.some((a) => a.key === 'governance:reduce_exposure' && a.title === 'Exposure reduced'));
  const audit = readFileSync(join(g.root, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: string });
  assert.ok(audit.some((e) => e.action === 'governance.reduce_exposure' && e.actor === 'governance'));
  assert.match(await g.metrics.registry.metrics(), /hmm_governance_actions_total\{action="reduce_exposure"\} 1/);
  assert.match(await g.metrics.registry.metrics(), /hmm_exposure_multiplier 0.7/);
  // Published again: nothing new (the level holds; no repeated cuts).
  g.bus.publish('metrics.update', { pnl_unrealized: -150 });
  await g.daemon.evaluate(false);
  assert.equal(g.actions.length, 1);
  assert.equal(g.logLines().filter((l) => l.msg.includes('Exposure held')).length, 0);
  // The drill run a second time after a healthy reading: no second cut, but one line saying so.
  g.bus.publish('metrics.update', { pnl_unrealized: 0 });
  g.bus.publish('metrics.update', { pnl_unrealized: -150 });
  await g.daemon.evaluate(false);
  assert.equal(g.actions.length, 1);
  assert.deepEqual(g.logLines().filter((l) => l.msg.includes('Exposure held')).map((l) => l.msg), ['[GOV] 📉 Exposure held at ×0.70 (pnl_unrealized -150 < -100, rule loss_100): already reduced that far']);
  await g.daemon.stop();
  // The multiplier survives a restart.
  const again = setup({}, g.root);
  assert.equal(again.daemon.effectiveMultiplier(), 0.7);
});

test('the stack\'s own numbers and an injected reading do not fight: recovery waits a sustained calm window', async () => {
  const g = setup({ recovery: { window_sec: 60, step: 0.1 } });
  g.daemon.start();
  await g.daemon.publishPortfolioMetrics(); // real numbers: flat
  g.bus.publish('metrics.update', { pnl_unrealized: -150 }); // injected
  await g.daemon.evaluate(false);
  assert.equal(g.daemon.effectiveMultiplier(), 0.7);
  for (let i = 0; i < 11; i++) { // real readings every 5 s for 55 s: still 0.7
    g.clock.advance(5_000);
    await g.daemon.publishPortfolioMetrics();
    await g.daemon.evaluate(false);
  }
  assert.equal(g.daemon.effectiveMultiplier(), 0.7);
  g.clock.advance(5_000); // the calm began with the first good reading, 55 s ago
  await g.daemon.tick();
  assert.equal(g.daemon.effectiveMultiplier(), 0.7);
  g.clock.advance(5_000);
  await g.daemon.tick();
  assert.equal(g.daemon.effectiveMultiplier(), 0.8);
  assert.ok(g.logLines().some((l) => l.msg.startsWith('[GOV] 📈 Exposure restored ×0.70 → ×0.80')));
  await g.daemon.stop();
});

test('memory a crash must not lose: the end of a recovery window is on disk at once, a new peak within a host second', async () => {
  // Pass rule: after reduce → calm (window starts) → adverse (window ends) in quick succession,
  // the file already says calm_since null, so a crash cannot restore a window the market broke
  // (a restart then restores no step on its first calm reading); a new equity peak made right
  // after a save reaches the file within ~1 s of host time with nothing else written.
  const g = setup({ recovery: { window_sec: 60, step: 0.1 } });
  const onDisk = () => JSON.parse(readFileSync(join(g.root, 'governance_state.json'), 'utf8')) as { calm_since: number | null; peak_equity: number | null; multiplier: number };
  g.daemon.start();
  g.bus.publish('metrics.update', { pnl_unrealized: -150 });
  await g.daemon.evaluate(false);
  g.bus.publish('metrics.update', { pnl_unrealized: 0 }); // calm: the window starts (may wait a second)
  await g.daemon.evaluate(false);
  g.clock.advance(5_000);
  g.bus.publish('metrics.update', { pnl_unrealized: -150 }); // adverse again: the window ends
  await g.daemon.evaluate(false);
  assert.equal(onDisk().calm_since, null);
  // "Crash" now and restart from the file after 100 s: one calm reading restores nothing.
  g.clock.advance(100_000);
  const again = setup({ recovery: { window_sec: 60, step: 0.1 } }, g.root);
  again.daemon.start();
  again.bus.publish('metrics.update', { pnl_unrealized: 0 });
  await again.daemon.evaluate(false);
  assert.equal(again.daemon.effectiveMultiplier(), 0.7);
  // A new peak right after that save waits, then is written by the daemon's own timer.
  again.engine.equity = 10_400;
  await again.daemon.publishPortfolioMetrics();
  const deadline = Date.now() + 3_000;
  while (onDisk().peak_equity !== 10_400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(onDisk().peak_equity, 10_400);
  await again.daemon.stop();
  await g.daemon.stop();
});

test('drawdown from the portfolio publisher: REDUCING, then HALTED, pushed to the engines and latched', async () => {
  const g = setup();
  g.daemon.start();
  await g.daemon.tick();
  assert.equal(g.tradingStates.current.global.state, 'ACTIVE');
  g.engine.equity = 9_150; // 8.5 % below the 10 000 peak
  await g.daemon.tick();
  assert.equal(g.tradingStates.current.global.state, 'REDUCING');
  assert.equal(g.tradingStates.current.global.actor, 'governance');
  assert.match(g.tradingStates.current.global.reason, /drawdown 8\.50% ≥ 8%/);
  assert.equal(g.engine.pushed.at(-1)?.global, 'REDUCING');
  g.engine.equity = 8_700; // 13 %
  await g.daemon.tick();
  assert.equal(g.tradingStates.current.global.state, 'HALTED');
  assert.deepEqual(g.actions.map((a) => a.action).filter((a) => a.startsWith('trading_')), ['trading_reducing', 'trading_halted']);
  assert.ok(g.alerts.some((a) => a.severity === 'CRITICAL' && /HALTED/.test(a.title)));
  // Latched: recovery of equity does not resume trading; an operator does.
  g.engine.equity = 10_000;
  await g.daemon.tick();
  assert.equal(g.tradingStates.current.global.state, 'HALTED');
  await g.tradingStates.set('global', null, 'ACTIVE', 'operator:abc', 'resume after review');
  await g.daemon.tick();
  assert.equal(g.tradingStates.current.global.state, 'ACTIVE');
  assert.ok(g.logLines().some((l) => /\[GOV\] .*Trading HALTED \(global\) by governance/.test(l.msg)));
  await g.daemon.stop();
});

test('venue error rate: a venue over max_error_rate is HALTED (latched); below min_requests nothing happens', async () => {
  const g = setup({ venue_errors: { window_sec: 60, min_requests: 10, max_error_rate: 0.5 } });
  g.daemon.start();
  await g.daemon.tick();
  g.engine.requests = 8; g.engine.errors = 8; // 100 % but only 8 requests
  g.clock.advance(5_000);
  await g.daemon.tick();
  assert.equal(g.tradingStates.get('venue', 'engine_sim'), null);
  g.engine.requests = 20; g.engine.errors = 11; // 55 % of 20
  g.clock.advance(5_000);
  await g.daemon.tick();
  assert.equal(g.tradingStates.get('venue', 'engine_sim')?.state, 'HALTED');
  assert.match(g.tradingStates.get('venue', 'engine_sim')!.reason, /venue error rate 55% \(11\/20\)/);
  assert.equal(g.engine.pushed.at(-1)?.venue, 'HALTED');
  assert.equal(g.actions.filter((a) => a.action === 'pause_venue').length, 1);
  assert.ok(g.logLines().some((l) => l.level === 'ERROR' && l.msg.startsWith('[GOV] 🚧 Venue engine_sim paused')));
  await g.daemon.stop();
});

test('a rejection burst raises one alert; deliberate stops (kill, HALTED) do not count', async () => {
  const g = setup({ rejection_burst: { count: 5, window_sec: 60 } });
  g.daemon.start();
  const reject = (reason: string) => g.bus.publish('risk.rejected', { venue: 'engine_sim', clientOrderId: 'x', model: null, symbol: 'BTCUSDT', side: 'BUY', reason, message: '', ts: 0 });
  for (let i = 0; i < 10; i++) reject('TRADING_DISABLED');
  assert.equal(g.actions.length, 0);
  for (let i = 0; i < 8; i++) reject(i % 2 ? 'MIN_NOTIONAL' : 'EXPOSURE_SYMBOL_CAP');
  const bursts = g.actions.filter((a) => a.action === 'rejection_burst');
  assert.equal(bursts.length, 1);
  assert.match(bursts[0]!.cause, /5 orders rejected in 60 s \(EXPOSURE_SYMBOL_CAP 3, MIN_NOTIONAL 2\)/);
  await g.daemon.stop();
});

test('governance disabled: multiplier 1 and no actions; the operator override still records who and why', async () => {
  const g = setup({ enabled: false });
  g.daemon.start();
  g.bus.publish('metrics.update', { pnl_unrealized: -500, drawdown_pct: 50 });
  await g.daemon.evaluate(false);
  assert.equal(g.daemon.effectiveMultiplier(), 1);
  assert.equal(g.actions.length, 0);
  assert.equal(g.tradingStates.current.global.state, 'ACTIVE');
  await g.daemon.stop();
  const h = setup();
  h.daemon.setMultiplier(0.3, 'operator:abc', 'drill');
  assert.equal(h.daemon.effectiveMultiplier(), 0.3);
  assert.ok(h.logLines().some((l) => l.msg === '[GOV] Exposure multiplier set ×1.00 → ×0.30 by operator:abc: drill'));
});
