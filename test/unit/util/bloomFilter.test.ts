import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BloomFilter } from '../../../src/util/bloomFilter.js';

test('a Bloom filter never forgets a key it was given', () => {
  fc.assert(fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 200 }), (keys) => {
    const f = new BloomFilter(keys.length);
    for (const k of keys) f.add(k);
    for (const k of keys) assert.equal(f.mightContain(k), true, JSON.stringify(k));
  }));
});

test('a Bloom filter answers "absent" for almost every key it was not given', () => {
  const f = new BloomFilter(50_000);
  for (let i = 0; i < 50_000; i++) f.add(`ext-${i.toString(36).padStart(9, '0')}-seen`);
  let maybe = 0;
  for (let i = 0; i < 50_000; i++) if (f.mightContain(`ext-${i.toString(36).padStart(9, '0')}-new`)) maybe++;
  // 2^20 bits for 50,000 keys, 3 hashes: about 0.3 % false positives expected.
  assert.ok(maybe < 500, `${maybe} false positives in 50,000`);
  assert.equal(new BloomFilter(10).mightContain('anything'), false);
});
