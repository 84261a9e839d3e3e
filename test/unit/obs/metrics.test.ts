// The metrics registry: names other code and the shipped dashboards rely on, Prometheus
// naming rules, bounded label cardinality, and venue latency/error instrumentation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol } from '../../../src/core/ids.js';
import { LabelGuard, OVERFLOW_VALUE, guardMetric } from '../../../src/obs/labelGuard.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { instrumentVenue } from '../../../src/venues/venueMetrics.js';
import type { Venue, VenueOrderRequest, VenueSubmitResult } from '../../../src/venues/venue.js';

async function series(registry: client.Registry, name: string): Promise<{ labels: Partial<Record<string, string | number>>; value: number }[]> {
  const m = registry.getSingleMetric(name);
  assert.ok(m, `${name} is registered`);
  return (await m.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
}

test('the metric names other code, the dashboards and the alert rules use all exist', async () => {
  const m = createMetrics({ collectProcess: false });
  const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  for (const name of [
    'hmm_orders_submitted_total', 'hmm_orders_rejected_total', 'hmm_orders_filled_total', 'hmm_fills_total', 'hmm_order_idempotent_replays_total',
    'hmm_order_routing_seconds', 'hmm_equity_usd', 'hmm_cash_usd', 'hmm_pnl_realized_usd', 'hmm_pnl_unrealized_usd', 'hmm_fees_usd', 'hmm_exposure_usd',
    'hmm_open_orders', 'hmm_trading_enabled', 'hmm_model_weight', 'hmm_capital_quota_usd', 'hmm_signals_total', 'hmm_bus_events_total', 'hmm_sse_clients',
    'hmm_venue_errors_total', 'hmm_venue_latency_seconds', 'hmm_market_data_last_bar_timestamp_seconds', 'hmm_policy_reloads_total',
    'hmm_governance_actions_total', 'hmm_governance_events_total', 'hmm_alerts_total', 'hmm_regime_posterior', 'hmm_model_regime', 'hmm_model_pnl_usd',
    'hmm_model_exposure_usd', 'hmm_exposure_net_usd', 'hmm_equity_peak_usd', 'hmm_drawdown_ratio', 'hmm_engine_up',
  ]) assert.ok(names.has(name), `${name} missing`);
});

test('names follow Prometheus conventions: counters end in _total, nothing else does, every metric has help', async () => {
  const m = createMetrics();
  const all = await m.registry.getMetricsAsJSON();
  assert.equal(new Set(all.map((x) => x.name)).size, all.length, 'names are unique');
  for (const x of all) {
    assert.match(x.name, /^hmm_[a-z0-9_]+$/, x.name);
    assert.ok(x.help.length > 5, `${x.name} has help text`);
    if (String(x.type) === 'counter') assert.match(x.name, /_total$/, `counter ${x.name}`);
    else assert.doesNotMatch(x.name, /_total$/, `${x.type} ${x.name} must not end in _total`);
  }
});

test('the governance engineer\'s counter counts actions by name', async () => {
  const m = createMetrics({ collectProcess: false });
  m.governanceActions.inc({ action: 'reduce_exposure' });
  m.governanceActions.inc({ action: 'reduce_exposure' });
  m.governanceActions.inc({ action: 'pause_trading' });
  const text = await m.registry.getSingleMetricAsString('hmm_governance_actions_total');
  assert.match(text, /hmm_governance_actions_total\{action="reduce_exposure"\} 2/);
  assert.match(text, /hmm_governance_actions_total\{action="pause_trading"\} 1/);
});

test('a label admits a bounded number of values; the rest become "other" and are counted', async () => {
  const m = createMetrics({ collectProcess: false });
  // reason is capped at 48 distinct values: a venue sending a new code per order cannot grow /metrics
  for (let i = 0; i < 500; i++) m.ordersRejected.inc({ venue: 'engine_sim', reason: `VENUE_CODE_${i}` });
  const rows = await series(m.registry, 'hmm_orders_rejected_total');
  assert.equal(rows.length, 49);
  assert.equal(rows.find((r) => r.labels.reason === OVERFLOW_VALUE)?.value, 500 - 48);
  assert.equal(rows.find((r) => r.labels.reason === 'VENUE_CODE_0')?.value, 1);
  const overflow = await series(m.registry, 'hmm_metric_label_overflow_total');
  assert.deepEqual(overflow, [{ labels: { metric: 'hmm_orders_rejected_total', label: 'reason' }, value: 452 }]);
  // values already admitted keep working after the cap is reached
  m.ordersRejected.inc({ venue: 'engine_sim', reason: 'VENUE_CODE_0' });
  assert.equal((await series(m.registry, 'hmm_orders_rejected_total')).find((r) => r.labels.reason === 'VENUE_CODE_0')?.value, 2);
});

test('the guard covers every way of passing labels: inc/set/observe objects, labels() objects and positional values', async () => {
  const registry = new client.Registry();
  const guard = new LabelGuard({ caps: { k: 2 } });
  const c = guardMetric(new client.Counter({ name: 't_total', help: 'test counter', labelNames: ['k'], registers: [registry] }), guard);
  const g = guardMetric(new client.Gauge({ name: 't_gauge', help: 'test gauge', labelNames: ['k'], registers: [registry] }), guard);
  const h = guardMetric(new client.Histogram({ name: 't_seconds', help: 'test histogram', labelNames: ['k'], buckets: [1], registers: [registry] }), guard);
  for (const k of ['a', 'b', 'c', 'd']) {
    c.inc({ k });
    c.labels(k).inc();
    g.labels({ k }).set(1);
    h.observe({ k }, 0.5);
  }
  const keys = async (name: string) => [...new Set((await series(registry, name)).map((r) => r.labels.k))].sort();
  assert.deepEqual(await keys('t_total'), ['a', 'b', OVERFLOW_VALUE]);
  assert.deepEqual(await keys('t_gauge'), ['a', 'b', OVERFLOW_VALUE]);
  assert.deepEqual(await keys('t_seconds'), ['a', 'b', OVERFLOW_VALUE]);
  assert.equal((await series(registry, 't_total')).find((r) => r.labels.k === OVERFLOW_VALUE)?.value, 4);
});

test('over-long label values are truncated, not refused', () => {
  const guard = new LabelGuard();
  assert.equal(guard.value('m', 'reason', 'X'.repeat(500)).length, 64);
  assert.equal(guard.value('m', 'n', 42), '42');
});

function fakeVenue(overrides: Partial<Venue> = {}): Venue & { onBar(): string } {
  const base = {
    id: 'sim' as Venue['id'], allowsShort: false,
    instruments: () => new Map(), lastPrice: () => undefined,
    submit: async (_r: VenueOrderRequest): Promise<VenueSubmitResult> => ({ kind: 'accepted', venueOrderId: 'v1', ts: 1, events: [] }),
    cancel: async () => ({ kind: 'canceled' as const, ts: 1 }),
    fetchOpenOrders: async () => [], fetchOrder: async () => null, fetchFills: async () => [],
    onEvent: () => {}, close: async () => {},
    onBar: () => 'adapter-specific',
  };
  return Object.assign(base, overrides);
}

const req: VenueOrderRequest = { clientOrderId: clientOrderId('c1'), symbol: symbol('BTCUSDT'), side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null, timeInForce: 'IOC' };

test('venue calls are timed by operation, and failures other than submit are counted as venue errors', async () => {
  const m = createMetrics({ collectProcess: false });
  const venue = instrumentVenue(fakeVenue({ fetchOpenOrders: async () => { throw new Error('HTTP 502'); } }), m, 'engine_x');
  assert.equal((await venue.submit(req)).kind, 'accepted');
  await venue.cancel(clientOrderId('c1'));
  await assert.rejects(venue.fetchOpenOrders(), /502/);
  assert.equal(venue.onBar(), 'adapter-specific', 'adapter methods pass through');
  await new Promise((r) => setImmediate(r));
  const counts = (await series(m.registry, 'hmm_venue_latency_seconds')).filter((r) => r.labels.le === '+Inf');
  assert.deepEqual(counts.map((r) => [r.labels.op, r.value]).sort(), [['cancel', 1], ['fetchOpenOrders', 1], ['submit', 1]]);
  const errors = Object.fromEntries((await series(m.registry, 'hmm_venue_errors_total')).map((r) => [r.labels.kind, r.value]));
  // every operation has a zero series from the start (so rate() and alerts work before the first error)
  assert.deepEqual(errors, { submit: 0, cancel: 0, fetchOpenOrders: 1, fetchOrder: 0, fetchFills: 0 });
});

test('a failed submit is left to the engine to count (it already does), so it is not counted twice', async () => {
  const m = createMetrics({ collectProcess: false });
  const venue = instrumentVenue(fakeVenue({ submit: async () => { throw new Error('timeout'); } }), m, 'engine_x');
  await assert.rejects(venue.submit(req), /timeout/);
  await new Promise((r) => setImmediate(r));
  assert.equal((await series(m.registry, 'hmm_venue_errors_total')).find((r) => r.labels.kind === 'submit')?.value, 0);
  assert.equal((await series(m.registry, 'hmm_venue_latency_seconds')).find((r) => r.labels.le === '+Inf' && r.labels.op === 'submit')?.value, 1);
});

test('the wrapped venue hands back the adapter\'s own promise, so the engine sees results in the same order', async () => {
  const m = createMetrics({ collectProcess: false });
  const p = Promise.resolve<VenueSubmitResult>({ kind: 'rejected', code: 'X', message: 'm', ts: 1 });
  const venue = instrumentVenue(fakeVenue({ submit: () => p }), m, 'engine_x');
  assert.equal(venue.submit(req), p);
});
