// One disk-full cycle on a real filesystem (issue 14, items 1 and 9): `hmm up` with HMM_ROOT on a
// small tmpfs of its own, trading; the disk is filled with dd while orders keep coming, then
// freed. The stack must stay up, refuse orders with STORAGE (503) and show it, keep answering
// reads and /kill, resume by itself, and keep every order it acknowledged in its ledger. Its
// counterpart: before the disk fills, no order is refused for STORAGE. And a start on a disk
// that is already full says so in one line and exits non-zero. bench/disk-full.ts runs many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canMountTmpfs, diskFullCycle, startOnFullDisk } from './diskFullHarness.js';

const mountable = canMountTmpfs();
const skip = mountable ? false : 'this machine does not let a process mount a tmpfs in its own user + mount namespace (unshare -rm)';

test('a full disk is a state: orders refused with STORAGE, reads and /kill answer, it resumes by itself, nothing acked is lost', { skip, timeout: 120_000 }, async () => {
  const r = await diskFullCycle({ seed: 1 });
  const why = `\n${r.output.slice(-4000)}`;
  assert.equal(r.exitedEarly, false, `the stack exited on the full disk${why}`);
  assert.deepEqual(r.otherAnswers, [], `every answer is an ack or a STORAGE refusal${why}`);
  assert.ok(r.acked.length >= 20, `orders before the fill were acknowledged (${r.acked.length})`);
  assert.ok(r.refusedStorage >= 1, 'orders on the full disk were refused with STORAGE');
  assert.equal((r.statusCondition as { kind?: string } | null)?.kind, 'STORAGE', '/status names the STORAGE condition');
  assert.ok(r.engineStorage !== null, '/status names the engine\'s storage fault');
  assert.ok(r.faultMetric, 'hmm_storage_fault is 1');
  assert.ok(r.readsAnswered, '/status and /orders/recent answered');
  assert.equal(r.killStatus, 200, 'POST /kill answered on the full disk');
  assert.deepEqual(r.missingFromLedger, [], 'every acknowledged order is in the ledger');
  assert.equal(r.escapedFaults, 0, `no storage fault escaped a write path to the process handler${why}`);
});

test('start-up on a full disk: one line naming the storage fault, non-zero exit', { skip, timeout: 60_000 }, async () => {
  const r = await startOnFullDisk();
  assert.equal(r.code, 74, r.output);
  const lines = r.output.trim().split('\n');
  assert.equal(lines.length, 1, r.output);
  assert.match(lines[0] ?? '', /^hmm: storage: .* refuses writes \(ENOSPC/);
});
