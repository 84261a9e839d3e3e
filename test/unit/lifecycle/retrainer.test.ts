// The HMM trains on the market it trades: the first-start fit uses the market source's warm-up
// history (a synthetic series only when that is too short), and walk-forward refits on bar
// events save new versions registered in shadow with their lineage, the oldest unpromoted
// ones retiring beyond the policy's limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bar } from '../../../src/core/marketData.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import { SyntheticMarket } from '../../../src/market/synthetic.js';
import { StrategyRuntime } from '../../../src/strategy/runtime.js';
import { ModelFleet, StrategyRegistry, type RegistryEntry } from '../../../src/lifecycle/strategyRegistry.js';
import { DEFAULT_RETRAIN_POLICY, type RetrainPolicy } from '../../../src/lifecycle/retrainPolicy.js';
import { Retrainer, decideRetrain, refitsToRetire } from '../../../src/lifecycle/retrainer.js';
import { loadHmmModel } from '../../../src/strategy/hmm/modelStore.js';
import { readTrainingMeta } from '../../../src/strategy/hmm/trainingMeta.js';

const SYMBOLS = ['BTCUSDT', 'ETHUSDT'];
const MINUTE = 60_000;

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'retrain-'));
  try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** A market the stack could have traded: `steps` bars per symbol, and the market to go on with. */
function market(seed: number, steps: number): { market: SyntheticMarket; history: Bar[] } {
  const m = new SyntheticMarket({ seed, symbols: SYMBOLS, intervalMs: MINUTE, startTs: Date.UTC(2026, 0, 1) });
  return { market: m, history: m.generate(steps) };
}

function stack(dir: string, policy: RetrainPolicy = DEFAULT_RETRAIN_POLICY) {
  const registry = new StrategyRegistry(join(dir, 'ops/strategy_registry.json'), silentLogger());
  const runtime = new StrategyRuntime(new InProcessBus(), silentLogger());
  const modelsDir = join(dir, 'ops/models');
  const fleet = new ModelFleet({
    registry, runtime, modelsDir, symbols: SYMBOLS, intervalMs: MINUTE, seed: 7, bootstrapBars: 1500, log: silentLogger(),
    minTrainingBars: policy.min_bars, historySource: 'synthetic market',
  });
  const retired: string[] = [];
  const retrainer = new Retrainer({
    fleet, registry, modelsDir, storeId: 'hmm_regime', symbol: 'BTCUSDT', policy: () => policy, log: silentLogger(), seed: 11,
    retire: async (m) => {
      retired.push(m);
      registry.commit((d) => StrategyRegistry.patch(d, m, { stage: 'retired' }));
    },
  });
  return { registry, runtime, fleet, retrainer, modelsDir, retired };
}

test('the first HMM is trained on the market history it is given when that is long enough', () => withDir((dir) => {
  const { history } = market(5, 300);
  const { fleet, registry, modelsDir } = stack(dir);
  const trained = fleet.bootstrap(history);
  assert.ok(trained);
  const own = history.filter((b) => b.symbol === 'BTCUSDT');
  assert.equal(trained.meta.source, 'market');
  assert.equal(trained.meta.bars, 300);
  // The stored training window is exactly the history's, not a synthetic series of its own.
  assert.deepEqual(trained.model.trainingWindow, { from: own[0]!.ts, to: own.at(-1)!.ts, bars: 300 });
  const lineage = registry.get('hmm_regime_v1')!.lineage!;
  assert.equal(lineage.source, 'market');
  assert.equal(lineage.parent, null);
  assert.equal(lineage.window_first_ts, new Date(own[0]!.ts).toISOString());
  assert.equal(lineage.window_last_ts, new Date(own.at(-1)!.ts).toISOString());
  assert.equal(lineage.log_likelihood, trained.model.fit.logLikelihood);
  assert.equal(readTrainingMeta(modelsDir, 'hmm_regime', 1)?.detail, 'synthetic market');
}));

test('a history shorter than retrain.min_bars falls back to a seeded synthetic series (and says so)', () => withDir((dir) => {
  const { history } = market(5, DEFAULT_RETRAIN_POLICY.min_bars - 1);
  const { fleet, registry } = stack(dir);
  const trained = fleet.bootstrap(history);
  assert.ok(trained);
  assert.equal(trained.meta.source, 'synthetic');
  assert.equal(trained.meta.bars, 1500);
  assert.notEqual(trained.model.trainingWindow.to, history.at(-1)!.ts);
  assert.equal(registry.get('hmm_regime_v1')!.lineage!.source, 'synthetic');
}));

test('decideRetrain under the shipped policy: due at every_bars, on at most window_bars, never on fewer than min_bars', () => {
  const p = DEFAULT_RETRAIN_POLICY;
  assert.deepEqual(decideRetrain(p, { barsSinceFit: p.every_bars - 1, barsHeld: p.window_bars + 5000, busy: false }), { kind: 'wait', reason: 'not_due' });
  assert.deepEqual(decideRetrain(p, { barsSinceFit: p.every_bars, barsHeld: p.window_bars + 5000, busy: false }), { kind: 'fit', bars: p.window_bars });
  assert.deepEqual(decideRetrain(p, { barsSinceFit: p.every_bars, barsHeld: 1000, busy: false }), { kind: 'fit', bars: 1000 });
  assert.deepEqual(decideRetrain(p, { barsSinceFit: p.every_bars, barsHeld: p.min_bars - 1, busy: false }), { kind: 'wait', reason: 'too_few_bars' });
  assert.deepEqual(decideRetrain(p, { barsSinceFit: p.every_bars, barsHeld: p.window_bars + 5000, busy: true }), { kind: 'wait', reason: 'busy' });
  assert.deepEqual(decideRetrain({ ...p, enabled: false }, { barsSinceFit: 1e6, barsHeld: p.window_bars + 5000, busy: false }), { kind: 'wait', reason: 'disabled' });
});

test('walk-forward under the shipped policy: after N bars a shadow refit of the first model, after 2N a refit of that one', () => withDir(async (dir) => {
  const p = DEFAULT_RETRAIN_POLICY;
  const { market: m, history } = market(9, 300);
  const { fleet, registry, runtime, retrainer, modelsDir } = stack(dir);
  fleet.bootstrap(history);
  fleet.buildAll();
  retrainer.seed(history);
  const fed: Bar[] = [];
  const feed = async (steps: number) => {
    for (let i = 0; i < steps; i++) for (const b of m.nextBars()) { fed.push(b); retrainer.onBar(b); }
    await retrainer.idle();
  };
  await feed(p.every_bars - 1);
  assert.equal(registry.get('hmm_regime_v2'), undefined, 'one bar short of every_bars: no refit');
  await feed(1);
  const v2 = registry.get('hmm_regime_v2');
  assert.ok(v2, 'a refit after every_bars bars');
  assert.equal(v2.stage, 'shadow');
  assert.ok(runtime.get('hmm_regime_v2'), 'and it runs (in shadow)');
  const own = [...history, ...fed].filter((b) => b.symbol === 'BTCUSDT');
  const window1 = own.slice(-(300 + p.every_bars));
  assert.deepEqual(v2.lineage, {
    parent: 'hmm_regime_v1', parent_version: 1, source: 'retrain',
    window_first_ts: new Date(window1[0]!.ts).toISOString(), window_last_ts: new Date(window1.at(-1)!.ts).toISOString(),
    bars: window1.length, log_likelihood: loadHmmModel(modelsDir, 'hmm_regime', 2).fit.logLikelihood,
  });
  await feed(p.every_bars);
  const v3 = registry.get('hmm_regime_v3');
  assert.ok(v3, 'a second refit after 2N bars');
  assert.equal(v3.lineage?.parent, 'hmm_regime_v2');
  assert.equal(v3.lineage?.bars, Math.min(p.window_bars, 300 + 2 * p.every_bars));
  assert.equal(v3.lineage?.window_last_ts, new Date(fed.filter((b) => b.symbol === 'BTCUSDT').at(-1)!.ts).toISOString());
  assert.equal(registry.current.history.filter((h) => h.model === 'hmm_regime_v3' && h.action === 'register').length, 1);
}));

test('a restart counts the bars since the newest version toward the next refit; the other symbol never does', () => withDir(async (dir) => {
  const policy = { ...DEFAULT_RETRAIN_POLICY, every_bars: 100, min_bars: 150 };
  const { market: m, history } = market(4, 300);
  const first = stack(dir, policy);
  first.fleet.bootstrap(history);
  // 60 more bars, then a restart whose warm-up history holds them: 40 more make a refit.
  const more = m.generate(60);
  const again = stack(dir, policy);
  again.fleet.bootstrap([...history, ...more]);
  again.retrainer.seed([...history, ...more]);
  for (const b of m.generate(39)) again.retrainer.onBar(b);
  await again.retrainer.idle();
  assert.equal(again.registry.get('hmm_regime_v2'), undefined);
  for (const b of m.generate(1).filter((x) => x.symbol === 'ETHUSDT')) again.retrainer.onBar(b);
  await again.retrainer.idle();
  assert.equal(again.registry.get('hmm_regime_v2'), undefined, 'an ETHUSDT bar does not count');
  for (const b of m.generate(1)) again.retrainer.onBar(b);
  await again.retrainer.idle();
  assert.equal(again.registry.get('hmm_regime_v2')?.lineage?.parent, 'hmm_regime_v1');
}));

test('beyond max_shadow_versions the oldest unpromoted refits retire; promoted ones and ensemble members stay', () => withDir(async (dir) => {
  const policy = { ...DEFAULT_RETRAIN_POLICY, every_bars: 100, min_bars: 150, window_bars: 400, max_shadow_versions: 2 };
  const { market: m, history } = market(3, 300);
  const { fleet, registry, retrainer, retired } = stack(dir, policy);
  fleet.bootstrap(history);
  retrainer.seed(history);
  for (let i = 0; i < 4; i++) {
    for (const b of m.generate(100)) retrainer.onBar(b);
    await retrainer.idle();
  }
  // v2..v5 are refits; two may stay: v2 and v3 retired, oldest first. v1 (the root) is an ensemble member.
  assert.deepEqual(retired, ['hmm_regime_v2', 'hmm_regime_v3']);
  assert.deepEqual(registry.entries().filter((e) => e.kind === 'hmm').map((e) => [e.id, e.stage]), [
    ['hmm_regime_v1', 'shadow'], ['hmm_regime_v2', 'retired'], ['hmm_regime_v3', 'retired'], ['hmm_regime_v4', 'shadow'], ['hmm_regime_v5', 'shadow'],
  ]);
  // Within the limit nothing retires (the counterpart).
  assert.deepEqual(refitsToRetire(registry.entries(), registry.current.history, 'hmm_regime', 2), []);
}));

test('refitsToRetire skips a refit that was ever promoted', () => {
  const ts = '2026-01-01T00:00:00.000Z';
  const refit = (v: number): RegistryEntry => ({
    id: `h_v${v}`, kind: 'hmm', version: v, stage: 'shadow', created_at: ts, stage_since: ts, symbols: ['BTCUSDT'],
    params: { store_id: 'h', store_version: v }, replaced: null, metrics: null, tracking: null,
    lineage: { parent: v > 1 ? `h_v${v - 1}` : null, parent_version: v > 1 ? v - 1 : null, source: 'retrain', window_first_ts: ts, window_last_ts: ts, bars: 500, log_likelihood: -1 },
  });
  const entries = [refit(2), refit(3), refit(4)];
  const promotedThenDemoted = [{ ts, action: 'promote' as const, model: 'h_v2', from: 'shadow' as const, to: 'canary' as const, counterpart: null, actor: 'canary', reason: '', weights_before: {}, weights_after: {} }];
  assert.deepEqual(refitsToRetire(entries, [], 'h', 1), ['h_v2', 'h_v3']);
  assert.deepEqual(refitsToRetire(entries, promotedThenDemoted, 'h', 1), ['h_v3']);
});
