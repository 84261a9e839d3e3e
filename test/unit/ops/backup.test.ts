// `hmm backup` / `hmm restore` (ops/backup.ts): consistent SQLite copies taken while orders
// flow, a manifest with checksums, a restore that refuses damaged archives and running
// stacks without touching anything, and restored state that reconciles with its venue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { fx } from '../../../src/core/decimal.js';
import { symbol } from '../../../src/core/ids.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import { Engine } from '../../../src/engine/engine.js';
import { Ledger } from '../../../src/engine/ledger.js';
import { OrderLog } from '../../../src/engine/orderLog.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { BackupError, MANIFEST_NAME, createBackup, readRestoreMarker, restoreBackup, verifyBackup } from '../../../src/ops/backup.js';
import { stackPaths } from '../../../src/ops/paths.js';
import { lockPath } from '../../../src/ops/stackLock.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';

const BTC = symbol('BTCUSDT');

function openEngine(root: string) {
  const paths = stackPaths(root);
  const venue = new SimVenue({ id: 'sim', startingBalances: { USDT: '100000' }, book: { fixedLevelQty: { BTCUSDT: '5' } }, statePath: paths.simVenueState('engine_sim'), makerVolumeShare: 1 });
  if (venue.lastPrice(BTC) === undefined) venue.onBar({ symbol: BTC, ts: 1_000, open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 1_000 });
  const ledger = new Ledger(paths.ledger('engine_sim'));
  const orderLog = new OrderLog(paths.orderLog);
  const engine = new Engine({
    name: 'engine_sim', venue, ledger, orderLog, snapshotPath: paths.portfolioSnapshot, startingCash: fx('100000'),
    limits: { tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('100000'), maxOrdersPerMin: 100_000 },
    tradingEnabled: true, bus: new InProcessBus(), logger: silentLogger(), metrics: null, reconcile: { newOrderGraceMs: 0 },
  });
  return { engine, venue, ledger, async close() { await engine.close(); await venue.close(); ledger.close(); orderLog.close(); } };
}

function seedOperatorFiles(root: string): void {
  mkdirSync(join(root, 'ops/logs'), { recursive: true });
  writeFileSync(join(root, 'ops/strategy_registry.json'), JSON.stringify({ models: { ma: { stage: 'live' } } }));
  writeFileSync(join(root, 'ops/capital_allocations.json'), JSON.stringify({ capital_quota_usd: { ma: 1000 } }));
  writeFileSync(join(root, 'ops/logs/audit.jsonl'), '{"a":1}\n');
  writeFileSync(join(root, 'ops/logs/ops.log'), '{"level":"INFO"}\n');
}

/** Every file under root (relative path → sha256), for "nothing was overwritten". */
function treeHash(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(root, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(root);
  return out;
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'hmm-backup-'));
  try {
    await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const market = (qty = '0.01') => ({ symbol: BTC, side: 'BUY' as const, type: 'MARKET' as const, qty: fx(qty), price: null });
const limit = (price: string) => ({ symbol: BTC, side: 'BUY' as const, type: 'LIMIT' as const, qty: fx('0.01'), price: fx(price), timeInForce: 'GTC' as const });

test('a backup taken while orders flow is one consistent set; restored elsewhere it reconciles with no unexplained drift', async () => {
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    const e = openEngine(root);
    for (let i = 0; i < 30; i++) await e.engine.submit(i % 3 === 0 ? limit(String(59_000 + i)) : market());
    // Keep trading while the backup runs (its async steps let these interleave).
    let stop = false;
    let n = 0;
    const flow = (async () => {
      while (!stop) {
        await e.engine.submit(n % 2 ? market('0.001') : limit(String(59_500 + (n % 50))));
        if (n % 5 === 0) e.venue.onBar({ symbol: BTC, ts: 2_000 + n, open: 59_600, high: 60_100, low: 59_400 + (n % 100), close: 59_700, volume: 2_000 });
        n++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const out = join(root, 'backups/b1.tar.gz');
    const b = await createBackup(root, { out });
    stop = true;
    await flow;
    await e.close();
    assert.ok(n > 0, 'orders flowed during the backup');

    const names = b.manifest.files.map((f) => f.path);
    for (const f of ['ops/strategy_registry.json', 'ops/capital_allocations.json', 'ops/logs/audit.jsonl', 'engine/state/engine_sim.ledger.sqlite', 'engine/state/engine_sim.venue.sqlite', 'engine/state/portfolio.json', 'engine/logs/orders.jsonl']) {
      assert.ok(names.includes(f), `backs up ${f}`);
    }
    assert.ok(!names.some((f) => /-(wal|shm)$/.test(f)), 'never the live WAL files');
    assert.ok(!names.includes('ops/logs/ops.log'), 'ops/logs/*.jsonl only, as the runbook lists');
    assert.equal(b.manifest.sqlite_consistent, true);
    assert.ok(b.manifest.ledgers['engine/state/engine_sim.ledger.sqlite']!.orders >= 30);
    assert.equal((await verifyBackup(out)).checksum, b.manifest.checksum);

    // Disaster recovery on another machine: an empty root.
    await withRoot(async (other) => {
      const r = await restoreBackup(other, out);
      assert.equal(r.previous, null);
      assert.deepEqual(JSON.parse(readFileSync(join(other, 'ops/capital_allocations.json'), 'utf8')), { capital_quota_usd: { ma: 1000 } });
      const marker = readRestoreMarker(stackPaths(other).engineStateDir);
      assert.equal(marker?.archive_name, 'b1.tar.gz');
      const again = openEngine(other);
      try {
        const ledgerCount = b.manifest.ledgers['engine/state/engine_sim.ledger.sqlite']!;
        assert.equal(again.engine.recovery.orders, ledgerCount.orders);
        assert.equal(again.engine.recovery.fills, ledgerCount.fills);
        const rec = await again.engine.reconcile('startup');
        assert.equal(rec.flagged.length, 0, JSON.stringify(rec.flagged));
        assert.equal(rec.in_sync, true);
        // Every fill the venue made is in the ledger, once.
        const ledgerTrades = [...again.ledger.fills()].map((f) => f.tradeId).sort();
        const venueTrades: string[] = [];
        for (const o of again.ledger.recentOrders(100_000)) venueTrades.push(...(await again.venue.fetchFills(o.clientOrderId)).map((f) => f.tradeId));
        assert.deepEqual(ledgerTrades, venueTrades.sort());
        assert.equal(again.engine.portfolioState().cash, again.venue.balances().get('USDT')!.total);
      } finally {
        await again.close();
      }
    });
  });
});

test('restore over an existing root: the replaced state is kept aside; the restored ledger is the backup\'s', async () => {
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    let e = openEngine(root);
    await e.engine.submit(market());
    await e.close();
    const out = join(root, 'b.tar.gz');
    await createBackup(root, { out });
    e = openEngine(root);
    for (let i = 0; i < 5; i++) await e.engine.submit(market());
    await e.close();
    writeFileSync(join(root, 'ops/capital_allocations.json'), '{"changed":true}');

    const r = await restoreBackup(root, out);
    assert.ok(r.previous && existsSync(join(r.previous, 'engine/state/engine_sim.ledger.sqlite')));
    assert.equal(readFileSync(join(r.previous, 'ops/capital_allocations.json'), 'utf8'), '{"changed":true}');
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'ops/capital_allocations.json'), 'utf8')), { capital_quota_usd: { ma: 1000 } });
    const l = new Ledger(stackPaths(root).ledger('engine_sim'), 'normal', { readonly: true });
    assert.equal(l.counts().orders, 1);
    l.close();
    assert.ok(!existsSync(join(root, 'engine/state/engine_sim.ledger.sqlite-wal')) || statSync(join(root, 'engine/state/engine_sim.ledger.sqlite-wal')).size === 0);
    assert.ok(!readdirSync(root).some((n) => n.startsWith('.hmm-restore-')), 'the temp dir is removed');
  });
});

test('damaged archives are refused with a clear error and nothing is overwritten', async () => {
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    const e = openEngine(root);
    await e.engine.submit(market());
    await e.close();
    const good = join(root, 'good.tar.gz');
    await createBackup(root, { out: good });
    const bytes = readFileSync(good);
    const bad = join(root, 'bad.tar.gz');

    // A tampered archive built from the good one's content.
    const rebuild = async (edit: (dir: string) => void) => {
      const dir = mkdtempSync(join(tmpdir(), 'hmm-tamper-'));
      try {
        await tar.x({ file: good, cwd: dir });
        edit(dir);
        await tar.c({ gzip: true, file: bad, cwd: dir, portable: true }, readdirSync(dir));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const cases: [string, () => Promise<void> | void, RegExp][] = [
      ['truncated', () => writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6))), /damaged or not a backup archive/],
      ['a flipped byte', () => { const c = Buffer.from(bytes); c[Math.floor(c.length / 2)]! ^= 0xff; writeFileSync(bad, c); }, /damaged or not a backup archive/],
      ['not an archive', () => writeFileSync(bad, 'hello'), /damaged or not a backup archive/],
      ['empty', () => writeFileSync(bad, ''), /empty/],
      ['a file changed after the backup', () => rebuild((d) => writeFileSync(join(d, 'ops/strategy_registry.json'), '{"models":{}}')), /strategy_registry\.json (is \d+ bytes|fails its SHA-256)/],
      ['a tampered manifest', () => rebuild((d) => {
        const m = JSON.parse(readFileSync(join(d, MANIFEST_NAME), 'utf8')) as { created_at: string };
        m.created_at = '2000-01-01T00:00:00.000Z';
        writeFileSync(join(d, MANIFEST_NAME), JSON.stringify(m));
      }), /manifest's checksum does not match/],
      ['an extra file', () => rebuild((d) => writeFileSync(join(d, 'ops/evil.json'), '{}')), /ops\/evil\.json is in the archive but not in the manifest/],
      ['no manifest', () => rebuild((d) => rmSync(join(d, MANIFEST_NAME))), /no readable backup_manifest\.json/],
      ['a missing file', () => rebuild((d) => rmSync(join(d, 'engine/state/portfolio.json'))), /portfolio\.json is listed in the manifest but missing/],
    ];
    const before = treeHash(join(root, 'engine'));
    const opsBefore = treeHash(join(root, 'ops'));
    for (const [what, make, message] of cases) {
      await make();
      await assert.rejects(restoreBackup(root, bad), (err: Error) => {
        assert.ok(err instanceof BackupError, `${what}: ${err.message}`);
        assert.match(err.message, message, what);
        return true;
      });
      assert.deepEqual(treeHash(join(root, 'engine')), before, `${what}: engine/ untouched`);
      assert.deepEqual(treeHash(join(root, 'ops')), opsBefore, `${what}: ops/ untouched`);
      assert.ok(!readdirSync(root).some((n) => n.startsWith('.hmm-restore-') || n.startsWith('pre-restore-')), what);
    }
    // A damaged SQLite copy inside a well-formed archive fails the integrity check.
    await rebuild((d) => {
      const p = join(d, 'engine/state/engine_sim.ledger.sqlite');
      const db = readFileSync(p);
      db.fill(0x41, 4096, Math.min(db.length, 8192));
      writeFileSync(p, db);
      const m = JSON.parse(readFileSync(join(d, MANIFEST_NAME), 'utf8')) as { files: { path: string; size: number; sha256: string }[]; checksum?: string };
      const f = m.files.find((x) => x.path === 'engine/state/engine_sim.ledger.sqlite')!;
      f.sha256 = createHash('sha256').update(db).digest('hex');
      const { checksum: _c, ...body } = m;
      writeFileSync(join(d, MANIFEST_NAME), JSON.stringify({ ...body, checksum: createHash('sha256').update(JSON.stringify(body)).digest('hex') }));
    });
    await assert.rejects(restoreBackup(root, bad), /fails SQLite's integrity check/);
    assert.deepEqual(treeHash(join(root, 'engine')), before);
    assert.ok(gunzipSync(gzipSync('ok')).toString() === 'ok');
  });
});

test('restore refuses while the stack runs: a live process holds the lock, or the Ops API answers', async () => {
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    const e = openEngine(root);
    await e.engine.submit(market());
    await e.close();
    const out = join(root, 'b.tar.gz');
    await createBackup(root, { out });

    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      writeFileSync(lockPath(root), JSON.stringify({ pid: child.pid, hostname: (await import('node:os')).hostname(), started_at: new Date().toISOString(), ops_url: null, engine_url: null }));
      await assert.rejects(restoreBackup(root, out), /the stack is running on .* \(pid \d+\); stop it before restoring/);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    // The same lock from a process that is gone is a crash's leftover, not a running stack…
    const server = createServer((_req, res) => res.end('{"ops":"ok"}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      // …but an Ops API that answers is.
      await assert.rejects(restoreBackup(root, out, { opsUrls: [url] }), /an Ops API answers at http:\/\/127\.0\.0\.1:\d+; stop the stack/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const r = await restoreBackup(root, out, { opsUrls: [url] });
    assert.ok(r.restored.length > 0);
    cpSync(out, join(root, 'copy.tar.gz'));
  });
});

// Issue 14 item 7: a backup taken while trading, restored after `hmm kill`, must not trade at once.
test('restore keeps the operator\'s current trading decision unless --with-trading-state, and says which', async () => {
  const trading = JSON.stringify({ version: 1, global: { state: 'ACTIVE' } });
  const halted = JSON.stringify({ version: 2, global: { state: 'HALTED', reason: 'hmm kill' } });
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    writeFileSync(join(root, 'ops/trading_states.json'), trading);
    const out = join(root, 'b.tar.gz');
    await createBackup(root, { out });
    writeFileSync(join(root, 'ops/trading_states.json'), halted);

    const kept = await restoreBackup(root, out);
    assert.equal(kept.tradingState, 'kept');
    assert.equal(readFileSync(join(root, 'ops/trading_states.json'), 'utf8'), halted, 'the kill stays in force');
    assert.ok(!kept.restored.includes('ops/trading_states.json'));
    assert.equal(readRestoreMarker(stackPaths(root).engineStateDir)?.trading_state, 'kept');
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'ops/capital_allocations.json'), 'utf8')), { capital_quota_usd: { ma: 1000 } }, 'the rest is restored');

    // The counterpart: asked for, the backup's decision replaces the current one (kept aside).
    const asked = await restoreBackup(root, out, { withTradingState: true, now: new Date(Date.now() + 1_000) });
    assert.equal(asked.tradingState, 'restored');
    assert.equal(readFileSync(join(root, 'ops/trading_states.json'), 'utf8'), trading);
    assert.equal(readFileSync(join(asked.previous!, 'ops/trading_states.json'), 'utf8'), halted);

    // The CLI line says which it did.
    writeFileSync(join(root, 'ops/trading_states.json'), halted);
    const { restoreCommand } = await import('../../../src/cli/backup.js');
    const said = await restoreCommand(root, out, [], false);
    assert.match(said, /trading state: KEPT the current one/);
    assert.equal(readFileSync(join(root, 'ops/trading_states.json'), 'utf8'), halted);
  });
  // A new host (empty root): the backup's decision is all there is, and the answer says so.
  await withRoot(async (root) => {
    seedOperatorFiles(root);
    writeFileSync(join(root, 'ops/trading_states.json'), halted);
    const out = join(tmpdir(), `hmm-b-${process.pid}.tar.gz`);
    await createBackup(root, { out });
    const other = mkdtempSync(join(tmpdir(), 'hmm-backup-new-'));
    try {
      const r = await restoreBackup(other, out);
      assert.equal(r.tradingState, 'restored');
      assert.equal(readFileSync(join(other, 'ops/trading_states.json'), 'utf8'), halted);
    } finally {
      rmSync(other, { recursive: true, force: true });
      rmSync(out, { force: true });
    }
  });
});
