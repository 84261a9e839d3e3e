import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ORDER_TRANSITIONS, TERMINAL_STATUSES, applyFillToOrder, canTransition, isTransitionError, transition, type Fill, type Order, type OrderStatus } from '../../../src/core/order.js';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, venueId } from '../../../src/core/ids.js';

const STATUSES = Object.keys(ORDER_TRANSITIONS) as OrderStatus[];

function order(status: OrderStatus, qty = '1', filled = '0'): Order {
  return {
    clientOrderId: clientOrderId('c1'), symbol: symbol('BTCUSDT'), side: 'BUY', type: 'MARKET', qty: fx(qty), price: null,
    timeInForce: 'IOC', model: null, venue: venueId('sim'), status, filledQty: fx(filled), filledNotional: fx(0), fees: fx(0),
    venueOrderId: null, rejectReason: null, createdAt: 0, updatedAt: 0,
  };
}

function fill(qty: string, tradeId = 't1'): Fill {
  return { tradeId, clientOrderId: clientOrderId('c1'), venue: venueId('sim'), symbol: symbol('BTCUSDT'), side: 'BUY', qty: fx(qty), price: fx('100'), fee: fx('0.1'), liquidity: 'TAKER', model: null, ts: 1 };
}

test('terminal statuses have no way out', () => {
  for (const s of TERMINAL_STATUSES) {
    for (const to of STATUSES) assert.equal(canTransition(s, to), false, `${s} → ${to}`);
  }
});

test('a NEW order can only be accepted or rejected', () => {
  assert.deepEqual([...ORDER_TRANSITIONS.NEW].sort(), ['ACCEPTED', 'REJECTED']);
  assert.ok(isTransitionError(transition(order('NEW'), 'FILLED', 1)));
  assert.ok(isTransitionError(applyFillToOrder(order('NEW'), fill('1'))));
});

test('illegal transitions are impossible from any sequence of events', () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(...STATUSES), { maxLength: 12 }), (targets) => {
    let o = order('NEW');
    for (const to of targets) {
      const next = transition(o, to, 1);
      if (isTransitionError(next)) {
        assert.equal(canTransition(o.status, to), false);
      } else {
        assert.equal(canTransition(o.status, to), true);
        o = next;
      }
    }
  }));
});

test('partial fills accumulate and the last one completes the order', () => {
  let o = order('ACCEPTED', '1');
  const a = applyFillToOrder(o, fill('0.4', 'a'));
  assert.ok(!isTransitionError(a));
  o = a as Order;
  assert.equal(o.status, 'PARTIALLY_FILLED');
  const b = applyFillToOrder(o, fill('0.6', 'b'));
  assert.ok(!isTransitionError(b));
  assert.equal((b as Order).status, 'FILLED');
  assert.equal((b as Order).filledQty, fx('1'));
  assert.equal((b as Order).fees, fx('0.2'));
});

test('a fill beyond the order quantity is refused', () => {
  const over = applyFillToOrder(order('PARTIALLY_FILLED', '1', '0.5'), fill('0.6'));
  assert.ok(isTransitionError(over));
});
