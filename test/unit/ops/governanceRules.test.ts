// The governance daemon's pure decisions: the exposure ladder and its slow recovery, the
// REDUCING → HALTED escalation, venue error rates — each rule at its thresholds, and the
// property that the multiplier never rises on a reading where drawdown worsened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_GOVERNANCE_POLICY, type GovernancePolicy, parseGovernancePolicy } from '../../../src/ops/governance/policy.js';
import {
  type ExposureMemory, type MetricSample, countInWindow, exposureCap, isAdverse, stepEscalation, stepExposure, venueErrorRate,
} from '../../../src/ops/governance/rules.js';

const P = DEFAULT_GOVERNANCE_POLICY;
const table = (entries: Record<string, number>, ts = 0) => new Map<string, MetricSample>(Object.entries(entries).map(([k, v]) => [k, { value: v, ts }]));

test('the unrealized-loss ladder at its thresholds (strictly below)', () => {
  const cap = (pnl: number) => exposureCap(P, table({ pnl_unrealized: pnl }), 0).cap;
  assert.equal(cap(0), 1);
  assert.equal(cap(-50), 1);
  assert.equal(cap(-50.01), 0.85);
  assert.equal(cap(-100), 0.85);
  assert.equal(cap(-150), 0.7); // the runbook's test value
  assert.equal(cap(-200), 0.7);
  assert.equal(cap(-200.01), 0.5);
  assert.equal(exposureCap(P, table({ pnl_unrealized: -150 }), 0).hit?.rule.name, 'loss_100');
});

test('the drawdown ladder, and the lowest holding rule wins across metrics', () => {
  const cap = (m: Record<string, number>) => exposureCap(P, table(m), 0);
  assert.equal(cap({ drawdown_pct: 3 }).cap, 1);
  assert.equal(cap({ drawdown_pct: 3.01 }).cap, 0.75);
  assert.equal(cap({ drawdown_pct: 5.5 }).cap, 0.5);
  const both = cap({ drawdown_pct: 4, pnl_unrealized: -60 });
  assert.equal(both.cap, 0.75);
  assert.equal(both.hit?.rule.name, 'drawdown_3');
  // min_multiplier is a floor under any rule.
  const tight: GovernancePolicy = { ...P, min_multiplier: 0.6 };
  assert.equal(exposureCap(tight, table({ drawdown_pct: 50 }), 0).cap, 0.6);
});

test('an expired metric no longer holds a rule (an injected test value does not pin exposure forever)', () => {
  const t = table({ pnl_unrealized: -150 }, 0);
  assert.equal(exposureCap(P, t, P.metric_ttl_sec * 1000).cap, 0.7);
  assert.equal(exposureCap(P, t, P.metric_ttl_sec * 1000 + 1).cap, 1);
});

test('reduction is immediate; recovery waits a full calm window per step and restarts on a worse reading', () => {
  const W = P.recovery.window_sec * 1000;
  let mem: ExposureMemory = { multiplier: 1, calmSince: null };
  let r = stepExposure(P, mem, table({ pnl_unrealized: -150 }, 0), true, 0);
  assert.equal(r.change?.kind, 'reduced');
  assert.equal(r.change?.from, 1);
  assert.equal(r.change?.to, 0.7);
  assert.match(r.change!.cause, /pnl_unrealized -150 < -100, rule loss_100/);
  mem = r.memory;
  // Same reading again: already there, nothing to do.
  assert.equal(stepExposure(P, mem, table({ pnl_unrealized: -150 }, 1), false, 1).change, null);
  // Good readings: the clock starts, but nothing rises before a full window.
  r = stepExposure(P, mem, table({ pnl_unrealized: 5 }, 10), false, 10);
  assert.equal(r.change, null);
  assert.equal(r.memory.calmSince, 10);
  mem = r.memory;
  r = stepExposure(P, mem, table({ pnl_unrealized: 4 }, W), true, W); // worsened (5 → 4): clock restarts
  assert.equal(r.change, null);
  assert.equal(r.memory.calmSince, null);
  mem = r.memory;
  mem = stepExposure(P, mem, table({ pnl_unrealized: 6 }, W + 1), false, W + 1).memory;
  assert.equal(stepExposure(P, mem, table({ pnl_unrealized: 6 }, 2 * W), false, 2 * W).change, null);
  r = stepExposure(P, mem, table({ pnl_unrealized: 6 }, 2 * W + 1), false, 2 * W + 1);
  assert.equal(r.change?.kind, 'restored');
  assert.equal(r.change?.to, 0.8);
  // The next step needs another full window.
  assert.equal(stepExposure(P, r.memory, table({ pnl_unrealized: 6 }, 2 * W + 2), false, 2 * W + 2).change, null);
  // It never overshoots the cap the rules allow.
  const capped = stepExposure(P, { multiplier: 0.8, calmSince: 0 }, table({ pnl_unrealized: -60 }, W), false, W);
  assert.equal(capped.change?.to, 0.85);
});

test('isAdverse: deeper loss or drawdown is adverse, improvements are not', () => {
  const prev = table({ pnl_unrealized: -10, drawdown_pct: 2 });
  assert.equal(isAdverse(P, prev, { pnl_unrealized: -11 }), true);
  assert.equal(isAdverse(P, prev, { drawdown_pct: 2.1 }), true);
  assert.equal(isAdverse(P, prev, { pnl_unrealized: -9, drawdown_pct: 1 }), false);
  assert.equal(isAdverse(P, prev, { unrelated: -1e9 }), false);
  assert.equal(isAdverse(P, new Map(), { drawdown_pct: 50 }), false, 'a first reading has nothing to worsen from');
});

test('property: the multiplier never rises on a reading where drawdown worsened, stays in [min, 1] and under the cap', () => {
  fc.assert(fc.property(
    fc.array(fc.record({
      dd: fc.double({ min: 0, max: 20, noNaN: true }),
      pnl: fc.double({ min: -400, max: 100, noNaN: true }),
      dt: fc.integer({ min: 0, max: 400_000 }),
    }), { minLength: 1, maxLength: 60 }),
    (readings) => {
      let mem: ExposureMemory = { multiplier: 1, calmSince: null };
      const metrics = new Map<string, MetricSample>();
      let now = 0;
      for (const r of readings) {
        now += r.dt;
        const update = { drawdown_pct: r.dd, pnl_unrealized: r.pnl };
        const prevDd = metrics.get('drawdown_pct')?.value;
        const adverse = isAdverse(P, metrics, update);
        metrics.set('drawdown_pct', { value: r.dd, ts: now });
        metrics.set('pnl_unrealized', { value: r.pnl, ts: now });
        const before = mem.multiplier;
        mem = stepExposure(P, mem, metrics, adverse, now).memory;
        if (prevDd !== undefined && r.dd > prevDd) assert.ok(mem.multiplier <= before, `rose ${before} → ${mem.multiplier} while drawdown ${prevDd} → ${r.dd}`);
        assert.ok(mem.multiplier >= P.min_multiplier && mem.multiplier <= 1);
        assert.ok(mem.multiplier <= exposureCap(P, metrics, now).cap + 1e-9);
        assert.ok(mem.multiplier - before <= P.recovery.step + 1e-9, 'at most one step up per reading');
      }
    },
  ), { numRuns: 1000 });
});

test('escalation: REDUCING then HALTED, edge-triggered and re-armed when the condition clears', () => {
  let arms = { reducing: true, halt: true };
  let r = stepEscalation(P, 7.99, arms);
  assert.deepEqual(r.escalate, []);
  r = stepEscalation(P, 8, r.arms);
  assert.deepEqual(r.escalate, ['REDUCING']);
  r = stepEscalation(P, 9, r.arms);
  assert.deepEqual(r.escalate, [], 'no repeat while it holds (an operator may resume)');
  r = stepEscalation(P, 12, r.arms);
  assert.deepEqual(r.escalate, ['HALTED']);
  r = stepEscalation(P, 2, r.arms);
  assert.deepEqual(r.arms, { reducing: true, halt: true });
  // A jump straight past both thresholds goes through REDUCING first.
  arms = { reducing: true, halt: true };
  assert.deepEqual(stepEscalation(P, 30, arms).escalate, ['REDUCING', 'HALTED']);
  assert.deepEqual(stepEscalation({ ...P, halt_at_drawdown_pct: null, reducing_at_drawdown_pct: null }, 99, arms).escalate, []);
  assert.deepEqual(stepEscalation(P, undefined, arms).escalate, []);
});

test('venue error rate over the window, needing a minimum of requests', () => {
  const s = [
    { ts: 0, requests: 100, errors: 0 },
    { ts: 30_000, requests: 110, errors: 2 },
    { ts: 70_000, requests: 120, errors: 8 },
  ];
  // Window 60 s at t=70 s: baseline is the last sample before the window (t=0).
  assert.deepEqual(venueErrorRate(s, 70_000, 60_000, 10), { rate: 0.4, requests: 20, errors: 8 });
  assert.equal(venueErrorRate(s, 70_000, 60_000, 21), null);
  assert.equal(venueErrorRate([], 0, 60_000, 1), null);
  assert.equal(countInWindow([1, 2, 50, 60, 70], 70, 20), 3);
});

test('policy parsing: the shipped defaults, partial sections, and refusals that name the key', () => {
  assert.deepEqual(parseGovernancePolicy(undefined), DEFAULT_GOVERNANCE_POLICY);
  const p = parseGovernancePolicy({ recovery: { window_sec: 10 }, exposure_rules: [{ metric: 'pnl_unrealized', below: -1, multiplier: 0.5 }] });
  assert.equal(p.recovery.window_sec, 10);
  assert.equal(p.recovery.step, DEFAULT_GOVERNANCE_POLICY.recovery.step);
  assert.equal(p.exposure_rules[0]!.name, 'pnl_unrealized_below_-1');
  const bad: [unknown, RegExp][] = [
    [{ bogus: 1 }, /governance.*unknown key "bogus"/],
    [{ exposure_rules: [{ metric: 'x', multiplier: 0.5 }] }, /exposure_rules\[0\]: give exactly one of below or above/],
    [{ exposure_rules: [{ metric: 'x', below: 1, multiplier: 2 }] }, /exposure_rules\[0\]\.multiplier must be a number in \[0, 1\]/],
    [{ reducing_at_drawdown_pct: 10, halt_at_drawdown_pct: 5 }, /REDUCING comes before HALTED/],
    [{ recovery: { window_sec: 'soon' } }, /governance\.recovery\.window_sec/],
    [{ venue_errors: { max_error_rate: 2 } }, /governance\.venue_errors\.max_error_rate/],
    [{ enabled: 'yes' }, /governance\.enabled must be true or false/],
    [{ exposure_rules: [{ name: 'a', metric: 'x', below: 1, multiplier: 0.5 }, { name: 'a', metric: 'y', below: 1, multiplier: 0.5 }] }, /used twice/],
    [{ min_multiplier: 0.6 }, /multiplier 0.5 is below min_multiplier 0.6/],
    ['text', /governance must be a mapping/],
  ];
  for (const [value, re] of bad) assert.throws(() => parseGovernancePolicy(value), re);
});
