// engine/state/portfolio.json at start-up: a missing, stale, truncated or edited snapshot is
// rebuilt from the ledger (which always wins), logged as [RECON], and reported by recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { fx } from '../../../src/core/decimal.js';
import { symbol } from '../../../src/core/ids.js';
import { Engine } from '../../../src/engine/engine.js';
import type { RecoveryReport } from '../../../src/engine/views.js';
import { assessSnapshot, checksumOf, readSnapshot } from '../../../src/engine/snapshot.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';
import { engineFixture } from '../../support/engineFixture.js';

const BTC = symbol('BTCUSDT');

interface Started { engine: Engine; lines: { level: string; msg: string }[]; close(): Promise<void> }

function start(dir: string): Started {
  const lines: { level: string; msg: string }[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { level: string; msg: string }); cb(); } });
  const logger = pino({ level: 'debug', formatters: { level: (label) => ({ level: label.toUpperCase() }) } }, sink);
  const f = engineFixture({
    dir, logger,
    limits: { tradeSymbols: new Set(['BTCUSDT']), maxNotionalUsdt: fx('100000') },
    venue: (d) => {
      const venue = new SimVenue({ id: 'sim', startingBalances: { USDT: '100000' }, book: { fixedLevelQty: { BTCUSDT: '1' } }, statePath: join(d, 'venue.sqlite') });
      venue.onBar({ symbol: BTC, ts: 1_000, open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 1_000 });
      return venue;
    },
  });
  return { engine: f.engine, lines, close: f.close };
}

async function withHistory(fn: (dir: string, snapshotText: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-snap-'));
  try {
    const s = start(dir);
    for (let i = 0; i < 3; i++) await s.engine.submit({ symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null });
    await s.close(); // writes the final snapshot
    await fn(dir, readFileSync(join(dir, 'portfolio.json'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function expectRecovered(r: RecoveryReport, status: string) {
  assert.equal(r.recovered, true);
  assert.equal(r.fills, 3);
  assert.equal(r.orders, 3);
  assert.equal(r.positions, 1);
  assert.equal(r.snapshot?.status, status);
  assert.equal(r.snapshot?.rebuilt, status !== 'ok');
}

test('a snapshot written at a clean stop matches the ledger; a fresh start is not a recovery', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-snap-'));
  try {
    const fresh = start(dir);
    assert.equal(fresh.engine.recovery.recovered, false);
    assert.equal(fresh.engine.recovery.source, 'fresh');
    assert.ok(!fresh.lines.some((l) => l.msg.includes('[RECON]')), 'nothing to recover on a first start');
    await fresh.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await withHistory(async (dir) => {
    const s = start(dir);
    expectRecovered(s.engine.recovery, 'ok');
    assert.equal(s.engine.recovery.source, 'ledger');
    assert.equal(s.engine.recovery.ledger_check.ok, true);
    assert.ok(s.lines.some((l) => l.level === 'INFO' && /\[RECON\] engine_sim recovered from the ledger: 3 orders, 3 fills/.test(l.msg)));
    await s.close();
  });
});

test('a truncated snapshot is reported corrupt, kept aside, and rebuilt from the ledger', async () => {
  await withHistory(async (dir, text) => {
    writeFileSync(join(dir, 'portfolio.json'), text.slice(0, Math.floor(text.length / 2)));
    const s = start(dir);
    expectRecovered(s.engine.recovery, 'corrupt');
    assert.match(s.engine.recovery.snapshot!.detail, /not valid JSON/);
    assert.ok(s.lines.some((l) => l.level === 'ERROR' && l.msg.includes('[RECON]') && l.msg.includes('corrupt')));
    assert.equal(readFileSync(join(dir, 'portfolio.json.rejected'), 'utf8'), text.slice(0, Math.floor(text.length / 2)));
    const rebuilt = readSnapshot(join(dir, 'portfolio.json'));
    assert.ok(rebuilt.kind === 'ok' && rebuilt.body.seq === 3);
    await s.close();
  });
});

test('a stale snapshot (older sequence) and a hand-edited one (same sequence, other numbers) are rebuilt', async () => {
  await withHistory(async (dir, text) => {
    const doc = JSON.parse(text) as Record<string, unknown>;
    const { checksum: _c, ...body } = doc;
    const stale = { ...body, seq: 2 };
    writeFileSync(join(dir, 'portfolio.json'), JSON.stringify({ ...stale, checksum: checksumOf(stale) }));
    let s = start(dir);
    expectRecovered(s.engine.recovery, 'stale');
    assert.ok(s.lines.some((l) => l.level === 'WARN' && /\[RECON\].*stale \(snapshot seq 2, ledger has 3 fills\)/.test(l.msg)));
    await s.close();

    const edited = { ...body, cash: '1000000' };
    writeFileSync(join(dir, 'portfolio.json'), JSON.stringify({ ...edited, checksum: checksumOf(edited) }));
    s = start(dir);
    expectRecovered(s.engine.recovery, 'diverged');
    assert.match(s.engine.recovery.snapshot!.detail, /cash 1000000/);
    await s.close();
    const after = readSnapshot(join(dir, 'portfolio.json'));
    assert.ok(after.kind === 'ok' && after.body.cash === body.cash, 'the ledger\'s numbers were written back');
  });
});

test('a missing snapshot is rebuilt; a snapshot with history beside a new ledger is kept as evidence', async () => {
  await withHistory(async (dir, text) => {
    rmSync(join(dir, 'portfolio.json'));
    const s = start(dir);
    expectRecovered(s.engine.recovery, 'missing');
    assert.ok(existsSync(join(dir, 'portfolio.json')));
    await s.close();

    for (const f of ['ledger.sqlite', 'ledger.sqlite-wal', 'ledger.sqlite-shm']) rmSync(join(dir, f), { force: true });
    writeFileSync(join(dir, 'portfolio.json'), text);
    const lost = start(dir);
    assert.equal(lost.engine.recovery.recovered, false);
    assert.ok(lost.lines.some((l) => l.level === 'ERROR' && /the ledger is new; the ledger was lost/.test(l.msg)));
    assert.equal(readFileSync(join(dir, 'portfolio.json.rejected'), 'utf8'), text);
    await lost.close();
  });
});

test('assessSnapshot compares sequence, cash and positions', () => {
  const exp = { seq: 2, cash: '10', positions: { BTCUSDT: '1' } };
  const ok = (body: Record<string, unknown>) => assessSnapshot({ kind: 'ok', body: { seq: 2, ...body } }, exp).status;
  assert.equal(ok({ cash: '10', positions: [{ symbol: 'BTCUSDT', qty: '1' }] }), 'ok');
  assert.equal(ok({ cash: '10', positions: [] }), 'diverged');
  assert.equal(ok({ cash: '10', positions: [{ symbol: 'BTCUSDT', qty: '1' }, { symbol: 'ETHUSDT', qty: '2' }] }), 'diverged');
  assert.equal(assessSnapshot({ kind: 'ok', body: { seq: 1 } }, exp).status, 'stale');
  assert.equal(assessSnapshot({ kind: 'missing' }, exp).status, 'missing');
  assert.equal(assessSnapshot({ kind: 'corrupt', message: 'checksum mismatch' }, exp).status, 'corrupt');
});
