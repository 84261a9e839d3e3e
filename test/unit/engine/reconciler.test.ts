// The reconciler (engine/reconciler.ts, through Engine.reconcile): what the venue did while the
// engine was down, or what the engine lost, is settled against the sim venue's own books.
// The pure per-order decisions it applies are tested in reconcile.test.ts.
// Real SQLite for both the ledger and the venue; "down" = the engine closed while the
// venue (reopened from its state file) trades on without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx, toDecimalString } from '../../../src/core/decimal.js';
import { clientOrderId, symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import type { Order } from '../../../src/core/order.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { AlertPayload } from '../../../src/bus/topics.js';
import { Engine } from '../../../src/engine/engine.js';
import { Ledger } from '../../../src/engine/ledger.js';
import { OrderLog } from '../../../src/engine/orderLog.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';
import type { Venue, VenueOrderState } from '../../../src/venues/venue.js';

const BTC = symbol('BTCUSDT');
const bar = (price: number, ts: number, low = price, high = price): Bar => ({ symbol: BTC, ts, open: price, high, low, close: price, volume: 1_000 });

function openVenue(dir: string): SimVenue {
  return new SimVenue({
    id: 'sim', startingBalances: { USDT: '100000' }, takerFeeBps: 10, makerFeeBps: 2, slippageBps: 1,
    book: { fixedLevelQty: { BTCUSDT: '1', ETHUSDT: '10' } }, statePath: join(dir, 'venue.sqlite'), makerVolumeShare: 1,
  });
}

interface Rig {
  readonly engine: Engine;
  readonly venue: SimVenue;
  readonly ledger: Ledger;
  readonly alerts: AlertPayload[];
  close(): Promise<void>;
}

function openRig(dir: string, wrap: (v: SimVenue) => Venue = (v) => v, firstBar = true): Rig {
  const venue = openVenue(dir);
  if (firstBar && venue.lastPrice(BTC) === undefined) venue.onBar(bar(60_000, 1_000));
  const ledger = new Ledger(join(dir, 'ledger.sqlite'));
  const orderLog = new OrderLog(join(dir, 'orders.jsonl'));
  const bus = new InProcessBus();
  const alerts: AlertPayload[] = [];
  bus.subscribe('alert', (a) => { alerts.push(a); });
  const engine = new Engine({
    name: 'engine_sim', venue: wrap(venue), ledger, orderLog, snapshotPath: join(dir, 'portfolio.json'), startingCash: fx('100000'),
    limits: { tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('100000'), maxOrdersPerMin: 10_000 },
    tradingEnabled: true, bus, logger: silentLogger(), metrics: null, reconcile: { newOrderGraceMs: 0, intervalMs: 60_000, retryMs: 50 },
  });
  return {
    engine, venue, ledger, alerts,
    async close() {
      await engine.close();
      await venue.close();
      ledger.close();
      orderLog.close();
    },
  };
}

/** The venue alone, as if the engine were down, for `fn`. */
async function whileEngineDown(dir: string, fn: (v: SimVenue) => void): Promise<void> {
  const v = openVenue(dir);
  fn(v);
  await v.close();
}

const limitBuy = (id: string, price: string, qty = '0.1') => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'LIMIT' as const, qty: fx(qty), price: fx(price), timeInForce: 'GTC' as const });

function ledgerTrades(l: Ledger): string[] {
  return [...l.fills()].map((f) => f.tradeId).sort();
}

async function venueTrades(v: SimVenue, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) out.push(...(await v.fetchFills(clientOrderId(id))).map((f) => f.tradeId));
  return out.sort();
}

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-recon-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a resting order filled and another canceled while the engine was down: fills booked once, statuses follow the venue', withDir(async (dir) => {
  let rig = openRig(dir);
  assert.equal((await rig.engine.submit(limitBuy('rest-fill', '59000'))).kind, 'accepted');
  assert.equal((await rig.engine.submit(limitBuy('rest-cancel', '58000'))).kind, 'accepted');
  assert.equal(rig.engine.listOpenOrders().length, 2);
  await rig.close();

  await whileEngineDown(dir, (v) => {
    v.onBar(bar(59_500, 2_000, 58_900, 60_000)); // trades through 59,000 only
    assert.equal(v.cancelNow(clientOrderId('rest-cancel')).kind, 'canceled');
  });

  rig = openRig(dir);
  try {
    assert.equal(rig.engine.listOpenOrders().length, 2, 'the ledger still says open before reconciling');
    const r = await rig.engine.reconcile('startup');
    assert.equal(r.ok, true);
    assert.ok(r.fills_booked >= 1);
    assert.deepEqual(r.closed, [{ client_order_id: 'rest-cancel', status: 'CANCELED' }]);
    assert.equal(r.in_sync, true);
    const filled = rig.engine.getOrder('rest-fill')!;
    const venueState = (await rig.venue.fetchOrder(clientOrderId('rest-fill')))!;
    assert.equal(filled.filled_qty, toDecimalString(venueState.filledQty));
    assert.equal(filled.status, venueState.status === 'FILLED' ? 'FILLED' : 'PARTIALLY_FILLED');
    assert.equal(rig.engine.getOrder('rest-cancel')!.status, 'CANCELED');
    assert.deepEqual(ledgerTrades(rig.ledger), await venueTrades(rig.venue, ['rest-fill', 'rest-cancel']));
    // The engine's cash now agrees with the venue's balance to the unit.
    assert.equal(rig.engine.portfolioState().cash, rig.venue.balances().get('USDT')!.total);
    // /status reports the start-up pass with the recovery.
    assert.equal(rig.engine.recovery.recovered, true);
    assert.equal(rig.engine.recovery.reconciliation?.closed, 1);
    assert.equal(rig.engine.recovery.reconciliation?.fills_booked, r.fills_booked);
    // A second pass finds nothing: fills are de-duplicated by trade id.
    const again = await rig.engine.reconcile('manual');
    assert.equal(again.drift, 0);
    assert.equal(again.fills_booked, 0);
    assert.deepEqual(ledgerTrades(rig.ledger), await venueTrades(rig.venue, ['rest-fill', 'rest-cancel']));
    assert.ok(rig.alerts.some((a) => a.key === 'recon_drift:engine_sim' && a.severity === 'WARNING'), 'drift above the threshold raised an alert');
  } finally {
    await rig.close();
  }
}));

test('crash between the ledger insert and the venue\'s acknowledgement: the order is resolved by client order id', withDir(async (dir) => {
  // The venue takes the order (and fills it), then the engine "dies" before booking the answer.
  let rig = openRig(dir, (v) => ({
    ...bindVenue(v),
    submit: async (req) => {
      v.submitNow(req);
      throw new Error('connection reset (simulated crash after the venue acted)');
    },
  }));
  await assert.rejects(rig.engine.submit({ clientOrderId: 'ghost-fill', symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.05'), price: null }), /connection reset/);
  await assert.rejects(rig.engine.submit(limitBuy('ghost-rest', '59000')), /connection reset/);
  assert.equal(rig.engine.getOrder('ghost-fill')!.status, 'NEW');
  await rig.close();

  // And one the venue never saw.
  rig = openRig(dir, (v) => ({ ...bindVenue(v), submit: async () => { throw new Error('timeout before sending'); } }));
  await assert.rejects(rig.engine.submit(limitBuy('never-sent', '59000')), /timeout/);
  await rig.close();

  rig = openRig(dir);
  try {
    const r = await rig.engine.reconcile('startup');
    assert.deepEqual([...r.accepted].sort(), ['ghost-fill', 'ghost-rest']);
    assert.deepEqual(r.rejected_unsent, ['never-sent']);
    assert.equal(rig.engine.getOrder('ghost-fill')!.status, 'FILLED');
    assert.equal(rig.engine.getOrder('ghost-fill')!.filled_qty, '0.05');
    assert.equal(rig.engine.getOrder('ghost-rest')!.status, 'ACCEPTED');
    assert.equal(rig.engine.getOrder('never-sent')!.status, 'REJECTED');
    assert.match(rig.engine.getOrder('never-sent')!.reject_reason!, /^NOT_SENT/);
    assert.deepEqual(rig.engine.listOpenOrders().map((o) => o.client_order_id), ['ghost-rest']);
    assert.deepEqual((await rig.venue.fetchOpenOrders()).map((o) => o.clientOrderId), ['ghost-rest']);
    assert.deepEqual(ledgerTrades(rig.ledger), await venueTrades(rig.venue, ['ghost-fill', 'ghost-rest', 'never-sent']));
    assert.equal(r.in_sync, true);
  } finally {
    await rig.close();
  }
}));

test('orders the venue has and the ledger lost are adopted; an event for an unknown order triggers a pass', withDir(async (dir) => {
  let rig = openRig(dir);
  await rig.close();
  await whileEngineDown(dir, (v) => {
    assert.equal(v.submitNow({ ...limitBuy('placed-by-hand', '59000'), clientOrderId: clientOrderId('placed-by-hand'), qty: fx('0.2') }).kind, 'accepted');
    assert.equal(v.submitNow({ ...limitBuy('lost-then-filled', '59500'), clientOrderId: clientOrderId('lost-then-filled') }).kind, 'accepted');
  });
  rig = openRig(dir);
  try {
    const r = await rig.engine.reconcile('startup');
    assert.deepEqual([...r.adopted].sort(), ['lost-then-filled', 'placed-by-hand']);
    const adopted = rig.engine.getOrder('placed-by-hand')!;
    assert.equal(adopted.status, 'ACCEPTED');
    assert.equal(adopted.qty, '0.2');
    // A client re-using an adopted id gets a conflict, not someone else's order.
    const clash = await rig.engine.submit(limitBuy('placed-by-hand', '59000', '0.2'));
    assert.equal(clash.kind, 'conflict');

    // Lose one again (as an older backup would), then let the venue fill it: the fill event for
    // an unknown order makes the daemon look it up and adopt it with its fills.
    rig.ledger.db.prepare("DELETE FROM orders WHERE client_order_id = 'lost-then-filled'").run();
    (rig.engine as unknown as { openOrders: Map<string, Order> }).openOrders.delete('lost-then-filled');
    rig.engine.startReconcileDaemon();
    rig.venue.onBar(bar(59_400, 3_000, 59_300, 59_600));
    const end = Date.now() + 3_000;
    while (Date.now() < end && rig.engine.getOrder('lost-then-filled') === undefined) await new Promise((res) => setTimeout(res, 20));
    const back = rig.engine.getOrder('lost-then-filled');
    assert.ok(back, 'adopted after the unknown fill event');
    const v = (await rig.venue.fetchOrder(clientOrderId('lost-then-filled')))!;
    assert.equal(back.filled_qty, toDecimalString(v.filledQty));
    assert.deepEqual(ledgerTrades(rig.ledger), await venueTrades(rig.venue, ['placed-by-hand', 'lost-then-filled']));
  } finally {
    await rig.close();
  }
}));

test('a venue report that fails is never read as "no orders": nothing is closed, the pass says why, an alert is raised', withDir(async (dir) => {
  let rig = openRig(dir);
  await rig.engine.submit(limitBuy('keep-me', '59000'));
  await rig.close();
  let failOpen = true;
  let failOrder = true;
  rig = openRig(dir, (v) => ({
    ...bindVenue(v),
    fetchOpenOrders: async () => { if (failOpen) throw new Error('HTTP 503'); return v.fetchOpenOrders(); },
    fetchOrder: async (id) => { if (failOrder) throw new Error('HTTP 504'); return v.fetchOrder(id); },
  }));
  try {
    const r = await rig.engine.reconcile('startup');
    assert.equal(r.ok, false);
    assert.match(r.error!, /HTTP 503/);
    assert.equal(rig.engine.getOrder('keep-me')!.status, 'ACCEPTED');
    assert.ok(rig.alerts.some((a) => a.key === 'recon_unavailable:engine_sim'));
    // The venue answers the list (without our order, which it canceled) but not the per-order query.
    failOpen = false;
    rig.venue.cancelNow(clientOrderId('keep-me'));
    const r2 = await rig.engine.reconcile('manual');
    assert.equal(r2.ok, true);
    assert.deepEqual(r2.pending.map((p) => p.client_order_id), ['keep-me']);
    assert.equal(rig.engine.getOrder('keep-me')!.status, 'ACCEPTED', 'not closed on absence of evidence');
    assert.equal(r2.in_sync, false);
    failOrder = false;
    const r3 = await rig.engine.reconcile('manual');
    assert.deepEqual(r3.closed, [{ client_order_id: 'keep-me', status: 'CANCELED' }]);
    assert.equal(r3.in_sync, true);
  } finally {
    await rig.close();
  }
}));

test('what cannot be explained is flagged, not fixed, and raises a CRITICAL alert', withDir(async (dir) => {
  let rig = openRig(dir);
  await rig.engine.submit(limitBuy('odd', '59000'));
  await rig.close();
  rig = openRig(dir, (v) => ({
    ...bindVenue(v),
    // A venue that claims the order filled but lists no fills for it.
    fetchOpenOrders: async () => [],
    fetchOrder: async (id) => {
      const s = await v.fetchOrder(id);
      return s && ({ ...s, status: 'FILLED', filledQty: s.qty } satisfies VenueOrderState);
    },
    fetchFills: async () => [],
  }));
  try {
    const r = await rig.engine.reconcile('startup');
    assert.equal(r.flagged.length, 1);
    assert.match(r.flagged[0]!.problem, /lists fills for only 0/);
    assert.equal(rig.engine.getOrder('odd')!.status, 'ACCEPTED');
    assert.equal(rig.engine.portfolioState().fillCount, 0);
    assert.ok(rig.alerts.some((a) => a.severity === 'CRITICAL' && a.key === 'recon_flagged:engine_sim'));
    const n = rig.alerts.length;
    await rig.engine.reconcile('manual');
    assert.equal(rig.alerts.filter((a) => a.severity === 'CRITICAL').length, rig.alerts.slice(0, n).filter((a) => a.severity === 'CRITICAL').length, 'the same flag is alerted once');
    assert.equal(rig.engine.reconcileState().passes, 2);
  } finally {
    await rig.close();
  }
}));

/** The venue's methods bound, so a test can override some and keep the rest. */
function bindVenue(v: SimVenue): Venue {
  return {
    id: v.id, allowsShort: v.allowsShort,
    instruments: () => v.instruments(), lastPrice: (s) => v.lastPrice(s), submit: (r) => v.submit(r), cancel: (id) => v.cancel(id),
    fetchOpenOrders: () => v.fetchOpenOrders(), fetchOrder: (id) => v.fetchOrder(id), fetchFills: (id) => v.fetchFills(id),
    onEvent: (l) => v.onEvent(l), close: () => v.close(),
  };
}

test('a damaged orders.jsonl line naming an order the ledger lacks: the start-up pass asks the venue by that client order id and books what it did; without the line nobody asks', async () => {
  // The venue filled two orders the ledger never recorded (placed while the ledger was lost).
  const run = async (damageNames: string | null) => {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-recon-'));
    try {
      await whileEngineDown(dir, (v) => {
        v.onBar(bar(60_000, 1_000));
        void v.submit({ clientOrderId: clientOrderId('lost-at-venue'), symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null, timeInForce: 'IOC' });
      });
      await new Promise((r) => setTimeout(r, 50));
      const sound = JSON.stringify({ ts: new Date().toISOString(), event: 'order.accepted', venue: 'engine_sim', client_order_id: 'other', model: null, symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', status: 'FILLED', qty: '0.01', price: null, filled_qty: '0.01', avg_price: '60000', fees: '0.6', reason: null });
      const lines = [sound];
      // A bit flip in the fees: the line no longer validates, but its id is still readable.
      if (damageNames !== null) lines.push(JSON.stringify({ ...JSON.parse(sound), client_order_id: damageNames, fees: 'O.6' }));
      writeFileSync(join(dir, 'orders.jsonl'), `${lines.join('\n')}\n`);
      const rig = openRig(dir);
      try {
        const r = await rig.engine.reconcile('startup');
        return { adopted: r.adopted, order: rig.engine.getOrder('lost-at-venue'), damaged: rig.engine.recovery.order_log_damaged };
      } finally {
        await rig.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const withDamage = await run('lost-at-venue');
  assert.equal(withDamage.damaged, 1);
  assert.deepEqual(withDamage.adopted, ['lost-at-venue']);
  assert.equal(withDamage.order?.status, 'FILLED', 'the venue\'s fill is booked');
  // The counterpart: the same venue, a sound log: the start-up pass does not ask about that id.
  const without = await run(null);
  assert.equal(without.damaged, 0);
  assert.deepEqual(without.adopted, []);
  assert.equal(without.order, undefined);
});
