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

test('SimClock: a coalescing interval runs once per jump, at the last period it jumped over; a plain one runs every period', () => {
  const c = new SimClock(0);
  const plain: number[] = [];
  const once: number[] = [];
  c.setInterval(() => plain.push(c.now()), 2_000);
  c.setInterval(() => once.push(c.now()), 2_000, { coalesce: true });
  c.advanceTo(60_000); // one minute bar: thirty periods
  assert.equal(plain.length, 30);
  assert.deepEqual(once, [60_000]);
  c.advanceTo(61_000); // within the next period: nothing due
  assert.deepEqual(once, [60_000]);
  c.advanceTo(62_000); // exactly one period: it runs, as a plain interval would
  c.advanceTo(65_500);
  assert.deepEqual(once, [60_000, 62_000, 64_000]);
  assert.equal(plain.length, 32);
});

test('SimClock: coalesced timers keep time order among themselves and with one-shot timers', () => {
  const c = new SimClock(0);
  const seen: string[] = [];
  c.setInterval(() => seen.push(`five@${c.now()}`), 5_000, { coalesce: true });
  c.setInterval(() => seen.push(`two@${c.now()}`), 2_000, { coalesce: true });
  c.setTimeout(() => seen.push(`once@${c.now()}`), 59_000);
  c.advanceTo(60_000);
  // Both intervals last fall due at 60 s; ties go in order of creation, as for any timer.
  assert.deepEqual(seen, ['once@59000', 'five@60000', 'two@60000']);
});
