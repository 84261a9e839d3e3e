// The capital allocator's pure decision: the deployable ceiling, floors and caps, the step
// limit, cooldown and freeze, and the performance tilt — as properties over random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planAllocation, allocateCapital, waterFill, SingleModelAllocation, type ModelPerformance } from '../../../src/portfolio/allocator.js';
import { DEFAULT_CAPITAL_POLICY, parseCapitalPolicy, type CapitalPolicy } from '../../../src/portfolio/capitalPolicy.js';

const NOW = Date.UTC(2025, 0, 1);
const models = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

const policyArb = fc.record({
  max_deployable_frac: fc.double({ min: 0, max: 1, noNaN: true }),
  min_quota_usd: fc.double({ min: 0, max: 2000, noNaN: true }),
  spread: fc.double({ min: 0, max: 50_000, noNaN: true }),
  max_step_pct: fc.double({ min: 0, max: 1, noNaN: true }),
  tilt_strength: fc.double({ min: 0, max: 2, noNaN: true }),
}).map((p): CapitalPolicy => ({
  ...DEFAULT_CAPITAL_POLICY, max_deployable_frac: p.max_deployable_frac, min_quota_usd: p.min_quota_usd,
  max_quota_usd: p.min_quota_usd + p.spread, max_step_pct: p.max_step_pct, tilt_strength: p.tilt_strength, tilt_min_samples: 0,
}));

const scenarioArb = fc.record({
  policy: policyArb,
  n: fc.integer({ min: 1, max: 8 }),
  equity: fc.double({ min: -1000, max: 1e6, noNaN: true }),
  prevs: fc.array(fc.option(fc.double({ min: 0, max: 60_000, noNaN: true }), { nil: undefined }), { minLength: 8, maxLength: 8 }),
  sharpes: fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 8, maxLength: 8 }),
});

function inputOf(s: { n: number; equity: number; prevs: (number | undefined)[]; sharpes: number[] }) {
  const ms = models(s.n);
  const previous: Record<string, number> = {};
  const performance: Record<string, ModelPerformance> = {};
  ms.forEach((m, i) => {
    if (s.prevs[i] !== undefined) previous[m] = s.prevs[i]!;
    performance[m] = { sharpe: s.sharpes[i]!, return_pct: s.sharpes[i]!, samples: 100 };
  });
  return { equityUsd: s.equity, models: ms, previous, lastChangeAt: {}, now: NOW, performance };
}

test('quotas never exceed equity × max deployable share (to the cent), whatever the previous quotas', () => {
  fc.assert(fc.property(scenarioArb, (s) => {
    const q = allocateCapital(inputOf(s), s.policy);
    const total = Object.values(q).reduce((a, b) => a + b, 0);
    const deployable = Math.max(0, s.equity) * s.policy.max_deployable_frac;
    assert.ok(total <= deployable + 0.01, `total ${total} > deployable ${deployable}`);
    for (const v of Object.values(q)) assert.ok(v >= 0 && Number.isFinite(v));
  }), { numRuns: 500 });
});

test('with no previous quotas, no model is below its floor (when the floors fit) or above its cap', () => {
  fc.assert(fc.property(scenarioArb, (s) => {
    const input = { ...inputOf(s), previous: {} };
    const q = allocateCapital(input, s.policy);
    const deployable = Math.max(0, s.equity) * s.policy.max_deployable_frac;
    const floorsFit = s.n * s.policy.min_quota_usd <= deployable;
    for (const v of Object.values(q)) {
      assert.ok(v <= s.policy.max_quota_usd + 1e-9, `${v} above cap ${s.policy.max_quota_usd}`);
      if (floorsFit) assert.ok(v >= s.policy.min_quota_usd - 0.01, `${v} below floor ${s.policy.min_quota_usd}`);
    }
  }), { numRuns: 500 });
});

test('the step limit holds for every model whose quota was within its bounds and the total fits', () => {
  fc.assert(fc.property(scenarioArb, (s) => {
    const input = inputOf(s);
    const plan = planAllocation(input, s.policy);
    if (Object.values(plan.reasons).includes('scaled_to_deployable')) return; // the ceiling outranks the step limit
    for (const [m, prev] of Object.entries(input.previous)) {
      if (prev < s.policy.min_quota_usd || prev > s.policy.max_quota_usd) continue;
      const step = Math.max(prev * s.policy.max_step_pct, 1);
      assert.ok(Math.abs(plan.quotas[m]! - prev) <= step + 0.01, `${m}: ${prev} → ${plan.quotas[m]} exceeds step ${step}`);
    }
  }), { numRuns: 500 });
});

test('frozen → unchanged (when the frozen quotas still fit under the ceiling); cooldown likewise', () => {
  fc.assert(fc.property(scenarioArb, fc.boolean(), (s, viaFreeze) => {
    const input = inputOf(s);
    const all = Object.fromEntries(input.models.map((m, i) => [m, Math.round((s.prevs[i] ?? 300) * 100) / 100]));
    const deployable = Math.max(0, s.equity) * s.policy.max_deployable_frac;
    fc.pre(Object.values(all).reduce((a, b) => a + b, 0) <= deployable);
    const policy: CapitalPolicy = viaFreeze
      ? { ...s.policy, freeze_until: new Date(NOW + 60_000).toISOString() }
      : { ...s.policy, cooldown_sec: 3600 };
    const lastChangeAt = Object.fromEntries(input.models.map((m) => [m, NOW - 1000]));
    const q = allocateCapital({ ...input, previous: all, lastChangeAt }, policy);
    assert.deepEqual(q, all);
  }), { numRuns: 300 });
});

test('a freeze that has passed no longer holds quotas', () => {
  const policy = { ...DEFAULT_CAPITAL_POLICY, freeze_until: new Date(NOW - 1).toISOString(), max_step_pct: 1 };
  const q = allocateCapital({ equityUsd: 10_000, models: ['a'], previous: { a: 1000 }, lastChangeAt: {}, now: NOW }, policy);
  assert.equal(q.a, 2000); // step limited: 1000 + 100 %
});

test('better risk-adjusted performance gets a larger share; equal shares without tilt', () => {
  const perf = { good: { sharpe: 2, return_pct: 5, samples: 500 }, bad: { sharpe: -2, return_pct: -5, samples: 500 } };
  const base = { equityUsd: 10_000, models: ['good', 'bad'], previous: {}, lastChangeAt: {}, now: NOW, performance: perf };
  const tilted = allocateCapital(base, { ...DEFAULT_CAPITAL_POLICY, tilt_strength: 0.5, min_quota_usd: 0 });
  assert.ok(tilted.good! > tilted.bad! * 2, JSON.stringify(tilted));
  assert.ok(tilted.good! + tilted.bad! <= 8000 + 0.01);
  const flat = allocateCapital(base, { ...DEFAULT_CAPITAL_POLICY, tilt_strength: 0 });
  assert.equal(flat.good, 4000);
  assert.equal(flat.bad, 4000);
  // Too few samples: neutral.
  const young = allocateCapital({ ...base, performance: { good: { ...perf.good, samples: 3 }, bad: { ...perf.bad, samples: 3 } } }, { ...DEFAULT_CAPITAL_POLICY, tilt_strength: 0.5 });
  assert.equal(young.good, young.bad);
});

test('per-model limits override the global floor and cap', () => {
  const policy = parseCapitalPolicy(JSON.stringify({ tilt_strength: 0, model_limits: { small: { max_quota_usd: 500 } } }));
  const q = allocateCapital({ equityUsd: 10_000, models: ['small', 'big'], previous: {}, lastChangeAt: {}, now: NOW }, policy);
  assert.equal(q.small, 500);
  assert.equal(q.big, 7500); // the rest of 8000 deployable
});

test('waterFill splits by weight within bounds and scales infeasible floors', () => {
  assert.deepEqual(waterFill(100, [1, 1], [0, 0], [1000, 1000]), [50, 50]);
  assert.deepEqual(waterFill(100, [1, 3], [40, 0], [1000, 1000]), [40, 60]);
  assert.deepEqual(waterFill(100, [1, 1], [80, 80], [1000, 1000]), [50, 50]);
  assert.deepEqual(waterFill(100, [1, 1], [0, 0], [10, 1000]), [10, 90]);
});

test('capital_policy.json is validated key by key', () => {
  assert.throws(() => parseCapitalPolicy('{"tilt_metric": "luck"}'), /tilt_metric/);
  assert.throws(() => parseCapitalPolicy('{"max_step_pct": -1}'), /max_step_pct/);
  assert.throws(() => parseCapitalPolicy('{"model_limits": {"a": {"min_quota_usd": 10, "max_quota_usd": 5}}}'), /model_limits\.a/);
  assert.throws(() => parseCapitalPolicy('{"freeze": true}'), /unknown key "freeze"/);
  assert.throws(() => parseCapitalPolicy('{"freeze_until": "soon"}'), /freeze_until/);
  assert.equal(parseCapitalPolicy('{"freeze_until": "2030-01-01T00:00:00Z"}').freeze_until, '2030-01-01T00:00:00Z');
});

test('the remembered single-model plan is the plan: any run of equities, quotas and times, through freeze and cooldown', () => {
  const stepArb = fc.record({
    // Repeats are what the memory answers: a flat book's equity stays put between fills.
    equity: fc.oneof(fc.constant(null), fc.constant(null), fc.double({ min: -100, max: 100_000, noNaN: true })),
    dtSec: fc.oneof(fc.constantFrom(0, 60, 300), fc.integer({ min: 0, max: 900 })),
  });
  fc.assert(fc.property(policyArb, fc.constantFrom(0, 120, 600), fc.oneof(fc.constant(0), fc.integer({ min: -3600, max: 7200 })), fc.array(stepArb, { minLength: 1, maxLength: 60 }),
    (base, cooldown, freezeInSec, steps) => {
      const policy: CapitalPolicy = { ...base, cooldown_sec: cooldown, freeze_until: freezeInSec === 0 ? null : new Date(NOW + freezeInSec * 1000).toISOString() };
      const memo = new SingleModelAllocation('m', policy);
      let quota = 0;
      let changedAt = 0;
      let equity = 10_000;
      let now = NOW;
      for (const s of steps) {
        if (s.equity !== null) equity = s.equity;
        now += s.dtSec * 1000;
        const previous = quota > 0 ? quota : undefined;
        const want = planAllocation({ equityUsd: equity, models: ['m'], previous: previous === undefined ? {} : { m: previous }, lastChangeAt: { m: changedAt }, now }, policy);
        assert.deepEqual(memo.plan(equity, previous, changedAt, now), want);
        const q = want.quotas.m ?? 0;
        if (q !== quota) changedAt = now;
        quota = q;
      }
    }), { numRuns: 500 });
});

test('a plan made during a cooldown is not the answer once the cooldown is over, at the same equity', () => {
  const policy: CapitalPolicy = { ...DEFAULT_CAPITAL_POLICY, cooldown_sec: 120 };
  const memo = new SingleModelAllocation('m', policy);
  assert.equal(memo.plan(10_000, undefined, 0, NOW).quotas.m, 8000); // new
  assert.equal(memo.plan(12_000, 8000, NOW, NOW + 60_000).reasons.m, 'cooldown');
  const after = memo.plan(12_000, 8000, NOW, NOW + 300_000);
  assert.equal(after.reasons.m, 'target');
  assert.equal(after.quotas.m, 9600);
});
