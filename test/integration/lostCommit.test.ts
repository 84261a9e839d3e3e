// A ledger commit lost to a full disk after the venue took the order (issue 14, item 1): the
// engine's SQLite ledger, intent journal and order log on a real tmpfs (unshare -rm), filled
// through a deterministic seam, the venue's submit, between the journal line and the ledger
// commit (test/support/lostCommitChild.ts). The client must get a STORAGE refusal, never an ack;
// once the disk frees, the engine re-records the order from the journal and settles it with the
// venue: ledger = venue, the order reached the venue once, retries are answered from the ledger.
// Counterpart: the order before the fill is acknowledged, with no STORAGE refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../support/hmmProcess.js';
import { canMountTmpfs, tmpfsCommand } from './diskFullHarness.js';

const skip = canMountTmpfs() ? false : 'this machine does not let a process mount a tmpfs in its own user + mount namespace (unshare -rm)';

test('a ledger commit lost to a full disk after the venue took the order: refused STORAGE, re-recorded from the journal once the disk frees, ledger = venue, no duplicate', { skip, timeout: 60_000 }, () => {
  const host = mkdtempSync(join(tmpdir(), 'hmm-lostcommit-'));
  const dir = join(host, 'root');
  try {
    const [cmd, args] = tmpfsCommand(dir, 4, [process.execPath, '--import', 'tsx', 'test/support/lostCommitChild.ts', dir]);
    const r = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8', timeout: 50_000 });
    const why = `\nstatus ${r.status}\n${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, why);
    const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    const refused = { kind: 'rejected', reason: 'STORAGE' };

    assert.equal(o.before.kind, 'accepted', `a disk with room acknowledges${why}`);
    // The commit was provably lost: the venue filled the order, the ledger has no row of it,
    // the journal names it, and the client was refused, not acknowledged.
    assert.deepEqual({ kind: o.lost.kind, reason: o.lost.reason }, refused, why);
    assert.match(o.lost.message, /ledger commit failed/);
    assert.equal(o.whileFull.venueHasLost, 'FILLED');
    assert.equal(o.whileFull.ledgerHasLost, false, 'the commit was lost');
    assert.equal(o.whileFull.journalNamesLost, true, 'the intent journal kept it');
    assert.match(o.whileFull.fault ?? '', /^(SQLITE_FULL|ENOSPC)/);
    assert.equal(o.whileFull.metric.length, 1, 'hmm_storage_fault is 1');
    assert.deepEqual({ kind: o.whileFull.retry.kind, reason: o.whileFull.retry.reason }, refused, 'a retry on the full disk is refused too');
    assert.deepEqual({ kind: o.whileFull.fresh.kind, reason: o.whileFull.fresh.reason }, refused);

    // Freed: recovered from the journal and settled with the venue.
    assert.equal(o.cleared, true);
    // A retry in the turn the fault clears, before the books are rebuilt: without a row it would
    // look new and reach the venue again (which refuses the id, and the ledger would book the
    // refusal over a filled order); it is refused STORAGE until the order is back on record.
    assert.deepEqual({ kind: o.retryBeforeRebuild.kind, reason: o.retryBeforeRebuild.reason }, refused, JSON.stringify(o.retryBeforeRebuild));
    assert.deepEqual(o.ledgerLost, o.venueLost, 'the ledger has the order as the venue has it');
    assert.equal(o.ledgerLost?.status, 'FILLED');
    assert.ok(o.venueTrades.length >= 1);
    assert.deepEqual(o.ledgerTrades, o.venueTrades, 'the ledger booked the venue\'s fills of it, once each');
    assert.equal(o.engineBtc, o.venueBtc, 'position: engine = venue');
    assert.equal(o.engineCash, o.venueUsdt, 'cash: engine = venue');
    // No duplicate: the venue saw the lost order once; retries are answered from the ledger.
    assert.equal(o.sent['lc-lost'], 1, `the lost order reached the venue once: ${JSON.stringify(o.sent)}`);
    assert.equal(o.sent['lc-during'], undefined, 'an order refused on the full disk never reached the venue');
    assert.equal(o.retryAfter.kind, 'accepted');
    assert.equal(o.after.kind, 'accepted', 'new orders are taken again');
    assert.equal(o.ledgerOrders, 3, 'lc-before, lc-lost, lc-after: one row each');
    assert.deepEqual(o.consistency, []);
    assert.ok(o.alerts.includes('CRITICAL Storage fault') && o.alerts.includes('INFO Storage fault cleared'), JSON.stringify(o.alerts));
  } finally {
    rmSync(host, { recursive: true, force: true });
  }
});
