// Atomic file replacement: temp file in the same directory, fsync, rename, fsync of the
// directory. A crash leaves either the old file or the new one, never half of either.
// `fsync: false` keeps the rename's atomicity against a process crash but not against power
// loss; only for files derived from a record of truth and checked when read (the portfolio
// snapshot), where the two fsyncs (milliseconds here) would stall the order path.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

let counter = 0;

export interface AtomicWriteOptions {
  readonly fsync?: boolean;
}

// A replay's root is throwaway (re-created from its bars and seed), so it turns the fsyncs off
// for the whole process while it runs: they were 2/3 of its time. Live runs never call this.
let durable = true;
/** Sets whether atomic writes fsync (default true); returns the previous setting. */
export function setAtomicDurability(on: boolean): boolean {
  const before = durable;
  durable = on;
  return before;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, opts: AtomicWriteOptions = {}): void {
  const sync = durable && (opts.fsync ?? true);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++counter}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (sync) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  if (!sync) return;
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* some filesystems refuse directory fsync; rename is still atomic */ }
}

export function writeJsonAtomic(path: string, value: unknown, mode?: number, opts: AtomicWriteOptions = {}): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode, opts);
}
