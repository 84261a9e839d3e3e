// The canary lifecycle on a running stack under a test policy with short windows: a manual
// promotion to canary, the automatic promotion to live, then (after a policy edit) the
// rollback to the model it replaced — each with weights, registry, [CANARY] log line,
// strategy.promoted event and history entry; and POST /strategy/promote's input checks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

const TOKEN = 'test-token-0123456789abcdef';
let tmp: string;
let stack: Stack;
const events: Record<string, unknown>[] = [];

const policy = (rollback: string) => `canary:
  evaluate_every_sec: 0.2
  score_metric: pnl
  auto_canary: false
  promote: { min_trades: 0, min_hours: 0.0003, score_margin: -1000000000, max_drawdown_pct: 100, max_hours: 0 }
  rollback: ${rollback}
`;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hmm-canary-'));
  mkdirSync(join(tmp, 'ops'), { recursive: true });
  writeFileSync(join(tmp, 'ops/policies.yaml'), policy('{ min_hours: 1000, min_trades: 0, max_drawdown_pct: 100, min_score: null }'));
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

async function waitFor<T>(what: string, fn: () => Promise<T | null>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const HMM = 'hmm_regime_v1';
const MA = 'ma_crossover_v1';
type Row = { model: string; stage: string; score: number; weight: number };

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

test('a canary is promoted to live by the rule, then rolled back when it degrades past the rollback rule', async () => {
  const manual = await api('POST', '/strategy/promote', { model: HMM, reason: 'integration test' });
  assert.equal(manual.status, 200, JSON.stringify(manual.body));
  assert.equal(manual.body.to, 'canary');
  assert.equal((manual.body.weights as Record<string, number>)[HMM], 0.1);

  const status = await waitFor('promotion to live', async () => {
    const s = await api('GET', '/strategy/status');
    const models = s.body.models as Row[];
    return models.find((m) => m.model === HMM || (m as unknown as { id: string }).id === HMM)?.stage === 'live' ? s.body : null;
  });
  const weights = status.weights as Record<string, number>;
  assert.equal(weights[HMM], 1);
  assert.equal(weights[MA], 0);
  const board = status.leaderboard as Row[];
  assert.equal(board.length, 3);
  for (let i = 1; i < board.length; i++) assert.ok(board[i - 1]!.score >= board[i]!.score, 'sorted by score, best first');
  assert.equal(status.leader, board[0]!.model);
  for (const key of ['sharpe', 'sortino', 'max_drawdown_pct', 'win_rate', 'trades', 'exposure_time_pct', 'pnl']) assert.ok(key in board[0]!, key);

  const reg = JSON.parse(readFileSync(join(tmp, 'ops/strategy_registry.json'), 'utf8')) as { models: { id: string; stage: string; replaced: string | null }[] };
  assert.equal(reg.models.find((m) => m.id === HMM)?.stage, 'live');
  assert.equal(reg.models.find((m) => m.id === HMM)?.replaced, MA);
  assert.equal(reg.models.find((m) => m.id === MA)?.stage, 'shadow');
  const fileWeights = JSON.parse(readFileSync(join(tmp, 'ops/strategy_weights.json'), 'utf8')) as { weights: Record<string, number> };
  assert.equal(fileWeights.weights[HMM], 1);

  const history = (await api('GET', `/strategy/history?model=${HMM}`)).body.history as { action: string; model: string; to: string; actor: string; counterpart: string | null }[];
  const promo = history.find((h) => h.model === HMM && h.to === 'live')!;
  assert.equal(promo.action, 'promote');
  assert.equal(promo.actor, 'canary_manager');
  assert.equal(promo.counterpart, MA);
  assert.ok(events.some((e) => e.model === HMM && e.to === 'live' && e.action === 'promote'));
  assert.match(readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8'), /\[CANARY\] PROMOTE hmm_regime_v1 canary → live/);

  // The operator tightens the rollback rule: any score is now too low.
  writeFileSync(join(tmp, 'ops/policies.yaml'), policy('{ min_hours: 0, min_trades: 0, max_drawdown_pct: 100, min_score: 1000000000000 }'));
  await waitFor('rollback', async () => (stack.strategy.registry.get(HMM)?.stage === 'shadow' ? true : null));
  assert.equal(stack.strategy.registry.get(MA)?.stage, 'live');
  assert.equal(stack.context.weights.weight(MA), 1);
  assert.equal(stack.context.weights.weight(HMM), 0);
  const recent = (await api('GET', '/strategy/history?limit=2')).body.history as { action: string; model: string; to: string; counterpart: string }[];
  assert.deepEqual(recent.map((h) => [h.action, h.model, h.to]).sort(), [['rollback', HMM, 'shadow'], ['rollback', MA, 'live']]);
  assert.equal(recent.find((h) => h.model === HMM)?.counterpart, MA);
  assert.ok(events.some((e) => e.action === 'rollback' && e.model === HMM));
  assert.match(readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8'), /\[CANARY\] ROLLBACK hmm_regime_v1 live → shadow/);
  // The restored model replaced nothing: it is not rolled back in turn.
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(stack.strategy.registry.get(MA)?.stage, 'live');
});
