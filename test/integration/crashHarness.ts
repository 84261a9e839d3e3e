// Crash harness shared by test/integration/crash.test.ts (a few iterations in CI) and
// bench/soak-crash.ts (many): runs `node bin/hmm.mjs up` as a child process on free ports,
// drives orders at its engine API while the MA model trades, SIGKILLs it at a random moment,
// restarts it, and finally checks the books offline: the ledger against the sim venue's own
// books, every acknowledged order, ledger replay against the portfolio snapshot, the state
// files. Not a test file itself (no .test.ts suffix).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { freePort } from '../support/freePort.js';
export { freePort };
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Fixed, fromRaw, fx, toDecimalString } from '../../src/core/decimal.js';
import { replayFills } from '../../src/core/portfolio.js';
import { Ledger } from '../../src/engine/ledger.js';
import { readSnapshot } from '../../src/engine/snapshot.js';
import { stackPaths } from '../../src/ops/paths.js';
import { HMM_NODE_FLAGS } from '../../src/app/nodeFlags.js';

export const REPO = join(import.meta.dirname, '../..');
export const TOKEN = 'crash-token-0123456789abcdef';


/** A small seeded generator, so a failing run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function stackEnv(root: string, opsPort: number, enginePort: number, extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('NODE_TEST')) base[k] = v;
  return {
    ...base,
    HMM_ROOT: root, OPS_PORT: String(opsPort), ENGINE_PORT: String(enginePort), OPS_API_TOKEN: TOKEN,
    MARKET_INTERVAL_MS: '20', WARMUP_BARS: '60', LOG_LEVEL: 'info',
    STARTING_CASH_USD: '1000000', EXPOSURE_CAP_SYMBOL_USD: '300000', EXPOSURE_CAP_TOTAL_USD: '600000',
    MAX_ORDERS_PER_MIN: '100000', MAX_OPEN_ORDERS: '1000', MAX_NOTIONAL_USDT: '5000',
    // Rails that would stop the flow of orders after a few losses: this test is about durability.
    LOSS_STREAK_LIMIT: '0', MAX_DRAWDOWN_PCT: '0', EQUITY_FLOOR_USD: '0',
    ...extra,
  };
}

const live = new Set<ChildProcess>();

/** SIGKILLs every stack process still running (a test's `finally`). */
export async function killAll(): Promise<void> {
  const waits = [...live].map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGKILL'); }));
  await Promise.all(waits);
}

export class StackProcess {
  readonly exited: Promise<number | null>;
  stderr = '';

  private constructor(readonly child: ChildProcess, readonly opsUrl: string, readonly engineUrl: string) {
    live.add(child);
    child.stderr?.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => child.once('exit', (code) => { live.delete(child); resolve(code); }));
  }

  /** Spawns `hmm up` and waits until the Ops API answers (after the start-up reconciliation). */
  static async start(root: string, extraEnv: Record<string, string> = {}, timeoutMs = 60_000): Promise<StackProcess> {
    const [opsPort, enginePort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [...HMM_NODE_FLAGS, join(REPO, 'bin/hmm.mjs'), 'up'], { cwd: root, env: stackEnv(root, opsPort, enginePort, extraEnv), stdio: ['ignore', 'ignore', 'pipe'] });
    const p = new StackProcess(child, `http://127.0.0.1:${opsPort}`, `http://127.0.0.1:${enginePort}`);
    let exitCode: number | null | undefined;
    void p.exited.then((c) => { exitCode = c; });
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new StartupRefused(exitCode, p.stderr);
      try {
        const res = await fetch(`${p.opsUrl}/status`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return p;
      } catch { /* not up yet */ }
      if (Date.now() > end) {
        child.kill('SIGKILL');
        throw new Error(`stack did not come up within ${timeoutMs} ms: ${p.stderr.slice(-2000)}`);
      }
      await sleep(50);
    }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  async get<T = unknown>(url: string): Promise<T> {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET ${url} → ${res.status}`);
    return (await res.json()) as T;
  }
}

export class StartupRefused extends Error {
  constructor(readonly code: number | null, readonly stderr: string) {
    super(`hmm up exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a client was told about an order it submitted. */
export interface Ack {
  readonly http: number;
  readonly status: string;
  readonly filled_qty: string;
}

export interface DriveStats {
  sent: number;
  acked: number;
  cancels: number;
  errors: number;
}

interface OrderBody { order?: { client_order_id: string; status: string; filled_qty: string; avg_price: string | null } }

/**
 * Sends orders from `workers` concurrent loops until `signal` aborts: market and limit orders
 * on both symbols (limits within 1 % of the last fill price, so some rest and fill later),
 * and cancels of resting ones. Every answered submission is recorded in `acks`.
 */
export async function driveOrders(engineUrl: string, prefix: string, rand: () => number, acks: Map<string, Ack>, signal: AbortSignal, workers = 3): Promise<DriveStats> {
  // Every request listens on the one signal that ends the run (thousands over a soak).
  setMaxListeners(0, signal);
  const stats: DriveStats = { sent: 0, acked: 0, cancels: 0, errors: 0 };
  const marks = new Map<string, number>([['BTCUSDT', 60_000], ['ETHUSDT', 3_000]]);
  const resting: string[] = [];
  let n = 0;
  const headers = { 'content-type': 'application/json', 'x-ops-token': TOKEN };
  const one = async (): Promise<void> => {
    const sym = rand() < 0.5 ? 'BTCUSDT' : 'ETHUSDT';
    const side = rand() < 0.55 ? 'BUY' : 'SELL';
    const r = rand();
    if (r < 0.1 && resting.length > 0) {
      const id = resting.splice(Math.floor(rand() * resting.length), 1)[0]!;
      stats.cancels++;
      await fetch(`${engineUrl}/orders/${id}`, { method: 'DELETE', headers: { 'x-ops-token': TOKEN }, signal });
      return;
    }
    const id = `${prefix}-${n++}`;
    const mark = marks.get(sym)!;
    const body = r < 0.6
      ? { client_order_id: id, symbol: sym, side, type: 'MARKET', quote_usd: String(20 + Math.floor(rand() * 200)) }
      : { client_order_id: id, symbol: sym, side, type: 'LIMIT', price: (mark * (1 + (side === 'BUY' ? -1 : 1) * rand() * 0.004)).toFixed(2), quote_usd: String(20 + Math.floor(rand() * 100)) };
    stats.sent++;
    const res = await fetch(`${engineUrl}/orders`, { method: 'POST', headers, body: JSON.stringify(body), signal });
    const json = (await res.json()) as OrderBody;
    if (json.order) {
      acks.set(id, { http: res.status, status: json.order.status, filled_qty: json.order.filled_qty });
      stats.acked++;
      if (json.order.avg_price) marks.set(sym, Number(json.order.avg_price));
      if (json.order.status === 'ACCEPTED' || json.order.status === 'PARTIALLY_FILLED') resting.push(id);
    }
  };
  const loop = async () => {
    while (!signal.aborted) {
      try {
        await one();
      } catch {
        if (signal.aborted) return;
        stats.errors++;
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  return stats;
}

// ---- offline verification --------------------------------------------------------------

export interface Verification {
  readonly problems: string[];
  readonly orders: number;
  readonly fills: number;
  readonly openOrders: number;
  /** Venue fills missing from the ledger, and acknowledged orders missing or under-filled there. */
  readonly lost: number;
  /** Fills booked twice (the same venue trade id). */
  readonly duplicates: number;
  /** Cash or position disagreements: ledger replay vs portfolio.json vs the venue's balances. */
  readonly drift: number;
}

interface SimOrderRow { client_order_id: string; filled_qty: bigint; status: string }
interface SimFillRow { trade_id: string; client_order_id: string; qty: bigint; price: bigint; fee: bigint }

const OPEN = new Set(['NEW', 'ACCEPTED', 'PARTIALLY_FILLED']);

/** Checks a stopped stack's root; returns every problem found (empty = all invariants hold). */
export function verifyRoot(root: string, acks: ReadonlyMap<string, Ack>): Verification {
  const paths = stackPaths(root);
  const problems: string[] = [];
  let lost = 0, duplicates = 0;
  const ledger = new Ledger(paths.ledger('engine_sim'), 'normal', { readonly: true });
  const venue = new Database(paths.simVenueState('engine_sim'), { readonly: true, fileMustExist: true });
  venue.defaultSafeIntegers(true);
  try {
    const lFills = [...ledger.fills()];
    const vFills = venue.prepare('SELECT trade_id, client_order_id, qty, price, fee FROM sim_fills').all() as SimFillRow[];
    const vByTrade = new Map(vFills.map((f) => [f.trade_id, f]));
    const seen = new Set<string>();
    for (const f of lFills) {
      if (seen.has(f.tradeId)) { duplicates++; problems.push(`fill ${f.tradeId} booked twice`); }
      seen.add(f.tradeId);
      const v = vByTrade.get(f.tradeId);
      if (!v) problems.push(`ledger fill ${f.tradeId} (${f.clientOrderId}) is not a venue fill`);
      else if (v.client_order_id !== f.clientOrderId || fromRaw(v.qty) !== f.qty || fromRaw(v.price) !== f.price || fromRaw(v.fee) !== f.fee) problems.push(`fill ${f.tradeId} differs from the venue's`);
    }
    for (const v of vFills) if (!seen.has(v.trade_id)) { lost++; problems.push(`venue fill ${v.trade_id} (${v.client_order_id}) is missing from the ledger (lost)`); }

    const vOrders = new Map((venue.prepare('SELECT client_order_id, filled_qty, status FROM sim_orders').all() as SimOrderRow[]).map((o) => [o.client_order_id, o]));
    const lOrders = new Map(ledger.recentOrders(10_000_000).map((o) => [o.clientOrderId as string, o]));
    for (const [id, ack] of acks) {
      const o = lOrders.get(id);
      if (!o) { lost++; problems.push(`acknowledged order ${id} (${ack.status}) is missing from the ledger`); continue; }
      if (o.filledQty < fx(ack.filled_qty)) { lost++; problems.push(`order ${id}: ledger filled ${toDecimalString(o.filledQty)} < acknowledged ${ack.filled_qty}`); }
      if (!OPEN.has(ack.status) && o.status !== ack.status) problems.push(`order ${id}: acknowledged ${ack.status}, ledger says ${o.status}`);
    }
    let open = 0;
    for (const [id, o] of lOrders) {
      const v = vOrders.get(id);
      if (OPEN.has(o.status)) open++;
      if (!v) {
        if (o.status !== 'REJECTED') problems.push(`order ${id} is ${o.status} in the ledger but unknown to the venue`);
        continue;
      }
      if (o.filledQty !== fromRaw(v.filled_qty)) problems.push(`order ${id}: ledger filled ${toDecimalString(o.filledQty)}, venue ${toDecimalString(fromRaw(v.filled_qty))}`);
      const venueOpen = v.status === 'OPEN';
      if (OPEN.has(o.status) !== venueOpen) problems.push(`order ${id}: ledger ${o.status}, venue ${v.status} (open orders differ)`);
      else if (!venueOpen && o.status !== v.status) problems.push(`order ${id}: ledger ${o.status}, venue ${v.status}`);
    }
    for (const id of vOrders.keys()) if (!lOrders.has(id)) problems.push(`venue order ${id} is missing from the ledger`);

    // Ledger replay == the portfolio snapshot written at the clean stop, and == the venue's balances.
    const start = ledger.storedStartingCash() ?? (0n as Fixed);
    const replay = replayFills(start, lFills);
    const snap = readSnapshot(paths.portfolioSnapshot);
    const driftBefore = problems.length;
    if (snap.kind !== 'ok') problems.push(`portfolio.json is ${snap.kind}`);
    else {
      if (snap.body.seq !== lFills.length) problems.push(`portfolio.json seq ${snap.body.seq} ≠ ${lFills.length} ledger fills`);
      if (snap.body.cash !== toDecimalString(replay.cash)) problems.push(`portfolio.json cash ${String(snap.body.cash)} ≠ replay ${toDecimalString(replay.cash)}`);
      const pos = new Map(((snap.body.positions ?? []) as { symbol: string; qty: string }[]).map((p) => [p.symbol, p.qty]));
      for (const p of replay.positions.values()) {
        if (p.qty !== 0n && pos.get(p.symbol) !== toDecimalString(p.qty)) problems.push(`portfolio.json ${p.symbol} ${pos.get(p.symbol)} ≠ replay ${toDecimalString(p.qty)}`);
      }
    }
    const balances = new Map((venue.prepare('SELECT asset, free, locked FROM sim_balances').all() as { asset: string; free: bigint; locked: bigint }[]).map((b) => [b.asset, fromRaw(b.free + b.locked)]));
    if (balances.get('USDT') !== replay.cash) problems.push(`venue USDT ${toDecimalString(balances.get('USDT') ?? (0n as Fixed))} ≠ ledger cash ${toDecimalString(replay.cash)}`);
    for (const p of replay.positions.values()) {
      const base = p.symbol.replace(/USDT$/, '');
      if ((balances.get(base) ?? 0n) !== p.qty) problems.push(`venue ${base} ${toDecimalString(balances.get(base) ?? (0n as Fixed))} ≠ ledger position ${toDecimalString(p.qty)}`);
    }
    const drift = problems.length - driftBefore;
    problems.push(...ledger.consistencyProblems());
    problems.push(...jsonStateProblems(root));
    return { problems, orders: lOrders.size, fills: lFills.length, openOrders: open, lost, duplicates, drift };
  } finally {
    ledger.close();
    venue.close();
  }
}

/** Every JSON state file parses; every JSONL/log line is a whole JSON object. */
export function jsonStateProblems(root: string): string[] {
  const problems: string[] = [];
  for (const dir of ['ops', 'engine/state']) {
    const abs = join(root, dir);
    if (!existsSync(abs)) continue;
    for (const name of readdirSync(abs)) {
      if (!name.endsWith('.json')) continue;
      try {
        JSON.parse(readFileSync(join(abs, name), 'utf8'));
      } catch (err) {
        problems.push(`${dir}/${name} does not parse: ${(err as Error).message}`);
      }
    }
  }
  for (const file of ['engine/logs/orders.jsonl', 'ops/logs/ops.log']) {
    const abs = join(root, file);
    if (!existsSync(abs)) continue;
    const text = readFileSync(abs, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) problems.push(`${file} ends with a torn line`);
    text.split('\n').slice(0, -1).forEach((line, i) => {
      try {
        JSON.parse(line);
      } catch {
        problems.push(`${file} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
      }
    });
  }
  return problems;
}

/** Waits until the running stack's reconciliation reports the engine and the venue in sync. */
export async function waitInSync(p: StackProcess, timeoutMs = 15_000): Promise<unknown> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < end) {
    await fetch(`${p.opsUrl}/reconcile/manual`, { method: 'POST', headers: { 'x-ops-token': TOKEN }, signal: AbortSignal.timeout(5_000) });
    last = await p.get(`${p.opsUrl}/reconcile/report`);
    if ((last as { in_sync: boolean }).in_sync) return last;
    await sleep(250);
  }
  throw new Error(`engine and venue not in sync after ${timeoutMs} ms: ${JSON.stringify(last).slice(0, 2000)}`);
}
