// Reconciliation decisions (engine/reconcile.ts): what the venue's evidence means for one
// order — book, accept, close, reject as unsent, adopt, wait or flag — as a pure function.
// The reconciler that applies them to an engine is tested in reconciler.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol } from '../../../src/core/ids.js';
import type { Order } from '../../../src/core/order.js';
import { decideOrder, type OrderEvidence } from '../../../src/engine/reconcile.js';
import type { VenueOrderState } from '../../../src/venues/venue.js';

const BTC = symbol('BTCUSDT');

test('decideOrder: pure decisions for the cases reconciliation meets', () => {
  const base: Order = {
    clientOrderId: clientOrderId('o1'), symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('1'), price: fx('100'), timeInForce: 'GTC', model: null,
    venue: 'sim' as Order['venue'], status: 'ACCEPTED', filledQty: fx('0'), filledNotional: fx('0'), fees: fx('0'), venueOrderId: 'sim-1', rejectReason: null, createdAt: 0, updatedAt: 0,
  };
  const v = (p: Partial<VenueOrderState> = {}): VenueOrderState => ({ clientOrderId: base.clientOrderId, venueOrderId: 'sim-1', symbol: BTC, side: 'BUY', type: 'LIMIT', qty: fx('1'), price: fx('100'), filledQty: fx('0'), status: 'OPEN', ...p });
  const fill = (id: string, qty: string) => ({ tradeId: id, clientOrderId: base.clientOrderId, venue: base.venue, symbol: BTC, side: 'BUY' as const, qty: fx(qty), price: fx('100'), fee: fx('0'), liquidity: 'MAKER' as const, model: null, ts: 1 });
  const ctx = { now: 10_000, newOrderGraceMs: 5_000, isBooked: (t: string) => t === 't1' };
  const ev = (venue: OrderEvidence['venue'], fills: OrderEvidence['fills'] = null): OrderEvidence => ({ clientOrderId: base.clientOrderId, venue, fills });
  const kinds = (a: { kind: string }[]) => a.map((x) => x.kind);

  assert.deepEqual(decideOrder(base, ev(v()), ctx), []);
  assert.deepEqual(kinds(decideOrder(base, ev('unavailable'), ctx)), ['pending']);
  assert.deepEqual(kinds(decideOrder(base, ev(null), ctx)), ['flag'], 'an accepted order the venue does not know is flagged, never assumed filled');
  assert.deepEqual(kinds(decideOrder({ ...base, status: 'NEW', createdAt: 9_000 }, ev(null), ctx)), ['pending'], 'a young NEW order may still arrive');
  assert.deepEqual(kinds(decideOrder({ ...base, status: 'NEW', createdAt: 1_000 }, ev(null), ctx)), ['reject_unsent']);
  assert.deepEqual(kinds(decideOrder({ ...base, status: 'NEW' }, ev(v()), ctx)), ['accept']);
  // Partly filled at the venue: only the unbooked trade is booked.
  const partial = decideOrder({ ...base, status: 'PARTIALLY_FILLED', filledQty: fx('0.3') }, ev(v({ filledQty: fx('0.5') }), [fill('t1', '0.3'), fill('t2', '0.2')]), ctx);
  assert.deepEqual(partial, [{ kind: 'book_fills', clientOrderId: base.clientOrderId, fills: [fill('t2', '0.2')] }]);
  assert.deepEqual(kinds(decideOrder(base, ev(v({ filledQty: fx('0.5') }), 'unavailable'), ctx)), ['pending'], 'never closes before its fills are booked');
  assert.deepEqual(kinds(decideOrder(base, ev(v({ status: 'CANCELED', filledQty: fx('0.2') }), [fill('t2', '0.2')]), ctx)), ['book_fills', 'close']);
  assert.deepEqual(kinds(decideOrder(base, ev(v({ status: 'FILLED', filledQty: fx('1') }), [fill('t2', '1')]), ctx)), ['book_fills']);
  assert.deepEqual(kinds(decideOrder(base, ev(v({ qty: fx('2') })), ctx)), ['flag'], 'a different order under the same id');
  assert.deepEqual(decideOrder(base, ev(v({ filledQty: fx('0.1') }), [fill('t2', '0.5')]), ctx)[0]!.kind, 'flag', 'fills beyond the venue\'s own total');
  const behind = decideOrder({ ...base, filledQty: fx('0.5'), status: 'PARTIALLY_FILLED' }, ev(v({ filledQty: fx('0.2') })), ctx);
  assert.ok(behind[0]!.kind === 'flag' && behind[0]!.transient, 'a venue view behind ours is only suspect at first');
  assert.deepEqual(kinds(decideOrder({ ...base, status: 'CANCELED' }, ev(v()), ctx)), ['flag']);
  assert.deepEqual(kinds(decideOrder(undefined, ev(v({ status: 'CANCELED', filledQty: fx('0.2') }), [fill('t2', '0.2')]), ctx)), ['adopt', 'book_fills', 'close']);
  assert.deepEqual(decideOrder(undefined, ev(null), ctx), []);
});
