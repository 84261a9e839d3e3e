// The whole-stack replay: deterministic for a seed (same orders, fills, lifecycle and
// allocation history in two fresh roots), the live artefacts plus the report written, and a
// root that has state refused.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Scratch } from '../../support/scratch.js';
import { symbol as toSymbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import { ReplayError, runReplay, type ReplayReport } from '../../../src/replay/replay.js';

const scratch = new Scratch('replay');
const fresh = () => join(scratch.root('run'), 'root');
after(() => scratch.cleanup());
// Every field of every order-log line except routing_time, the engine's wall-clock latency
// measurement (performance.now(), not the stack's Clock: how long the CPU took, not a decision).
const orderLines = (root: string) => readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => { const o = JSON.parse(l) as Record<string, unknown>; delete o.routing_time; return JSON.stringify(o); });
// What depends on the host, not on the bars: the root's path and the wall time taken.
const strip = (r: ReplayReport) => ({ ...r, root: '', wall_ms: 0, bars_per_s: 0 });

test('same seed, same drift → identical order log, report, lifecycle and allocation history', async () => {
  const a = fresh();
  const b = fresh();
  const opts = { synthetic: { seed: 11, drift: 2, steps: 200 } };
  const ra = await runReplay({ root: a, ...opts });
  const rb = await runReplay({ root: b, ...opts });
  assert.equal(ra.steps, 200);
  assert.equal(ra.bars, 400); // BTCUSDT and ETHUSDT
  assert.ok(ra.orders > 0 && ra.fills > 0, `orders ${ra.orders} fills ${ra.fills}`);
  const la = orderLines(a);
  const lb = orderLines(b);
  assert.equal(la.length, lb.length);
  for (let i = 0; i < la.length; i++) assert.equal(la[i], lb[i], `order-log line ${i}`);
  assert.deepEqual(strip(ra), strip(rb));
  assert.ok(ra.allocations.length > 0);
  assert.ok(ra.lifecycle.some((h) => h.action === 'register'));
  // The artefacts a live run writes, plus the report.
  for (const f of ['engine/state/engine_sim.ledger.sqlite', 'engine/logs/orders.jsonl', 'ops/strategy_registry.json', 'ops/capital_allocations.json', 'replay/report.json', 'replay/summary.txt']) {
    assert.ok(existsSync(join(a, f)), f);
  }
  assert.match(readFileSync(join(a, 'replay/summary.txt'), 'utf8'), /replay of synthetic \(seed 11, drift ×2\): 200 steps, 400 bars/);
});

test('another seed → another run (the counterpart: determinism is not a constant)', async () => {
  const a = await runReplay({ root: fresh(), synthetic: { seed: 11, drift: 2, steps: 60 } });
  const b = await runReplay({ root: fresh(), synthetic: { seed: 12, drift: 2, steps: 60 } });
  assert.notDeepEqual(a.models.map((m) => m.pnl), b.models.map((m) => m.pnl));
});

test('a root that has state is refused before anything is written', async () => {
  const root = fresh();
  await runReplay({ root, synthetic: { seed: 1, drift: 1, steps: 5 } });
  const before = readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8');
  await assert.rejects(runReplay({ root, synthetic: { seed: 1, drift: 1, steps: 5 } }), (e: unknown) => e instanceof ReplayError && e.code === 'HMM_REPLAY_ROOT_NOT_FRESH');
  assert.equal(readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8'), before);
});

test('a replay under an operator\'s policies file (--policies): its rules apply, the shipped ones without it', async () => {
  // Pass rule: retrain.every_bars 100 refits the HMM within 300 replayed bars (a v2 registered
  // from a walk-forward refit); the shipped 720 does not.
  const opts = { synthetic: { seed: 5, drift: 1, steps: 300 } };
  const refits = (r: ReplayReport) => r.lifecycle.filter((h) => h.action === 'register' && /^hmm_regime_v([2-9]|\d\d)$/.test(h.model)).length;
  const what = await runReplay({ root: fresh(), ...opts, policies: 'retrain:\n  every_bars: 100\n' });
  const shipped = await runReplay({ root: fresh(), ...opts });
  assert.ok(refits(what) >= 2, `refits under every_bars 100: ${refits(what)}`);
  assert.equal(refits(shipped), 0);
});

test('a refused replay leaves its folder fresh, policies file and all: the same --out can be used again', async () => {
  const root = fresh();
  const bar = (ts: number): Bar => ({ ts, symbol: toSymbol('BTCUSDT'), open: 100, high: 101, low: 99, close: 100, volume: 1 });
  await assert.rejects(runReplay({ root, bars: [bar(120_000), bar(60_000)], env: { TRADE_SYMBOLS: 'BTCUSDT' }, policies: 'retrain:\n  enabled: false\n' }),
    (e: Error) => e instanceof ReplayError && e.code === 'HMM_REPLAY_UNORDERED');
  assert.equal(existsSync(root), false);
});
