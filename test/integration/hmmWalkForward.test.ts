// The stack end to end: a fresh root trains its first HMM on the market's own warm-up history,
// and refits it walk-forward on bar events as ops/policies.yaml's retrain: section says, each
// refit registered in shadow with its lineage, the oldest unpromoted ones retiring.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

let tmp: string;
let stack: Stack;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hmm-walk-'));
  mkdirSync(join(tmp, 'ops'), { recursive: true });
  // Refits every 40 bars of 20 ms: several within a few seconds.
  writeFileSync(join(tmp, 'ops/policies.yaml'), 'retrain:\n  every_bars: 40\n  window_bars: 400\n  min_bars: 150\n  max_shadow_versions: 2\n');
  stack = await startStack({
    env: { HMM_ROOT: tmp, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: 'test-token-0123456789abcdef', MARKET_INTERVAL_MS: '20', WARMUP_BARS: '300' },
    stdout: false,
  });
});
after(async () => {
  await stack?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the first HMM learns the warm-up history, then refits join in shadow with lineage and the oldest retire', async () => {
  const log = () => readFileSync(join(tmp, 'ops/logs/ops.log'), 'utf8');
  assert.match(log(), /\[CANARY\] no trained HMM .* trained hmm_regime v1 on the last 300 BTCUSDT bars of synthetic market history/);
  const reg = stack.strategy.registry;
  assert.equal(reg.get('hmm_regime_v1')?.lineage?.source, 'market');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && reg.get('hmm_regime_v5') === undefined) await sleep(100);
  for (let v = 2; v <= 5; v++) {
    const e = reg.get(`hmm_regime_v${v}`);
    assert.ok(e, `refit v${v} registered`);
    assert.equal(e.lineage?.source, 'retrain');
    assert.equal(e.lineage?.parent, `hmm_regime_v${v - 1}`);
  }
  // At most two unpromoted refits stay in shadow; retired ones stop running.
  await sleep(200);
  const shadowRefits = reg.entries().filter((e) => e.lineage?.source === 'retrain' && e.stage === 'shadow');
  assert.ok(shadowRefits.length <= 2, `${shadowRefits.map((e) => e.id).join(', ')}`);
  assert.equal(reg.get('hmm_regime_v2')?.stage, 'retired');
  assert.equal(stack.strategy.runtime.get('hmm_regime_v2'), undefined);
  assert.ok(stack.strategy.runtime.get('hmm_regime_v1'), 'the root stays (an ensemble member)');
  assert.match(log(), /\[CANARY\] walk-forward refit hmm_regime_v2 on \d+ BTCUSDT bars/);
  // The registry on disk carries the lineage.
  const onDisk = JSON.parse(readFileSync(join(tmp, 'ops/strategy_registry.json'), 'utf8')) as { models: { id: string; lineage?: { parent: string | null } }[] };
  assert.equal(onDisk.models.find((m) => m.id === 'hmm_regime_v3')?.lineage?.parent, 'hmm_regime_v2');
});
