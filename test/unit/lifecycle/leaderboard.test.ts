// The leaderboard ranks by evidence under the shipped policy: a model with evidence leads
// every model without (a fresh model with 0 trades never ranks first over one that has
// traded), models with evidence by the probabilistic Sharpe ratio with the edge over live
// beside it; without evidence, Sharpe is null with the reason. Also the `evidence:` section
// of ops/policies.yaml, validated key by key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../../src/core/random.js';
import { addObservation, emptyMoments, type ModelEvidence } from '../../../src/lifecycle/evidence.js';
import { DEFAULT_EVIDENCE_POLICY, judgeEvidence, parseEvidencePolicy } from '../../../src/lifecycle/evidencePolicy.js';
import { rankModels, type LeaderboardInput } from '../../../src/lifecycle/leaderboard.js';
import { PerformanceAccumulator } from '../../../src/lifecycle/performance.js';
import type { ModelReport } from '../../../src/lifecycle/strategyTracker.js';
import { parsePolicies } from '../../../src/ops/policies.js';

const SHIPPED = parsePolicies(readFileSync(new URL('../../../ops/policies.yaml', import.meta.url), 'utf8'));
const MINUTE = 60_000;

/** A model's report from a per-bar return series and a trade count, as the tracker makes it. */
function report(model: string, o: { rets: readonly number[]; trades: number; live?: boolean; liveRets?: readonly number[]; pnl?: number }): ModelReport {
  const acc = new PerformanceAccumulator();
  acc.addSample(null, true, 0);
  o.rets.forEach((r, i) => acc.addSample(r, true, (i + 1) * MINUTE));
  for (let i = 0; i < o.trades; i++) acc.addFill(null);
  const vsLive = emptyMoments();
  if (o.liveRets && !o.live) o.rets.forEach((r, i) => addObservation(vsLive, r - o.liveRets![i]!));
  const total = acc.metrics({ evidence: SHIPPED.evidence, barIntervalMs: MINUTE });
  const evidence: ModelEvidence = { bars: acc.state.returns.n, trades: o.trades, marketMs: o.rets.length * MINUTE, returns: { ...acc.state.returns }, vsLive };
  const pnl = o.pnl ?? 0;
  return {
    model, source: o.live ? 'live' : 'shadow', total, window: total, pnl, live_pnl: 0, shadow_pnl: pnl, realized_pnl: 0, unrealized_pnl: 0, fees: 0,
    exposure_usd: 0, score: total.sharpe ?? 0, evidence, is_live: o.live ?? false,
  };
}

function input(reports: ModelReport[]): LeaderboardInput {
  return {
    reports, scoreMetric: SHIPPED.canary.score_metric, evidencePolicy: SHIPPED.evidence, stage: (m) => (reports.find((r) => r.model === m)?.is_live ? 'live' : 'shadow'),
    stageSince: () => null, kind: () => 'ma', weight: () => 0, quota: () => 1000,
  };
}

const series = (seed: number, n: number, mean: number, sd: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => mean + sd * rng.normal());
};

test('under the shipped policy a model with 0 trades never ranks first over a model with evidence', () => {
  const { min_bars: minBars, min_trades: minTrades } = SHIPPED.evidence;
  assert.ok(minTrades >= 1, 'the shipped policy asks for trades');
  // The live model with evidence is losing; the fresh model has more bars, no trades and a
  // flattering (positive) series — its score used to be 0 or better and lead the board.
  const liveRets = series(1, minBars + 50, -0.0004, 0.002);
  const live = report('live_ma', { rets: liveRets, trades: minTrades + 3, live: true, pnl: -40 });
  for (const fresh of [
    report('fresh_hmm', { rets: new Array(minBars * 3).fill(0), trades: 0, pnl: 0 }),
    report('lucky', { rets: series(2, minBars * 2, 0.001, 0.001), trades: minTrades - 1, pnl: 500 }),
    report('short', { rets: series(3, minBars - 1, 0.002, 0.001), trades: minTrades * 5, pnl: 900 }),
  ]) {
    const rows = rankModels(input([fresh, live]));
    assert.equal(rows[0]!.model, 'live_ma', `${fresh.model} ranked over a model with evidence`);
    assert.equal(rows[0]!.evidence.sufficient, true);
    assert.equal(typeof rows[0]!.score, 'number');
    assert.equal(rows[0]!.evidence.edge_vs_live, null, 'live is not compared with itself');
    const f = rows[1]!;
    assert.equal(f.evidence.sufficient, false);
    assert.equal(f.score, null);
    assert.equal(f.sharpe, null);
    assert.equal(f.sortino, null);
    assert.equal(f.evidence.psr, null);
    assert.ok(f.evidence.reason !== null && f.sharpe_reason === f.evidence.reason, `${f.evidence.reason}`);
    assert.ok(f.evidence.status.startsWith('collecting: '), f.evidence.status);
  }
});

test('models with evidence rank by PSR, edge over live beside it; without evidence by bars observed', () => {
  const { min_bars: minBars, min_trades: minTrades } = SHIPPED.evidence;
  const n = minBars + 200;
  const liveRets = series(11, n, 0, 0.002);
  const rows = rankModels(input([
    report('live_ma', { rets: liveRets, trades: minTrades, live: true }),
    report('edge', { rets: liveRets.map((r, i) => r + 0.0006 + 0.0005 * Math.sin(i)), trades: minTrades, liveRets }),
    report('worse', { rets: liveRets.map((r) => r - 0.0003), trades: minTrades, liveRets }),
    report('few_bars', { rets: series(12, 10, 0.01, 0.001), trades: minTrades, pnl: 10_000 }),
    report('more_bars', { rets: series(13, 40, 0, 0.001), trades: 0 }),
  ]));
  assert.deepEqual(rows.map((r) => r.model), ['edge', 'live_ma', 'worse', 'more_bars', 'few_bars']);
  assert.deepEqual(rows.map((r) => r.rank), [1, 2, 3, 4, 5]);
  const edge = rows[0]!;
  assert.ok(edge.evidence.edge_vs_live! > 0.95, `${edge.evidence.edge_vs_live}`);
  assert.ok(rows[2]!.evidence.edge_vs_live! < 0.05, `${rows[2]!.evidence.edge_vs_live}`);
  assert.equal(edge.evidence.paired_bars, n);
  assert.ok(edge.score! > rows[1]!.score! && rows[1]!.score! > rows[2]!.score!);
  assert.equal(edge.evidence.status, 'sufficient');
  assert.equal(edge.evidence.reason, null);
  assert.equal(rows[3]!.evidence.reason, `40 of ${minBars} bars, 0 of ${minTrades} trades`);
  assert.equal(rows[3]!.evidence.status, `collecting: 40/${minBars} bars, 0/${minTrades} trades`);
});

test('the counterpart: with no model holding evidence, the best-observed leads and PnL breaks ties', () => {
  const rows = rankModels(input([
    report('a', { rets: series(5, 30, 0, 0.001), trades: 0, pnl: 5 }),
    report('b', { rets: series(6, 30, 0, 0.001), trades: 1, pnl: 7 }),
    report('c', { rets: series(7, 50, 0, 0.001), trades: 0, pnl: -3 }),
  ]));
  assert.deepEqual(rows.map((r) => r.model), ['c', 'b', 'a']);
  assert.ok(rows.every((r) => r.score === null && r.sharpe === null));
});

test('the evidence policy: shipped values, defaults, and bad keys named', () => {
  assert.deepEqual(SHIPPED.evidence, DEFAULT_EVIDENCE_POLICY, 'ops/policies.yaml ships the defaults');
  assert.deepEqual(parsePolicies('max_concurrent_signals: 5').evidence, DEFAULT_EVIDENCE_POLICY);
  assert.deepEqual(parsePolicies('evidence: { min_bars: 30 }').evidence, { ...DEFAULT_EVIDENCE_POLICY, min_bars: 30 });
  assert.throws(() => parsePolicies('evidence: { min_bar: 30 }'), /evidence\.min_bar is not a known key/);
  assert.throws(() => parsePolicies('evidence: { min_bars: 2 }'), /evidence\.min_bars must be an integer in \[3/);
  assert.throws(() => parsePolicies('evidence: { min_trades: 1.5 }'), /evidence\.min_trades/);
  assert.throws(() => parseEvidencePolicy([1]), /evidence must be a mapping/);
  assert.throws(() => parsePolicies('evidence: { max_sharpe_se: 0 }'), /evidence\.max_sharpe_se must be a number in \(0, 1000\]/);
  assert.deepEqual(judgeEvidence(12, 9, { min_bars: 60, min_trades: 5, max_sharpe_se: 5 }), { sufficient: false, reason: '12 of 60 bars', status: 'collecting: 12/60 bars' });
  assert.deepEqual(judgeEvidence(60, 2, { min_bars: 60, min_trades: 5, max_sharpe_se: 5 }), { sufficient: false, reason: '2 of 5 trades', status: 'collecting: 2/5 trades' });
  assert.deepEqual(judgeEvidence(60, 5, { min_bars: 60, min_trades: 5, max_sharpe_se: 5 }), { sufficient: true, reason: null, status: 'sufficient' });
});
