// Whether the stack's disk takes writes: a full disk (ENOSPC, EDQUOT, SQLITE_FULL), a failing one
// (EIO, SQLITE_IOERR) or one remounted read-only (EROFS) is a STATE the stack is in, not a crash.
// Owns: the one storage fault of a root (what failed, where, since when), the probe that clears it
// by itself once a real write succeeds again, and the start-up check that refuses a full disk in
// one line. Every write path that meets such an error reports it here (reportStorageFault, by the
// path it failed on) instead of letting it escape a timer; the engine refuses new orders while a
// fault stands (STORAGE, HTTP 503), the control plane shows it as a trading condition.
//
// Why a registry keyed by root rather than an object threaded to every writer: a write path deep
// in a daemon (a snapshot, an export) only knows its own file, and a test process may run several
// stacks on several roots at once; the path says which root's state it is.
import { closeSync, fsyncSync, mkdirSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

/** Error codes that mean "the disk refuses writes": node's fs codes, and better-sqlite3's SQLite
 *  codes with their extended forms (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, ...). */
const FAULT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);
const SQLITE_FAULT_PREFIXES = ['SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_READONLY'] as const;

/** True for an error of a storage fault: a full, failing or read-only disk. */
export function isStorageFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return FAULT_CODES.has(code) || SQLITE_FAULT_PREFIXES.some((p) => code.startsWith(p));
}

export interface StorageFault {
  /** ENOSPC, EIO, EROFS, SQLITE_FULL…, or LOW_SPACE when free space fell under the floor. */
  readonly code: string;
  /** The file whose write failed (or the root, for LOW_SPACE and the probe). */
  readonly path: string;
  readonly message: string;
  /** ms since the epoch when the fault began. */
  readonly since: number;
  /** Writes that failed since it began (every path). */
  readonly failures: number;
}

export type StorageChange =
  | { readonly kind: 'fault'; readonly fault: StorageFault }
  | { readonly kind: 'cleared'; readonly fault: StorageFault; readonly freeBytes: number | null };

export interface StorageHealthOptions {
  /** HMM_ROOT: every state, ledger and log file lives under it. */
  readonly root: string;
  /** Below this many free bytes the root counts as full before a write fails: what is in
   *  flight (a ledger commit, a journal line) still has room, and new orders stop first. */
  readonly minFreeBytes: number;
  /** How often free space is read and, while faulted, a probe write is tried. */
  readonly probeMs?: number;
  readonly now?: () => number;
}

const PROBE_FILE = '.storage-probe';
const PROBE_BYTES = Buffer.alloc(4096, 0x2e);

/** Free bytes for an unprivileged writer on the filesystem holding `path` (null if unreadable). */
export function freeBytes(path: string): number | null {
  try {
    const s = statfsSync(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/** A real write in `dir`: a 4 KB file written, fsynced and removed. Throws what the disk says. */
export function probeWrite(dir: string): void {
  const file = join(dir, PROBE_FILE);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, PROBE_BYTES);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
    try { unlinkSync(file); } catch { /* gone already */ }
  }
}

const live = new Set<StorageHealth>();

/**
 * Tells the storage health of the root holding `path` that a write there failed. Returns true
 * when `err` is a storage fault (the caller goes on: the state is recorded and shown, and the
 * probe clears it), false for any other error (the caller handles or rethrows it as before).
 */
export function reportStorageFault(path: string, err: unknown): boolean {
  if (!isStorageFault(err)) return false;
  const abs = resolve(path);
  for (const h of live) if (h.holds(abs)) h.report(abs, err);
  return true;
}

export class StorageHealth {
  private current: StorageFault | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly listeners: ((c: StorageChange) => void)[] = [];
  private readonly root: string;
  private readonly now: () => number;
  private lastFree: number | null = null;

  constructor(private readonly o: StorageHealthOptions) {
    this.root = resolve(o.root);
    this.now = o.now ?? Date.now;
    live.add(this);
  }

  /** The fault that stands, or null when writes succeed. */
  get fault(): StorageFault | null {
    return this.current;
  }

  /** Free bytes at the last reading. */
  get free(): number | null {
    return this.lastFree;
  }

  get minFreeBytes(): number {
    return this.o.minFreeBytes;
  }

  holds(absPath: string): boolean {
    return absPath === this.root || absPath.startsWith(this.root + sep);
  }

  onChange(fn: (c: StorageChange) => void): void {
    this.listeners.push(fn);
  }

  /** A write under this root failed with a storage fault. */
  report(path: string, err: unknown): void {
    const e = err as { code?: string; message?: string };
    if (this.current !== null) {
      this.current = { ...this.current, failures: this.current.failures + 1 };
      return;
    }
    this.enter({ code: e.code ?? 'EIO', path, message: e.message ?? String(err), since: this.now(), failures: 1 });
  }

  /** Starts the periodic check (free space; while faulted, a probe write). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), this.o.probeMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    live.delete(this);
  }

  /** One check: under the floor is a fault; a fault clears only when a real write succeeds and
   *  the floor is met again (so a flapping disk does not resume trading on a guess). */
  check(): StorageFault | null {
    const free = freeBytes(this.root);
    this.lastFree = free;
    const low = free !== null && free < this.o.minFreeBytes;
    if (this.current === null) {
      if (low) this.enter({ code: 'LOW_SPACE', path: this.root, message: `${free} bytes free, under the floor of ${this.o.minFreeBytes}`, since: this.now(), failures: 0 });
      return this.current;
    }
    if (low) return this.current;
    try {
      probeWrite(this.root);
    } catch (err) {
      if (!isStorageFault(err)) this.current = { ...this.current, message: `probe: ${(err as Error).message}` };
      return this.current;
    }
    const was = this.current;
    this.current = null;
    this.emit({ kind: 'cleared', fault: was, freeBytes: free });
    return null;
  }

  private enter(f: StorageFault): void {
    this.current = f;
    this.emit({ kind: 'fault', fault: f });
  }

  private emit(c: StorageChange): void {
    for (const fn of this.listeners) {
      try {
        fn(c);
      } catch { /* a listener's failure (its own log write, say) must not stop the others */ }
    }
  }
}

/**
 * The start-up check: null when `root` takes a real write and has at least `minFreeBytes` free,
 * else the one line that says why not (the caller prints it and exits non-zero).
 */
export function storagePreflight(root: string, minFreeBytes: number): string | null {
  const dir = resolve(root);
  try {
    mkdirSync(dir, { recursive: true });
    probeWrite(dir);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (!isStorageFault(err)) return null; // not a disk fault: start-up reports it in its own words
    return `storage: ${dir} refuses writes (${e.code ?? 'error'}: ${e.message ?? String(err)}); free space or fix the disk, then start again`;
  }
  const free = freeBytes(dir);
  if (free !== null && free < minFreeBytes) {
    return `storage: ${dir} has ${free} bytes free, under HMM_STORAGE_MIN_FREE_MB (${minFreeBytes} bytes); free space, then start again`;
  }
  return null;
}

/**
 * Runs a write of derived or periodic state (a snapshot, an export, a daemon's state file) that
 * may meet a full disk: on a storage fault it is reported and skipped (false; the next round
 * writes it again), any other error is thrown as before. For writes in timers, where an
 * exception escaping kills the process.
 */
export function writeOrReport(path: string, write: () => void): boolean {
  try {
    write();
    return true;
  } catch (err) {
    if (reportStorageFault(path, err)) return false;
    throw err;
  }
}
