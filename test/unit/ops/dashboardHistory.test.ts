// The dashboard history's damaged file: set aside as evidence, never over an earlier
// quarantine, named in an ERROR, and the history starts again on disk (a real SQLite
// file in a temporary directory).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../../src/obs/logger.js';
import { DashboardHistory } from '../../../src/ops/dashboardHistory.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function open(path: string, errors: string[]): DashboardHistory {
  const log = { info: () => undefined, warn: () => undefined, error: (_f: unknown, msg: string) => errors.push(msg) } as unknown as Logger;
  return new DashboardHistory({ path, retentionMs: () => 3_600_000, log, now: () => 1_000 });
}

const point = { ts: 1_000, equity: 10_100, cash: 10_000, gain: 100, realized_pnl: 0, unrealized_pnl: 100, fees: 0, exposure: 100, drawdown_pct: 0 };

test('a second damaged history file is set aside beside the first, which is kept as it was', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-dash-history-'));
  dirs.push(dir);
  const path = join(dir, 'dashboard_history.sqlite');

  writeFileSync(path, 'first damage, not a database');
  const errors: string[] = [];
  let h = open(path, errors);
  h.addPoint(point);
  assert.deepEqual(h.points(0, 10).map((p) => p.equity), [10_100], 'the history starts again');
  h.close();
  assert.equal(readFileSync(`${path}.damaged`, 'utf8'), 'first damage, not a database');
  assert.ok(errors.some((m) => m.startsWith(`[OPS] ${path} is damaged`) && m.includes(`moved to ${path}.damaged,`)), errors.join('\n'));

  writeFileSync(path, 'second damage');
  errors.length = 0;
  h = open(path, errors);
  try {
    assert.deepEqual(h.points(0, 10), [], 'a fresh history, not the damaged one');
  } finally {
    h.close();
  }
  assert.equal(readFileSync(`${path}.damaged`, 'utf8'), 'first damage, not a database', 'the first evidence is not overwritten');
  assert.equal(readFileSync(`${path}.damaged.2`, 'utf8'), 'second damage');
  assert.ok(errors.some((m) => m.includes(`moved to ${path}.damaged.2,`)), errors.join('\n'));
  assert.ok(!existsSync(`${path}.damaged.3`));
});

test('a sound history file is opened as it is, nothing set aside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-dash-history-'));
  dirs.push(dir);
  const path = join(dir, 'dashboard_history.sqlite');
  const errors: string[] = [];
  let h = open(path, errors);
  h.addPoint(point);
  h.close();
  h = open(path, errors);
  try {
    assert.deepEqual(h.points(0, 10).map((p) => p.equity), [10_100], 'the history survives a restart');
  } finally {
    h.close();
  }
  assert.deepEqual(errors, []);
  assert.ok(!existsSync(`${path}.damaged`));
});
