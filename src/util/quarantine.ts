// Damaged data set aside, never deleted: the one way this stack quarantines what it cannot use.
// Owns: the scan of a line file for damaged lines and their move to `<file>.damaged` (the
// RotatingFile logs, the engine's intent journal), and the move of a whole state file that
// cannot be used (a JSON document that does not parse or has the wrong shape) to
// `<file>.damaged`; and the order id read back from a damaged line (damagedLineId), which the
// order log and the intent journal both hand to the start-up reconciliation.
//
// Why evidence first: the damaged bytes are appended to `<file>.damaged` and fsynced before the
// live file is rewritten without them (sound lines copied to a temp file, fsynced, renamed over
// it), so a crash at any point leaves the damaged lines in one place or the other, never in
// neither. They are copied byte for byte from the file (a report may shorten a long line; the
// evidence does not). A whole file is moved with link + unlink, so an earlier `<file>.damaged`
// is never overwritten: the next free `<file>.damaged.2`, `.3`, … is taken instead.
import { closeSync, existsSync, fstatSync, fsyncSync, linkSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { writeAll } from './writeAll.js';

/** A damaged line set aside: where it was (1-based), why, and its text (long lines shortened). */
export interface QuarantinedLine {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
  readonly text: string;
}

/** What a scan found: the damaged lines, and their byte ranges [start, end) with the newline. */
export interface LineScan {
  readonly damaged: readonly QuarantinedLine[];
  readonly cuts: readonly (readonly [number, number])[];
}

/** Lines longer than this are damage whatever they hold (no writer here makes one). */
const MAX_LINE_BYTES = 1 << 20;
/** A damaged line's text in a report is cut to this many characters. */
const REPORT_CHARS = 4096;

/**
 * Reads `path` a block at a time (it may be tens of megabytes; start-up should not hold it
 * whole) and asks `inspect` why each whole line is damaged (null: sound). A last line without
 * its newline is not given: what a torn tail means is its owner's call. Throws what reading
 * throws (ENOENT included).
 */
export function scanLines(path: string, inspect: (text: string, line: number) => string | null): LineScan {
  const damaged: QuarantinedLine[] = [];
  const cuts: [number, number][] = [];
  const fd = openSync(path, 'r');
  try {
    const block = Buffer.alloc(1 << 20);
    let carry: Buffer = Buffer.alloc(0);
    let carryStart = 0;
    let pos = 0;
    let lineNo = 0;
    for (;;) {
      const n = readSync(fd, block, 0, block.length, pos);
      if (n === 0) break;
      const chunk = carry.length > 0 ? Buffer.concat([carry, block.subarray(0, n)]) : block.subarray(0, n);
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0) break;
        lineNo++;
        const bytes = nl - from;
        const text = chunk.toString('utf8', from, nl);
        const reason = bytes > MAX_LINE_BYTES ? `longer than ${MAX_LINE_BYTES} bytes` : inspect(text, lineNo);
        if (reason !== null) {
          damaged.push({ file: path, line: lineNo, reason, text: text.length > REPORT_CHARS ? `${text.slice(0, REPORT_CHARS)}…(${bytes} bytes)` : text });
          cuts.push([carryStart + from, carryStart + nl + 1]);
        }
        from = nl + 1;
      }
      // Copied: `block` is reused by the next read.
      carry = Buffer.from(chunk.subarray(from));
      carryStart += from;
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return { damaged, cuts };
}

/**
 * Moves the damaged lines a scan found to `<path>.damaged` (appended, fsynced), then rewrites
 * `path` without them (temp file, fsync, rename). Returns `<path>.damaged`. Throws when the disk
 * refuses either step; the lines are then still in `path` (and perhaps also in the evidence
 * file: a copy too many, never one too few), and the temp file is removed.
 */
export function moveLinesAside(path: string, scan: LineScan): string {
  const keptIn = `${path}.damaged`;
  const tmp = `${path}.quarantine.tmp`;
  const src = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    const copy = (out: number, start: number, end: number) => {
      for (let at = start; at < end;) {
        const n = readSync(src, buf, 0, Math.min(buf.length, end - at), at);
        if (n === 0) break;
        writeAll(out, buf.subarray(0, n));
        at += n;
      }
    };
    const evidence = openSync(keptIn, 'a');
    try {
      for (const [s, e] of scan.cuts) copy(evidence, s, e);
      fsyncSync(evidence);
    } finally {
      closeSync(evidence);
    }
    const out = openSync(tmp, 'w');
    try {
      let at = 0;
      for (const [s, e] of scan.cuts) {
        copy(out, at, s);
        at = e;
      }
      copy(out, at, fstatSync(src).size);
      fsyncSync(out);
    } finally {
      closeSync(out);
    }
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* never created, or renamed */ }
    throw err;
  } finally {
    closeSync(src);
  }
  return keptIn;
}

/**
 * Moves a whole file that cannot be used to `<path>.damaged` (or the next free `.damaged.N`: an
 * earlier quarantine is evidence too) and returns where it went. Throws when it cannot be moved
 * (a read-only disk): the caller says so, and the file stays where it is.
 */
export function quarantineFile(path: string): string {
  for (let n = 1; ; n++) {
    const target = n === 1 ? `${path}.damaged` : `${path}.damaged.${n}`;
    try {
      linkSync(path, target);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EEXIST') continue;
      // A filesystem without hard links: a plain rename to a name checked to be free.
      if ((code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') && !existsSync(target)) {
        renameSync(path, target);
        return target;
      }
      throw err;
    }
    unlinkSync(path);
    return target;
  }
}

/** The order id a damaged line holds under `key`, when it can still be read (for
 *  reconciliation): from the JSON, else from the raw text. `key` is a plain field name. */
export function damagedLineId(line: string, key: string): string | null {
  try {
    const v = JSON.parse(line) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[key] === 'string') return (v as Record<string, string>)[key]!;
  } catch { /* not JSON: try the raw text */ }
  const m = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,128})"`).exec(line);
  return m?.[1] ?? null;
}
