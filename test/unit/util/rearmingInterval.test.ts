// util/rearmingInterval.ts, the loop of the allocator, the canary manager and governance: a
// period the policy changes takes effect from the run that reads it (and at once on rearm()),
// a stopped loop runs no more, and several periods the clock jumps over at once are one run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimClock } from '../../../src/core/clock.js';
import { RearmingInterval } from '../../../src/util/rearmingInterval.js';

/** Moves the clock in small steps, as live time passes (one jump would coalesce the runs). */
function walk(clock: SimClock, toMs: number): void {
  while (clock.now() < toMs) clock.advanceBy(Math.min(50, toMs - clock.now()));
}

function loop(periodMs: number) {
  const clock = new SimClock(0);
  const runs: number[] = [];
  const p = { ms: periodMs };
  const interval = new RearmingInterval(clock, () => p.ms, () => runs.push(clock.now()));
  return { clock, runs, p, interval };
}

test('a changed period takes effect from the run that reads it, and holds', () => {
  const { clock, runs, p, interval } = loop(1000);
  interval.start();
  walk(clock, 2500);
  assert.deepEqual(runs, [1000, 2000]);
  p.ms = 300; // the next run (at 3000) still comes on the old period, and re-arms on the new
  walk(clock, 4000);
  assert.deepEqual(runs, [1000, 2000, 3000, 3300, 3600, 3900]);
  walk(clock, 4500);
  assert.deepEqual(runs.slice(6), [4200, 4500]);
  assert.equal(clock.pending(), 1, 'one timer, however often it was re-armed');
  interval.stop();
});

test('rearm() reads the period at once (a policy reload heard); stopped, it arms nothing', () => {
  const { clock, runs, p, interval } = loop(1000);
  interval.start();
  walk(clock, 1500);
  p.ms = 200;
  interval.rearm();
  walk(clock, 2000);
  assert.deepEqual(runs, [1000, 1700, 1900]);
  interval.stop();
  assert.equal(interval.running, false);
  interval.rearm();
  walk(clock, 5000);
  assert.deepEqual(runs, [1000, 1700, 1900], 'a stopped loop stays stopped');
  assert.equal(clock.pending(), 0);
});

test('a run that stops the loop is not re-armed; a jump over several periods is one run; start twice is one loop', () => {
  const clock = new SimClock(0);
  let ms = 100;
  const runs: number[] = [];
  const interval: RearmingInterval = new RearmingInterval(clock, () => ms, () => {
    runs.push(clock.now());
    ms = 50; // the policy changed, but this run ends the loop
    interval.stop();
  });
  interval.start();
  walk(clock, 1000);
  assert.deepEqual(runs, [100]);
  assert.equal(clock.pending(), 0);

  const l = loop(100);
  l.interval.start();
  l.interval.start();
  l.clock.advanceTo(1050);
  assert.deepEqual(l.runs, [1000], 'coalesced: the state is looked at once, at the last period');
  l.interval.stop();
});
