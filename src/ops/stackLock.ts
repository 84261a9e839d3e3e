// <root>/.hmm-stack.lock: which process runs the stack on this root, and where its APIs
// listen. Two stacks on one root would both write the same ledger, so a second start is
// refused while the first lives; a lock left by a dead process means the previous run did
// not stop cleanly (a crash), which recovery reports. `hmm restore` refuses while it runs.
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { reportStorageFault, writeOrReport } from '../util/storageHealth.js';
import { OpsError } from './errors.js';

export interface StackLock {
  readonly pid: number;
  readonly hostname: string;
  readonly started_at: string;
  readonly ops_url: string | null;
  readonly engine_url: string | null;
}

/** A second stack (or a restore) on a root whose stack is running. */
export class StackRunningError extends OpsError {
  constructor(readonly lock: StackLock, path: string) {
    super('HMM_OPS_STACK_RUNNING', `the stack is running on this root (pid ${lock.pid}${lock.ops_url ? `, Ops API ${lock.ops_url}` : ''}, since ${lock.started_at}); stop it first (lock ${path})`);
  }
}

export function lockPath(root: string): string {
  return join(root, '.hmm-stack.lock');
}

export function readLock(root: string): StackLock | null {
  try {
    const doc = JSON.parse(readFileSync(lockPath(root), 'utf8')) as Partial<StackLock>;
    if (typeof doc.pid !== 'number') return null;
    return {
      pid: doc.pid, hostname: String(doc.hostname ?? ''), started_at: String(doc.started_at ?? ''),
      ops_url: typeof doc.ops_url === 'string' ? doc.ops_url : null, engine_url: typeof doc.engine_url === 'string' ? doc.engine_url : null,
    };
  } catch {
    return null;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie) still answers signal 0 on Linux.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Whether the lock belongs to a live process other than this one, on this host. */
export function heldByOther(lock: StackLock | null): boolean {
  return lock !== null && lock.pid !== process.pid && lock.hostname === hostname() && processAlive(lock.pid);
}

/**
 * Takes the lock for this process. Refuses while another live process holds it; returns the
 * lock a dead run left behind (its run ended without a clean stop), or null.
 */
export function acquireLock(root: string): StackLock | null {
  const path = lockPath(root);
  const previous = readLock(root);
  if (heldByOther(previous)) throw new StackRunningError(previous!, path);
  try {
    writeJsonAtomic(path, { pid: process.pid, hostname: hostname(), started_at: new Date().toISOString(), ops_url: null, engine_url: null } satisfies StackLock);
  } catch (err) {
    // No lock, no start (two stacks on one root would write one ledger); a full disk is said
    // as such (the start-up exits 74 naming it) and recorded as the root's storage fault.
    reportStorageFault(path, err);
    throw err;
  }
  return previous;
}

/** Records where the APIs listen (for `hmm restore`'s check and for operators). */
export function updateLock(root: string, urls: { ops_url: string | null; engine_url: string | null }): void {
  const current = readLock(root);
  if (current === null || current.pid !== process.pid) return;
  // The addresses are for operators and `hmm restore`'s check: a full disk skips them (the
  // lock itself stands), it does not stop a start that is otherwise done.
  writeOrReport(lockPath(root), () => writeJsonAtomic(lockPath(root), { ...current, ...urls }));
}

/** Removes the lock if this process holds it (a clean stop). */
export function releaseLock(root: string): void {
  const current = readLock(root);
  if (current !== null && current.pid !== process.pid) return;
  try {
    unlinkSync(lockPath(root));
  } catch { /* already gone */ }
}
