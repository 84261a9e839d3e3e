// The storage health of a root (src/util/storageHealth.ts): which errors are storage faults, a
// fault reported by a write under the root (and not one outside it), the free-space floor, and
// the probe that lifts a fault only once a real write succeeds. The full-disk cycle on a real
// filesystem is test/integration/diskFull.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStorageFault, reportStorageFault, StorageHealth, storagePreflight, writeOrReport, type StorageChange, type StorageFault } from '../../../src/util/storageHealth.js';

// Read through a function: after asserting null, TypeScript would narrow h.fault to never.
const faultOf = (h: StorageHealth): StorageFault | null => h.fault;
const err = (code: string): Error => Object.assign(new Error(`${code}: test`), { code });

test('ENOSPC, EIO, EROFS, EDQUOT and SQLite full / I/O errors are storage faults; others are not', () => {
  for (const c of ['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY']) assert.ok(isStorageFault(err(c)), c);
  for (const c of ['ENOENT', 'EACCES', 'SQLITE_CONSTRAINT', 'SQLITE_BUSY']) assert.ok(!isStorageFault(err(c)), c);
  assert.ok(!isStorageFault(new Error('no code')));
  assert.ok(!isStorageFault(null));
});

test('a write under the root that fails with ENOSPC is a fault; one outside it, or another error, is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-sh-'));
  const h = new StorageHealth({ root, minFreeBytes: 0 });
  const seen: StorageChange[] = [];
  h.onChange((c) => seen.push(c));
  try {
    assert.equal(reportStorageFault(join(root, 'ops/x.json'), err('ENOENT')), false);
    assert.equal(reportStorageFault('/elsewhere/x.json', err('ENOSPC')), true);
    assert.equal(h.fault, null, 'a path outside the root is another root\'s fault');
    assert.throws(() => writeOrReport(join(root, 'a'), () => { throw err('EACCES'); }), /EACCES/);
    assert.equal(writeOrReport(join(root, 'engine/state/portfolio.json'), () => { throw err('ENOSPC'); }), false);
    assert.equal(faultOf(h)?.code, 'ENOSPC');
    reportStorageFault(join(root, 'ops/logs/ops.log'), err('ENOSPC'));
    assert.equal(faultOf(h)?.failures, 2);
    assert.deepEqual(seen.map((c) => c.kind), ['fault'], 'told once, not per failed write');
    // The disk takes writes (this tmp dir does): the probe lifts it by itself.
    assert.equal(h.check(), null);
    assert.deepEqual(seen.map((c) => c.kind), ['fault', 'cleared']);
  } finally {
    h.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('under the free-space floor the root is faulted before a write fails; with room it is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-sh-'));
  const low = new StorageHealth({ root, minFreeBytes: Number.MAX_SAFE_INTEGER });
  const ok = new StorageHealth({ root, minFreeBytes: 1 });
  try {
    assert.equal(low.check()?.code, 'LOW_SPACE');
    assert.equal(low.check()?.code, 'LOW_SPACE', 'still under the floor: no resume on a guess');
    assert.equal(ok.check(), null);
    assert.match(storagePreflight(root, Number.MAX_SAFE_INTEGER) ?? '', /^storage: .* bytes free, under HMM_STORAGE_MIN_FREE_MB/);
    assert.equal(storagePreflight(root, 1), null);
  } finally {
    low.stop();
    ok.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
