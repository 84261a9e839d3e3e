// ops/strategy_registry.json: validated on load and on every change, written atomically,
// history bounded; model specs are checked field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/obs/logger.js';
import { ModelFleet, RegistryError, StrategyRegistry } from '../../../src/lifecycle/strategyRegistry.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import { StrategyRuntime } from '../../../src/strategy/runtime.js';
import { validateModelSpec } from '../../../src/strategy/modelSpec.js';
import { trainOnSynthetic } from '../../../src/strategy/hmm/trainingMeta.js';

async function withDir(fn: (dir: string) => void | Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('a fresh root registers MA live, a freshly trained HMM and their ensemble in shadow, and builds them all', (t) => withDir(async (dir) => {
  const registry = new StrategyRegistry(join(dir, 'ops/strategy_registry.json'), silentLogger());
  const runtime = new StrategyRuntime(new InProcessBus(), silentLogger());
  const fleet = new ModelFleet({ registry, runtime, modelsDir: join(dir, 'ops/models'), symbols: ['BTCUSDT', 'ETHUSDT'], intervalMs: 1000, seed: 7, bootstrapBars: 1500, log: silentLogger() });
  const trained = fleet.bootstrap();
  assert.ok(trained, 'an HMM was trained');
  assert.deepEqual(registry.entries().map((e) => [e.id, e.kind, e.stage, e.version]), [
    ['ma_crossover_v1', 'ma', 'live', 1], ['hmm_regime_v1', 'hmm', 'shadow', 1], ['ensemble_v1', 'ensemble', 'shadow', 1],
  ]);
  assert.equal(fleet.buildAll().length, 3);
  const onDisk = JSON.parse(readFileSync(join(dir, 'ops/strategy_registry.json'), 'utf8'));
  assert.equal(onDisk.models.length, 3);
  assert.equal(onDisk.history.filter((h: { action: string }) => h.action === 'register').length, 3);
  assert.ok(readdirSync(join(dir, 'ops')).every((f) => !f.endsWith('.tmp')));

  // A version stored later (hmm train-hmm) is registered as a shadow model and started.
  trainOnSynthetic(join(dir, 'ops/models'), { id: 'hmm_regime', symbol: 'ETHUSDT', bars: 1500, seed: 3, intervalMs: 1000 });
  const added = fleet.scanIfChanged(); // the periodic scan; its first run lists every store
  assert.deepEqual(added.map((m) => [m.id, m.symbols]), [['hmm_regime_v2', ['ETHUSDT']]]);
  assert.equal(registry.get('hmm_regime_v2')?.stage, 'shadow');
  assert.equal(fleet.scan().length, 0);

  // The periodic scan lists the stores (scan(), counted here) only when a directory changed.
  // Host time is driven by hand from here — the gate reads Date.now() and compares it with the
  // directories' mtimes, which age() sets to that many ms before it.
  let host = Date.now();
  t.mock.method(Date, 'now', () => host);
  const listings = t.mock.method(fleet, 'scan');
  const modelsDir = join(dir, 'ops/models');
  const age = (ms: number) => {
    const at = (host - ms) / 1000;
    for (const d of [modelsDir, ...readdirSync(modelsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(modelsDir, e.name))]) utimesSync(d, at, at);
  };
  age(10_000);
  host += 300;
  assert.equal(fleet.scanIfChanged().length, 0);
  assert.equal(listings.mock.callCount(), 1, 'the settled stamp differs from the last one recorded: listed once');
  for (let i = 0; i < 5; i++) {
    host += 300;
    assert.equal(fleet.scanIfChanged().length, 0);
  }
  assert.equal(listings.mock.callCount(), 1, 'no directory changed: the listing is skipped');

  // The next stored version is found at the next check 250 ms of host time on.
  trainOnSynthetic(modelsDir, { id: 'hmm_regime', symbol: 'ETHUSDT', bars: 1500, seed: 4, intervalMs: 1000 });
  age(500); // saved half a second ago: fresh
  host += 100;
  assert.equal(fleet.scanIfChanged().length, 0, 'checked less than 250 ms ago: not looked at');
  assert.equal(listings.mock.callCount(), 1);
  host += 200;
  assert.deepEqual(fleet.scanIfChanged().map((m) => m.id), ['hmm_regime_v3']);
  assert.equal(listings.mock.callCount(), 2);
  // While a directory is fresh (a coarse mtime could hide a later save) it is listed again,
  // at most every 250 ms; once settled, once more, then no more.
  host += 300;
  assert.equal(fleet.scanIfChanged().length, 0);
  assert.equal(listings.mock.callCount(), 3, 'fresh: listed again');
  age(10_000);
  host += 300;
  fleet.scanIfChanged();
  assert.equal(listings.mock.callCount(), 4, 'settled: listed once more');
  for (let i = 0; i < 3; i++) {
    host += 300;
    fleet.scanIfChanged();
  }
  assert.equal(listings.mock.callCount(), 4, 'settled and unchanged: skipped');
  assert.equal(registry.get('hmm_regime_v3')?.stage, 'shadow');

  // Reloads as it was.
  const again = new StrategyRegistry(join(dir, 'ops/strategy_registry.json'), silentLogger());
  assert.deepEqual(again.entries(), registry.entries());
}));

test('a corrupt or invalid registry stops start-up with the file and field named', () => withDir((dir) => {
  const path = join(dir, 'reg.json');
  writeFileSync(path, '{"format": 1, "models": [');
  assert.throws(() => new StrategyRegistry(path, silentLogger()), (e: Error) => e instanceof RegistryError && e.message.includes(path));
  writeFileSync(path, JSON.stringify({ format: 1, models: [{ id: 'x', kind: 'ma', version: 1, stage: 'bogus', created_at: '2024-01-01T00:00:00Z', stage_since: '2024-01-01T00:00:00Z', symbols: ['BTCUSDT'], params: { fast: 2, slow: 5, band: 0 } }], history: [] }));
  assert.throws(() => new StrategyRegistry(path, silentLogger()), /models\[0\]\.stage/);
}));

test('commit validates before writing and keeps the history bounded', () => withDir((dir) => {
  const path = join(dir, 'reg.json');
  const reg = new StrategyRegistry(path, silentLogger(), () => 3);
  const ts = new Date().toISOString();
  const entry = { id: 'm', kind: 'ma' as const, version: 1, stage: 'shadow' as const, created_at: ts, stage_since: ts, symbols: ['BTCUSDT'], params: { fast: 2, slow: 5, band: 0 }, replaced: null, metrics: null, tracking: null };
  reg.commit((d) => { d.models.push(entry); });
  assert.throws(() => reg.commit((d) => { d.models.push({ ...entry }); }), /listed twice/);
  assert.equal(reg.entries().length, 1, 'a refused change leaves the registry as it was');
  for (let i = 0; i < 5; i++) {
    reg.commit((d) => { d.history.push({ ts, action: 'demote', model: 'm', from: 'live', to: 'shadow', counterpart: null, actor: `t${i}`, reason: 'x', weights_before: {}, weights_after: {} }); });
  }
  assert.deepEqual(reg.history(10).map((h) => h.actor), ['t4', 't3', 't2']);
}));

test('model specs are validated with the field named', () => {
  assert.throws(() => validateModelSpec({ kind: 'ma', symbols: ['BTCUSDT'], params: { fast: 5, slow: 3, band: 0 } }), /spec\.params\.slow/);
  assert.throws(() => validateModelSpec({ kind: 'hmm', symbols: ['BTCUSDT', 'ETHUSDT'], params: { store_id: 'h', store_version: 1 } }), /spec\.symbols/);
  assert.throws(() => validateModelSpec({ kind: 'ensemble', symbols: [], params: { members: [{ id: 'a', weight: -1 }] } }), /members\[0\]\.weight/);
  assert.throws(() => validateModelSpec({ kind: 'svm', symbols: [], params: {} }), /spec\.kind/);
  assert.equal(validateModelSpec({ kind: 'hmm', symbols: ['BTCUSDT'], params: { store_id: 'h', store_version: 2 } }).kind, 'hmm');
});
