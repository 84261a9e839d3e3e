// Client order ids (core/orderIds.ts): the two kinds every sender mints from — time-ordered
// ids for orders that bring none, and deterministic ids of a model's signal that fit the venues.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { externalOrderId, signalOrderId, timeOrderedOrderId, VENUE_CLIENT_ID_MAX } from '../../../src/core/orderIds.js';

test('time-ordered ids sort by time and never repeat', () => {
  const a = externalOrderId(1_700_000_000_000);
  const b = externalOrderId(1_700_000_000_001);
  assert.match(a, /^ext-[a-z0-9]{9}-[0-9a-f]{12}$/);
  assert.ok(a < b, 'a later id sorts after an earlier one');
  const same = new Set(Array.from({ length: 1_000 }, () => timeOrderedOrderId('engine_sim', 5)));
  assert.equal(same.size, 1_000, 'ids minted in the same millisecond differ');
});

test('a signal id is deterministic and fits the strictest venue', () => {
  const ts = 1_700_000_000_000;
  assert.equal(signalOrderId({ model: 'ma_crossover_v1', symbol: 'BTCUSDT', ts }), `ma_crossover_v1-BTCUSDT-${ts.toString(36)}`);
  const long = { model: 'ensemble_ma_hmm_regime_v12', symbol: 'ETHUSDT', ts };
  assert.equal(signalOrderId(long), signalOrderId(long));
  assert.ok(signalOrderId(long).length <= VENUE_CLIENT_ID_MAX);
  assert.match(signalOrderId(long), /^[A-Za-z0-9_-]+$/);
  assert.notEqual(signalOrderId(long), signalOrderId({ ...long, ts: ts + 1 }), 'another signal is another order');
});
