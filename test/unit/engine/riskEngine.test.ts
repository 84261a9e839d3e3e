// Rails in depth at the engine: the state the engine supplies (book with open and in-flight
// orders, equity and peak, loss streak, trading states) and what a rejection leaves behind
// (reason code, hmm_orders_rejected_total{reason}, a line in orders.jsonl).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx, type Fixed } from '../../../src/core/decimal.js';
import { modelId, symbol } from '../../../src/core/ids.js';
import type { AlertPayload } from '../../../src/bus/topics.js';
import type { RiskLimits } from '../../../src/engine/riskRails.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';
import { engineFixture } from '../../support/engineFixture.js';
import { tradingDoc } from '../../support/tradingState.js';

const BTC = symbol('BTCUSDT');
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const bar = (price: number, ts: number) => ({ symbol: BTC, ts, open: price, high: price, low: price, close: price, volume: 1000 });

function make(limits: Partial<RiskLimits>, opts: { latencyMs?: number; dir?: string } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hmm-risk-engine-'));
  if (!opts.dir) dirs.push(dir);
  const metrics = createMetrics({ collectProcess: false });
  const f = engineFixture({
    dir, startingCash: '10000', snapshotPath: null, metrics,
    limits: { tradeSymbols: new Set(['BTCUSDT']), maxNotionalUsdt: fx('5000'), ...limits },
    venue: (d) => {
      const venue = new SimVenue({
        id: 'sim', startingBalances: { USDT: '10000' }, takerFeeBps: 10, slippageBps: 1, latencyMs: opts.latencyMs ?? 0,
        book: { fixedLevelQty: { BTCUSDT: '5' } }, statePath: join(d, 'venue.sqlite'), now: Date.now,
      });
      venue.onBar(bar(60_000, 1000));
      return venue;
    },
  });
  return { dir, venue: f.venue, engine: f.engine, bus: f.bus, metrics, orderLogPath: f.orderLogPath, close: f.close };
}

const mkt = (side: 'BUY' | 'SELL', qty: string, model: string | null = null, id?: string) => ({
  clientOrderId: id, symbol: BTC, side, type: 'MARKET' as const, qty: fx(qty), price: null, model: model === null ? null : modelId(model),
});

test('exposure caps reserve headroom for in-flight orders: concurrent buys cannot all pass the same room', async () => {
  // 1000 USD symbol cap, 300 USD orders, the venue answers after 20 ms: at most 3 can pass.
  const f = make({ exposureCapSymbolUsd: fx('1000') }, { latencyMs: 20 });
  const outs = await Promise.all(Array.from({ length: 10 }, (_, i) => f.engine.submit(mkt('BUY', '0.005', null, `cap-${i}`))));
  const accepted = outs.filter((o) => o.kind === 'accepted').length;
  const capped = outs.filter((o) => o.kind === 'rejected' && o.reason === 'EXPOSURE_SYMBOL_CAP').length;
  assert.equal(accepted, 3);
  assert.equal(capped, 7);
  const held = f.engine.portfolioState().positions.get(BTC)?.qty ?? 0n;
  assert.ok(held * 60_000n <= fx('1000') * 1n + fx('10'), 'position value stays within the cap (plus slippage)');
  // Each rejection: reason code, counter, and a line in orders.jsonl.
  const lines = readFileSync(f.orderLogPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; reason: string | null });
  assert.equal(lines.filter((l) => l.event === 'order.rejected' && l.reason === 'EXPOSURE_SYMBOL_CAP').length, 7);
  const text = await f.metrics.registry.metrics();
  assert.match(text, /hmm_orders_rejected_total\{venue="engine_sim",reason="EXPOSURE_SYMBOL_CAP"\} 7/);
  // A reducing order passes even with the cap now lowered below the position.
  f.engine.setRiskLimits({ exposureCapSymbolUsd: fx('100') }, 'test');
  const out = await f.engine.submit(mkt('SELL', '0.005'));
  assert.equal(out.kind, 'accepted');
  await f.close();
});

test('trading states at the engine: model REDUCING/HALTED apply to that model only; venue HALTED to all', async () => {
  const f = make({});
  assert.equal((await f.engine.submit(mkt('BUY', '0.01', 'm1'))).kind, 'accepted');
  await f.engine.applyTradingState(tradingDoc(1, { models: { m1: 'REDUCING', m2: 'HALTED', m4: 'ACTIVE' } }));
  const m1buy = await f.engine.submit(mkt('BUY', '0.001', 'm1'));
  assert.equal(m1buy.kind === 'rejected' && m1buy.reason, 'TRADING_REDUCING');
  assert.equal((await f.engine.submit(mkt('SELL', '0.005', 'm1'))).kind, 'accepted', 'a reducing order passes REDUCING');
  const m2 = await f.engine.submit(mkt('BUY', '0.001', 'm2'));
  assert.equal(m2.kind === 'rejected' && m2.reason, 'TRADING_HALTED');
  assert.equal((await f.engine.submit(mkt('BUY', '0.001', 'm3'))).kind, 'accepted');
  assert.equal((await f.engine.submit(mkt('BUY', '0.001'))).kind, 'accepted', 'manual orders follow global and venue only');
  await f.engine.applyTradingState(tradingDoc(2, { venues: { engine_sim: 'HALTED', engine_other: 'ACTIVE' } }));
  const v = await f.engine.submit(mkt('SELL', '0.001'));
  assert.equal(v.kind === 'rejected' && v.reason, 'TRADING_HALTED');
  assert.deepEqual(f.engine.health().trading_states, { global: 'ACTIVE', venue: 'HALTED', models: {} });
  await f.close();
});

test('drawdown breaker and equity floor: after a fall only reducing orders pass', async () => {
  const f = make({ maxDrawdownPct: 5 });
  assert.equal((await f.engine.submit(mkt('BUY', '0.08'))).kind, 'accepted'); // ~4800 USD long
  f.venue.onBar(bar(48_000, 2000)); // -20 %: equity ≈ 10 000 − 960
  f.engine.onMarketData();
  const add = await f.engine.submit(mkt('BUY', '0.001'));
  assert.equal(add.kind === 'rejected' && add.reason, 'DRAWDOWN_BREAKER', JSON.stringify(add));
  assert.equal((await f.engine.submit(mkt('SELL', '0.02'))).kind, 'accepted');
  f.engine.setRiskLimits({ maxDrawdownPct: null, equityFloorUsd: fx('9500') }, 'test');
  const floor = await f.engine.submit(mkt('BUY', '0.001'));
  assert.equal(floor.kind === 'rejected' && floor.reason, 'EQUITY_FLOOR');
  assert.ok(Number(f.engine.health().risk?.peak_equity) >= 10_000);
  await f.close();
});

test('loss streak: losing exits start a cooldown (with an alert), rebuilt from the ledger after a restart', async () => {
  const f = make({ lossStreakLimit: 2, lossStreakCooldownMs: 3_600_000 });
  const alerts: AlertPayload[] = [];
  f.bus.subscribe('alert', (a) => alerts.push(a));
  let ts = 2000;
  for (let i = 0; i < 2; i++) {
    f.venue.onBar(bar(60_000, ts += 1000));
    assert.equal((await f.engine.submit(mkt('BUY', '0.01'))).kind, 'accepted');
    f.venue.onBar(bar(59_000, ts += 1000));
    assert.equal((await f.engine.submit(mkt('SELL', '0.01'))).kind, 'accepted');
  }
  const blocked = await f.engine.submit(mkt('BUY', '0.01'));
  assert.equal(blocked.kind === 'rejected' && blocked.reason, 'LOSS_STREAK_COOLDOWN');
  assert.ok(alerts.some((a) => a.key === 'loss_streak:engine_sim'));
  const dir = f.dir;
  await f.close();
  const g = make({ lossStreakLimit: 2, lossStreakCooldownMs: 3_600_000 }, { dir });
  const again = await g.engine.submit(mkt('BUY', '0.01'));
  assert.equal(again.kind === 'rejected' && again.reason, 'LOSS_STREAK_COOLDOWN', 'the cooldown survives a restart');
  await g.close();
});

test('max open orders counts resting limit orders; cancelAllOpen waits for in-flight submissions', async () => {
  const f = make({ maxOpenOrders: 2 }, { latencyMs: 10 });
  const lim = (id: string) => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'LIMIT' as const, qty: fx('0.001'), price: fx('59000') as Fixed, model: null });
  const [a, b, c] = await Promise.all([f.engine.submit(lim('l1')), f.engine.submit(lim('l2')), f.engine.submit(lim('l3'))]);
  assert.deepEqual([a.kind, b.kind, c.kind], ['accepted', 'accepted', 'rejected']);
  assert.equal(c.kind === 'rejected' && c.reason, 'MAX_OPEN_ORDERS');
  f.engine.setRiskLimits({ maxOpenOrders: 10 }, 'test');
  // A sweep started while a limit order is still on its way to the venue must cancel it too.
  const inflight = f.engine.submit(lim('l4'));
  const canceled = await f.engine.cancelAllOpen('test');
  await inflight;
  assert.equal(canceled, 3);
  assert.equal(f.engine.listOpenOrders().length, 0);
  await f.close();
});
