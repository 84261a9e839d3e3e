// The SimClock runs timers in due order as market time advances, intervals repeat, and
// cleared timers never fire; the WallClock's timers never hold the process open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimClock, WallClock } from '../../../src/core/clock.js';

test('SimClock: timers fire in due order with now() at their due time; intervals repeat; clear stops them', () => {
  const c = new SimClock(1_000);
  const seen: string[] = [];
  c.setTimeout(() => seen.push(`b@${c.now()}`), 200);
  c.setTimeout(() => seen.push(`a@${c.now()}`), 100);
  const every = c.setInterval(() => seen.push(`i@${c.now()}`), 150);
  const gone = c.setTimeout(() => seen.push('never'), 50);
  c.clear(gone);
  c.advanceTo(1_310);
  assert.deepEqual(seen, ['a@1100', 'i@1150', 'b@1200', 'i@1300']);
  assert.equal(c.now(), 1_310);
  c.clear(every);
  c.advanceBy(1_000);
  assert.equal(seen.length, 4);
  c.advanceTo(0);
  assert.equal(c.now(), 2_310, 'time never goes backwards');
  assert.equal(c.pending(), 0);
});

test('SimClock: a timer scheduled by a firing timer runs in the same advance when due', () => {
  const c = new SimClock(0);
  const seen: number[] = [];
  c.setTimeout(() => c.setTimeout(() => seen.push(c.now()), 10), 10);
  c.advanceTo(25);
  assert.deepEqual(seen, [20]);
});

test('WallClock: now() is the host time and a timer fires', async () => {
  const c = new WallClock();
  assert.ok(Math.abs(c.now() - Date.now()) < 50);
  const keepAlive = setTimeout(() => {}, 1_000);
  await new Promise<void>((resolve) => c.setTimeout(resolve, 5));
  clearTimeout(keepAlive);
});
