// A market that continues: the synthetic generator resumes bit for bit from its snapshot, the
// stack's market source picks up where the previous run stopped (the first bar after a restart
// opens at the last close: no jump), a damaged state file is set aside and named, and the
// planted drift is what a regime-aware model could earn (and nothing with MARKET_DRIFT=0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticMarket, REGIME_NAMES } from '../../../src/market/synthetic.js';
import { syntheticSource } from '../../../src/app/marketSource.js';
import { loadConfig } from '../../../src/config/config.js';
import { symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import { createLogger } from '../../../src/obs/logger.js';

test('a resumed generator produces exactly the bars the original would have', () => {
  const opts = { seed: 3, symbols: ['BTCUSDT', 'ETHUSDT'], intervalMs: 60_000 };
  const a = new SyntheticMarket(opts);
  a.generate(777);
  const snap = JSON.parse(JSON.stringify(a.snapshot()));
  const b = new SyntheticMarket({ ...opts, resume: snap });
  assert.deepEqual(b.generate(500), a.generate(500));
  assert.throws(() => new SyntheticMarket({ ...opts, seed: 4, resume: snap }), /seed 3/);
  assert.throws(() => new SyntheticMarket({ ...opts, driftScale: 0, resume: snap }), /drift/);
});

/** A fresh root's two-symbol market source, started: it has emitted its first step (a step
 *  an hour, so no second one comes during a test). */
function startedMarket(warmupBars = 50) {
  const root = mkdtempSync(join(tmpdir(), 'hmm-market-'));
  const statePath = join(root, 'engine/state/engine_sim.market.json');
  const config = loadConfig({ HMM_ROOT: root, WARMUP_BARS: String(warmupBars), MARKET_INTERVAL_MS: '3600000' });
  const symbols = [symbol('BTCUSDT'), symbol('ETHUSDT')];
  const first = syntheticSource(config, symbols, { statePath });
  const emitted: Bar[] = [];
  first.start((bars) => emitted.push(...bars));
  return { statePath, config, symbols, first, emitted };
}

test('the market source continues across a restart: the first new bar opens at the last close', async (t) => {
  const { statePath, config, symbols, first, emitted } = startedMarket();
  t.after(() => rmSync(config.root, { recursive: true, force: true }));
  await first.close();
  const lastBtc = emitted.filter((b) => b.symbol === 'BTCUSDT').at(-1)!;

  const second = syntheticSource(config, symbols, { statePath });
  assert.equal(second.history.at(-2)!.ts, lastBtc.ts, 'the warm-up history ends with the bars the previous run emitted');
  const next: Bar[] = [];
  second.start((bars) => next.push(...bars));
  await second.close();
  const nextBtc = next.find((b) => b.symbol === 'BTCUSDT')!;
  assert.equal(nextBtc.ts, lastBtc.ts + config.barIntervalMs);
  // Pass rule: no jump at all — the new bar opens exactly at the previous close (a bar's own
  // move happens inside the bar, as it does between any two consecutive bars).
  assert.equal(nextBtc.open, lastBtc.close);
});

test('after a crash (no close) the state file leads to the bars up to the last step: a restart has no warm-up gap', async (t) => {
  const { statePath, config, symbols, first, emitted } = startedMarket();
  t.after(() => rmSync(config.root, { recursive: true, force: true }));
  // The process dies here: a restart reads the file as the last step left it.
  const second = syntheticSource(config, symbols, { statePath });
  assert.equal(second.history.length, 50 * symbols.length);
  assert.deepEqual(second.history.slice(-2), emitted.slice(-2), 'the warm-up history ends with the last step emitted');
  const next: Bar[] = [];
  second.start((bars) => next.push(...bars));
  assert.equal(next[0]!.ts, emitted.at(-1)!.ts + config.barIntervalMs);
  await second.close();
  await first.close();
});

test('the state file does not hold the warm-up bars: a restart regenerates them, the same bars the market emitted', async (t) => {
  const { statePath, config, symbols, first, emitted } = startedMarket(500);
  let second: ReturnType<typeof syntheticSource> | null = null;
  t.after(async () => {
    await second?.close();
    await first.close();
    rmSync(config.root, { recursive: true, force: true });
  });
  // Pass rule: a few hundred bytes whatever WARMUP_BARS is (500 steps of two symbols' bars
  // written out are over 100 KB), and the restart's history is the emitted bars, all of them.
  assert.ok(statSync(statePath).size < 2_048, `the state file is ${statSync(statePath).size} bytes`);
  second = syntheticSource(config, symbols, { statePath });
  assert.equal(second.history.length, 500 * symbols.length);
  assert.deepEqual(second.history, [...first.history, ...emitted].slice(-500 * symbols.length));
});

test('a state file of the first format (state and bars) still resumes, and the restart after it too', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-market-'));
  const sources: ReturnType<typeof syntheticSource>[] = [];
  t.after(async () => {
    for (const src of sources) await src.close();
    rmSync(root, { recursive: true, force: true });
  });
  const statePath = join(root, 'market.json');
  const config = loadConfig({ HMM_ROOT: root, WARMUP_BARS: '20', MARKET_INTERVAL_MS: '3600000' });
  const symbols = [symbol('BTCUSDT'), symbol('ETHUSDT')];
  const old = new SyntheticMarket({ seed: config.marketSeed, symbols, intervalMs: config.barIntervalMs, driftScale: config.marketDrift });
  const oldBars = old.generate(20);
  writeFileSync(statePath, JSON.stringify({ state: old.snapshot(), bars: oldBars }, null, 2));
  const first = syntheticSource(config, symbols, { statePath });
  sources.push(first);
  assert.deepEqual(first.history, oldBars);
  const emitted: Bar[] = [];
  first.start((bars) => emitted.push(...bars));
  assert.equal(emitted[0]!.open, oldBars.at(-2)!.close, 'BTCUSDT opens at the last close the old file held');
  await first.close();
  const second = syntheticSource(config, symbols, { statePath });
  sources.push(second);
  assert.deepEqual(second.history, [...oldBars, ...emitted].slice(-40), 'the old bars the warm-up still needs are kept');
});

test('a state file whose anchor does not lead to its state is another market: set aside, WARN, and the market starts from its seed', async (t) => {
  const { statePath, config, symbols, first } = startedMarket();
  t.after(() => rmSync(config.root, { recursive: true, force: true }));
  await first.close();
  const doc = JSON.parse(readFileSync(statePath, 'utf8'));
  doc.anchor.symbols[0].logPrice += 0.5;
  writeFileSync(statePath, JSON.stringify(doc));
  const logPath = join(config.root, 'ops.log');
  mkdirSync(config.root, { recursive: true });
  const second = syntheticSource(config, symbols, { statePath, log: createLogger({ file: logPath, stdout: false }) });
  await second.close();
  assert.equal(second.description.includes('resumed'), false);
  assert.equal(second.history.length, 50 * symbols.length);
  await new Promise((r) => setTimeout(r, 100));
  const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('does not fit'));
  assert.ok(line !== undefined, 'a WARN says the file does not fit');
  assert.match(line, /WARN/);
  assert.match(line, /anchor/);
  // The file is evidence (an upgrade that changed the generator, or damage that still parses):
  // moved aside byte for byte before the new market's first save.
  assert.match(line, /moved to .*\.damaged/);
  assert.deepEqual(JSON.parse(readFileSync(`${statePath}.damaged`, 'utf8')), doc);
});

test('a damaged market state file is moved aside, named in an ERROR, and the market starts from its seed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-market-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const statePath = join(root, 'market.json');
  const logPath = join(root, 'ops.log');
  writeFileSync(statePath, '{"state": {"version": 1, "seed": 7,');
  const config = loadConfig({ HMM_ROOT: root, WARMUP_BARS: '10' });
  const src = syntheticSource(config, [symbol('BTCUSDT')], { statePath, log: createLogger({ file: logPath, stdout: false }) });
  assert.equal(src.history.length, 10);
  await src.close();
  assert.ok(existsSync(`${statePath}.damaged`));
  await new Promise((r) => setTimeout(r, 100));
  const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('damaged'))!;
  assert.match(line, /ERROR/);
  assert.ok(line.includes(statePath));
});

test('the planted drift: trending regimes carry drift × strength; MARKET_DRIFT=0 carries none', () => {
  // Mean per-bar log return by true regime over 200,000 bars. Pass rule: with strength 2 the
  // trending-up mean is positive and trending-down negative, each beyond 4 standard errors;
  // with strength 0 both are within 4 standard errors of zero.
  const byRegime = (driftScale: number) => {
    const m = new SyntheticMarket({ seed: 11, symbols: ['BTCUSDT'], driftScale, meanReversionHalfLifeDays: Infinity });
    const acc = REGIME_NAMES.map(() => ({ n: 0, s: 0, s2: 0 }));
    let prev = m.nextBars()[0]!.close;
    for (let i = 0; i < 200_000; i++) {
      const regime = REGIME_NAMES.indexOf(m.regimeOf('BTCUSDT')!);
      const bar = m.nextBars()[0]!;
      const r = Math.log(bar.close / prev);
      prev = bar.close;
      const a = acc[regime]!;
      a.n++; a.s += r; a.s2 += r * r;
    }
    return acc.map((a) => ({ mean: a.s / a.n, se: Math.sqrt((a.s2 / a.n - (a.s / a.n) ** 2) / a.n) }));
  };
  const planted = byRegime(2);
  assert.ok(planted[1]!.mean > 4 * planted[1]!.se, `trending-up ${JSON.stringify(planted[1])}`);
  assert.ok(planted[2]!.mean < -4 * planted[2]!.se, `trending-down ${JSON.stringify(planted[2])}`);
  const none = byRegime(0);
  for (const i of [1, 2]) assert.ok(Math.abs(none[i]!.mean) < 4 * none[i]!.se, `${REGIME_NAMES[i]} without drift: ${JSON.stringify(none[i])}`);
});
