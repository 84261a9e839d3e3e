// The one outcome → status table (src/http/status.ts): what both APIs answer and what
// HttpEngineHandle reads back, tied to the engine's reason codes so that a reason added to the
// risk rails without a row in the table shows here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cancelKindOf, isNotSizedStatus, isStopAckRefused, NOT_SIZED_STATUS, notSizedStatus, REFUSAL_STATUS, refusalStatus, signalStatusOf, statusOf, stopAckStatusOf, submitKindOf,
} from '../../../src/http/status.js';
import { STOPPED_REASONS, type RiskRejectReason } from '../../../src/engine/riskRails.js';
import type { NotSizedReason } from '../../../src/engine/sizing.js';
import { STORAGE_REFUSAL } from '../../../src/engine/engine.js';

// Every reason the rails can give (the type checker keeps this list whole: a reason missing
// from the union's record is a compile error).
const RAIL_REASONS: Record<RiskRejectReason, true> = {
  TRADING_DISABLED: true, TRADING_HALTED: true, TRADING_REDUCING: true, SYMBOL_NOT_ALLOWED: true, UNKNOWN_SYMBOL: true,
  NO_MARKET_DATA: true, INVALID_QUANTITY: true, QTY_STEP: true, QTY_BELOW_MIN: true, PRICE_TICK: true, PRICE_BAND: true,
  BELOW_VENUE_MIN_NOTIONAL: true, MIN_NOTIONAL: true, MAX_NOTIONAL: true, EQUITY_FLOOR: true, DRAWDOWN_BREAKER: true,
  LOSS_STREAK_COOLDOWN: true, EXPOSURE_SYMBOL_CAP: true, EXPOSURE_TOTAL_CAP: true, MAX_OPEN_ORDERS: true, RATE_LIMIT: true,
};

test('a refusal by a stopped trading state answers 403, the rate rail 429, every other rail 422', () => {
  for (const reason of Object.keys(RAIL_REASONS)) {
    const expected = STOPPED_REASONS.has(reason) ? 403 : reason === 'RATE_LIMIT' ? 429 : 422;
    assert.equal(statusOf({ kind: 'rejected', reason }), expected, reason);
  }
});

test('the table names no reason the engine does not give, beyond the admission refusal', () => {
  const known = new Set<string>([...Object.keys(RAIL_REASONS), 'BUS_UNAVAILABLE', STORAGE_REFUSAL]);
  for (const reason of Object.keys(REFUSAL_STATUS)) assert.ok(known.has(reason), reason);
  assert.equal(refusalStatus('BUS_UNAVAILABLE'), 403);
  // The disk refuses writes: the order was not taken and may pass once it takes them again.
  assert.equal(refusalStatus(STORAGE_REFUSAL), 503);
  assert.equal(submitKindOf(503), 'rejected');
  assert.equal(refusalStatus(null), 422);
});

test('accepted is 201, a replayed accept 200, a conflict 409; cancels 200 / 404 / 409', () => {
  assert.equal(statusOf({ kind: 'accepted', duplicate: false }), 201);
  assert.equal(statusOf({ kind: 'accepted', duplicate: true }), 200);
  assert.equal(statusOf({ kind: 'conflict' }), 409);
  assert.equal(statusOf({ kind: 'canceled' }), 200);
  assert.equal(statusOf({ kind: 'not_found' }), 404);
  assert.equal(statusOf({ kind: 'not_open' }), 409);
});

test('a routed signal answers by the same table: taken 200, refused by its reason', () => {
  for (const outcome of ['routed', 'skipped', 'shadow']) assert.equal(signalStatusOf({ outcome, reason: null }), 200);
  assert.equal(signalStatusOf({ outcome: 'conflict', reason: 'IDEMPOTENCY_CONFLICT' }), 409);
  assert.equal(signalStatusOf({ outcome: 'rejected', reason: 'TRADING_HALTED' }), 403);
  assert.equal(signalStatusOf({ outcome: 'rejected', reason: 'RATE_LIMIT' }), 429);
  assert.equal(signalStatusOf({ outcome: 'rejected', reason: 'NO_ENGINE' }), 422);
});

test('the reverse reading gives back the outcome every status of the table came from', () => {
  const submits = [
    { kind: 'accepted', duplicate: false }, { kind: 'accepted', duplicate: true }, { kind: 'conflict' },
    ...[...Object.keys(RAIL_REASONS), 'BUS_UNAVAILABLE'].map((reason) => ({ kind: 'rejected' as const, reason })),
  ] as const;
  for (const o of submits) assert.equal(submitKindOf(statusOf(o)), o.kind);
  for (const kind of ['canceled', 'not_found', 'not_open'] as const) assert.equal(cancelKindOf(statusOf({ kind })), kind);
  // Statuses that are no outcome (a bad request, a missing route, a refused token) are errors to raise.
  for (const status of [400, 401, 404, 500]) assert.equal(submitKindOf(status), null);
  assert.equal(cancelKindOf(400), null);
});

// Every reason sizing can give (a reason added to the union without a row here is a compile error).
const NOT_SIZED_REASONS: Record<NotSizedReason, true> = { BELOW_MIN_NOTIONAL: true, NO_MARKET_DATA: true, UNKNOWN_SYMBOL: true };

test('a notional order not placed: below the minimum is 200 (already at target), no price or symbol 422; the table names every sizing reason and no other', () => {
  assert.deepEqual(Object.keys(NOT_SIZED_STATUS).sort(), Object.keys(NOT_SIZED_REASONS).sort());
  assert.equal(notSizedStatus('BELOW_MIN_NOTIONAL'), 200);
  assert.equal(notSizedStatus('NO_MARKET_DATA'), 422);
  assert.equal(notSizedStatus('UNKNOWN_SYMBOL'), 422);
  // The reverse reading takes back every status the table answers with, and nothing else.
  for (const reason of Object.keys(NOT_SIZED_REASONS)) assert.ok(isNotSizedStatus(notSizedStatus(reason)), reason);
  for (const status of [201, 400, 403, 409, 500]) assert.equal(isNotSizedStatus(status), false, String(status));
});

test('acknowledging an engine\'s own stop: lifted 200, refused 409, and the handle reads 409 back as a refusal', () => {
  assert.equal(stopAckStatusOf({ acknowledged: true }), 200);
  assert.equal(stopAckStatusOf({ acknowledged: false }), 409);
  assert.equal(isStopAckRefused(stopAckStatusOf({ acknowledged: false })), true);
  for (const status of [200, 400, 401, 404, 500]) assert.equal(isStopAckRefused(status), false, String(status));
});
