// The canary rules as a pure decision: who enters canary, who is promoted to live, who is
// demoted or rolled back — and the policy section's validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CANARY_POLICY, decideCanary, parseCanaryPolicy, type CanaryCandidate, type CanaryPolicy } from '../../../src/lifecycle/canaryManager.js';
import { emptyPerformanceState, metricsOf, type PerformanceMetrics } from '../../../src/lifecycle/performance.js';
import { parsePolicies } from '../../../src/ops/policies.js';

const NOW = Date.UTC(2025, 5, 1);
const m0 = metricsOf(emptyPerformanceState());
const figures = (x: Partial<PerformanceMetrics>): PerformanceMetrics => ({ ...m0, ...x });

function cand(id: string, stage: CanaryCandidate['stage'], score: number, x: Partial<CanaryCandidate> = {}): CanaryCandidate {
  return { id, stage, score, windowScore: score, total: figures({ trades: 50, hours: 100 }), window: figures({ trades: 50, hours: 100 }), restorable: null, demotedAt: null, ...x };
}

const policy: CanaryPolicy = {
  ...DEFAULT_CANARY_POLICY,
  enter: { min_trades: 10, min_hours: 24, score_margin: 0.25, max_drawdown_pct: 10 },
  promote: { min_trades: 20, min_hours: 48, score_margin: 0.25, max_drawdown_pct: 8, max_hours: 336 },
  rollback: { min_hours: 1, min_trades: 5, max_drawdown_pct: 12, min_score: null },
};

test('a canary that traded enough, long enough, within its drawdown and beats live by the margin is promoted, replacing live', () => {
  const actions = decideCanary([cand('live1', 'live', 1.0), cand('c', 'canary', 1.3)], policy, NOW);
  assert.deepEqual(actions.map((a) => [a.action, a.model, 'to' in a ? a.to : null]), [['promote', 'c', 'live']]);
  const a = actions[0]!;
  assert.ok(a.action === 'promote' && a.to === 'live' && a.replaces.includes('live1'));
});

test('each promotion condition holds it back on its own', () => {
  const base = [cand('live1', 'live', 1.0)];
  const cases: [string, CanaryCandidate][] = [
    ['margin', cand('c', 'canary', 1.2)],
    ['trades', cand('c', 'canary', 2, { window: figures({ trades: 19, hours: 100 }) })],
    ['hours', cand('c', 'canary', 2, { window: figures({ trades: 50, hours: 47 }) })],
  ];
  for (const [why, c] of cases) assert.deepEqual(decideCanary([...base, c], policy, NOW), [], why);
});

test('a canary past its drawdown cap or its time limit returns to shadow', () => {
  const dd = decideCanary([cand('live1', 'live', 1), cand('c', 'canary', 9, { window: figures({ trades: 50, hours: 100, max_drawdown_pct: 8.5 }) })], policy, NOW);
  assert.deepEqual(dd.map((a) => [a.action, a.model]), [['demote', 'c']]);
  const slow = decideCanary([cand('live1', 'live', 1), cand('c', 'canary', 0, { window: figures({ trades: 5, hours: 400 }) })], policy, NOW);
  assert.deepEqual(slow.map((a) => [a.action, a.model]), [['demote', 'c']]);
});

test('the best eligible shadow model enters canary, one slot at a time, not during its cooldown', () => {
  const ms = [cand('live1', 'live', 1), cand('s1', 'shadow', 1.5), cand('s2', 'shadow', 1.8), cand('s3', 'shadow', 1.1)];
  assert.deepEqual(decideCanary(ms, policy, NOW).map((a) => [a.action, a.model]), [['promote', 's2']]);
  const cooling = ms.map((m) => (m.id === 's2' ? { ...m, demotedAt: NOW - 3600_000 } : m));
  assert.deepEqual(decideCanary(cooling, policy, NOW).map((a) => a.model), ['s1']);
  assert.deepEqual(decideCanary([...ms, cand('c', 'canary', 1.0, { window: figures({ trades: 1, hours: 1 }) })], policy, NOW), [], 'slot taken');
  assert.deepEqual(decideCanary(ms, { ...policy, auto_canary: false }, NOW), []);
  const drawn = ms.map((m) => (m.id === 's2' ? { ...m, total: figures({ trades: 50, hours: 100, max_drawdown_pct: 11 }) } : m));
  assert.deepEqual(decideCanary(drawn, policy, NOW).map((a) => a.model), ['s1']);
});

test('a promoted live model that degrades is rolled back to the model it replaced; without one it only warns', () => {
  const degraded = { window: figures({ trades: 10, hours: 2, max_drawdown_pct: 13 }) };
  const rb = decideCanary([cand('new', 'live', 1, { ...degraded, restorable: 'old' }), cand('old', 'shadow', 0.5)], policy, NOW);
  assert.equal(rb[0]?.action, 'rollback');
  assert.ok(rb[0]?.action === 'rollback' && rb[0].restore === 'old');
  assert.ok(!rb.some((a) => a.action === 'promote' && a.model === 'new'), 'no re-entry of the rolled-back model');
  const alone = decideCanary([cand('orig', 'live', 1, degraded)], policy, NOW);
  assert.deepEqual(alone.map((a) => a.action), ['degraded']);
  const fresh = decideCanary([cand('new', 'live', 1, { window: figures({ trades: 10, hours: 0.5, max_drawdown_pct: 50 }), restorable: 'old' })], policy, NOW);
  assert.deepEqual(fresh, [], 'not before rollback.min_hours');
  const floor = decideCanary([cand('new', 'live', 5, { windowScore: -1, restorable: 'old' })], { ...policy, rollback: { ...policy.rollback, min_score: 0 } }, NOW);
  assert.equal(floor[0]?.action, 'rollback');
});

test('the canary section is validated key by key and defaults fill what is missing', () => {
  const p = parseCanaryPolicy({ promote: { min_trades: 3 }, score_metric: 'sortino' });
  assert.equal(p.promote.min_trades, 3);
  assert.equal(p.promote.min_hours, DEFAULT_CANARY_POLICY.promote.min_hours);
  assert.equal(p.score_metric, 'sortino');
  assert.throws(() => parseCanaryPolicy({ promote: { min_trade: 3 } }), /canary\.promote\.min_trade is not a known key/);
  assert.throws(() => parseCanaryPolicy({ canary_weight: 2 }), /canary\.canary_weight/);
  assert.throws(() => parseCanaryPolicy({ canary_weight: 0.5, live_weight: 0.2 }), /must not exceed/);
  assert.throws(() => parseCanaryPolicy({ score_metric: 'vibes' }), /score_metric/);
  assert.throws(() => parseCanaryPolicy({ rollback: { min_score: 'low' } }), /rollback\.min_score/);
  assert.throws(() => parsePolicies('canary:\n  enabled: maybe\n'), /canary\.enabled/);
  assert.equal(parsePolicies('canary: {}\n').canary.live_weight, 1);
});
