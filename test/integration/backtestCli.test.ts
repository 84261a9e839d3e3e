// `hmm train-hmm` and `hmm backtest` from a clean root, as an operator runs them: child
// processes of bin/hmm.mjs, files written, bad input refused with a message and exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hmm = (root: string, ...args: string[]) => spawnSync(process.execPath, ['bin/hmm.mjs', '--root', root, ...args], { encoding: 'utf8', timeout: 120_000 });

test('train-hmm on a clean root saves a checksummed model and prints the fit', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-cli-'));
  try {
    const r = hmm(root, 'train-hmm', '--bars', '2000', '--seed', '4', '--k', '2', '--covariance', 'full', '--id', 'btc_hmm');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /trained btc_hmm v1: 2 regimes, full covariance/);
    assert.match(r.stdout, /log-likelihood -?\d+\.\d+ \(-?\d+\.\d+ per bar\), BIC/);
    const doc = JSON.parse(readFileSync(join(root, 'ops/models/btc_hmm/v1.json'), 'utf8')) as { k: number; covarianceType: string; checksum: string };
    assert.equal(doc.k, 2);
    assert.equal(doc.covarianceType, 'full');
    assert.match(doc.checksum, /^sha256:/);
    const again = hmm(root, 'train-hmm', '--bars', '2000', '--seed', '5', '--id', 'btc_hmm');
    assert.equal(again.status, 0, again.stderr);
    assert.ok(existsSync(join(root, 'ops/models/btc_hmm/v2.json')), 'versions accumulate');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('backtest writes the report and the equity curve; hmm trains in sample and trades out of sample', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-cli-'));
  try {
    const out = join(root, 'bt');
    const r = hmm(root, 'backtest', '--model', 'hmm', '--bars', '3000', '--seed', '2', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /return\s+-?\d/);
    assert.match(r.stdout, /sharpe \/ sortino/);
    assert.match(r.stdout, /traded out of sample/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { report: { steps: number; model: string; fees: number }; equity_curve: unknown[] };
    assert.equal(report.report.model, 'hmm_bt');
    assert.equal(report.report.steps, 2100);
    const csv = readFileSync(join(out, 'equity.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, report.report.steps + 1);
    assert.equal(report.equity_curve.length, 2000, 'the JSON curve is thinned to 2000 points; the CSV has every step');
    // The HMM's Viterbi regime path over the traded bars, summarised per regime.
    // Four regimes, the default fit (calm, up-trend, down-trend, volatile).
    assert.match(r.stdout, /regime 0 of 4 \(Viterbi\): [\d.]+ % of bars in \d+ spells/);
    const regimes = (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { run: { regimes: { summary: { share_pct: number }[]; spells: { bars: number }[] } } }).run.regimes;
    assert.equal(regimes.summary.length, 4);
    assert.ok(Math.abs(regimes.summary.reduce((a, x) => a + x.share_pct, 0) - 100) < 1e-6);
    assert.ok(regimes.spells.length > 0);

    const ma = hmm(root, 'backtest', '--model', 'ensemble', '--bars', '1500', '--seed', '3', '--symbol', 'BTCUSDT,ETHUSDT');
    assert.equal(ma.status, 0, ma.stderr);
    assert.match(ma.stdout, /wrote .*backtests\/ensemble-.*\/report\.json/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bad input: a message naming the option and a non-zero exit', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-cli-'));
  try {
    const cases: [string[], RegExp, number][] = [
      [['backtest', '--model', 'svm', '--bars', '100'], /--model must be ma, hmm or ensemble/, 2],
      [['backtest', '--bars', '100', '--csv', 'x.csv'], /exactly one of --csv FILE or --bars N/, 2],
      [['backtest', '--bars', 'many'], /--bars must be an integer/, 2],
      [['backtest', '--csv', join(root, 'missing.csv')], /--csv: cannot read/, 1],
      [['train-hmm'], /exactly one of --csv FILE or --bars N/, 2],
      [['train-hmm', '--bars', '2000', '--covariance', 'spherical'], /--covariance must be "diag" or "full"/, 2],
      [['train-hmm', '--bars', '2000', '--id', '../evil'], /--id/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = hmm(root, ...args);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
