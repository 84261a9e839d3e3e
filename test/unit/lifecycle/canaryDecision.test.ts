// The canary rules as a pure decision under the SHIPPED policy (ops/policies.yaml as in the
// repo): who enters canary, who is promoted to live, who is demoted or rolled back — judged on
// seeded synthetic evidence in market time, with a counterpart that must not fire for each
// rule — and the policy section's validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../../src/core/random.js';
import { decideCanary, edgeVerdict, requiredProbability, type CanaryAction, type CanaryCandidate, type CandidateStage } from '../../../src/lifecycle/canaryDecision.js';
import { DEFAULT_CANARY_POLICY, parseCanaryPolicy, type CanaryPolicy } from '../../../src/lifecycle/canaryPolicy.js';
import { addObservation, emptyMoments, type ModelEvidence, type Moments } from '../../../src/lifecycle/evidence.js';
import { parsePolicies } from '../../../src/ops/policies.js';

const SHIPPED: CanaryPolicy = parsePolicies(readFileSync(new URL('../../../ops/policies.yaml', import.meta.url), 'utf8')).canary;
const T0 = Date.UTC(2025, 5, 1);
const BAR_MS = 60_000; // the stack's default bar: one market minute
const HOUR = 3_600_000;

test('the shipped canary section is the defaults, and they are reachable in an hour of a paper stack', () => {
  assert.deepEqual(SHIPPED, DEFAULT_CANARY_POLICY);
  // An hour of wall clock at 1 bar/s is 60 market hours; entering and promotion need 36 of them.
  assert.ok(SHIPPED.enter.min_market_hours + SHIPPED.promote.min_market_hours <= 40);
  assert.ok(SHIPPED.confidence >= 0.95);
});

// ---- a seeded lifecycle: bars in market time, evidence per stage window ---------------------

interface SimModel {
  id: string;
  stage: CandidateStage;
  /** Mean per-bar return net of fees; every model has the same per-bar volatility. */
  drift: number;
  bars: number;
  trades: number;
  firstTs: number | null;
  lastTs: number;
  returns: Moments;
  vsLive: Moments;
  index: number;
  peak: number;
  maxDd: number;
  stageSince: number;
  restorable: string | null;
  demotedAt: number | null;
}

function model(id: string, stage: CandidateStage, drift: number): SimModel {
  return { id, stage, drift, bars: 0, trades: 0, firstTs: null, lastTs: T0, returns: emptyMoments(), vsLive: emptyMoments(), index: 1, peak: 1, maxDd: 0, stageSince: T0, restorable: null, demotedAt: null };
}

function newStage(m: SimModel, stage: CandidateStage, now: number): void {
  Object.assign(m, { stage, bars: 0, trades: 0, firstTs: null, returns: emptyMoments(), vsLive: emptyMoments(), index: 1, peak: 1, maxDd: 0, stageSince: now });
}

const evidenceOf = (m: SimModel): ModelEvidence | null =>
  m.bars === 0 ? null : { bars: m.bars, trades: m.trades, marketMs: m.lastTs - (m.firstTs ?? m.lastTs), returns: m.returns, vsLive: m.vsLive };

const candidateOf = (m: SimModel): CanaryCandidate => ({
  id: m.id, stage: m.stage, evidence: evidenceOf(m), drawdownPct: m.maxDd * 100, stageSince: m.stageSince, restorable: m.restorable, demotedAt: m.demotedAt,
});

const SIGMA = 0.001; // per-bar volatility of every model's return on its capital

interface Run {
  readonly actions: { ts: number; a: CanaryAction }[];
  readonly models: Map<string, SimModel>;
  at(action: string, model: string, to?: string): number | null;
}

/**
 * Runs `hours` of market time bar by bar; every `evalEveryBars` (a paper stack at 1 bar/s
 * evaluating every 30 s) the decision runs on the clock (= the bar time) and its actions are
 * applied as the manager applies them: a stage change starts a new evidence window.
 */
function runLifecycle(seed: number, models: SimModel[], hours: number, policy = SHIPPED, evalEveryBars = 30, tradeEveryBars = 20): Run {
  const rng = new Rng(seed);
  const byId = new Map(models.map((m) => [m.id, m]));
  const actions: { ts: number; a: CanaryAction }[] = [];
  const bars = Math.round((hours * HOUR) / BAR_MS);
  for (let i = 1; i <= bars; i++) {
    const ts = T0 + i * BAR_MS;
    const r = new Map(models.map((m) => [m.id, m.drift + SIGMA * rng.normal()]));
    const liveR = models.find((m) => m.stage === 'live');
    for (const m of models) {
      const x = r.get(m.id)!;
      m.bars++;
      m.firstTs ??= ts;
      m.lastTs = ts;
      if (i % tradeEveryBars === 0) m.trades++;
      addObservation(m.returns, x);
      if (liveR && liveR !== m) addObservation(m.vsLive, x - r.get(liveR.id)!);
      m.index *= 1 + x;
      m.peak = Math.max(m.peak, m.index);
      m.maxDd = Math.max(m.maxDd, (m.peak - m.index) / m.peak);
    }
    if (i % evalEveryBars !== 0) continue;
    for (const a of decideCanary(models.map(candidateOf), policy, ts)) {
      actions.push({ ts, a });
      const m = byId.get(a.model)!;
      if (a.action === 'promote' && a.to === 'live') {
        for (const old of a.replaces) newStage(byId.get(old)!, 'shadow', ts);
        newStage(m, 'live', ts);
        m.restorable = a.replaces[0] ?? null;
      } else if (a.action === 'promote') newStage(m, 'canary', ts);
      else if (a.action === 'demote') { newStage(m, 'shadow', ts); m.demotedAt = ts; }
      else if (a.action === 'rollback') { newStage(m, 'shadow', ts); m.demotedAt = ts; newStage(byId.get(a.restore)!, 'live', ts); }
    }
  }
  return {
    actions, models: byId,
    at: (action, id, to) => actions.find(({ a }) => a.action === action && a.model === id && (to === undefined || ('to' in a && a.to === to)))?.ts ?? null,
  };
}

// A per-bar edge of 0.12 σ·√2 over live: a model whose daily Sharpe is strong but whose every
// single bar is mostly noise, as an HMM that reads the regime right more often than not.
const EDGE = 0.12 * SIGMA * Math.SQRT2;
const SEEDS = Array.from({ length: 20 }, (_, i) => 1000 + i);

test('a candidate with a real edge enters canary, then is promoted to live, within 60 market hours — on every one of 20 seeds', () => {
  for (const seed of SEEDS) {
    const run = runLifecycle(seed, [model('ma', 'live', 0), model('hmm', 'shadow', EDGE)], 60);
    const entered = run.at('promote', 'hmm', 'canary');
    const promoted = run.at('promote', 'hmm', 'live');
    assert.ok(entered !== null, `seed ${seed}: never entered canary`);
    assert.ok(entered! - T0 >= SHIPPED.enter.min_market_hours * HOUR, `seed ${seed}: entered before the minimum market time`);
    assert.ok(promoted !== null, `seed ${seed}: never promoted`);
    assert.ok(promoted! - entered! >= SHIPPED.promote.min_market_hours * HOUR, `seed ${seed}: promoted before the canary's minimum market time`);
    assert.equal(run.models.get('hmm')!.stage, 'live');
    assert.equal(run.models.get('ma')!.stage, 'shadow');
    assert.equal(run.models.get('hmm')!.restorable, 'ma');
    const live = run.actions.find(({ a }) => a.action === 'promote' && a.to === 'live')!.a;
    assert.match(live.reason, /P\(beats live\) [01]\.\d+ ≥ 0\.\d+ required after \d+ bars/);
  }
});

test('the same seeds with no edge (zero drift): nothing enters canary or is promoted in 60 market hours', () => {
  for (const seed of SEEDS) {
    const run = runLifecycle(seed, [model('ma', 'live', 0), model('hmm', 'shadow', 0)], 60);
    assert.equal(run.at('promote', 'hmm', 'live'), null, `seed ${seed}: a model with no edge was promoted`);
  }
});

test('false promotions over a week of market time stay within what the confidence implies (40 seeds)', () => {
  // Pass rule: with confidence 0.95 a no-edge model may be promoted with a chance of at most
  // 5 % per run; over 40 independent seeded runs that is at most 6 promotions (a true rate of
  // 5 % gives 7 or more only 0.4 % of the time). Each run is a week of minute bars, evaluated
  // every 30 bars (about 336 looks), with two no-edge candidates competing for the canary slot.
  let promoted = 0;
  let entered = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const run = runLifecycle(seed, [model('ma', 'live', 0), model('a', 'shadow', 0), model('b', 'shadow', 0)], 7 * 24);
    if (run.actions.some(({ a }) => a.action === 'promote' && a.to === 'live')) promoted++;
    if (run.actions.some(({ a }) => a.action === 'promote' && a.to === 'canary')) entered++;
  }
  assert.ok(promoted <= 6, `${promoted} of 40 no-edge runs promoted a model to live`);
  assert.ok(entered <= 12, `${entered} of 40 no-edge runs put a model in canary`);
});

test('the bar rises with looks: a fixed 0.95 is not enough, and the required probability grows only with the log of the bars', () => {
  assert.ok(requiredProbability(720, 0.95) > 0.995);
  assert.ok(requiredProbability(20_160, 0.95) > requiredProbability(3600, 0.95));
  assert.ok(requiredProbability(20_160, 0.95) < 0.9995);
  const m = emptyMoments();
  for (const x of [1, -1, 1, -1]) addObservation(m, x);
  assert.equal(edgeVerdict(m, 0.95).beats, false);
  assert.equal(edgeVerdict(emptyMoments(), 0.95).probability, null);
});

// ---- each rule and its counterpart on hand-made evidence -----------------------------------

/** Evidence over `hours` of minute bars whose per-bar difference against live has mean `edge` (in σ). */
function evidence(hours: number, trades: number, edge: number, seed = 7): ModelEvidence {
  const rng = new Rng(seed);
  const returns = emptyMoments();
  const vsLive = emptyMoments();
  const bars = Math.round((hours * HOUR) / BAR_MS);
  for (let i = 0; i < bars; i++) {
    const diff = edge * SIGMA + SIGMA * rng.normal();
    addObservation(vsLive, diff);
    addObservation(returns, diff / 2 + SIGMA * rng.normal());
  }
  return { bars, trades, marketMs: (bars - 1) * BAR_MS, returns, vsLive };
}

const NOW = T0 + 30 * 24 * HOUR;
function cand(id: string, stage: CandidateStage, ev: ModelEvidence | null, x: Partial<CanaryCandidate> = {}): CanaryCandidate {
  return { id, stage, evidence: ev, drawdownPct: 1, stageSince: NOW - 48 * HOUR, restorable: null, demotedAt: null, ...x };
}
const liveMa = cand('ma', 'live', evidence(48, 100, 0));
const strong = (hours: number, trades = 50) => evidence(hours, trades, 0.3);

test('entering canary needs the minimum market time, the minimum trades, a drawdown within the cap and a significant edge', () => {
  assert.deepEqual(decideCanary([liveMa, cand('hmm', 'shadow', strong(13))], SHIPPED, NOW).map((a) => [a.action, a.model, 'to' in a ? a.to : null]), [['promote', 'hmm', 'canary']]);
  const cases: [string, CanaryCandidate][] = [
    ['market time', cand('hmm', 'shadow', strong(11))],
    ['trades', cand('hmm', 'shadow', strong(13, 9))],
    ['drawdown', cand('hmm', 'shadow', strong(13), { drawdownPct: 10.5 })],
    ['no edge', cand('hmm', 'shadow', evidence(13, 50, 0))],
    ['no evidence', cand('hmm', 'shadow', null)],
    ['cooldown on the clock', cand('hmm', 'shadow', strong(13), { demotedAt: NOW - 5 * HOUR })],
  ];
  for (const [why, c] of cases) assert.deepEqual(decideCanary([liveMa, c], SHIPPED, NOW), [], why);
  // The cooldown is over after cooldown_hours of the clock.
  assert.equal(decideCanary([liveMa, cand('hmm', 'shadow', strong(13), { demotedAt: NOW - 6 * HOUR })], SHIPPED, NOW).length, 1);
  assert.deepEqual(decideCanary([liveMa, cand('hmm', 'shadow', strong(13))], { ...SHIPPED, auto_canary: false }, NOW), []);
});

test('the strongest eligible shadow model enters canary, one slot at a time', () => {
  const ms = [liveMa, cand('s1', 'shadow', evidence(13, 50, 0.2)), cand('s2', 'shadow', evidence(13, 50, 0.4)), cand('s3', 'shadow', evidence(13, 50, 0))];
  assert.deepEqual(decideCanary(ms, SHIPPED, NOW).map((a) => [a.action, a.model]), [['promote', 's2']]);
  assert.deepEqual(decideCanary([...ms, cand('c', 'canary', evidence(1, 1, 0))], SHIPPED, NOW), [], 'slot taken');
});

test('a canary is promoted to live on its canary evidence, replacing live; each condition holds it back on its own', () => {
  const actions = decideCanary([liveMa, cand('c', 'canary', strong(25))], SHIPPED, NOW);
  assert.deepEqual(actions.map((a) => [a.action, a.model, 'to' in a ? a.to : null]), [['promote', 'c', 'live']]);
  assert.ok(actions[0]!.action === 'promote' && actions[0]!.to === 'live' && actions[0]!.replaces.includes('ma'));
  const cases: [string, CanaryCandidate][] = [
    ['market time', cand('c', 'canary', strong(23))],
    ['trades', cand('c', 'canary', strong(25, 9))],
    ['no edge', cand('c', 'canary', evidence(25, 50, 0.02))],
  ];
  for (const [why, c] of cases) assert.deepEqual(decideCanary([liveMa, c], SHIPPED, NOW), [], why);
});

test('a canary returns to shadow past its drawdown cap, after max_hours on the clock, or when live significantly beats it', () => {
  const dd = decideCanary([liveMa, cand('c', 'canary', strong(25), { drawdownPct: 8.5 })], SHIPPED, NOW);
  assert.deepEqual(dd.map((a) => [a.action, a.model]), [['demote', 'c']]);
  const slow = decideCanary([liveMa, cand('c', 'canary', evidence(5, 5, 0), { stageSince: NOW - 337 * HOUR })], SHIPPED, NOW);
  assert.deepEqual(slow.map((a) => [a.action, a.model]), [['demote', 'c']]);
  assert.deepEqual(decideCanary([liveMa, cand('c', 'canary', evidence(5, 5, 0), { stageSince: NOW - 335 * HOUR })], SHIPPED, NOW), [], 'within max_hours');
  const worse = decideCanary([liveMa, cand('c', 'canary', evidence(25, 50, -0.3))], SHIPPED, NOW);
  assert.deepEqual(worse.map((a) => [a.action, a.model]), [['demote', 'c']]);
  assert.match(worse[0]!.reason, /live beats it/);
});

test('a promoted live model is rolled back when the model it replaced significantly beats it, or past its drawdown cap', () => {
  // The replaced model's vsLive covers the bars since the promotion (its shadow window).
  const under = decideCanary([cand('new', 'live', evidence(6, 20, 0), { restorable: 'old' }), cand('old', 'shadow', evidence(6, 20, 0.4))], SHIPPED, NOW);
  assert.deepEqual(under.map((a) => [a.action, a.model]), [['rollback', 'new']]);
  assert.ok(under[0]!.action === 'rollback' && under[0]!.restore === 'old');
  assert.ok(!under.some((a) => a.action === 'promote' && a.model === 'new'), 'no re-entry of the rolled-back model');
  // Counterparts: the replaced model is no better; the rule waits for its minimum evidence.
  assert.deepEqual(decideCanary([cand('new', 'live', evidence(6, 20, 0), { restorable: 'old' }), cand('old', 'shadow', evidence(6, 20, 0))], SHIPPED, NOW), []);
  assert.deepEqual(decideCanary([cand('new', 'live', evidence(0.5, 20, 0), { restorable: 'old', drawdownPct: 50 }), cand('old', 'shadow', evidence(0.5, 20, 0.4))], SHIPPED, NOW), [], 'before rollback.min_market_hours');
  assert.deepEqual(decideCanary([cand('new', 'live', evidence(6, 4, 0), { restorable: 'old', drawdownPct: 50 })], SHIPPED, NOW), [], 'before rollback.min_trades');
  const dd = decideCanary([cand('new', 'live', evidence(6, 20, 0), { restorable: 'old', drawdownPct: 13 }), cand('old', 'shadow', evidence(6, 20, 0))], SHIPPED, NOW);
  assert.deepEqual(dd.map((a) => a.action), ['rollback']);
  const alone = decideCanary([cand('orig', 'live', evidence(6, 20, 0), { drawdownPct: 13 })], SHIPPED, NOW);
  assert.deepEqual(alone.map((a) => a.action), ['degraded']);
});

test('a live model that under-performs after its promotion is rolled back in a seeded run; one that keeps its edge is not', () => {
  for (const seed of SEEDS.slice(0, 10)) {
    const worse = [model('new', 'live', 0), model('old', 'shadow', EDGE)];
    worse[0]!.restorable = 'old';
    const run = runLifecycle(seed, worse, 60);
    assert.ok(run.at('rollback', 'new') !== null, `seed ${seed}: no rollback`);
    assert.equal(run.models.get('old')!.stage, 'live');
    const fine = [model('new', 'live', EDGE), model('old', 'shadow', 0)];
    fine[0]!.restorable = 'old';
    assert.equal(runLifecycle(seed, fine, 60).at('rollback', 'new'), null, `seed ${seed}: rolled back a better model`);
  }
});

test('the canary section is validated key by key, defaults fill what is missing, and replaced keys say what replaced them', () => {
  const p = parseCanaryPolicy({ promote: { min_trades: 3 }, score_metric: 'sortino', confidence: 0.99 });
  assert.equal(p.promote.min_trades, 3);
  assert.equal(p.promote.min_market_hours, DEFAULT_CANARY_POLICY.promote.min_market_hours);
  assert.equal(p.score_metric, 'sortino');
  assert.equal(p.confidence, 0.99);
  assert.throws(() => parseCanaryPolicy({ promote: { min_trade: 3 } }), /canary\.promote\.min_trade is not a known key/);
  assert.throws(() => parseCanaryPolicy({ promote: { min_hours: 3 } }), /canary\.promote\.min_hours is no longer a key: use min_market_hours/);
  assert.throws(() => parseCanaryPolicy({ enter: { score_margin: 0.25 } }), /canary\.enter\.score_margin is no longer a key: use canary\.confidence/);
  assert.throws(() => parseCanaryPolicy({ rollback: { min_score: 0 } }), /canary\.rollback\.min_score is no longer a key/);
  assert.throws(() => parseCanaryPolicy({ enter: { max_hours: 3 } }), /canary\.enter\.max_hours is not a known key/);
  assert.throws(() => parseCanaryPolicy({ confidence: 0.4 }), /canary\.confidence/);
  assert.throws(() => parseCanaryPolicy({ canary_weight: 2 }), /canary\.canary_weight/);
  assert.throws(() => parseCanaryPolicy({ canary_weight: 0.5, live_weight: 0.2 }), /must not exceed/);
  assert.throws(() => parseCanaryPolicy({ score_metric: 'vibes' }), /score_metric/);
  assert.throws(() => parsePolicies('canary:\n  enabled: maybe\n'), /canary\.enabled/);
  assert.equal(parsePolicies('canary: {}\n').canary.live_weight, 1);
});

test('beating a live model that bleeds fees is not enough: the candidate must also earn on its own (and one that does enters canary)', () => {
  // Pass rule: 2,000 minute bars (33 market hours, 40 trades). Live loses 0.05 % a bar to fees;
  // a candidate that earns nothing "beats" it by the same margin and must NOT enter canary; a
  // candidate that earns 0.05 % a bar while live earns nothing must.
  const run = (liveDrift: number, candDrift: number): CanaryAction[] => {
    const rng = new Rng(3);
    const live = emptyMoments();
    const own = emptyMoments();
    const diff = emptyMoments();
    for (let i = 0; i < 2_000; i++) {
      const l = liveDrift + SIGMA * rng.normal();
      const c = candDrift + SIGMA * rng.normal();
      addObservation(live, l);
      addObservation(own, c);
      addObservation(diff, c - l);
    }
    const ev = (returns: Moments, vsLive: Moments): ModelEvidence => ({ bars: 2_000, trades: 40, marketMs: 2_000 * BAR_MS, returns, vsLive });
    const now = T0 + 2_000 * BAR_MS;
    return decideCanary([
      { id: 'live', stage: 'live', evidence: ev(live, emptyMoments()), drawdownPct: 0, stageSince: T0, restorable: null, demotedAt: null },
      { id: 'cand', stage: 'shadow', evidence: ev(own, diff), drawdownPct: 0, stageSince: T0, restorable: null, demotedAt: null },
    ], SHIPPED, now);
  };
  assert.equal(edgeVerdict((() => { const d = emptyMoments(); const r = new Rng(3); for (let i = 0; i < 2_000; i++) addObservation(d, 0.0005 + SIGMA * Math.SQRT2 * r.normal()); return d; })(), SHIPPED.confidence).beats, true, 'the edge over live alone would pass');
  assert.deepEqual(run(-0.0005, 0).filter((a) => a.action === 'promote'), []);
  assert.ok(run(0, 0.0005).some((a) => a.action === 'promote' && a.model === 'cand' && a.to === 'canary'));
});
