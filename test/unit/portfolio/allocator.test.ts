// The capital allocator's pure decision: the deployable ceiling, floors and caps, the step
// limit, cooldown and freeze, probation and the evidence tilt — as properties over random
// inputs, and the allocator loop on a simulated clock under the SHIPPED capital policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { planAllocation, allocateCapital, waterFill, SingleModelAllocation, CapitalAllocator, type ModelStanding } from '../../../src/portfolio/allocator.js';
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
  max_quota_usd: p.min_quota_usd + p.spread, max_step_pct: p.max_step_pct, tilt_strength: p.tilt_strength,
}));

const scenarioArb = fc.record({
  policy: policyArb,
  n: fc.integer({ min: 1, max: 8 }),
  equity: fc.double({ min: -1000, max: 1e6, noNaN: true }),
  prevs: fc.array(fc.option(fc.double({ min: 0, max: 60_000, noNaN: true }), { nil: undefined }), { minLength: 8, maxLength: 8 }),
  zs: fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 8, maxLength: 8 }),
});

// Every model proven and live in these properties: the probation rules have their own below.
function inputOf(s: { n: number; equity: number; prevs: (number | undefined)[]; zs: number[] }) {
  const ms = models(s.n);
  const previous: Record<string, number> = {};
  const standings: Record<string, ModelStanding> = {};
  ms.forEach((m, i) => {
    if (s.prevs[i] !== undefined) previous[m] = s.prevs[i]!;
    standings[m] = { live: true, bars: 10_000, trades: 100, sharpeZ: s.zs[i]! };
  });
  return { equityUsd: s.equity, models: ms, previous, lastChangeAt: {}, now: NOW, standings };
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

test('equal shares without tilt or without standings', () => {
  const standings = { good: { live: true, bars: 5000, trades: 50, sharpeZ: 4 }, bad: { live: true, bars: 5000, trades: 50, sharpeZ: -4 } };
  const base = { equityUsd: 10_000, models: ['good', 'bad'], previous: {}, lastChangeAt: {}, now: NOW };
  const flat = allocateCapital({ ...base, standings }, { ...DEFAULT_CAPITAL_POLICY, tilt_strength: 0 });
  assert.equal(flat.good, 4000);
  assert.equal(flat.bad, 4000);
  const none = allocateCapital(base, DEFAULT_CAPITAL_POLICY);
  assert.equal(none.good, 4000);
  assert.equal(none.bad, 4000);
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
  assert.throws(() => parseCapitalPolicy('{"tilt_metric": "sharpe"}'), /tilt_metric is no longer a key/);
  assert.throws(() => parseCapitalPolicy('{"tilt_clip": 3}'), /tilt_clip is no longer a key: no clip/);
  assert.throws(() => parseCapitalPolicy('{"tilt_min_samples": 60}'), /tilt_min_samples is no longer a key: probation\.min_bars/);
  assert.throws(() => parseCapitalPolicy('{"probation": {"quota": 5}}'), /probation\.quota is not a known key/);
  assert.throws(() => parseCapitalPolicy('{"probation": {"min_bars": 2.5}}'), /probation\.min_bars must be an integer/);
  assert.throws(() => parseCapitalPolicy('{"probation": {"quota_usd": -1}}'), /probation\.quota_usd/);
  assert.deepEqual(parseCapitalPolicy('{"probation": {"quota_usd": 500}}').probation, { ...DEFAULT_CAPITAL_POLICY.probation, quota_usd: 500 });
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

// ---- probation and the evidence tilt under the shipped policy -------------------------------

const SHIPPED = parseCapitalPolicy(readFileSync(new URL('../../../ops/capital_policy.json', import.meta.url), 'utf8'));
const LIVE_FRESH: ModelStanding = { live: true, bars: 0, trades: 0, sharpeZ: null };
const UNPROVEN: ModelStanding = { live: false, bars: 0, trades: 0, sharpeZ: null };
const proven = (sharpeZ: number, live = false): ModelStanding => ({ live, bars: 5000, trades: 100, sharpeZ });

test('the shipped capital policy is the defaults', () => {
  assert.deepEqual(SHIPPED, DEFAULT_CAPITAL_POLICY);
  assert.ok(SHIPPED.probation.quota_usd > 0 && SHIPPED.tilt_strength > 0);
});

test('a freshly trained shadow model gets the probation quota, and the live model keeps its size (the train-hmm case)', () => {
  // Before: MA live, the bootstrap HMM and the ensemble in shadow, all still collecting evidence.
  const standings: Record<string, ModelStanding> = { ma: LIVE_FRESH, hmm: UNPROVEN, ens: UNPROVEN };
  const first = planAllocation({ equityUsd: 10_000, models: ['ma', 'hmm', 'ens'], previous: {}, lastChangeAt: {}, now: NOW, standings }, SHIPPED);
  assert.deepEqual(first.quotas, { ma: 6000, hmm: 1000, ens: 1000 });
  // Later: the MA is losing (negative evidence) when `hmm train-hmm` registers hmm_v2 in shadow.
  const later = { ...standings, ma: proven(-2, true), hmm: proven(1), ens: proven(0.5), hmm_v2: UNPROVEN };
  const before = planAllocation({ equityUsd: 10_000, models: ['ma', 'hmm', 'ens'], previous: first.quotas, lastChangeAt: {}, now: NOW, standings: later }, SHIPPED);
  const after = planAllocation({ equityUsd: 10_000, models: ['ma', 'hmm', 'ens', 'hmm_v2'], previous: before.quotas, lastChangeAt: {}, now: NOW + 5000, standings: later }, SHIPPED);
  const without = planAllocation({ equityUsd: 10_000, models: ['ma', 'hmm', 'ens'], previous: before.quotas, lastChangeAt: {}, now: NOW + 5000, standings: later }, SHIPPED);
  assert.equal(after.reasons.hmm_v2, 'new');
  assert.ok(after.quotas.hmm_v2! <= SHIPPED.probation.quota_usd, JSON.stringify(after.quotas));
  assert.ok(after.quotas.hmm_v2! <= after.quotas.ma!, 'never above the live model');
  // What the new model costs the live one is at most its share of the probation quota (1,000
  // of 8,000 deployable), never the quarter the Sharpe-clip tilt took.
  assert.ok(after.quotas.ma! >= without.quotas.ma! * (1 - 1000 / 8000) - 0.01, `the live model's quota fell from ${without.quotas.ma} to ${after.quotas.ma}`);
  assert.ok(after.targets.ma! >= without.targets.ma! * (1 - 1000 / 8000) - 0.01);
});

test('a model on probation never gets more than the probation quota or a live model, whatever else holds (property)', () => {
  const standingArb = fc.record({
    live: fc.boolean(), bars: fc.integer({ min: 0, max: 1000 }), trades: fc.integer({ min: 0, max: 20 }),
    sharpeZ: fc.option(fc.double({ min: -30, max: 30, noNaN: true }), { nil: null }),
  });
  fc.assert(fc.property(scenarioArb, fc.array(standingArb, { minLength: 8, maxLength: 8 }), fc.boolean(), (s, sts, frozen) => {
    const base = inputOf(s);
    const standings = Object.fromEntries(base.models.map((m, i) => [m, sts[i]!]));
    const policy: CapitalPolicy = { ...s.policy, probation: SHIPPED.probation, freeze_until: frozen ? new Date(NOW + 60_000).toISOString() : null };
    const plan = planAllocation({ ...base, standings }, policy);
    const liveQuotas = base.models.filter((m) => standings[m]!.live).map((m) => plan.quotas[m]!);
    const total = Object.values(plan.quotas).reduce((a, b) => a + b, 0);
    assert.ok(total <= Math.max(0, s.equity) * policy.max_deployable_frac + 0.01);
    for (const m of base.models) {
      const st = standings[m]!;
      if (st.live || (st.bars >= policy.probation.min_bars && st.trades >= policy.probation.min_trades)) continue;
      assert.ok(plan.quotas[m]! <= policy.probation.quota_usd + 1e-9, `${m}: ${plan.quotas[m]} above probation`);
      for (const q of liveQuotas) assert.ok(plan.quotas[m]! <= q + 1e-9, `${m}: ${plan.quotas[m]} above a live model's ${q}`);
    }
  }), { numRuns: 500 });
});

test('two models with different evidence get different quotas — no clip makes strong models equal; equal evidence, equal quotas', () => {
  const plan = (a: number, b: number) => planAllocation({ equityUsd: 10_000, models: ['a', 'b'], previous: {}, lastChangeAt: {}, now: NOW, standings: { a: proven(a, true), b: proven(b) } }, SHIPPED).quotas;
  // Both far beyond the old ±3 clip of the Sharpe tilt, which made them equal.
  const strong = plan(6, 12);
  assert.ok(strong.b! > strong.a! * 2, JSON.stringify(strong));
  const weak = plan(-2, 2);
  assert.ok(weak.b! > weak.a!, JSON.stringify(weak));
  assert.ok(strong.b! > weak.b!, 'more evidence of a better model, more capital');
  const same = plan(3, 3);
  assert.equal(same.a, same.b);
});

test('a live model with less evidence than probation asks keeps its neutral share; with the minimum, its evidence moves it', () => {
  const live = (bars: number, trades: number) => planAllocation({ equityUsd: 10_000, models: ['live', 'p1', 'p2'], previous: {}, lastChangeAt: {}, now: NOW, standings: { live: { live: true, bars, trades, sharpeZ: -1.6 }, p1: UNPROVEN, p2: UNPROVEN } }, SHIPPED).quotas;
  // Twenty bars of fees: no verdict yet (a fresh npm start's first minutes).
  assert.equal(live(20, 2).live, 6000);
  assert.equal(live(SHIPPED.probation.min_bars - 1, 50).live, 6000);
  // The counterpart: the same z with the minimum evidence forfeits part of its share.
  assert.ok(Math.abs(live(SHIPPED.probation.min_bars, SHIPPED.probation.min_trades).live! - 6000 * Math.exp(0.25 * -1.6)) < 0.01);
});

test('what losses forfeit stays as cash: with every model losing, the least loser is not funded like a winner; with any neutral or winning majority, everything deployable is shared', () => {
  const plan = (zs: Record<string, number>) => planAllocation({ equityUsd: 10_000, models: Object.keys(zs), previous: {}, lastChangeAt: {}, now: NOW, standings: Object.fromEntries(Object.entries(zs).map(([m, z], i) => [m, proven(z, i === 0)])) }, SHIPPED);
  const total = (q: Record<string, number>) => Object.values(q).reduce((a, b) => a + b, 0);
  const evenShare = 8000 / 4;
  // No edge anywhere: every model shows losses (fees). Each holds its neutral share times what
  // its evidence is worth (exp(0.25 z) < 1) — none above the even split, the rest undeployed.
  const losing = plan({ live: -4, a: -6, b: -1, c: -0.5 });
  assert.ok(total(losing.quotas) < 8000 - 1000, `deployed ${total(losing.quotas)} of 8,000 while every model loses`);
  for (const [m, q] of Object.entries(losing.quotas)) assert.ok(q < evenShare, `${m}: ${q} above the even split ${evenShare} while losing`);
  assert.ok(Math.abs(losing.quotas.c! - evenShare * Math.exp(0.25 * -0.5)) < 0.01, JSON.stringify(losing.quotas));
  assert.ok(losing.quotas.c! > losing.quotas.b! && losing.quotas.b! > losing.quotas.live!, 'still ranked by evidence');
  // The counterparts: neutral evidence deploys everything, evenly; one winner among losers
  // takes more than the even split, and the losers still forfeit theirs.
  const neutral = plan({ live: 0, a: 0, b: 0, c: 0 });
  assert.ok(Math.abs(total(neutral.quotas) - 8000) < 0.05, JSON.stringify(neutral.quotas));
  const oneWinner = plan({ live: -6, a: -6, b: -2, c: 4 });
  assert.ok(Math.abs(oneWinner.quotas.c! - evenShare * Math.exp(1)) < 0.01, JSON.stringify(oneWinner.quotas));
  assert.ok(total(oneWinner.quotas) < 8000 - 400, 'the winner takes what its evidence is worth, not the losers\' forfeit');
  const strongWinner = plan({ live: -1, a: -1, b: -1, c: 12 });
  assert.ok(Math.abs(total(strongWinner.quotas) - 8000) < 0.05, 'evidence worth more than the shares there are: everything at work');
  // Beside models on probation (held at 1,000 each), a live model's neutral share is all they
  // leave (as at a fresh start: 6,000 of 8,000 with two), and losing evidence forfeits part of it.
  const withProbation = (z: number) => planAllocation({ equityUsd: 10_000, models: ['live', 'p1', 'p2', 'p3'], previous: {}, lastChangeAt: {}, now: NOW, standings: { live: proven(z, true), p1: UNPROVEN, p2: UNPROVEN, p3: UNPROVEN } }, SHIPPED).quotas;
  assert.deepEqual(withProbation(0), { live: 5000, p1: 1000, p2: 1000, p3: 1000 });
  const losingLive = withProbation(-2);
  assert.ok(Math.abs(losingLive.live! - 5000 * Math.exp(-0.5)) < 0.01, JSON.stringify(losingLive));
  assert.deepEqual([losingLive.p1, losingLive.p2, losingLive.p3], [1000, 1000, 1000], 'probation quotas stay below the live model\'s');
});

test('the allocator loop on a simulated clock: a model with strong evidence gains quota step by step, within the step limit and the cooldown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-alloc-'));
  try {
    const clock = new SimClock(NOW);
    const policy: CapitalPolicy = { ...SHIPPED, cooldown_sec: 60 };
    let standings: Record<string, ModelStanding> = { live: LIVE_FRESH, cand: UNPROVEN };
    const quotas: { t: number; live: number; cand: number }[] = [];
    const alloc = new CapitalAllocator(join(dir, 'alloc.json'), () => policy, () => ['live', 'cand'], async () => 10_000, silentLogger(), null, { standings: () => standings, clock });
    alloc.start();
    const tick = async (sec: number) => {
      clock.advanceBy(sec * 1000);
      await new Promise((r) => setImmediate(r));
      quotas.push({ t: (clock.now() - NOW) / 1000, live: alloc.quota('live'), cand: alloc.quota('cand') });
    };
    await tick(0);
    assert.equal(alloc.quota('cand'), 1000, 'probation');
    assert.equal(alloc.quota('live'), 7000);
    // The candidate earns strong evidence; the live model's stays neutral.
    standings = { live: proven(0, true), cand: proven(8) };
    for (let i = 0; i < 150; i++) await tick(policy.refresh_sec);
    const changes = quotas.filter((q, i) => i > 0 && q.cand !== quotas[i - 1]!.cand);
    assert.ok(changes.length >= 3, `moved in ${changes.length} steps`);
    for (let i = 1; i < quotas.length; i++) {
      const prev = quotas[i - 1]!;
      const q = quotas[i]!;
      if (q.cand === prev.cand) continue;
      assert.ok(q.cand <= prev.cand * (1 + policy.max_step_pct) + 0.01, `step ${prev.cand} → ${q.cand} beyond max_step_pct`);
      const lastChange = changes.findIndex((c) => c === q);
      if (lastChange > 0) assert.ok(q.t - changes[lastChange - 1]!.t >= policy.cooldown_sec, 'a change within the cooldown (clock seconds)');
    }
    const end = quotas.at(-1)!;
    assert.ok(end.cand > end.live * 2, `evidence moved most capital to the candidate: ${JSON.stringify(end)}`);
    assert.ok(end.cand + end.live <= 8000 + 0.01);
    const file = JSON.parse(readFileSync(join(dir, 'alloc.json'), 'utf8')) as { ts: string };
    assert.equal(file.ts, new Date(clock.now()).toISOString(), 'files are stamped with the clock');
    alloc.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
