// The dashboard's memory: what the page shows as history, kept in SQLite
// (ops/dashboard_history.sqlite) so a restart shows the same equity curve, drawdown, events
// and per-model PnL as before it. The ledger holds every fill, but equity between fills moves
// with marks the ledger does not keep, so the curve is the sampler's own log: one portfolio
// frame a second, model PnL every fifth, the operator-facing bus events, and the governance
// drawdown figure. Bounded by ops/policies.yaml metrics_retention_hours (pruned every minute)
// and an event cap; reads are downsampled to at most the points a chart can draw. A damaged
// file is moved aside to .damaged (or the next free .damaged.N: an earlier one is evidence too)
// and the history starts again: the dashboard never stops the stack.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../obs/logger.js';
import type { DrawdownStatement } from './governance/drawdownStatement.js';
import { PacedSave } from '../util/pacedSave.js';
import { quarantineFile } from '../util/quarantine.js';

export interface EquityPoint {
  readonly ts: number;
  readonly equity: number;
  readonly cash: number;
  readonly gain: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure: number;
  /** Below governance's peak equity, in percent (governance's formula, at this point). */
  readonly drawdown_pct: number;
}

export interface ModelPnlPoint {
  readonly ts: number;
  readonly pnl: Record<string, number>;
}

export interface DashboardEvent {
  readonly topic: string;
  readonly ts: number;
  readonly payload: unknown;
}

/** Governance's own drawdown figure, as its last metrics.update stated it, and when. */
export interface GovernanceDrawdown extends DrawdownStatement {
  readonly ts: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS equity (
  ts INTEGER PRIMARY KEY, equity REAL NOT NULL, cash REAL NOT NULL, gain REAL NOT NULL, realized_pnl REAL NOT NULL,
  unrealized_pnl REAL NOT NULL, fees REAL NOT NULL, exposure REAL NOT NULL, drawdown_pct REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_pnl (ts INTEGER PRIMARY KEY, pnl TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** Events kept (newest); the page shows 60 at most. */
export const EVENTS_KEPT = 1000;
const PRUNE_EVERY_MS = 60_000;
/** Host ms between two writes of governance's drawdown figure: governance restates it every
 *  round (once per bar in a replay), and only the last statement matters after a restart. */
const GOVERNANCE_WRITE_EVERY_MS = 1_000;

export interface DashboardHistoryOptions {
  readonly path: string;
  /** How long points are kept (ops/policies.yaml metrics_retention_hours). */
  readonly retentionMs: () => number;
  readonly log: Logger;
  readonly now: () => number;
}

export class DashboardHistory {
  private readonly db: Database.Database;
  private readonly insertPoint: Database.Statement;
  private readonly insertModelPnl: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly setMeta: Database.Statement;
  private lastPrune = 0;
  private lastErrorAt = -Infinity;
  private closed = false;
  /** Governance's figure as last stated; the file gets it at most once a host second. */
  private governanceFigure: GovernanceDrawdown | null = null;
  private readonly governanceSave = new PacedSave(GOVERNANCE_WRITE_EVERY_MS, () => this.saveGovernance());
  private readonly pruneStmts: { readonly points: readonly Database.Statement[]; readonly events: Database.Statement };

  constructor(private readonly o: DashboardHistoryOptions) {
    this.db = this.open();
    this.insertPoint = this.db.prepare('INSERT OR REPLACE INTO equity VALUES (@ts, @equity, @cash, @gain, @realized_pnl, @unrealized_pnl, @fees, @exposure, @drawdown_pct)');
    this.insertModelPnl = this.db.prepare('INSERT OR REPLACE INTO model_pnl VALUES (?, ?)');
    this.insertEvent = this.db.prepare('INSERT INTO events (ts, topic, payload) VALUES (?, ?, ?)');
    this.setMeta = this.db.prepare('INSERT OR REPLACE INTO meta VALUES (?, ?)');
    this.pruneStmts = {
      points: [this.db.prepare('DELETE FROM equity WHERE ts < ?'), this.db.prepare('DELETE FROM model_pnl WHERE ts < ?')],
      events: this.db.prepare('DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?'),
    };
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('governance_drawdown') as { value: string } | undefined;
    this.governanceFigure = row ? (JSON.parse(row.value) as GovernanceDrawdown) : null;
  }

  private open(): Database.Database {
    mkdirSync(dirname(this.o.path), { recursive: true });
    try {
      return this.openAt(this.o.path);
    } catch (err) {
      const damaged = `[OPS] ${this.o.path} is damaged (${(err as Error).message})`;
      let aside: string | null = null;
      try {
        aside = existsSync(this.o.path) ? quarantineFile(this.o.path) : null;
        // A WAL or shared-memory file SQLite left behind goes with it, to a name no earlier
        // quarantine holds: a WAL left beside the fresh file would be replayed into it. (The
        // failed connection's close usually removes them already.)
        if (aside !== null) for (const s of ['-wal', '-shm']) if (existsSync(this.o.path + s)) moveSidecar(this.o.path + s, aside + s);
        const db = this.openAt(this.o.path);
        this.o.log.error({ err, moved_to: aside }, `${damaged}; ${aside !== null ? `moved to ${aside}` : 'no file to move'}, the dashboard history starts again`);
        return db;
      } catch (again) {
        const where = aside !== null ? `moved to ${aside}` : existsSync(this.o.path) ? 'could not be moved aside' : 'no file to move';
        this.o.log.error({ err, moved_to: aside }, `${damaged}; ${where} (${(again as Error).message}); the dashboard history is kept in memory only`);
        return this.openAt(':memory:');
      }
    }
  }

  private openAt(path: string): Database.Database {
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      // A lost last second of dashboard history is acceptable; an fsync a second is not.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      db.prepare('SELECT count(*) FROM equity').get();
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Runs a write; a failure (disk full) is logged once a minute and the page carries on. */
  private write(what: string, fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
      const now = this.o.now();
      if (now - this.lastPrune >= PRUNE_EVERY_MS) this.prune(now);
    } catch (err) {
      const now = this.o.now();
      if (now - this.lastErrorAt >= PRUNE_EVERY_MS) {
        this.lastErrorAt = now;
        this.o.log.error({ err }, `[OPS] dashboard history: writing ${what} failed: ${(err as Error).message}`);
      }
    }
  }

  addPoint(p: EquityPoint): void {
    this.write('a portfolio frame', () => this.insertPoint.run(p));
  }

  addModelPnl(p: ModelPnlPoint): void {
    this.write('model PnL', () => this.insertModelPnl.run(p.ts, JSON.stringify(p.pnl)));
  }

  addEvent(e: DashboardEvent): void {
    this.write('an event', () => this.insertEvent.run(e.ts, e.topic, JSON.stringify(e.payload ?? {})));
  }

  /** Kept in memory at once; written at most once a host second — what waits by a host timer
   *  at the end of that second, or at close (a crash within it shows the figure before:
   *  acceptable for a page). */
  setGovernance(g: GovernanceDrawdown): void {
    this.governanceFigure = g;
    this.governanceSave.request();
  }

  private saveGovernance(): void {
    this.governanceSave.saved();
    const g = this.governanceFigure;
    if (g !== null) this.write('the governance figure', () => this.setMeta.run('governance_drawdown', JSON.stringify(g)));
  }

  governance(): GovernanceDrawdown | null {
    return this.governanceFigure;
  }

  /** Equity frames after `since`, at most `max`: the last frame of each equal time bucket,
   *  so the newest frame is always in and the same data always downsamples the same way. */
  points(since: number, max: number): EquityPoint[] {
    const cols = 'ts, equity, cash, gain, realized_pnl, unrealized_pnl, fees, exposure, drawdown_pct';
    return this.downsample<EquityPoint>('equity', cols, since, max);
  }

  modelPnl(since: number, max: number): ModelPnlPoint[] {
    return this.downsample<{ ts: number; pnl: string }>('model_pnl', 'ts, pnl', since, max).map((r) => ({ ts: r.ts, pnl: JSON.parse(r.pnl) as Record<string, number> }));
  }

  private downsample<T>(table: 'equity' | 'model_pnl', cols: string, since: number, max: number): T[] {
    const span = this.db.prepare(`SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM ${table} WHERE ts > ?`).get(since) as { n: number; lo: number | null; hi: number | null };
    if (span.n === 0 || span.lo === null || span.hi === null) return [];
    if (span.n <= max) return this.db.prepare(`SELECT ${cols} FROM ${table} WHERE ts > ? ORDER BY ts`).all(since) as T[];
    const width = Math.max(1, Math.ceil((span.hi - span.lo + 1) / max));
    // SQLite returns the other columns from the row that holds max(ts) (a bare-column aggregate).
    const rows = this.db.prepare(`SELECT max(ts) AS ts, ${cols.replace(/^ts, /, '')} FROM ${table} WHERE ts > ? GROUP BY (ts - ?) / ? ORDER BY ts`).all(since, span.lo, width) as T[];
    return rows;
  }

  /** The newest events first. */
  events(limit: number): DashboardEvent[] {
    const rows = this.db.prepare('SELECT ts, topic, payload FROM events ORDER BY seq DESC LIMIT ?').all(limit) as { ts: number; topic: string; payload: string }[];
    return rows.map((r) => ({ ts: r.ts, topic: r.topic, payload: JSON.parse(r.payload) as unknown }));
  }

  prune(now = this.o.now()): void {
    this.lastPrune = now;
    const cutoff = now - this.o.retentionMs();
    for (const stmt of this.pruneStmts.points) stmt.run(cutoff);
    this.pruneStmts.events.run(EVENTS_KEPT);
  }

  close(): void {
    if (this.closed) return;
    this.governanceSave.flush();
    this.closed = true;
    this.db.close();
  }
}

/** Moves a damaged database's `-wal`/`-shm` to `to`, or beside it under the next free
 *  `.damaged.N` should `to` already hold an earlier one. */
function moveSidecar(from: string, to: string): void {
  if (existsSync(to)) quarantineFile(from);
  else renameSync(from, to);
}
