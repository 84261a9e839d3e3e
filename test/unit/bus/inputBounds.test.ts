// Bus inputs the control plane acts on (bus/inputBounds.ts): numbers finite and inside their
// documented ranges; a refused event reaches no subscriber of the guarded view, is counted once
// however many handlers it would have reached, and WARNs once per topic per minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InProcessBus } from '../../../src/bus/bus.js';
import { BusInputGuard, checkBusPayload, METRIC_RANGES, USD_RANGE } from '../../../src/bus/inputBounds.js';
import { MarkedBus } from '../../../src/app/markedBus.js';
import type { Logger } from '../../../src/obs/logger.js';

function recordingLog() {
  const warns: string[] = [];
  const log = { warn: (_f: unknown, msg: string) => warns.push(msg) } as unknown as Logger;
  return { log, warns };
}

test('metrics.update: the issue-14 inputs are refused, the stack\'s own numbers pass', () => {
  assert.match(checkBusPayload('metrics.update', { pnl_unrealized: -1e308 })!, /pnl_unrealized -1e\+308 is not a finite number/);
  assert.match(checkBusPayload('metrics.update', { drawdown_pct: 150 })!, /drawdown_pct/);
  assert.match(checkBusPayload('metrics.update', { equity: 'lots' })!, /equity/);
  assert.match(checkBusPayload('metrics.update', { exposure_multiplier: 2 })!, /exposure_multiplier/);
  assert.equal(checkBusPayload('metrics.update', { equity: 10_000.5, pnl_unrealized: -150, pnl_realized: 3, exposure: 2_000, drawdown_pct: 1.5, peak_equity: 10_100 }), null);
  // Property: any finite value inside a metric's range passes; outside it never does.
  fc.assert(fc.property(fc.constantFrom(...Object.keys(METRIC_RANGES), 'custom_metric'), fc.double({ noNaN: true }), (k, v) => {
    const r = METRIC_RANGES[k] ?? USD_RANGE;
    const inside = Number.isFinite(v) && v >= r.min && v <= r.max;
    assert.equal(checkBusPayload('metrics.update', { [k]: v }) === null, inside);
  }), { numRuns: 2000 });
});

test('other topics: bars, fills, weights, trading-state versions and free-form details are bounded', () => {
  assert.equal(checkBusPayload('market.bar', { symbol: 'BTCUSDT', ts: 1.7e12, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }), null);
  assert.match(checkBusPayload('market.bar', { symbol: 'BTCUSDT', ts: 1.7e12, open: 1, high: 2, low: 0.5, close: -1, volume: 10 })!, /close/);
  assert.equal(checkBusPayload('trade.fill', { qty: '0.001', price: '60000.5', fee: '-0.01', ts: 1.7e12 }), null);
  assert.match(checkBusPayload('trade.fill', { qty: '1e9999', price: '1', fee: '0', ts: 1 })!, /qty/);
  assert.match(checkBusPayload('strategy.weights_updated', { weights: { a: 1e-3, b: 7 }, ts: 1 })!, /weights\.b/);
  assert.match(checkBusPayload('trading.state', { document: { version: 1e300 }, ts: 1 })!, /version/);
  assert.match(checkBusPayload('governance.action', { action: 'x', cause: 'y', detail: { from: 1, to: 1e-320, deep: { x: -1e308 } }, ts: 1 })!, /detail\.deep\.x/);
  assert.equal(checkBusPayload('governance.action', { action: 'x', cause: 'y', detail: { from: 1, to: 0.5 }, ts: 1 }), null);
  assert.match(checkBusPayload('alert', { severity: 'INFO', ts: Infinity })!, /ts/);
  assert.match(checkBusPayload('signal', { strength: 3, ts: 1 })!, /strength/);
  assert.equal(checkBusPayload('metrics.update', null), 'payload is not an object');
});

test('the guarded bus view: a refused event reaches no handler, counts once, WARNs once a minute per topic; a sound one reaches every handler', () => {
  const inner = new InProcessBus();
  const { log, warns } = recordingLog();
  let now = 0;
  const refused: string[] = [];
  const guard = new BusInputGuard({ log, onRefused: (t) => refused.push(t), now: () => now });
  const bus = new MarkedBus(inner, undefined, null, guard);
  const seen: number[] = [];
  bus.subscribe('metrics.update', (p) => seen.push(p.pnl_unrealized!));
  bus.subscribe('metrics.update', (p) => seen.push(p.pnl_unrealized!));
  let all = 0;
  bus.subscribeAll(() => { all++; });
  const restricted = bus.restricted(() => true);
  restricted.subscribe('metrics.update', (p) => seen.push(p.pnl_unrealized!));

  inner.publish('metrics.update', { pnl_unrealized: -1e308 });
  inner.publish('metrics.update', { pnl_unrealized: -1e300 });
  assert.deepEqual(seen, [], 'no handler saw a refused event');
  assert.equal(all, 0);
  assert.deepEqual(refused, ['metrics.update', 'metrics.update'], 'each event counted once, not once per handler');
  assert.equal(warns.length, 1, 'one WARN within the minute');
  now += 60_000;
  inner.publish('metrics.update', { pnl_unrealized: -1e300 });
  assert.equal(warns.length, 2);
  assert.match(warns[1]!, /1 more refused on metrics\.update since the last warning/);
  // The counterpart: an event in range reaches all four handlers.
  inner.publish('metrics.update', { pnl_unrealized: -150 });
  assert.deepEqual(seen, [-150, -150, -150]);
  assert.equal(all, 1);
});
