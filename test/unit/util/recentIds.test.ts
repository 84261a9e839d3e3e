// The bounded duplicate check (the tracker's fills, the shadow book's signals, the ccxt venue's
// trade ids and sent client order ids): a duplicate is answered as one, at most `capacity` ids
// are held, and the oldest first sighting is the one dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RecentIds } from '../../../src/util/recentIds.js';

test('a duplicate is refused; past capacity the oldest id goes first', () => {
  const r = new RecentIds(3);
  assert.deepEqual(['a', 'b', 'c'].map((id) => r.add(id)), [true, true, true]);
  assert.equal(r.add('a'), false, 'a duplicate');
  assert.equal(r.add('d'), true);
  assert.equal(r.size, 3);
  assert.deepEqual(r.toArray(), ['b', 'c', 'd'], 'a, the oldest, dropped — seeing it again did not make it newer');
  assert.equal(r.has('a'), false);
  assert.equal(r.add('a'), true, 'an id that aged out counts as new');
  assert.deepEqual(r.toArray(), ['c', 'd', 'a']);
});

test('reset keeps a snapshot\'s newest ids, oldest first', () => {
  const r = new RecentIds(2);
  r.add('x');
  r.reset(['a', 'b', 'c']);
  assert.deepEqual(r.toArray(), ['b', 'c']);
  assert.equal(r.has('x'), false);
  assert.equal(r.add('c'), false);
  assert.throws(() => new RecentIds(0), /positive integer/);
});

test('it holds exactly the newest `capacity` first sightings of any stream of ids', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'), { maxLength: 60 }), (capacity, stream) => {
    const r = new RecentIds(capacity);
    const model: string[] = [];
    for (const id of stream) {
      const fresh = !model.includes(id);
      assert.equal(r.add(id), fresh, id);
      if (fresh) model.push(id);
      if (model.length > capacity) model.shift();
      assert.ok(r.size <= capacity);
    }
    assert.deepEqual(r.toArray(), model);
  }));
});
