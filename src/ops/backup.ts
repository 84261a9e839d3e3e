// Backup and restore of the stack's state (runbook: Backup & Restore, Disaster Recovery).
// A backup is a .tar.gz of the runbook's list (ops/strategy_registry.json,
// ops/capital_allocations.json, engine/state/, ops/logs/*.jsonl) plus the operator's files
// and the order audit log, with a manifest of sizes and SHA-256 checksums. SQLite files are
// never copied raw: each is a consistent copy made with SQLite's online backup API (safe
// while the stack runs), and the ledger/venue copies are taken as one consistent set.
// A restore refuses while the stack runs, extracts to a temp dir, verifies everything
// (archive, manifest, checksums, SQLite integrity) and only then swaps the files in, keeping
// what it replaced in pre-restore-<time>/. The next start reports state.recovered.
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, lstatSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, posix, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { heldByOther, lockPath, readLock } from './stackLock.js';
import { OpsError } from './errors.js';

export const MANIFEST_NAME = 'backup_manifest.json';
export const RESTORE_MARKER = 'restored.json';
const FORMAT = 'hmm-stack-backup/1';

/** Single files an operator relies on, backed up when present (root-relative). */
const SINGLE_FILES = [
  'ops/strategy_registry.json',
  'ops/capital_allocations.json',
  'ops/strategy_weights.json',
  'ops/trading_states.json',
  // The old kill switch's file: a backup of an older stack restores it, and the next start migrates it.
  'ops/state.json',
  'ops/policies.yaml',
  'ops/capital_policy.json',
  'engine/logs/orders.jsonl',
];
/** Whole directories (root-relative). */
const DIRECTORIES = ['engine/state', 'ops/models'];
/** What a restore may write: anything else in an archive is refused. */
const ALLOWED_PREFIXES = ['ops/', 'engine/'];

/** A backup archive that cannot be written, read or trusted; the message names the problem. */
export class BackupError extends OpsError {
  constructor(message: string) {
    super('HMM_OPS_BACKUP', message);
  }
}

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: typeof FORMAT;
  readonly created_at: string;
  readonly hostname: string;
  readonly root: string;
  /** Whether a live stack held the root while the backup was taken. */
  readonly stack_running: boolean;
  /** The ledgers and the venue books were copied at one consistent point (see copySqliteSet). */
  readonly sqlite_consistent: boolean;
  readonly ledgers: Readonly<Record<string, { readonly orders: number; readonly fills: number; readonly high_water: { readonly events: number; readonly fills: number } }>>;
  readonly files: readonly ManifestFile[];
  readonly checksum: string;
}

export interface BackupResult {
  readonly path: string;
  readonly bytes: number;
  readonly manifest: BackupManifest;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function manifestChecksum(m: Omit<BackupManifest, 'checksum'>): string {
  return createHash('sha256').update(JSON.stringify(m)).digest('hex');
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Default archive name, after the runbook's backup_$(date +%Y%m%d).tar.gz (with the time, so two a day do not collide). */
export function defaultBackupName(now = new Date()): string {
  const iso = now.toISOString();
  return `backup_${iso.slice(0, 10).replace(/-/g, '')}_${iso.slice(11, 19).replace(/:/g, '')}.tar.gz`;
}

/** Live SQLite side files, the ledger's intent journal (it describes the live ledger, not the
 *  copy) and temp files are never archived: the consistent copies replace them. */
function skipInStateDir(name: string): boolean {
  return /-(wal|shm|journal|intents)$/.test(name) || name.endsWith('.tmp') || name === RESTORE_MARKER || name.startsWith('.');
}

function walk(dir: string, rel: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (skipInStateDir(name)) continue;
    const abs = join(dir, name);
    const st = lstatSync(abs);
    if (st.isDirectory()) walk(abs, posix.join(rel, name), out);
    else if (st.isFile()) out.push(posix.join(rel, name));
  }
}

/** The root-relative files a backup holds. */
export function backupSources(root: string): string[] {
  const files: string[] = [];
  for (const f of SINGLE_FILES) if (existsSync(join(root, f))) files.push(f);
  for (const d of DIRECTORIES) walk(join(root, d), d, files);
  try {
    for (const name of readdirSync(join(root, 'ops/logs')).sort()) if (name.endsWith('.jsonl')) files.push(`ops/logs/${name}`);
  } catch { /* no logs yet */ }
  return [...new Set(files)];
}

interface HighWater { events: number; fills: number }

function ledgerHighWater(db: Database.Database): HighWater {
  const row = db.prepare('SELECT (SELECT COALESCE(MAX(seq), 0) FROM order_events) AS events, (SELECT COALESCE(MAX(seq), 0) FROM fills) AS fills').get() as { events: number; fills: number };
  return { events: Number(row.events), fills: Number(row.fills) };
}

function openSource(path: string): Database.Database {
  try {
    return new Database(path, { fileMustExist: true });
  } catch (err) {
    throw new BackupError(`${path}: cannot open: ${(err as Error).message}`);
  }
}

async function backupDb(db: Database.Database, dest: string): Promise<void> {
  mkdirSync(dirname(dest), { recursive: true });
  rmSync(dest, { force: true });
  // After the first step, copy everything left in one step: a running stack writes often and
  // every write by another connection would restart a backup taken in small steps.
  await db.backup(dest, { progress: () => 1_000_000_000 });
}

/**
 * Copies every SQLite file as one consistent set. The engine journals an order before the
 * venue sees it, commits its row with the venue's answer, and books fills after the venue made
 * them. So: pin a read snapshot of each ledger, then of the venue books, then check (on another
 * connection) that no ledger commit happened since; the copies then show the venue at most
 * ahead of the ledger (orders it acknowledged whose rows were not committed yet, and fills),
 * which is exactly what reconciliation settles after a restore (it adopts such orders by
 * client order id and books the fills).
 * Pinning and checking are synchronous (microseconds); a ledger commit in that window (only
 * possible from another process) is detected and the set is pinned again. The copies are
 * then made with SQLite's online backup API from the pinned snapshots, so the stack's
 * writes during the copy do not disturb them.
 */
async function copySqliteSet(root: string, sqliteFiles: readonly string[], staging: string): Promise<{ consistent: boolean; ledgers: BackupManifest['ledgers'] }> {
  const ledgers = sqliteFiles.filter((f) => f.endsWith('.ledger.sqlite'));
  const others = sqliteFiles.filter((f) => !f.endsWith('.ledger.sqlite'));
  const dbs = new Map<string, Database.Database>();
  const probes = new Map<string, Database.Database>();
  const release = () => {
    for (const db of dbs.values()) if (db.inTransaction) db.exec('COMMIT');
  };
  try {
    for (const f of sqliteFiles) dbs.set(f, openSource(join(root, f)));
    for (const f of ledgers) probes.set(f, openSource(join(root, f)));
    let consistent = false;
    let pinned: HighWater[] = [];
    for (let attempt = 1; attempt <= 50 && !consistent; attempt++) {
      release();
      if (attempt > 1) await new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 5)));
      pinned = ledgers.map((f) => {
        const db = dbs.get(f)!;
        db.exec('BEGIN');
        return ledgerHighWater(db);
      });
      for (const f of others) {
        const db = dbs.get(f)!;
        db.exec('BEGIN');
        db.prepare('SELECT count(*) FROM sqlite_master').get();
      }
      consistent = ledgers.every((f, i) => {
        const now = ledgerHighWater(probes.get(f)!);
        return now.events === pinned[i]!.events && now.fills === pinned[i]!.fills;
      });
    }
    for (const f of sqliteFiles) await backupDb(dbs.get(f)!, join(staging, f));
    const summary: Record<string, { orders: number; fills: number; high_water: HighWater }> = {};
    for (const f of ledgers) {
      const copy = new Database(join(staging, f), { readonly: true });
      try {
        const c = copy.prepare('SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM fills) AS fills').get() as { orders: number; fills: number };
        summary[f] = { orders: Number(c.orders), fills: Number(c.fills), high_water: ledgerHighWater(copy) };
      } finally {
        copy.close();
      }
    }
    return { consistent, ledgers: summary };
  } finally {
    release();
    for (const db of [...dbs.values(), ...probes.values()]) db.close();
  }
}

export interface CreateBackupOptions {
  /** Archive path; default <root>/backup_YYYYMMDD_HHMMSS.tar.gz. */
  readonly out?: string;
  readonly now?: Date;
}

export async function createBackup(root: string, opts: CreateBackupOptions = {}): Promise<BackupResult> {
  root = resolve(root);
  if (!existsSync(join(root, 'engine/state')) && !existsSync(join(root, 'ops'))) {
    throw new BackupError(`${root} has no ops/ or engine/state/: nothing to back up (is --root right?)`);
  }
  const now = opts.now ?? new Date();
  const out = resolve(opts.out ?? join(root, defaultBackupName(now)));
  mkdirSync(dirname(out), { recursive: true });
  const staging = join(dirname(out), `.hmm-backup-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { recursive: true });
  try {
    const sources = backupSources(root).filter((f) => resolve(root, f) !== out);
    const sqlite = sources.filter((f) => f.endsWith('.sqlite'));
    const plain = sources.filter((f) => !f.endsWith('.sqlite'));
    const { consistent, ledgers } = await copySqliteSet(root, sqlite, staging);
    for (const f of plain) {
      mkdirSync(dirname(join(staging, f)), { recursive: true });
      try {
        copyFileSync(join(root, f), join(staging, f));
      } catch (err) {
        // A file rotated or replaced between listing and copying: it is simply not in this backup.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const files: ManifestFile[] = [];
    for (const f of sources) {
      const p = join(staging, f);
      if (!existsSync(p)) continue;
      files.push({ path: f, size: statSync(p).size, sha256: sha256File(p) });
    }
    const lock = readLock(root);
    const body = {
      format: FORMAT, created_at: now.toISOString(), hostname: hostname(), root,
      stack_running: heldByOther(lock) || (lock !== null && lock.pid === process.pid),
      sqlite_consistent: consistent, ledgers, files,
    } as const;
    const manifest: BackupManifest = { ...body, checksum: manifestChecksum(body) };
    writeJsonAtomic(join(staging, MANIFEST_NAME), manifest);
    const tmpOut = `${out}.${process.pid}.tmp`;
    await tar.c({ gzip: true, file: tmpOut, cwd: staging, portable: true }, [MANIFEST_NAME, ...files.map((f) => f.path)]);
    fsyncFile(tmpOut);
    renameSync(tmpOut, out);
    return { path: out, bytes: statSync(out).size, manifest };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

// ---- verify and restore -----------------------------------------------------------------

function safeRelative(p: string): boolean {
  if (p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  const norm = posix.normalize(p);
  return norm === p && !norm.split('/').includes('..') && ALLOWED_PREFIXES.some((x) => norm.startsWith(x));
}

function listExtracted(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? posix.join(rel, name) : name;
    const st = lstatSync(join(dir, r));
    if (st.isDirectory()) out.push(...listExtracted(dir, r));
    else out.push(r);
  }
  return out;
}

/** Extracts into `dir` (which must be empty) and checks everything; throws BackupError naming the problem. */
export async function extractAndVerify(file: string, dir: string): Promise<BackupManifest> {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new BackupError(`${file}: no such file`);
  }
  if (!st.isFile() || st.size === 0) throw new BackupError(`${file}: not a backup archive (empty or not a file)`);
  mkdirSync(dir, { recursive: true });
  try {
    await tar.x({ file, cwd: dir, strict: true, preservePaths: false, preserveOwner: false });
  } catch (err) {
    throw new BackupError(`${file} is damaged or not a backup archive (${(err as Error).message}); nothing was restored`);
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_NAME), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new BackupError(`${file} has no readable ${MANIFEST_NAME} (${(err as Error).message}); not an hmm backup, nothing was restored`);
  }
  if (manifest.format !== FORMAT) throw new BackupError(`${file}: unknown backup format ${JSON.stringify(manifest.format)} (expected ${FORMAT})`);
  const { checksum, ...body } = manifest;
  if (checksum !== manifestChecksum(body)) throw new BackupError(`${file}: the manifest's checksum does not match its content; nothing was restored`);
  if (!Array.isArray(manifest.files) || manifest.files.length === 0) throw new BackupError(`${file}: the manifest lists no files`);
  const listed = new Set<string>();
  for (const f of manifest.files) {
    if (typeof f.path !== 'string' || !safeRelative(f.path)) throw new BackupError(`${file}: refusing the unsafe path ${JSON.stringify(f.path)}`);
    listed.add(f.path);
    const p = join(dir, f.path);
    if (!existsSync(p)) throw new BackupError(`${file}: ${f.path} is listed in the manifest but missing from the archive; nothing was restored`);
    const size = statSync(p).size;
    if (size !== f.size) throw new BackupError(`${file}: ${f.path} is ${size} bytes, the manifest says ${f.size}; nothing was restored`);
    if (sha256File(p) !== f.sha256) throw new BackupError(`${file}: ${f.path} fails its SHA-256 checksum; nothing was restored`);
  }
  for (const p of listExtracted(dir)) {
    if (p !== MANIFEST_NAME && !listed.has(p)) throw new BackupError(`${file}: ${p} is in the archive but not in the manifest; nothing was restored`);
  }
  for (const f of manifest.files) {
    if (!f.path.endsWith('.sqlite')) continue;
    let db: Database.Database | null = null;
    try {
      db = new Database(join(dir, f.path), { readonly: true, fileMustExist: true });
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      if (rows.length !== 1 || rows[0]!.integrity_check !== 'ok') throw new Error(rows.map((r) => r.integrity_check).join('; '));
    } catch (err) {
      throw new BackupError(`${file}: ${f.path} fails SQLite's integrity check (${(err as Error).message}); nothing was restored`);
    } finally {
      db?.close();
      // The check's read-only open leaves an empty WAL and its index beside the copy: not part of the restore.
      const wal = join(dir, `${f.path}-wal`);
      if (existsSync(wal) && statSync(wal).size === 0) rmSync(wal, { force: true });
      rmSync(join(dir, `${f.path}-shm`), { force: true });
    }
  }
  return manifest;
}

export async function verifyBackup(file: string): Promise<BackupManifest> {
  const dir = join(dirname(resolve(file)), `.hmm-verify-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    return await extractAndVerify(file, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the stack answers on `url` (any HTTP answer counts). */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(new URL('/health', url), { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

/** Refuses while a stack runs on this root: its lock names a live process, or its Ops API answers. */
export async function assertStackStopped(root: string, opsUrls: readonly string[] = []): Promise<void> {
  const lock = readLock(root);
  if (heldByOther(lock) || (lock !== null && lock.pid === process.pid)) {
    throw new BackupError(`the stack is running on ${root} (pid ${lock!.pid}${lock!.ops_url ? `, ${lock!.ops_url}` : ''}); stop it before restoring (lock file ${lockPath(root)})`);
  }
  for (const url of new Set([...(lock?.ops_url ? [lock.ops_url] : []), ...opsUrls])) {
    if (await answers(url)) throw new BackupError(`an Ops API answers at ${url}; stop the stack before restoring`);
  }
}

export interface RestoreResult {
  readonly restored: readonly string[];
  /** Where the files the restore replaced were moved (null when nothing was replaced). */
  readonly previous: string | null;
  readonly manifest: BackupManifest;
  /** What became of the trading decision: 'kept' the root's current one, 'restored' the
   *  backup's (asked for, or the root had none), or 'none' (neither side had one). */
  readonly tradingState: 'kept' | 'restored' | 'none';
}

/** The operator's trading decision (the global HALTED lives in trading_states.json; state.json
 *  is the old kill switch a start migrates): a restore keeps the current one, since a backup
 *  taken while trading, restored after `hmm kill`, would otherwise trade at once. */
export const TRADING_STATE_FILES: readonly string[] = ['ops/trading_states.json', 'ops/state.json'];

export interface RestoreOptions {
  /** Ops API addresses to probe: a stack answering there blocks the restore. */
  readonly opsUrls?: readonly string[];
  /** Restore the backup's trading decision too (`--with-trading-state`), replacing the current one. */
  readonly withTradingState?: boolean;
  readonly now?: Date;
}

export async function restoreBackup(root: string, file: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  root = resolve(root);
  file = resolve(file);
  await assertStackStopped(root, opts.opsUrls ?? []);
  mkdirSync(root, { recursive: true });
  const work = join(root, `.hmm-restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  const now = opts.now ?? new Date();
  const previous = join(root, `pre-restore-${now.toISOString().replace(/[:.]/g, '-')}`);
  try {
    const manifest = await extractAndVerify(file, work);
    // Checked again right before touching anything: a stack started meanwhile wins.
    await assertStackStopped(root, opts.opsUrls ?? []);
    let moved = false;
    const moveAside = (rel: string) => {
      const from = join(root, rel);
      if (!existsSync(from)) return;
      const to = join(previous, rel);
      mkdirSync(dirname(to), { recursive: true });
      renameSync(from, to);
      moved = true;
    };
    // engine/state is replaced as a whole, so no live -wal/-shm file of the replaced ledger
    // can be applied to the restored one.
    const stateFiles = manifest.files.filter((f) => f.path.startsWith('engine/state/'));
    if (stateFiles.length > 0) {
      moveAside('engine/state');
      mkdirSync(join(root, 'engine'), { recursive: true });
      renameSync(join(work, 'engine/state'), join(root, 'engine/state'));
    }
    // The current decision is kept whenever the root holds one; on an empty root (a new
    // host) the backup's is all there is, so it is restored and the result says so.
    const hasCurrent = TRADING_STATE_FILES.some((rel) => existsSync(join(root, rel)));
    const inBackup = manifest.files.some((f) => TRADING_STATE_FILES.includes(f.path));
    const keepTrading = hasCurrent && opts.withTradingState !== true;
    const tradingState = keepTrading ? 'kept' : inBackup ? 'restored' : hasCurrent ? 'kept' : 'none';
    // Only replaced when the backup has one: a backup without it must not clear a halt.
    if (opts.withTradingState === true && hasCurrent && inBackup) for (const rel of TRADING_STATE_FILES) moveAside(rel);
    for (const f of manifest.files) {
      if (f.path.startsWith('engine/state/')) continue;
      if (keepTrading && TRADING_STATE_FILES.includes(f.path)) continue;
      moveAside(f.path);
      mkdirSync(dirname(join(root, f.path)), { recursive: true });
      renameSync(join(work, f.path), join(root, f.path));
    }
    writeJsonAtomic(join(root, 'engine/state', RESTORE_MARKER), {
      archive: file, archive_name: basename(file), restored_at: now.toISOString(), backup_created_at: manifest.created_at,
      backup_host: manifest.hostname, files: manifest.files.length, sqlite_consistent: manifest.sqlite_consistent,
      previous_state: moved ? relative(root, previous).split(sep).join('/') : null,
      trading_state: tradingState,
    });
    const restored = manifest.files.map((f) => f.path).filter((p) => !(keepTrading && TRADING_STATE_FILES.includes(p)));
    return { restored, previous: moved ? previous : null, manifest, tradingState };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The marker `hmm restore` leaves for the next start (null when this start is not after a restore). */
export function readRestoreMarker(stateDir: string): Record<string, unknown> | null {
  try {
    const doc = JSON.parse(readFileSync(join(stateDir, RESTORE_MARKER), 'utf8')) as unknown;
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : { unreadable: true };
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : { unreadable: true };
  }
}

/** Called once the restored state has been recovered: later starts are ordinary restarts. */
export function clearRestoreMarker(stateDir: string): void {
  rmSync(join(stateDir, RESTORE_MARKER), { force: true });
}
