// A clean root: the stack trains an HMM at start-up, runs MA live with the HMM and the
// ensemble in shadow, tracks all three, allocates capital within the policy, picks up a
// model trained by the CLI while running, and resumes the same registry after a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

const env = (root: string) => ({ HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: 'test-token-0123456789abcdef', MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' });
let tmp: string;
let stack: Stack;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hmm-life-'));
  stack = await startStack({ env: env(tmp), stdout: false });
});
after(async () => {
  await stack?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a fresh root runs MA live, a start-up-trained HMM and the ensemble in shadow, all tracked', async () => {
  assert.ok(existsSync(join(tmp, 'ops/models/hmm_regime/v1.json')), 'HMM trained and saved at start-up');
  assert.ok(existsSync(join(tmp, 'ops/models/hmm_regime/v1.meta.json')));
  assert.match(readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8'), /\[CANARY\] no trained HMM .* trained hmm_regime v1 on 3000 synthetic BTCUSDT bars/);
  await sleep(1500);
  const status = await (await fetch(`${stack.opsUrl}/strategy/status`)).json() as { models: { id: string; kind: string; stage: string; weight: number }[]; leaderboard: { model: string; samples: number; source: string }[] };
  assert.deepEqual(status.models.map((m) => [m.id, m.kind, m.stage, m.weight]).sort(), [
    ['ensemble_v1', 'ensemble', 'shadow', 0], ['hmm_regime_v1', 'hmm', 'shadow', 0], ['ma_crossover_v1', 'ma', 'live', 1],
  ]);
  for (const row of status.leaderboard) {
    assert.ok(row.samples > 5, `${row.model} sampled ${row.samples} times`);
    assert.equal(row.source, row.model === 'ma_crossover_v1' ? 'live' : 'shadow');
  }
  // The ensemble's MA member trades like MA, so its paper book has fills by now (MA flips often on 50 ms bars).
  const ens = stack.strategy.shadow.view('ensemble_v1');
  assert.ok(ens.fills > 0, 'the ensemble was paper-traded');
  const alloc = JSON.parse(readFileSync(join(tmp, 'ops/capital_allocations.json'), 'utf8')) as { capital_quota_usd: Record<string, number>; equity_usd: number; deployable_usd: number };
  const total = Object.values(alloc.capital_quota_usd).reduce((a, b) => a + b, 0);
  assert.deepEqual(Object.keys(alloc.capital_quota_usd).sort(), ['ensemble_v1', 'hmm_regime_v1', 'ma_crossover_v1']);
  assert.ok(total <= alloc.equity_usd * 0.8 + 0.01, `${total} within 80 % of ${alloc.equity_usd}`);
  for (const q of Object.values(alloc.capital_quota_usd)) assert.ok(q >= 250 && q <= 25_000);
});

test('a model trained by `hmm train-hmm` while the stack runs joins as a shadow model', async () => {
  const run = spawnSync(process.execPath, ['bin/hmm.mjs', '--root', tmp, 'train-hmm', '--bars', '1500', '--seed', '9', '--interval-ms', '50', '--symbol', 'ETHUSDT'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /trained hmm_regime v2/);
  assert.match(run.stdout, /log-likelihood -?\d/);
  const started = stack.strategy.fleet.scanIfChanged(); // what the 10-second scan does
  assert.deepEqual(started.map((m) => [m.id, m.symbols]), [['hmm_regime_v2', ['ETHUSDT']]]);
  const reg = await (await fetch(`${stack.opsUrl}/strategy/registry`)).json() as { models: { id: string; stage: string; version: number }[] };
  assert.deepEqual(reg.models.find((m) => m.id === 'hmm_regime_v2'), { ...reg.models.find((m) => m.id === 'hmm_regime_v2'), stage: 'shadow', version: 2 });
  await sleep(300);
  const status = await (await fetch(`${stack.opsUrl}/strategy/status`)).json() as { leaderboard: { model: string }[] };
  assert.ok(status.leaderboard.some((r) => r.model === 'hmm_regime_v2'));
});

test('after a restart the registry, stages and tracked figures resume', async () => {
  await sleep(300);
  const before = stack.strategy.tracker.report('ma_crossover_v1').total.samples;
  await stack.stop();
  stack = await startStack({ env: env(tmp), stdout: false });
  assert.deepEqual(stack.strategy.registry.entries().map((e) => [e.id, e.stage]).sort(), [
    ['ensemble_v1', 'shadow'], ['hmm_regime_v1', 'shadow'], ['hmm_regime_v2', 'shadow'], ['ma_crossover_v1', 'live'],
  ]);
  assert.equal(stack.strategy.runtime.list().length, 4);
  assert.ok(!/no trained HMM/.test(readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8').split('hmm-stack stopped')[1] ?? ''), 'no retraining on restart');
  // Samples are taken per bar (market time): the next bars continue the saved count.
  const end = Date.now() + 10_000;
  while (stack.strategy.tracker.report('ma_crossover_v1').total.samples <= before && Date.now() < end) await sleep(50);
  assert.ok(stack.strategy.tracker.report('ma_crossover_v1').total.samples > before, 'samples continue from the saved state');
});
