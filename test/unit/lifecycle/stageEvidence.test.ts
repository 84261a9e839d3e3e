// Evidence since a stage began, taken out of the tracker's lifetime evidence: the moments of
// the tail of a series equal those computed on the tail alone, and a stage's window starts at
// the stage change (or again when the tracker's evidence restarts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addObservation, emptyMoments, type ModelEvidence, type Moments } from '../../../src/lifecycle/evidence.js';
import { StageEvidence, momentsAfter } from '../../../src/lifecycle/stageEvidence.js';

const momentsOf = (xs: readonly number[]): Moments => {
  const m = emptyMoments();
  for (const x of xs) addObservation(m, x);
  return m;
};

const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, scale);

test('the moments after a head are the moments of the tail (property)', () => {
  fc.assert(fc.property(
    fc.array(fc.double({ min: -0.05, max: 0.05, noNaN: true }), { minLength: 0, maxLength: 300 }),
    fc.array(fc.double({ min: -0.05, max: 0.05, noNaN: true }), { minLength: 1, maxLength: 300 }),
    (head, tail) => {
      const got = momentsAfter(momentsOf([...head, ...tail]), momentsOf(head));
      const want = momentsOf(tail);
      assert.equal(got.n, want.n);
      assert.ok(close(got.mean, want.mean, 0.05), `mean ${got.mean} vs ${want.mean}`);
      assert.ok(close(got.m2, want.m2, want.m2), `m2 ${got.m2} vs ${want.m2}`);
      assert.ok(close(got.m3, want.m3, Math.abs(want.m3) + want.m2), `m3 ${got.m3} vs ${want.m3}`);
      assert.ok(close(got.m4, want.m4, want.m4 + want.m2), `m4 ${got.m4} vs ${want.m4}`);
    }), { numRuns: 300 });
  assert.deepEqual(momentsAfter(momentsOf([1, 2]), momentsOf([1, 2])), emptyMoments());
});

const ev = (xs: readonly number[], trades: number): ModelEvidence => ({ bars: xs.length, trades, marketMs: xs.length * 60_000, returns: momentsOf(xs), vsLive: momentsOf(xs.map((x) => x / 2)) });

test('a stage window starts when the stage does, and again if the tracker restarts the evidence', () => {
  const stages = new StageEvidence();
  const a = [0.01, -0.02, 0.03];
  const b = [0.02, 0.01, -0.01, 0.04];
  assert.equal(stages.since('m', 'S1', null), null);
  assert.equal(stages.since('m', 'S1', ev(a, 2))!.bars, 0, 'the stage starts now');
  const w = stages.since('m', 'S1', ev([...a, ...b], 5))!;
  assert.equal(w.bars, 4);
  assert.equal(w.trades, 3);
  assert.equal(w.marketMs, 4 * 60_000);
  assert.ok(Math.abs(w.returns.mean - 0.015) < 1e-12);
  assert.equal(w.vsLive.n, 4);
  // A new stage: the window starts again.
  assert.equal(stages.since('m', 'S2', ev([...a, ...b], 5))!.bars, 0);
  // The tracker's evidence restarted (fewer bars than at the stage start): all of it is the window.
  assert.equal(stages.since('m', 'S2', ev([0.01], 1))!.bars, 1);
  assert.equal(stages.since('m', 'S2', ev([0.01, 0.02], 1))!.bars, 2);
});

test('the stage starts survive a restart through their saved copy; a damaged copy starts the window again', () => {
  const a = [0.01, -0.02, 0.03];
  const b = [0.02, 0.01, -0.01, 0.04];
  const before = new StageEvidence();
  before.since('m', 'S1', ev(a, 2));
  assert.equal(before.takeChanged(), true);
  assert.equal(before.takeChanged(), false, 'saved once per change');
  before.since('m', 'S1', ev([...a, ...b], 5));
  assert.equal(before.takeChanged(), false, 'reading a window changes nothing');
  const after = new StageEvidence(JSON.parse(JSON.stringify(before)));
  assert.deepEqual(after.since('m', 'S1', ev([...a, ...b], 5)), before.since('m', 'S1', ev([...a, ...b], 5)));
  assert.equal(after.since('m', 'S1', ev([...a, ...b], 5))!.bars, 4);
  const damaged = new StageEvidence({ m: { since: 'S1', at: { bars: 'many' } }, n: null });
  assert.equal(damaged.since('m', 'S1', ev([...a, ...b], 5))!.bars, 0, 'starts again');
  assert.equal(new StageEvidence('garbage').since('m', 'S1', ev(a, 1))!.bars, 0);
});
