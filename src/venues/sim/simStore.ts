// The sim venue's own books on disk (SQLite, WAL): orders, fills, balances, last prices and
// counters — what a real exchange would still know after our engine restarts, so there is
// something to reconcile against. Amounts are stored as raw scaled integers (Fixed).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { WalCheckpointer } from '../../util/walCheckpointer.js';
import { BloomFilter } from '../../util/bloomFilter.js';
import { dirname } from 'node:path';
import { type Fixed, fromRaw } from '../../core/decimal.js';
import type { ClientOrderId, Symbol, VenueId } from '../../core/ids.js';
import type { Fill, Liquidity, OrderSide, OrderType, TimeInForce } from '../../core/order.js';

export type SimOrderStatus = 'OPEN' | 'FILLED' | 'CANCELED' | 'EXPIRED';

/** The venue's order record; mutable because the venue updates it in place on the hot path. */
export interface SimOrder {
  readonly clientOrderId: ClientOrderId;
  readonly venueOrderId: string;
  readonly symbol: Symbol;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly qty: Fixed;
  readonly price: Fixed | null;
  readonly timeInForce: TimeInForce;
  readonly seq: number;
  readonly createdAt: number;
  filledQty: Fixed;
  status: SimOrderStatus;
  /** Balance still reserved by this order (quote for a BUY, base for a SELL). */
  locked: Fixed;
  updatedAt: number;
}

export interface AssetBalance {
  free: Fixed;
  locked: Fixed;
}

export interface MarketRow {
  readonly symbol: Symbol;
  readonly last: Fixed;
  readonly levelQty: Fixed;
  readonly ts: number;
}

export interface SimSnapshot {
  readonly orders: SimOrder[];
  readonly fills: Fill[];
  readonly balances: Map<string, AssetBalance>;
  readonly markets: MarketRow[];
  readonly meta: Map<string, bigint>;
}

export interface SimChanges {
  readonly orders: Iterable<SimOrder>;
  readonly fills: readonly Fill[];
  readonly balances: Iterable<[string, AssetBalance]>;
  readonly markets: Iterable<MarketRow>;
  readonly meta: Iterable<[string, bigint]>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sim_orders (
  client_order_id TEXT PRIMARY KEY, venue_order_id TEXT NOT NULL, symbol TEXT NOT NULL,
  side TEXT NOT NULL, type TEXT NOT NULL, qty INTEGER NOT NULL, price INTEGER,
  time_in_force TEXT NOT NULL, seq INTEGER NOT NULL, created_at INTEGER NOT NULL,
  filled_qty INTEGER NOT NULL, status TEXT NOT NULL, locked INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sim_fills (
  trade_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, venue TEXT NOT NULL, symbol TEXT NOT NULL,
  side TEXT NOT NULL, qty INTEGER NOT NULL, price INTEGER NOT NULL, fee INTEGER NOT NULL,
  liquidity TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sim_fills_order ON sim_fills (client_order_id);
CREATE TABLE IF NOT EXISTS sim_balances (asset TEXT PRIMARY KEY, free INTEGER NOT NULL, locked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sim_markets (symbol TEXT PRIMARY KEY, last INTEGER NOT NULL, level_qty INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sim_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

interface OrderRow {
  client_order_id: string; venue_order_id: string; symbol: string; side: string; type: string;
  qty: bigint; price: bigint | null; time_in_force: string; seq: bigint; created_at: bigint;
  filled_qty: bigint; status: string; locked: bigint; updated_at: bigint;
}
interface FillRow {
  trade_id: string; client_order_id: string; venue: string; symbol: string; side: string;
  qty: bigint; price: bigint; fee: bigint; liquidity: string; ts: bigint;
}

export class SimStateStore {
  private readonly db: Database.Database;
  private readonly putOrder: Database.Statement;
  private readonly putFill: Database.Statement;
  private readonly putBalance: Database.Statement;
  private readonly putMarket: Database.Statement;
  private readonly putMeta: Database.Statement;
  private fillSeq = 0;
  private readonly saveTx: (c: SimChanges) => void;
  private readonly getOrderStmt: Database.Statement;
  private readonly hasOrderStmt: Database.Statement;
  private readonly checkpointer: WalCheckpointer;
  /** Every client order id on disk, so a new id (the usual case) skips the index probe. */
  private readonly knownIds: BloomFilter;
  private readonly getFillsStmt: Database.Statement;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL under WAL loses at most the last transactions on power loss, never consistency;
    // the sim is not worth an fsync per order.
    this.db.pragma('synchronous = NORMAL');
    // Checkpoints in a worker, as for the ledger: inside a commit they stalled the venue's
    // answers (and the engine's thread with them) for milliseconds every thousand pages.
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpointer = new WalCheckpointer(path, 250, (m) => process.emitWarning(`sim venue checkpoint: ${m}`));
    this.db.defaultSafeIntegers(true);
    this.db.exec(SCHEMA);
    // Positional parameters: these run for every order, and binding by name costs more.
    this.putOrder = this.db.prepare(`INSERT OR REPLACE INTO sim_orders (client_order_id, venue_order_id, symbol, side, type, qty,
      price, time_in_force, seq, created_at, filled_qty, status, locked, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.putFill = this.db.prepare(`INSERT OR IGNORE INTO sim_fills (trade_id, client_order_id, venue, symbol, side, qty, price, fee,
      liquidity, ts, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.putBalance = this.db.prepare('INSERT OR REPLACE INTO sim_balances VALUES (?, ?, ?)');
    this.putMarket = this.db.prepare('INSERT OR REPLACE INTO sim_markets VALUES (?, ?, ?, ?)');
    this.putMeta = this.db.prepare('INSERT OR REPLACE INTO sim_meta VALUES (?, ?)');
    this.getOrderStmt = this.db.prepare('SELECT * FROM sim_orders WHERE client_order_id = ?');
    this.hasOrderStmt = this.db.prepare('SELECT 1 FROM sim_orders WHERE client_order_id = ?').pluck();
    const count = Number(this.db.prepare('SELECT count(*) FROM sim_orders').pluck().get() as bigint);
    this.knownIds = BloomFilter.withKeys(count, this.db.prepare('SELECT client_order_id FROM sim_orders').pluck().iterate() as IterableIterator<string>);
    this.getFillsStmt = this.db.prepare('SELECT * FROM sim_fills WHERE client_order_id = ? ORDER BY seq');
    const maxSeq = this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM sim_fills').get() as { m: bigint };
    this.fillSeq = Number(maxSeq.m);
    this.saveTx = this.db.transaction((c: SimChanges) => {
      for (const o of c.orders) {
        this.knownIds.add(o.clientOrderId);
        this.putOrder.run(o.clientOrderId, o.venueOrderId, o.symbol, o.side, o.type, o.qty, o.price, o.timeInForce, o.seq, o.createdAt,
          o.filledQty, o.status, o.locked, o.updatedAt);
      }
      for (const f of c.fills) {
        this.putFill.run(f.tradeId, f.clientOrderId, f.venue, f.symbol, f.side, f.qty, f.price, f.fee, f.liquidity, f.ts, ++this.fillSeq);
      }
      for (const [asset, b] of c.balances) this.putBalance.run(asset, b.free, b.locked);
      for (const m of c.markets) this.putMarket.run(m.symbol, m.last, m.levelQty, m.ts);
      for (const [k, v] of c.meta) this.putMeta.run(k, v);
    });
  }

  /** Open orders and their fills: what the venue keeps in memory. Closed orders stay on disk
   *  (findOrder / findFills), as an exchange's history does. */
  load(): SimSnapshot {
    const orders = (this.db.prepare("SELECT * FROM sim_orders WHERE status = 'OPEN' ORDER BY seq").all() as OrderRow[]).map(rowToSimOrder);
    const fills = (this.db.prepare("SELECT * FROM sim_fills WHERE client_order_id IN (SELECT client_order_id FROM sim_orders WHERE status = 'OPEN') ORDER BY seq").all() as FillRow[]).map(rowToSimFill);
    return { orders, fills, ...this.loadAccount() };
  }

  findOrder(clientOrderId: string): SimOrder | undefined {
    const row = this.getOrderStmt.get(clientOrderId) as OrderRow | undefined;
    return row === undefined ? undefined : rowToSimOrder(row);
  }

  /** Whether the client order id was ever used (one index probe, no row read). */
  hasOrder(clientOrderId: string): boolean {
    return this.knownIds.mightContain(clientOrderId) && this.hasOrderStmt.get(clientOrderId) !== undefined;
  }

  findFills(clientOrderId: string): Fill[] {
    return (this.getFillsStmt.all(clientOrderId) as FillRow[]).map(rowToSimFill);
  }

  private loadAccount(): Omit<SimSnapshot, 'orders' | 'fills'> {
    const balances = new Map<string, AssetBalance>();
    for (const r of this.db.prepare('SELECT * FROM sim_balances').all() as { asset: string; free: bigint; locked: bigint }[]) {
      balances.set(r.asset, { free: fromRaw(r.free), locked: fromRaw(r.locked) });
    }
    const markets = (this.db.prepare('SELECT * FROM sim_markets').all() as { symbol: string; last: bigint; level_qty: bigint; ts: bigint }[]).map(
      (r): MarketRow => ({ symbol: r.symbol as Symbol, last: fromRaw(r.last), levelQty: fromRaw(r.level_qty), ts: Number(r.ts) }),
    );
    const meta = new Map<string, bigint>();
    for (const r of this.db.prepare('SELECT * FROM sim_meta').all() as { key: string; value: bigint }[]) meta.set(r.key, r.value);
    return { balances, markets, meta };
  }

  /** Everything one venue operation changed, committed before the operation returns: like
   *  an exchange, the venue never acknowledges what it has not made durable (so a crash can
   *  leave the venue ahead of the engine, for reconciliation to book, never behind it). */
  save(changes: SimChanges): void {
    this.saveTx(changes);
  }

  /** Closes the connection; the checkpointer runs a last checkpoint and stops. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    await this.checkpointer.stop();
  }
}

function rowToSimOrder(r: OrderRow): SimOrder {
  return {
    clientOrderId: r.client_order_id as ClientOrderId,
    venueOrderId: r.venue_order_id,
    symbol: r.symbol as Symbol,
    side: r.side as OrderSide,
    type: r.type as OrderType,
    qty: fromRaw(r.qty),
    price: r.price === null ? null : fromRaw(r.price),
    timeInForce: r.time_in_force as TimeInForce,
    seq: Number(r.seq),
    createdAt: Number(r.created_at),
    filledQty: fromRaw(r.filled_qty),
    status: r.status as SimOrderStatus,
    locked: fromRaw(r.locked),
    updatedAt: Number(r.updated_at),
  };
}

function rowToSimFill(r: FillRow): Fill {
  return {
    tradeId: r.trade_id,
    clientOrderId: r.client_order_id as ClientOrderId,
    venue: r.venue as VenueId,
    symbol: r.symbol as Symbol,
    side: r.side as OrderSide,
    qty: fromRaw(r.qty),
    price: fromRaw(r.price),
    fee: fromRaw(r.fee),
    liquidity: r.liquidity as Liquidity,
    model: null,
    ts: Number(r.ts),
  };
}
