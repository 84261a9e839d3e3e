// The canary lifecycle under the SHIPPED canary rules (ops/policies.yaml as in the repo, never
// a loosened copy). On a running stack: the probation quotas of a fresh root, POST
// /strategy/promote's input checks, a manual
// promotion to canary that the rules do not carry further without evidence, and a manual
// promotion to live with its weights, registry, log line, event and history. On the canary
// manager itself, with the real registry and weights files, on a simulated clock with seeded
// evidence in market time: a candidate with an edge enters canary and is promoted to live by
// the manager, then rolled back when the model it replaced beats it — and the same run with no
// edge promotes nothing.
//
// Not yet on the whole stack on a simulated clock: that needs the stack's `clock` start
// option, a bar feed driven by it, the tracker's evidence() and a synthetic market with a
// planted edge, which other parts of the redesign bring; the manager part below runs the same
// shell and decision the stack runs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';
import { InProcessBus } from '../../src/bus/bus.js';
import { SimClock } from '../../src/core/clock.js';
import { fx } from '../../src/core/decimal.js';
import { Rng } from '../../src/core/random.js';
import { CanaryManager } from '../../src/lifecycle/canaryManager.js';
import { parseCanaryPolicy } from '../../src/lifecycle/canaryPolicy.js';
import { addObservation, emptyMoments, type ModelEvidence, type Moments } from '../../src/lifecycle/evidence.js';
import type { ShadowBook } from '../../src/lifecycle/shadowBook.js';
import { StrategyRegistry } from '../../src/lifecycle/strategyRegistry.js';
import type { StrategyTracker } from '../../src/lifecycle/strategyTracker.js';
import { createLogger, silentLogger } from '../../src/obs/logger.js';
import { tokenFingerprint } from '../../src/ops/auth.js';
import { parsePolicies } from '../../src/ops/policies.js';
import { parseCapitalPolicy } from '../../src/portfolio/capitalPolicy.js';
import { StrategyWeights } from '../../src/portfolio/strategyWeights.js';
import { maSpec } from '../../src/strategy/modelSpec.js';

const SHIPPED = parsePolicies(readFileSync(new URL('../../ops/policies.yaml', import.meta.url), 'utf8')).canary;

const TOKEN = 'test-token-0123456789abcdef';
let tmp: string;
let stack: Stack;
const events: Record<string, unknown>[] = [];

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hmm-canary-'));
  // No ops/policies.yaml of its own: the stack copies the shipped one.
  stack = await startStack({ env: { HMM_ROOT: tmp, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' }, stdout: false });
  stack.bus.subscribe('strategy.promoted', (e) => { events.push(e); });
});

after(async () => {
  await stack?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function api(method: 'GET' | 'POST', path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(stack.opsUrl + path, {
    method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-ops-token': token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const HMM = 'hmm_regime_v1';
const MA = 'ma_crossover_v1';
type Row = { model: string; stage: string; score: number; weight: number };

test('the stack runs the shipped canary rules', () => {
  assert.deepEqual(stack.context.policies.current.canary, SHIPPED);
  assert.deepEqual(parsePolicies(readFileSync(join(tmp, 'ops/policies.yaml'), 'utf8')).canary, SHIPPED);
});

test('on a fresh stack under the shipped capital policy, the shadow models hold the probation quota and the live model the rest', async () => {
  const policy = parseCapitalPolicy(readFileSync(new URL('../../ops/capital_policy.json', import.meta.url), 'utf8'));
  assert.deepEqual(stack.context.capitalPolicy.current, policy);
  const alloc = JSON.parse(readFileSync(join(tmp, 'ops/capital_allocations.json'), 'utf8')) as { capital_quota_usd: Record<string, number>; reasons: Record<string, string>; deployable_usd: number };
  const q = alloc.capital_quota_usd;
  for (const m of [HMM, 'ensemble_v1']) {
    assert.ok(q[m]! <= policy.probation.quota_usd, `${m}: ${q[m]}`);
    assert.ok(q[m]! <= q[MA]!, `${m}: ${q[m]} above the live model's ${q[MA]}`);
  }
  assert.ok(q[MA]! >= alloc.deployable_usd - 2 * policy.probation.quota_usd - 0.01, JSON.stringify(alloc));
});

test('POST /strategy/promote refuses bad input with the field named', async () => {
  assert.equal((await api('POST', '/strategy/promote', { model: HMM }, null)).status, 401);
  const missing = await api('POST', '/strategy/promote', {});
  assert.equal(missing.status, 400);
  assert.equal(missing.body.field, 'model');
  const unknown = await api('POST', '/strategy/promote', { model: 'nope' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.field, 'model');
  const badStage = await api('POST', '/strategy/promote', { model: HMM, stage: 'king' });
  assert.equal(badStage.status, 400);
  assert.equal(badStage.body.field, 'stage');
  const extra = await api('POST', '/strategy/promote', { model: HMM, force: true });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.field, 'force');
  const same = await api('POST', '/strategy/promote', { model: MA, stage: 'live' });
  assert.equal(same.status, 409);
});

test('a canary without evidence is not promoted by the shipped rules; the operator promotes it to live, replacing the live model', async () => {
  const manual = await api('POST', '/strategy/promote', { model: HMM, reason: 'integration test' });
  assert.equal(manual.status, 200, JSON.stringify(manual.body));
  assert.equal(manual.body.to, 'canary');
  assert.equal((manual.body.weights as Record<string, number>)[HMM], SHIPPED.canary_weight);

  // Seconds old, it has minutes of market time at most: the rules must not carry it further.
  for (let i = 0; i < 3; i++) assert.deepEqual(await stack.strategy.canary.evaluate(), []);
  assert.equal(stack.strategy.registry.get(HMM)?.stage, 'canary');
  assert.equal(stack.strategy.registry.get(MA)?.stage, 'live');

  const live = await api('POST', '/strategy/promote', { model: HMM, reason: 'operator decision' });
  assert.equal(live.status, 200, JSON.stringify(live.body));
  assert.equal(live.body.to, 'live');
  const status = (await api('GET', '/strategy/status')).body;
  const weights = status.weights as Record<string, number>;
  assert.equal(weights[HMM], SHIPPED.live_weight);
  assert.equal(weights[MA], 0);
  const board = status.leaderboard as Row[];
  assert.equal(board.length, 3);
  assert.equal(status.leader, board[0]!.model);
  for (const key of ['sharpe', 'sortino', 'max_drawdown_pct', 'win_rate', 'trades', 'exposure_time_pct', 'pnl']) assert.ok(key in board[0]!, key);

  const reg = JSON.parse(readFileSync(join(tmp, 'ops/strategy_registry.json'), 'utf8')) as { models: { id: string; stage: string; replaced: string | null }[] };
  assert.equal(reg.models.find((m) => m.id === HMM)?.stage, 'live');
  assert.equal(reg.models.find((m) => m.id === HMM)?.replaced, MA);
  assert.equal(reg.models.find((m) => m.id === MA)?.stage, 'shadow');
  const fileWeights = JSON.parse(readFileSync(join(tmp, 'ops/strategy_weights.json'), 'utf8')) as { weights: Record<string, number>; updated_by: string };
  assert.equal(fileWeights.weights[HMM], 1);
  // The calling operator, by token fingerprint, as every other mutating route records it (it was 'ops_api').
  const operator = `operator:${tokenFingerprint(TOKEN)}`;
  assert.equal(fileWeights.updated_by, operator);

  const history = (await api('GET', `/strategy/history?model=${HMM}`)).body.history as { action: string; model: string; to: string; actor: string; counterpart: string | null }[];
  const promo = history.find((h) => h.model === HMM && h.to === 'live')!;
  assert.equal(promo.action, 'promote');
  assert.equal(promo.actor, operator);
  assert.equal(promo.counterpart, MA);
  assert.ok(events.some((e) => e.model === HMM && e.to === 'live' && e.action === 'promote' && e.actor === operator));
  assert.match(readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8'), new RegExp(`\\[CANARY\\] PROMOTE hmm_regime_v1 canary → live .* by ${operator}: operator decision`));
  // The audit line of the same call names the same token.
  const audited = readFileSync(join(tmp, 'ops/logs/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { route: string; status: number; token_fp: string | null; body: { reason?: string } | null })
    .find((a) => a.route === '/strategy/promote' && a.status === 200 && a.body?.reason === 'operator decision');
  assert.equal(audited?.token_fp, tokenFingerprint(TOKEN));
  // A fresh promotion has no evidence yet: the rollback rule waits for it.
  assert.deepEqual(await stack.strategy.canary.evaluate(), []);
  assert.equal(stack.strategy.registry.get(HMM)?.stage, 'live');
});

// ---- the canary manager on a simulated clock, with seeded evidence in market time ----------

const T0 = Date.UTC(2026, 0, 5);
const BAR_MS = 60_000;
const SIGMA = 0.001;
const EDGE = 0.12 * SIGMA * Math.SQRT2;

interface Lifetime { bars: number; trades: number; first: number | null; last: number; returns: Moments; vsLive: Moments }

/** A manager wired as the stack wires it (registry and weights files, bus, log), its tracker
 *  replaced by seeded per-bar returns: one bar per clock minute, evidence over each model's
 *  whole life as the tracker keeps it (the manager narrows it to the current stage). */
async function managedRun(drift: Record<string, number>, hours: number, switchAtLive?: Record<string, number>) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-canary-mgr-'));
  mkdirSync(join(dir, 'ops/logs'), { recursive: true });
  const clock = new SimClock(T0);
  const bus = new InProcessBus();
  const log = createLogger({ level: 'info', file: join(dir, 'ops/logs/ops.log'), stdout: false });
  const registry = new StrategyRegistry(join(dir, 'ops/strategy_registry.json'), silentLogger());
  const ts = new Date(T0).toISOString();
  registry.commit((d) => {
    for (const [id, stage] of [['incumbent', 'live'], ['candidate', 'shadow']] as const) {
      const spec = maSpec(['BTCUSDT']);
      d.models.push({ id, kind: 'ma', version: 1, stage, created_at: ts, stage_since: ts, symbols: spec.symbols, params: spec.params, replaced: null, metrics: null, tracking: null });
    }
  });
  const ids = ['incumbent', 'candidate'];
  const weights = new StrategyWeights(join(dir, 'ops/strategy_weights.json'), dir, () => new Set(ids), { incumbent: 1, candidate: 0 }, bus, silentLogger(), null);
  // What the canary manager asks of the tracker: each running model's window drawdown (none
  // here: the rules under test are the evidence ones) and a fresh sample before it decides.
  const tracker = { windowDrawdownPct: (m: string) => (ids.includes(m) ? 0 : null), sample: async () => {} } as unknown as StrategyTracker;
  const shadow = { flatten: () => [] } as unknown as ShadowBook;
  const lives = new Map(ids.map((id): [string, Lifetime] => [id, { bars: 0, trades: 0, first: null, last: 0, returns: emptyMoments(), vsLive: emptyMoments() }]));
  const evidence = (id: string): ModelEvidence | null => {
    const w = lives.get(id)!;
    return w.bars === 0 ? null : { bars: w.bars, trades: w.trades, marketMs: w.last - (w.first ?? w.last), returns: { ...w.returns }, vsLive: { ...w.vsLive } };
  };
  const canary = new CanaryManager({
    registry, weights, tracker, shadow, policy: () => SHIPPED, engines: () => [], lastSignals: () => [], retire: () => {},
    maxNotionalUsd: fx('1000'), bus, log, clock, evidence,
  });
  const promoted: Record<string, unknown>[] = [];
  bus.subscribe('strategy.promoted', (e) => { promoted.push(e); });
  canary.start();
  const rng = new Rng(42);
  let d = { ...drift };
  let switched = false;
  for (let i = 1; i <= (hours * 3_600_000) / BAR_MS; i++) {
    const now = T0 + i * BAR_MS;
    if (switchAtLive && !switched && registry.get('candidate')!.stage === 'live') { d = { ...switchAtLive }; switched = true; }
    const r = Object.fromEntries(ids.map((id) => [id, d[id]! + SIGMA * rng.normal()]));
    const liveId = ids.find((id) => registry.get(id)!.stage === 'live');
    for (const id of ids) {
      const w = lives.get(id)!;
      w.bars++;
      w.first ??= now;
      w.last = now;
      if (i % 20 === 0) w.trades++;
      addObservation(w.returns, r[id]!);
      if (liveId !== undefined && liveId !== id) addObservation(w.vsLive, r[id]! - r[liveId]!);
    }
    clock.advanceTo(now);
    // Let the evaluation the clock started apply its actions before the next bar.
    for (let k = 0; k < 5; k++) await new Promise((res) => setImmediate(res));
  }
  canary.stop();
  await weights.close();
  const opsLog = readFileSync(join(dir, 'ops/logs/ops.log'), 'utf8');
  const doc = JSON.parse(readFileSync(join(dir, 'ops/strategy_registry.json'), 'utf8')) as { history: { ts: string; action: string; model: string; from: string; to: string; actor: string; reason: string }[] };
  const stages = JSON.parse(readFileSync(join(dir, 'ops/canary_stages.json'), 'utf8')) as Record<string, { since: string }>;
  const since = Object.fromEntries(ids.map((id) => [id, registry.get(id)!.stage_since]));
  rmSync(dir, { recursive: true, force: true });
  return { history: doc.history, promoted, opsLog, stages, since, stage: (id: string) => registry.get(id)!.stage, weight: (id: string) => weights.weight(id) };
}

test('the canary manager on a simulated clock: a candidate with an edge enters canary and goes live by the shipped rules, then is rolled back when the model it replaced beats it', async () => {
  const run = await managedRun({ incumbent: 0, candidate: EDGE }, 60, { incumbent: EDGE, candidate: 0 });
  const steps = run.history.filter((h) => h.actor === 'canary_manager').map((h) => [h.action, h.model, h.to]);
  assert.deepEqual(steps.slice(0, 3), [['promote', 'candidate', 'canary'], ['promote', 'candidate', 'live'], ['demote', 'incumbent', 'shadow']]);
  const at = (action: string, to: string) => Date.parse(run.history.find((h) => h.actor === 'canary_manager' && h.model === 'candidate' && h.action === action && h.to === to)!.ts);
  // The history is stamped with the clock, so the market-time minimums show in it.
  assert.ok(at('promote', 'canary') - T0 >= SHIPPED.enter.min_market_hours * 3_600_000);
  assert.ok(at('promote', 'live') - at('promote', 'canary') >= SHIPPED.promote.min_market_hours * 3_600_000);
  assert.ok(at('promote', 'live') - T0 <= 48 * 3_600_000, 'live within the default windows');
  assert.match(run.history.find((h) => h.to === 'live' && h.model === 'candidate')!.reason, /P\(beats live\) [01]\.\d+ ≥ 0\.\d+ required/);
  // After the switch the incumbent has the edge: the rollback restores it.
  assert.deepEqual(steps.slice(3, 5), [['rollback', 'candidate', 'shadow'], ['rollback', 'incumbent', 'live']]);
  assert.equal(run.stage('incumbent'), 'live');
  assert.equal(run.stage('candidate'), 'shadow');
  assert.equal(run.weight('incumbent'), 1);
  assert.equal(run.weight('candidate'), 0);
  assert.match(run.opsLog, /\[CANARY\] PROMOTE candidate shadow → canary/);
  assert.match(run.opsLog, /\[CANARY\] PROMOTE candidate canary → live/);
  assert.match(run.opsLog, /\[CANARY\] ROLLBACK candidate live → shadow/);
  assert.ok(run.promoted.some((e) => e.action === 'rollback' && e.model === 'candidate'));
  // Where each stage's evidence began is kept beside the registry, for a restart.
  for (const id of ['incumbent', 'candidate']) assert.equal(run.stages[id]?.since, run.since[id]);
});

test('the same run with no edge: the shipped rules promote nothing', async () => {
  const run = await managedRun({ incumbent: 0, candidate: 0 }, 60);
  assert.deepEqual(run.history.filter((h) => h.actor === 'canary_manager' && h.to === 'live'), []);
  assert.equal(run.stage('incumbent'), 'live');
  assert.equal(run.stage('candidate') === 'live', false);
});

test('canary rules parse from the shipped file the same as the defaults the code ships', () => {
  assert.deepEqual(parseCanaryPolicy(undefined), SHIPPED);
});
