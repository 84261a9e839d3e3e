// The engine's wire views (engine/views.ts): an order as the API, the bus and the audit log show
// it — snake_case, exact decimals as strings, the average price only once something filled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol } from '../../../src/core/ids.js';
import type { Order } from '../../../src/core/order.js';
import { orderEvent, orderLogLine, orderView } from '../../../src/engine/views.js';

const order: Order = {
  clientOrderId: clientOrderId('o-1'), venue: 'sim' as Order['venue'], model: null, symbol: symbol('BTCUSDT'), side: 'BUY', type: 'LIMIT',
  timeInForce: 'GTC', qty: fx('0.3'), price: fx('60000'), status: 'ACCEPTED', filledQty: fx('0'), filledNotional: fx('0'), fees: fx('0'),
  venueOrderId: 'v-1', rejectReason: null, createdAt: 1_000, updatedAt: 2_000,
};

test('an order on the wire: exact decimals as strings, no average price before a fill', () => {
  const v = orderView(order);
  assert.deepEqual(
    { id: v.client_order_id, qty: v.qty, price: v.price, filled: v.filled_qty, avg: v.avg_price, tif: v.time_in_force, venue_id: v.venue_order_id },
    { id: 'o-1', qty: '0.3', price: '60000', filled: '0', avg: null, tif: 'GTC', venue_id: 'v-1' },
  );
  const filled = orderView({ ...order, status: 'PARTIALLY_FILLED', filledQty: fx('0.2'), filledNotional: fx('12001') });
  assert.equal(filled.avg_price, '60005', 'average price = notional / filled quantity');
  assert.equal(orderView({ ...order, type: 'MARKET', price: null }).price, null);
});

test('the bus event and the audit line carry the same order, with what the event adds', () => {
  const e = orderEvent('engine_sim', order, 'RECONCILED');
  assert.equal(e.venue, 'engine_sim');
  assert.equal(e.reason, 'RECONCILED');
  assert.equal(e.ts, 2_000);
  const line = orderLogLine(3_000, 'trade.fill', 'engine_sim', order, { trade_id: 't-1', fill_qty: '0.1' });
  assert.equal(line.ts, new Date(3_000).toISOString());
  assert.equal(line.client_order_id, 'o-1');
  assert.equal(line.reason, null, 'no reason is written as null, not left out');
  assert.equal(line.trade_id, 't-1');
  assert.ok(!('routing_time' in JSON.parse(JSON.stringify(line))), 'keys without a value are dropped from the JSON line');
});
