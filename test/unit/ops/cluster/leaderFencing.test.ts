// Fencing tokens: a store that follows the leader refuses writes from a stale one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FencingGate, LeaderLease } from '../../../../src/ops/cluster/leaderLease.js';

test('a write with a lower token than one already seen is refused; equal or higher admitted', () => {
  const g = new FencingGate();
  assert.equal(g.admit(1), true);
  assert.equal(g.admit(1), true, 'the same leader writes again');
  assert.equal(g.admit(3), true);
  assert.equal(g.admit(2), false, 'a stale leader (token 2) after its successor (3) wrote');
  assert.equal(g.highestToken, 3);
  assert.equal(g.admit(Number.NaN), false);
});

test('property: the admitted tokens never decrease', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 50 })), (tokens) => {
    const g = new FencingGate();
    const admitted = tokens.filter((t) => g.admit(t));
    for (let i = 1; i < admitted.length; i++) assert.ok(admitted[i]! >= admitted[i - 1]!);
  }));
});

test('lease settings that could let two leaders overlap are refused', () => {
  assert.throws(() => new LeaderLease({ url: 'redis://127.0.0.1:6379', name: 'x', ttlMs: 50 }), /ttlMs/);
  assert.throws(() => new LeaderLease({ url: 'redis://127.0.0.1:6379', name: 'x', ttlMs: 1000, renewEveryMs: 950 }), /renewEveryMs/);
  assert.throws(() => new LeaderLease({ url: 'redis://127.0.0.1:6379', name: 'x', holderId: 'a#b' }), /holderId/);
});
