// The engine's ledger: orders, their events and fills in SQLite (WAL). It is the source of
// truth: the in-memory portfolio and `engine/state/portfolio.json` are derived from it.
// Amounts are stored as the raw fixed-point integers of core/decimal, so a replay is exact.
// Orders on their way to the venue are first recorded in the intent journal (intentJournal.ts).
import Database from 'better-sqlite3';
import { WalCheckpointer } from '../util/walCheckpointer.js';
import { BloomFilter } from '../util/bloomFilter.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Fixed, fromRaw, toDecimalString } from '../core/decimal.js';
import type { ClientOrderId, ModelId, Symbol, VenueId } from '../core/ids.js';
import type { Fill, Liquidity, Order, OrderSide, OrderStatus, OrderType, TimeInForce } from '../core/order.js';
import { EngineError } from './errors.js';
import { IntentJournal, type DamagedLine, type IntentLine } from './intentJournal.js';

// Each page a commit touches costs a write on these disks, so the schema keeps them few: seq
// columns are plain rowids (rows are never deleted, so they only grow; AUTOINCREMENT would
// also write sqlite_sequence on every commit), and order_events carries no index, since
// nothing reads it by order (an index there cost a page per commit; older ledgers drop it).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
  client_order_id TEXT PRIMARY KEY,
  venue TEXT NOT NULL,
  model TEXT,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  type TEXT NOT NULL,
  tif TEXT NOT NULL,
  qty INTEGER NOT NULL,
  price INTEGER,
  status TEXT NOT NULL,
  filled_qty INTEGER NOT NULL,
  filled_notional INTEGER NOT NULL,
  fees INTEGER NOT NULL,
  venue_order_id TEXT,
  reject_reason TEXT,
  request_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_open ON orders(status) WHERE status IN ('NEW','ACCEPTED','PARTIALLY_FILLED');
CREATE TABLE IF NOT EXISTS order_events (
  seq INTEGER PRIMARY KEY,
  client_order_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  ts INTEGER NOT NULL
);
DROP INDEX IF EXISTS order_events_order;
CREATE TABLE IF NOT EXISTS fills (
  seq INTEGER PRIMARY KEY,
  venue TEXT NOT NULL,
  trade_id TEXT NOT NULL,
  client_order_id TEXT NOT NULL,
  model TEXT,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  qty INTEGER NOT NULL,
  price INTEGER NOT NULL,
  fee INTEGER NOT NULL,
  liquidity TEXT NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE (venue, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_ts ON fills(ts);
`;

interface OrderRow {
  client_order_id: string;
  venue: string;
  model: string | null;
  symbol: string;
  side: string;
  type: string;
  tif: string;
  qty: bigint;
  price: bigint | null;
  status: string;
  filled_qty: bigint;
  filled_notional: bigint;
  fees: bigint;
  venue_order_id: string | null;
  reject_reason: string | null;
  request_hash: string;
  created_at: bigint;
  updated_at: bigint;
}

interface PendingRow {
  readonly order: Order;
  readonly insert: { readonly requestHash: string } | null;
}

interface FillRow {
  seq: bigint;
  venue: string;
  trade_id: string;
  client_order_id: string;
  model: string | null;
  symbol: string;
  side: string;
  qty: bigint;
  price: bigint;
  fee: bigint;
  liquidity: string;
  ts: bigint;
}

export interface StoredOrder {
  readonly order: Order;
  readonly requestHash: string;
}

export type LedgerSync = 'full' | 'normal';

export interface LedgerOpenOptions {
  /** Open an existing ledger for reading only (exports, backups): no schema, no writes. */
  readonly readonly?: boolean;
  /** Group commit (default on for file ledgers): see Ledger.durable(). */
  readonly groupCommit?: boolean;
  /** WAL checkpoints in a worker thread instead of inside commits (long-lived engine ledgers;
   *  close with closeAsync()). */
  readonly backgroundCheckpoints?: boolean;
}

/** A ledger file that cannot be opened or read: names the file and what to do about it. */
export class LedgerOpenError extends EngineError {
  constructor(readonly path: string, cause: string) {
    super('HMM_ENGINE_LEDGER_UNREADABLE', `ledger ${path} cannot be opened: ${cause}. Move it aside and restore the last backup (\`hmm restore FILE\`).`);
  }
}

/** Highest sequence numbers of order events and fills: any commit moves one of them. */
export interface LedgerHighWater {
  readonly events: number;
  readonly fills: number;
}

export class Ledger {
  readonly db: Database.Database;
  /** Whether the ledger already held history when opened (a restart, not a first start). */
  readonly existed: boolean;
  private readonly stmts;
  private readonly checkpointer: WalCheckpointer | null = null;
  /** Group commit: writes made within one turn of the event loop share one transaction,
   *  committed at the end of that turn; callers await durable() before acknowledging. */
  private readonly groupCommit: boolean;
  private batchOpen = false;
  private txDepth = 0;
  /** Order rows written when the outermost transaction ends (one write per order, whatever
   *  happened to it inside); `insert` is set for an order whose row does not exist yet. */
  private readonly pendingRows = new Map<string, PendingRow>();
  private batchWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private batchStmts: { begin: Database.Statement; commit: Database.Statement; rollback: Database.Statement } | null = null;
  private readonly journal: IntentJournal | null = null;
  /** Orders whose rows the open batch writes: their journal lines are settled by its commit. */
  private batchSettled: string[] = [];
  /** Every client order id in the ledger: the idempotency check of a new id (the usual case)
   *  is answered without reading the index. */
  private readonly knownIds: BloomFilter | null = null;
  /** Orders found in the intent journal but not in the ledger at open, recorded as NEW. */
  readonly journalRecovered: readonly ClientOrderId[] = [];
  /** Journal lines that did not parse or validate at open, quarantined to `<journal>.damaged`. */
  readonly journalDamaged: readonly DamagedLine[] = [];
  /** Called just before each group commit (the engine writes the turn's order-log lines). */
  beforeCommit: () => void = () => {};
  /** Called when a group commit fails (disk full, I/O error): the engine stops trading. */
  onCommitFailure: (err: Error) => void = () => {};
  /** Group commits that failed so far (what was written in them was rolled back). */
  commitFailures = 0;
  /** Whether the last group commit failed (cleared by the next one that succeeds). */
  failing = false;
  /** One reusable transaction runner: better-sqlite3 nests it as a savepoint when already inside one. */
  private readonly tx: (fn: () => unknown) => unknown;

  constructor(readonly path: string, sync: LedgerSync = 'normal', opts: LedgerOpenOptions = {}) {
    try {
      if (opts.readonly) {
        this.db = new Database(path, { readonly: true, fileMustExist: true });
      } else {
        if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
        this.db = new Database(path);
        this.db.pragma('journal_mode = WAL');
        // NORMAL in WAL mode: a commit survives a process crash (SIGKILL); FULL also survives power loss.
        this.db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
        this.db.pragma('foreign_keys = ON');
        this.db.exec(SCHEMA);
        if (path !== ':memory:' && opts.backgroundCheckpoints) {
          // Checkpoints run in a worker (walCheckpointer.ts), not inside an order's commit.
          this.db.pragma('wal_autocheckpoint = 0');
          this.checkpointer = new WalCheckpointer(path, 250, (m) => process.emitWarning(`ledger checkpoint: ${m}`));
        }
      }
      this.db.defaultSafeIntegers(true);
      this.existed = this.db.prepare("SELECT 1 FROM meta WHERE key = 'starting_cash'").get() !== undefined;
      if (!opts.readonly) {
        const count = Number(this.db.prepare('SELECT count(*) FROM orders').pluck().get() as bigint);
        this.knownIds = BloomFilter.withKeys(count, this.db.prepare('SELECT client_order_id FROM orders').pluck().iterate() as IterableIterator<string>);
      }
    } catch (err) {
      throw new LedgerOpenError(path, (err as Error).message);
    }
    this.tx = this.db.transaction((fn: () => unknown) => fn());
    this.groupCommit = !opts.readonly && path !== ':memory:' && opts.groupCommit !== false;
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      // The order path's statements bind by position (binding by name costs more per statement).
      insertOrderAt: this.db.prepare(`INSERT INTO orders (client_order_id, venue, model, symbol, side, type, tif, qty, price, status,
        filled_qty, filled_notional, fees, venue_order_id, reject_reason, request_hash, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updateOrder: this.db.prepare(`UPDATE orders SET status = ?, filled_qty = ?, filled_notional = ?, fees = ?, venue_order_id = ?,
        reject_reason = ?, updated_at = ? WHERE client_order_id = ?`),
      insertEvent: this.db.prepare('INSERT INTO order_events (client_order_id, status, reason, ts) VALUES (?, ?, ?, ?)'),
      // Positional parameters on the order path (binding by name costs more per statement).
      insertFill: this.db.prepare(`INSERT OR IGNORE INTO fills (venue, trade_id, client_order_id, model, symbol, side, qty, price, fee, liquidity, ts)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      getOrder: this.db.prepare<[string], OrderRow>('SELECT * FROM orders WHERE client_order_id = ?'),
      openOrders: this.db.prepare<[], OrderRow>("SELECT * FROM orders WHERE status IN ('NEW','ACCEPTED','PARTIALLY_FILLED') ORDER BY created_at"),
      recentOrders: this.db.prepare<[number], OrderRow>('SELECT * FROM orders ORDER BY updated_at DESC LIMIT ?'),
      allFills: this.db.prepare<[], FillRow>('SELECT * FROM fills ORDER BY seq'),
      fillsForOrder: this.db.prepare<[string], FillRow>('SELECT * FROM fills WHERE client_order_id = ? ORDER BY seq'),
      fillsBetween: this.db.prepare<[number, number], FillRow>('SELECT * FROM fills WHERE ts >= ? AND ts < ? ORDER BY seq'),
      fillsBefore: this.db.prepare<[number], FillRow>('SELECT * FROM fills WHERE ts < ? ORDER BY seq'),
      highWater: this.db.prepare<[], { events: bigint; fills: bigint }>(
        'SELECT (SELECT COALESCE(MAX(seq), 0) FROM order_events) AS events, (SELECT COALESCE(MAX(seq), 0) FROM fills) AS fills'),
      hasTrade: this.db.prepare<[string, string], { one: bigint }>('SELECT 1 AS one FROM fills WHERE venue = ? AND trade_id = ?'),
      fillMismatches: this.db.prepare<[], { client_order_id: string; filled_qty: bigint; fill_qty: bigint | null }>(`
        SELECT o.client_order_id, o.filled_qty, f.q AS fill_qty FROM orders o
        LEFT JOIN (SELECT client_order_id, SUM(qty) AS q FROM fills GROUP BY client_order_id) f ON f.client_order_id = o.client_order_id
        WHERE o.filled_qty != COALESCE(f.q, 0)`),
      orphanFills: this.db.prepare<[], { trade_id: string; client_order_id: string }>(
        'SELECT trade_id, client_order_id FROM fills WHERE client_order_id NOT IN (SELECT client_order_id FROM orders)'),
      counts: this.db.prepare<[], { orders: bigint; fills: bigint; open: bigint }>(
        "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM fills) AS fills, (SELECT count(*) FROM orders WHERE status IN ('NEW','ACCEPTED','PARTIALLY_FILLED')) AS open"),
      totalChanges: this.db.prepare<[], { n: bigint }>('SELECT total_changes() AS n'),
    };
    if (this.groupCommit) {
      this.journal = new IntentJournal(`${path}-intents`, sync === 'full');
      const { lines, damaged } = this.journal.read();
      this.journalDamaged = damaged;
      this.journalRecovered = this.recoverJournal(this.journal, lines);
      this.batchStmts = { begin: this.db.prepare('BEGIN'), commit: this.db.prepare('COMMIT'), rollback: this.db.prepare('ROLLBACK') };
    }
  }

  /** Records as NEW every journaled order the ledger lacks (the crash came before its commit). */
  private recoverJournal(journal: IntentJournal, lines: readonly IntentLine[]): ClientOrderId[] {
    const missing = lines.filter((l) => this.stmts.getOrder.get(l.id) === undefined);
    this.tx(() => {
      for (const l of missing) this.insertJournaled(l, 'recovered from the intent journal');
    });
    journal.compact(true);
    return missing.map((l) => l.id as ClientOrderId);
  }

  /**
   * After a group commit the disk refused (it rolled back): records as NEW every order still in
   * the intent journal without a row, except those `busy` still routes, exactly as start-up
   * recovery does. Returns their ids, for reconciliation with the venue by client order id.
   */
  recoverUnsettled(busy: (id: string) => boolean): ClientOrderId[] {
    if (this.journal === null) return [];
    const missing = this.journal.unsettledLines().filter((l) => !busy(l.id) && this.stmts.getOrder.get(l.id) === undefined);
    this.transaction(() => {
      for (const l of missing) {
        this.batchSettled.push(l.id);
        this.insertJournaled(l, 'recovered from the intent journal after a storage fault');
      }
    });
    return missing.map((l) => l.id as ClientOrderId);
  }

  /** A journaled order's row, as NEW, with the event that says where it came from. */
  private insertJournaled(l: IntentLine, note: string): void {
    this.knownIds?.add(l.id);
    this.stmts.insertOrderAt.run(l.id, l.venue, l.model, l.symbol, l.side, l.type, l.tif, BigInt(l.qty), l.price === null ? null : BigInt(l.price),
      'NEW', 0n, 0n, 0n, null, null, l.hash, l.ts, l.ts);
    this.stmts.insertEvent.run(l.id, 'NEW', note, l.ts);
  }

  /** Starting cash is fixed when the ledger is created; later config changes cannot rewrite history. */
  startingCash(defaultCash: Fixed): Fixed {
    const row = this.stmts.getMeta.get('starting_cash');
    if (row) return fromRaw(row.value);
    this.transaction(() => this.stmts.setMeta.run('starting_cash', defaultCash.toString()));
    return defaultCash;
  }

  /** Records a key of the meta table (joins the current transaction). */
  setMeta(key: string, value: string): void {
    this.transaction(() => this.stmts.setMeta.run(key, value));
  }

  getMeta(key: string): string | null {
    return this.stmts.getMeta.get(key)?.value ?? null;
  }

  /** The starting cash recorded at creation, without recording one (read-only use). */
  storedStartingCash(): Fixed | null {
    const row = this.stmts.getMeta.get('starting_cash');
    return row ? fromRaw(row.value) : null;
  }

  /** Runs fn atomically (a savepoint inside the current group commit). An order updated
   *  several times within fn (accepted, then each fill) gets one row write at the end, while
   *  every status change still gets its event row. */
  transaction<T>(fn: () => T): T {
    this.joinBatch();
    return this.tx(() => {
      this.txDepth++;
      try {
        const result = fn();
        if (this.txDepth === 1) this.writePendingRows();
        return result;
      } finally {
        this.txDepth--;
        if (this.txDepth === 0) this.pendingRows.clear();
      }
    }) as T;
  }

  private writePendingRows(): void {
    for (const { order, insert } of this.pendingRows.values()) {
      if (insert === null) {
        this.stmts.updateOrder.run(order.status, order.filledQty, order.filledNotional, order.fees, order.venueOrderId, order.rejectReason,
          order.updatedAt, order.clientOrderId);
      } else {
        const o = order;
        this.knownIds?.add(o.clientOrderId);
        if (this.journal !== null) this.batchSettled.push(o.clientOrderId);
        this.stmts.insertOrderAt.run(o.clientOrderId, o.venue, o.model, o.symbol, o.side, o.type, o.timeInForce, o.qty, o.price, o.status,
          o.filledQty, o.filledNotional, o.fees, o.venueOrderId, o.rejectReason, insert.requestHash, o.createdAt, o.updatedAt);
      }
    }
    this.pendingRows.clear();
  }

  private joinBatch(): void {
    if (!this.batchStmts || this.batchOpen) return;
    this.batchStmts.begin.run();
    this.batchOpen = true;
    setImmediate(() => this.flush());
  }

  /** Commits the open group now (also called at the end of each event-loop turn). */
  flush(): void {
    if (!this.batchOpen || !this.batchStmts) return;
    const waiters = this.batchWaiters;
    this.batchWaiters = [];
    this.batchOpen = false;
    const settled = this.batchSettled;
    this.batchSettled = [];
    try {
      this.beforeCommit();
      this.batchStmts.commit.run();
    } catch (err) {
      try { this.batchStmts.rollback.run(); } catch { /* the failed COMMIT may have rolled back already */ }
      for (const w of waiters) w.reject(err as Error);
      this.commitFailures++;
      this.failing = true;
      this.onCommitFailure(err as Error);
      return;
    }
    this.failing = false;
    if (this.journal !== null) {
      this.journal.settle(settled);
      this.journal.compact();
    }
    for (const w of waiters) w.resolve();
  }

  /** Resolves once every write made so far is committed. */
  durable(): Promise<void> {
    if (!this.batchOpen) return Promise.resolve();
    return new Promise((resolve, reject) => this.batchWaiters.push({ resolve, reject }));
  }

  /** Puts an order about to go to the venue on record without waiting for a commit (the
   *  intent journal); insertOrder() writes its row once the venue has answered. */
  recordIntent(order: Order, requestHash: string): void {
    this.journal?.append(order, requestHash);
  }

  /** The order and its first event, atomically (inside a transaction, the row is written when
   *  the outermost transaction ends, with the state the order has by then). */
  insertOrder(order: Order, requestHash: string): void {
    if (this.txDepth === 0) {
      this.transaction(() => this.insertOrder(order, requestHash));
      return;
    }
    this.pendingRows.set(order.clientOrderId, { order, insert: { requestHash } });
    this.stmts.insertEvent.run(order.clientOrderId, order.status, order.rejectReason, order.updatedAt);
  }

  /** The new state and its event, atomically (the row is written when the enclosing
   *  transaction ends). */
  updateOrder(order: Order, eventReason: string | null = null): void {
    if (this.txDepth === 0) {
      this.transaction(() => this.updateOrder(order, eventReason));
      return;
    }
    this.pendingRows.set(order.clientOrderId, { order, insert: this.pendingRows.get(order.clientOrderId)?.insert ?? null });
    this.stmts.insertEvent.run(order.clientOrderId, order.status, eventReason ?? order.rejectReason, order.updatedAt);
  }

  /** Records a fill; returns false when the venue trade id was already booked (a duplicate). */
  insertFill(fill: Fill): boolean {
    this.joinBatch();
    const info = this.stmts.insertFill.run(fill.venue, fill.tradeId, fill.clientOrderId, fill.model, fill.symbol, fill.side, fill.qty,
      fill.price, fill.fee, fill.liquidity, fill.ts);
    return info.changes === 1;
  }

  getOrder(id: string): StoredOrder | undefined {
    const pending = this.pendingRows.get(id);
    if (pending?.insert) return { order: pending.order, requestHash: pending.insert.requestHash };
    if (this.knownIds !== null && !this.knownIds.mightContain(id)) return undefined;
    const row = this.stmts.getOrder.get(id);
    if (!row) return undefined;
    return { order: pending?.order ?? rowToOrder(row), requestHash: row.request_hash };
  }

  openOrders(): Order[] {
    return this.stmts.openOrders.all().map(rowToOrder);
  }

  recentOrders(limit: number): Order[] {
    return this.stmts.recentOrders.all(limit).map(rowToOrder);
  }

  *fills(): IterableIterator<Fill> {
    for (const row of this.stmts.allFills.iterate()) yield rowToFill(row);
  }

  fillsForOrder(id: string): Fill[] {
    return this.stmts.fillsForOrder.all(id).map(rowToFill);
  }

  fillsBetween(fromTs: number, toTs: number): Fill[] {
    return this.stmts.fillsBetween.all(fromTs, toTs).map(rowToFill);
  }

  fillsBefore(ts: number): Fill[] {
    return this.stmts.fillsBefore.all(ts).map(rowToFill);
  }

  // The counts scan both tables and health() asks for them on every governance round (once
  // per bar in a replay): they are recounted only when a row changed since (total_changes()
  // of this connection, the only one that writes this ledger).
  private countsCache: { readonly at: bigint; readonly counts: { orders: number; fills: number; open: number } } | null = null;

  counts(): { orders: number; fills: number; open: number } {
    const at = this.stmts.totalChanges.get()!.n;
    if (this.countsCache !== null && this.countsCache.at === at) return { ...this.countsCache.counts };
    const c = this.stmts.counts.get()!;
    const counts = { orders: Number(c.orders), fills: Number(c.fills), open: Number(c.open) };
    this.countsCache = { at, counts };
    return { ...counts };
  }

  highWater(): LedgerHighWater {
    const h = this.stmts.highWater.get()!;
    return { events: Number(h.events), fills: Number(h.fills) };
  }

  /** Whether a venue trade id is already booked (fills are de-duplicated on it). */
  hasTrade(venue: string, tradeId: string): boolean {
    return this.stmts.hasTrade.get(venue, tradeId) !== undefined;
  }

  /**
   * Cross-checks the ledger after a crash: every order's filled quantity equals the sum of its
   * fills, and every fill belongs to an order. Both are written in one transaction, so a
   * problem here means the file was damaged or edited, never an ordinary crash.
   */
  consistencyProblems(): string[] {
    const problems: string[] = [];
    for (const r of this.stmts.fillMismatches.all()) {
      problems.push(`order ${r.client_order_id}: filled_qty ${toDecimalString(fromRaw(r.filled_qty))} but its fills sum to ${toDecimalString(fromRaw(r.fill_qty ?? 0n))}`);
    }
    for (const r of this.stmts.orphanFills.all()) problems.push(`fill ${r.trade_id} belongs to no order (${r.client_order_id})`);
    return problems;
  }

  /** SQLite's own structural check ('ok' when sound). */
  quickCheck(): string[] {
    const rows = this.db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check);
  }

  /** A consistent copy while running (SQLite's online backup API). */
  async backupTo(path: string): Promise<void> {
    this.flush(); // the copy holds committed history only
    await this.db.backup(path);
  }

  /** Stops the checkpointer (one last checkpoint) before closing the engine's connection. */
  async closeAsync(): Promise<void> {
    this.flush();
    await this.checkpointer?.stop();
    this.close();
  }

  close(): void {
    if (this.db.open) {
      this.flush();
      if (!this.batchOpen && this.journal !== null) {
        this.journal.compact(true); // keeps only orders still in flight, if any
        this.journal.close();
      }
    }
    void this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

function rowToOrder(r: OrderRow): Order {
  return {
    clientOrderId: r.client_order_id as ClientOrderId,
    venue: r.venue as VenueId,
    model: r.model as ModelId | null,
    symbol: r.symbol as Symbol,
    side: r.side as OrderSide,
    type: r.type as OrderType,
    timeInForce: r.tif as TimeInForce,
    qty: fromRaw(r.qty),
    price: r.price === null ? null : fromRaw(r.price),
    status: r.status as OrderStatus,
    filledQty: fromRaw(r.filled_qty),
    filledNotional: fromRaw(r.filled_notional),
    fees: fromRaw(r.fees),
    venueOrderId: r.venue_order_id,
    rejectReason: r.reject_reason,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function rowToFill(r: FillRow): Fill {
  return {
    tradeId: r.trade_id,
    clientOrderId: r.client_order_id as ClientOrderId,
    venue: r.venue as VenueId,
    model: r.model as ModelId | null,
    symbol: r.symbol as Symbol,
    side: r.side as OrderSide,
    qty: fromRaw(r.qty),
    price: fromRaw(r.price),
    fee: fromRaw(r.fee),
    liquidity: r.liquidity as Liquidity,
    ts: Number(r.ts),
  };
}
