// `hmm status` as a status board: one screen whatever the stack holds, what needs attention
// listed (and nothing listed when nothing does), and the CLI finding the stack by --url,
// OPS_URL, the root's lock file, OPS_PORT, then the default — in that order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { attention, renderStatusBoard, type StatusBoardInput } from '../../../src/cli/status.js';
import { describeLocation, locateOps } from '../../../src/cli/locate.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

function input(over: { halted?: boolean; models?: number; positions?: number; multiplier?: number; damaged?: number; modelState?: string; dayStart?: Record<string, number> | null } = {}): StatusBoardInput {
  const models = over.models ?? 3;
  const positions = over.positions ?? 1;
  return {
    url: 'http://127.0.0.1:8002', source: 'lock file', now: NOW,
    status: {
      state: {
        mode: 'paper', trading_enabled: !over.halted,
        trading_states: {
          global: over.halted ? { state: 'HALTED', reason: 'drill', actor: 'operator:abc', updated_at: '2026-12-04T11:59:00Z' } : { state: 'ACTIVE' },
          venues: {}, models: over.modelState ? { m0: { state: over.modelState, reason: 'review' } } : {},
        },
        exposure_multiplier: over.multiplier ?? 1, recovered: false,
        recovery: { engine_sim: { journal_damaged: over.damaged ?? 0, reconciliation: { in_sync: true, flagged: 0 }, unclean_shutdown: null } },
        engines: { engine_sim: { engine: 'ok', trading_enabled: !over.halted, open_orders: 1, orders: 40, venue_calls: { requests: 40, errors: 0 }, risk: { loss_cooldown_until: null } } },
        uptime_sec: 7325, equity: 10_120.5, cash: 8000, last_bar_at: '2026-12-04T11:59:59Z',
      },
    },
    portfolio: {
      equity: 10_120.5, gain: 120.5, gain_pct: 1.2,
      venues: { engine_sim: { equity: 10_120.5, positions: Array.from({ length: positions }, (_, k) => ({ symbol: `SYM${k}USDT`, qty: 0.5, avgPrice: 100, lastPrice: 110, unrealizedPnl: 5 })) } },
      unreachable: {},
    },
    strategy: {
      leaderboard: Array.from({ length: models }, (_, k) => ({ model: `m${k}`, stage: k === 0 ? 'live' : 'shadow', weight: k === 0 ? 1 : 0, capital_quota_usd: 1000, pnl: -3, score: k === 0 ? 0.61 : null, evidence: k === 0 ? { status: 'sufficient', bars: 300, trades: 12 } : { status: 'collecting: 12/120 bars', bars: 12, trades: 0 } })),
    },
    governance: { metrics: { drawdown_pct: { value: 2 } }, recent_actions: [] },
    ready: { ok: true, reasons: [] },
    dayStart: over.dayStart === undefined ? { engine_sim: 10_000 } : over.dayStart,
  };
}

test('a healthy stack: every section on one screen, no alerts, PnL today from the day-start equity', () => {
  const out = renderStatusBoard(input());
  const lines = out.trimEnd().split('\n');
  assert.ok(lines.length <= 24, `${lines.length} lines:\n${out}`);
  for (const head of ['hmm-stack paper', 'Trading    ACTIVE', 'engine_sim', 'Equity     $10,120.50', 'PnL today  +$120.50 (+1.21 %)', 'Positions  SYM0USDT', 'Models     model', 'Alerts     none']) assert.ok(out.includes(head), `${head}\n${out}`);
  assert.match(out, /m0 +live +1\.00 +\$1,000\.00 +-\$3\.00 +0\.61 +sufficient \(300 bars, 12 trades\)/);
  assert.match(out, /m1 +shadow .*collecting: 12\/120 bars/);
  assert.deepEqual(attention(input()), []);
});

test('what needs attention is listed: halted (with why and who), reduced exposure, a model state, damaged journal lines, not ready', () => {
  const i = { ...input({ halted: true, multiplier: 0.7, damaged: 2, modelState: 'REDUCING' }), ready: { ok: false, reasons: ['market data stale (40 s old)'] } };
  const out = renderStatusBoard(i);
  assert.match(out, /Trading +HALTED — drill \(operator:abc, 2026-12-04 11:59\) · exposure ×0\.70/);
  assert.match(out, /orders off/);
  const a = attention(i);
  assert.deepEqual(a.map((l) => l.split(' ')[0]), ['not', 'model', 'governance', 'engine_sim:']);
  assert.match(a.join('\n'), /market data stale/);
  assert.match(a.join('\n'), /2 damaged intent-journal line/);
});

test('a big stack still fits one screen: tables are capped and say how many more and where', () => {
  const i = { ...input({ models: 30, positions: 20, multiplier: 0.5, damaged: 1, modelState: 'HALTED' }), ready: { ok: false, reasons: ['a', 'b', 'c', 'd', 'e', 'f'] } };
  const out = renderStatusBoard(i);
  assert.ok(out.trimEnd().split('\n').length <= 24, out);
  assert.match(out, /… 24 more models \(curl \/strategy\/status\)/);
  assert.match(out, /… 16 more positions/);
  assert.match(out, /more alerts/);
});

test('PnL today says n/a when the ledgers are not on this host, and never invents a figure', () => {
  assert.match(renderStatusBoard(input({ dayStart: null })), /PnL today {2}n\/a — the ledgers are not under this root/);
  assert.match(renderStatusBoard(input({ positions: 0 })), /Positions {2}none \(flat\)/);
});

test('locating the stack: --url > OPS_URL > live lock file > OPS_PORT > default; a dead lock is skipped and said so', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-locate-'));
  try {
    assert.equal(locateOps(root, 'http://h:1', { OPS_URL: 'http://x:2', OPS_PORT: '9000' }).source, '--url');
    assert.equal(locateOps(root, undefined, { OPS_URL: 'http://x:2', OPS_PORT: '9000' }).url, 'http://x:2');
    const none = locateOps(root, undefined, { OPS_PORT: '9000' });
    assert.deepEqual([none.url, none.source], ['http://127.0.0.1:9000', 'OPS_PORT']);
    assert.match(none.notes[0]!, /no stack lock/);
    assert.equal(locateOps(root, undefined, { OPS_PORT: '9000', OPS_HOST: '0.0.0.0' }).url, 'http://127.0.0.1:9000');
    assert.equal(locateOps(root, undefined, {}).url, 'http://127.0.0.1:8002');
    const bad = locateOps(root, undefined, { OPS_PORT: '0' });
    assert.equal(bad.source, 'default');
    assert.match(describeLocation(bad), /OPS_PORT=0 is not a port to connect to/);

    // A live process's lock (the test runner, this test's parent, stands in for the stack) wins over OPS_PORT.
    const lock = (pid: number) => writeFileSync(join(root, '.hmm-stack.lock'), JSON.stringify({ pid, hostname: hostname(), started_at: 'x', ops_url: 'http://0.0.0.0:41234', engine_url: null }));
    lock(process.ppid);
    const live = locateOps(root, undefined, { OPS_PORT: '9000' });
    assert.deepEqual([live.url, live.source], ['http://127.0.0.1:41234', 'lock file']);
    // A lock left by a dead process is not where the stack is.
    lock(2 ** 22 + 12345);
    const dead = locateOps(root, undefined, { OPS_PORT: '9000' });
    assert.equal(dead.source, 'OPS_PORT');
    assert.match(dead.notes.join(), /not running/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
