// An append-only line file that rotates by size and by UTC day and gzips what it rotated,
// keeping the live file under its own name (so `tail -F`, `grep` and `jq` on the runbook's
// paths keep working). Owns: engine/logs/orders.jsonl and ops/logs/ops.log on disk.
//
// Why lines are never lost or split: every write is one whole line, written synchronously
// (looping until every byte is written) to the open descriptor, and rotation happens only
// between two writes: rename the live file aside, open a fresh one under the same name,
// then write. Compression of the renamed file runs in the background; a crash in the middle
// leaves the plain rotated file, which the next open compresses. A torn last line (power
// loss mid-write) is cut off at open and kept beside the file, never appended to. When the
// owner gives a line validator, a damaged line anywhere in the live file (a bad sector, a
// hand edit) is moved to `<file>.damaged` at open and listed in `damaged`, so the file reads
// back whole again and the owner can name each line in its recovery report.
import { createReadStream, createWriteStream, closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, truncateSync, unlinkSync, appendFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { reportStorageFault } from './storageHealth.js';
import { type QuarantinedLine, moveLinesAside, scanLines } from './quarantine.js';
import { writeAll } from './writeAll.js';

export type { QuarantinedLine } from './quarantine.js';

export interface RotationPolicy {
  /** Rotate when the live file would grow past this many bytes; 0 = never by size. */
  readonly maxBytes: number;
  /** Rotate when the UTC day changes. */
  readonly daily: boolean;
  /** Gzip rotated files. */
  readonly compress: boolean;
  /** Delete rotated files whose day is older than this many days; 0 = keep forever. */
  readonly retentionDays: number;
  /** Keep at most this many rotated files; 0 = no limit. */
  readonly maxFiles: number;
}

export const DEFAULT_ROTATION: RotationPolicy = {
  maxBytes: 50 * 1024 * 1024,
  daily: true,
  compress: true,
  retentionDays: 14,
  maxFiles: 100,
};

export type RotationEvent =
  | { readonly kind: 'rotated'; readonly file: string; readonly to: string; readonly reason: 'size' | 'day' }
  | { readonly kind: 'compressed'; readonly file: string; readonly to: string }
  | { readonly kind: 'deleted'; readonly file: string; readonly reason: 'retention_days' | 'max_files' }
  | { readonly kind: 'repaired'; readonly file: string; readonly bytes: number; readonly keptIn: string }
  | { readonly kind: 'quarantined'; readonly file: string; readonly lines: number; readonly keptIn: string }
  | { readonly kind: 'error'; readonly file: string; readonly message: string };

export interface RotatingFileOptions {
  readonly now?: () => number;
  /** Told about rotations, compressions, deletions, repairs and errors; called on a later
   *  tick, so a listener may log (even into this very file) without re-entering it. */
  readonly onEvent?: (e: RotationEvent) => void;
  /** Why a whole line (without its newline) is damaged, or null when it is sound. Given, every
   *  line of the live file is checked at open and the damaged ones are quarantined. */
  readonly validateLine?: (line: string) => string | null;
}

const DAY_MS = 86_400_000;

export function utcDay(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10);
}

interface RotatedName {
  readonly name: string;
  readonly day: string;
  readonly n: number;
  readonly gz: boolean;
}

export class RotatingFile {
  private fd: number | null = null;
  private size = 0;
  private segmentDay = '';
  private nextDayStart = 0;
  private policyValue: RotationPolicy;
  private readonly now: () => number;
  private readonly onEvent: ((e: RotationEvent) => void) | null;
  private readonly dir: string;
  private readonly stem: string;
  private readonly ext: string;
  private readonly pending = new Set<Promise<void>>();
  /** Rotated files being compressed right now: retention leaves them alone. */
  private readonly compressing = new Set<string>();
  private closed = false;
  /** Lines a full or failing disk refused since the last write that succeeded. */
  private dropped = 0;
  private droppedCode = '';
  /** Lines found damaged at open and moved to `<file>.damaged` (empty without a validator). */
  readonly damaged: readonly QuarantinedLine[] = [];

  constructor(readonly path: string, policy: RotationPolicy = DEFAULT_ROTATION, opts: RotatingFileOptions = {}) {
    this.policyValue = policy;
    this.now = opts.now ?? Date.now;
    this.onEvent = opts.onEvent ?? null;
    this.dir = dirname(path);
    const name = basename(path);
    this.ext = extname(name);
    this.stem = name.slice(0, name.length - this.ext.length);
    mkdirSync(this.dir, { recursive: true });
    this.repairTornTail();
    if (opts.validateLine) this.damaged = this.quarantineDamaged(opts.validateLine);
    this.openLive();
    this.sweep();
    if (this.policyValue.daily && this.size > 0 && this.segmentDay < utcDay(this.now())) this.rotate('day');
  }

  get policy(): RotationPolicy {
    return this.policyValue;
  }

  /** New limits take effect from the next write; retention is applied right away. */
  setPolicy(policy: RotationPolicy): void {
    this.policyValue = policy;
    if (!this.closed) this.applyRetention();
  }

  /** Appends whole lines (the caller ends each with '\n'). */
  write(text: string): void {
    const buf = Buffer.from(text, 'utf8');
    if (this.closed) {
      // A straggler after close (a late log line): appended without keeping a descriptor, and
      // never an exception for the caller (the directory may be gone after a test).
      try { appendFileSync(this.path, buf); } catch { /* nowhere to write */ }
      return;
    }
    try {
      const now = this.now();
      if (this.size > 0) {
        const p = this.policyValue;
        if (p.daily && now >= this.nextDayStart) this.rotate('day');
        else if (p.maxBytes > 0 && this.size + buf.length > p.maxBytes) this.rotate('size');
      }
      if (this.fd === null) this.openLive(); // a rotation the disk refused half-way
      writeAll(this.fd!, buf);
      this.size += buf.length;
    } catch (err) {
      // A full or failing disk must not throw out of a log call: this is called from error
      // handlers and timers, and an ENOSPC escaping one killed the whole stack. The line is
      // dropped (the half of it that reached the file is cut off, so the file stays whole
      // lines), the fault is reported (the stack refuses orders until writes succeed), and the
      // count of lost lines is told once writes work again.
      if (!reportStorageFault(this.path, err)) throw err;
      if (this.fd !== null) {
        try { ftruncateSync(this.fd, this.size); } catch { /* the next write retries */ }
      }
      if (this.dropped === 0) this.droppedCode = (err as { code?: string }).code ?? 'EIO';
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.emit({ kind: 'error', file: this.path, message: `${this.dropped} line(s) were not written while the disk refused writes (${this.droppedCode})` });
      this.dropped = 0;
    }
  }

  /** Renames the live file aside and starts a new one; returns the rotated file's path. */
  rotate(reason: 'size' | 'day' = 'size'): string | null {
    if (this.closed || this.size === 0) return null;
    const day = this.segmentDay;
    const target = join(this.dir, `${this.stem}.${day}.${this.nextIndex(day)}${this.ext}`);
    closeSync(this.fd!);
    this.fd = null;
    renameSync(this.path, target);
    this.openLive();
    this.emit({ kind: 'rotated', file: this.path, to: target, reason });
    if (this.policyValue.compress) this.compress(target);
    else this.applyRetention();
    return target;
  }

  /** Resolves when background compression has finished. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** fsyncs the live file (the writes themselves are already in the page cache). */
  sync(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** Rotated files of this log, oldest first (compressed or not). */
  rotatedFiles(): string[] {
    return this.listRotated().map((r) => join(this.dir, r.name));
  }

  // ---- internals ----------------------------------------------------------------------

  private openLive(): void {
    this.fd = openSync(this.path, 'a');
    this.size = fstatSync(this.fd).size;
    const now = this.now();
    this.segmentDay = this.size === 0 ? utcDay(now) : this.firstLineDay() ?? utcDay(statSync(this.path).mtimeMs);
    this.nextDayStart = Date.parse(`${utcDay(now)}T00:00:00Z`) + DAY_MS;
  }

  /** The day of the file's first line (its `time` or `ts` field), which names the segment. */
  private firstLineDay(): string | null {
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const n = readSync(fd, buf, 0, buf.length, 0);
      const text = buf.subarray(0, n).toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return null;
      const doc = JSON.parse(text.slice(0, nl)) as { time?: unknown; ts?: unknown };
      const t = typeof doc.time === 'string' || typeof doc.time === 'number' ? doc.time : doc.ts;
      const ms = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
      return Number.isFinite(ms) ? utcDay(ms) : null;
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  /** A last line without its newline was torn by a crash: cut it off, keep it aside. */
  private repairTornTail(): void {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size === 0) return;
    const fd = openSync(this.path, 'r');
    let cut = -1;
    let fragment: Buffer = Buffer.alloc(0);
    try {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] === 0x0a) return;
      // Scan backwards for the previous newline, a block at a time.
      const block = Buffer.alloc(65_536);
      let pos = size;
      while (pos > 0 && cut < 0) {
        const start = Math.max(0, pos - block.length);
        const n = readSync(fd, block, 0, pos - start, start);
        const i = block.subarray(0, n).lastIndexOf(0x0a);
        if (i >= 0) cut = start + i + 1;
        pos = start;
      }
      if (cut < 0) cut = 0;
      fragment = Buffer.alloc(size - cut);
      readSync(fd, fragment, 0, fragment.length, cut);
    } finally {
      closeSync(fd);
    }
    const keptIn = `${this.path}.torn`;
    appendFileSync(keptIn, Buffer.concat([fragment, Buffer.from('\n')]));
    truncateSync(this.path, cut);
    this.emit({ kind: 'repaired', file: this.path, bytes: fragment.length, keptIn });
  }

  /** Every line of the live file checked; the damaged ones moved to `<file>.damaged`
   *  (util/quarantine.ts: evidence kept before anything is removed). */
  private quarantineDamaged(validate: (line: string) => string | null): readonly QuarantinedLine[] {
    let scan;
    try {
      scan = scanLines(this.path, validate);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return []; // no live file yet
      throw err;
    }
    const { damaged } = scan;
    if (damaged.length === 0) return damaged;
    let keptIn: string;
    try {
      keptIn = moveLinesAside(this.path, scan);
    } catch (err) {
      // A full or read-only disk at start: the lines stay where they are (still reported by the
      // owner), and start-up goes on; the next start tries again.
      this.emit({ kind: 'error', file: this.path, message: `could not move ${damaged.length} damaged line(s) to ${this.path}.damaged (${(err as Error).message}); they stay in place until the next start` });
      return damaged;
    }
    this.emit({ kind: 'quarantined', file: this.path, lines: damaged.length, keptIn });
    return damaged;
  }

  private nextIndex(day: string): number {
    let max = 0;
    for (const r of this.listRotated()) if (r.day === day && r.n > max) max = r.n;
    return max + 1;
  }

  private rotatedPattern(): RegExp {
    return new RegExp(`^${escapeRe(this.stem)}\\.(\\d{4}-\\d{2}-\\d{2})\\.(\\d+)${escapeRe(this.ext)}(\\.gz)?$`);
  }

  private readNames(): string[] {
    try {
      return readdirSync(this.dir);
    } catch {
      return [];
    }
  }

  /** One entry per rotated segment (a segment both plain and gzipped, after a crash, once). */
  private listRotated(): RotatedName[] {
    const re = this.rotatedPattern();
    const byKey = new Map<string, RotatedName>();
    for (const name of this.readNames()) {
      const m = re.exec(name);
      if (!m) continue;
      const r: RotatedName = { name, day: m[1]!, n: Number(m[2]), gz: m[3] !== undefined };
      const key = `${r.day}.${r.n}`;
      const prev = byKey.get(key);
      if (!prev || (r.gz && !prev.gz)) byKey.set(key, r);
    }
    return [...byKey.values()].sort((a, b) => (a.day === b.day ? a.n - b.n : a.day < b.day ? -1 : 1));
  }

  /** At open: finish what a crash interrupted (compressions), drop temp files, apply retention. */
  private sweep(): void {
    const names = this.readNames();
    const re = this.rotatedPattern();
    const prefix = `${this.stem}.`;
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.gz.tmp')) {
        try { unlinkSync(join(this.dir, name)); } catch { /* gone */ }
        continue;
      }
      const m = re.exec(name);
      if (!m || m[3] !== undefined) continue;
      const plain = join(this.dir, name);
      if (names.includes(`${name}.gz`)) {
        // Compressed and renamed before the crash, but the plain file was not removed yet.
        try { unlinkSync(plain); } catch { /* gone */ }
      } else if (this.policyValue.compress) {
        this.compress(plain);
      }
    }
    this.applyRetention();
  }

  private compress(file: string): void {
    this.compressing.add(file);
    const tmp = `${file}.gz.tmp`;
    const target = `${file}.gz`;
    const work = pipeline(createReadStream(file), createGzip(), createWriteStream(tmp))
      .then(() => {
        const fd = openSync(tmp, 'r');
        try { fsyncSync(fd); } finally { closeSync(fd); }
        renameSync(tmp, target);
        unlinkSync(file);
        this.emit({ kind: 'compressed', file, to: target });
      })
      .catch((err: Error) => {
        try { unlinkSync(tmp); } catch { /* never created */ }
        this.emit({ kind: 'error', file, message: `compressing ${basename(file)} failed: ${err.message}` });
      })
      .finally(() => {
        this.compressing.delete(file);
        this.pending.delete(work);
        this.applyRetention();
      });
    this.pending.add(work);
  }

  private applyRetention(): void {
    const p = this.policyValue;
    let rotated = this.listRotated();
    const doomed: { name: string; reason: 'retention_days' | 'max_files' }[] = [];
    if (p.retentionDays > 0) {
      const oldest = utcDay(Date.parse(`${utcDay(this.now())}T00:00:00Z`) - p.retentionDays * DAY_MS);
      for (const r of rotated) if (r.day < oldest) doomed.push({ name: r.name, reason: 'retention_days' });
      rotated = rotated.filter((r) => r.day >= oldest);
    }
    if (p.maxFiles > 0 && rotated.length > p.maxFiles) {
      for (const r of rotated.slice(0, rotated.length - p.maxFiles)) doomed.push({ name: r.name, reason: 'max_files' });
    }
    for (const d of doomed) {
      const file = join(this.dir, d.name);
      const plain = file.endsWith('.gz') ? file.slice(0, -3) : file;
      if (this.compressing.has(plain)) continue;
      for (const f of new Set([file, plain, `${plain}.gz`])) {
        try {
          unlinkSync(f);
          this.emit({ kind: 'deleted', file: f, reason: d.reason });
        } catch { /* not there */ }
      }
    }
  }

  private emit(e: RotationEvent): void {
    const listener = this.onEvent;
    if (listener) process.nextTick(() => listener(e));
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
