// engine/state/portfolio.json: a snapshot derived from the ledger, for operators and for a
// fast sanity check at start. Written atomically, coalesced (at most one write per
// interval), and stamped with a sequence number (fills booked) and a checksum, so a stale or
// damaged file is recognised and rebuilt from the ledger.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { toDecimalString } from '../core/decimal.js';
import type { Portfolio, Valuation } from '../core/portfolio.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { writeOrReport } from '../util/storageHealth.js';

export interface SnapshotBody {
  readonly seq: number;
  readonly [key: string]: unknown;
}

export function checksumOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export type SnapshotRead =
  | { readonly kind: 'ok'; readonly body: SnapshotBody }
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly message: string };

export function readSnapshot(path: string): SnapshotRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { kind: 'missing' };
  }
  try {
    const doc = JSON.parse(text) as { checksum?: string } & SnapshotBody;
    const { checksum, ...body } = doc;
    if (typeof checksum !== 'string' || checksum !== checksumOf(body)) return { kind: 'corrupt', message: 'checksum mismatch' };
    return { kind: 'ok', body: body as SnapshotBody };
  } catch (err) {
    return { kind: 'corrupt', message: `not valid JSON: ${(err as Error).message}` };
  }
}

export type SnapshotStatus = 'ok' | 'missing' | 'stale' | 'corrupt' | 'diverged';

/** What the ledger replay says the snapshot should hold. */
export interface SnapshotExpectation {
  readonly seq: number;
  readonly cash: string;
  /** Non-zero positions: symbol → quantity (decimal string). */
  readonly positions: Readonly<Record<string, string>>;
}

export interface SnapshotAssessment {
  readonly status: SnapshotStatus;
  readonly detail: string;
  readonly snapshot_seq: number | null;
  readonly ledger_seq: number;
}

/**
 * Compares the snapshot found at start with the ledger replay. `stale` is routine after a
 * crash (the snapshot is written at most every 250 ms); `diverged` (same sequence, other
 * numbers) and `corrupt` mean the file was damaged or edited. Either way the ledger wins.
 */
export function assessSnapshot(read: SnapshotRead, expected: SnapshotExpectation): SnapshotAssessment {
  const ledger_seq = expected.seq;
  if (read.kind === 'missing') return { status: 'missing', detail: 'no snapshot file', snapshot_seq: null, ledger_seq };
  if (read.kind === 'corrupt') return { status: 'corrupt', detail: read.message, snapshot_seq: null, ledger_seq };
  const body = read.body;
  const seq = typeof body.seq === 'number' ? body.seq : null;
  if (seq === null) return { status: 'corrupt', detail: 'no sequence number', snapshot_seq: null, ledger_seq };
  if (seq !== expected.seq) {
    return { status: 'stale', detail: `snapshot seq ${seq}, ledger has ${expected.seq} fills`, snapshot_seq: seq, ledger_seq };
  }
  const diffs: string[] = [];
  if (body.cash !== expected.cash) diffs.push(`cash ${String(body.cash)} ≠ ${expected.cash}`);
  const positions = new Map<string, string>();
  if (Array.isArray(body.positions)) {
    for (const p of body.positions as { symbol?: unknown; qty?: unknown }[]) positions.set(String(p.symbol), String(p.qty));
  }
  for (const sym of new Set([...positions.keys(), ...Object.keys(expected.positions)])) {
    const a = positions.get(sym) ?? '0';
    const b = expected.positions[sym] ?? '0';
    if (a !== b) diffs.push(`${sym} qty ${a} ≠ ${b}`);
  }
  if (diffs.length > 0) return { status: 'diverged', detail: diffs.join('; '), snapshot_seq: seq, ledger_seq };
  return { status: 'ok', detail: `matches the ledger at seq ${seq}`, snapshot_seq: seq, ledger_seq };
}

export class PortfolioSnapshotWriter {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly build: () => SnapshotBody,
    private readonly intervalMs = 250,
  ) {}

  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.writeNow();
    }, this.intervalMs);
    this.timer.unref();
  }

  writeNow(): void {
    const body = this.build();
    // No fsync: the snapshot is derived from the ledger and checked (seq, checksum) at start,
    // where a stale or damaged one is rebuilt; the fsyncs stalled the engine every 250 ms.
    // In a timer: a full disk skips this one (reported: new orders stop) instead of throwing.
    writeOrReport(this.path, () => writeJsonAtomic(this.path, { ...body, checksum: checksumOf(body) }, undefined, { fsync: false }));
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The snapshot's body: the portfolio as the ledger's fills make it, marked at the venue's prices. */
export function portfolioSnapshotDocument(venue: string, portfolio: Portfolio, v: Valuation, tradingEnabled: boolean, openOrders: number, nowMs: number) {
  return {
    venue,
    seq: portfolio.fillCount,
    ts: new Date(nowMs).toISOString(),
    ts_ms: nowMs,
    trading_enabled: tradingEnabled,
    cash: toDecimalString(portfolio.cash),
    equity: v.equity,
    exposure: v.exposure,
    pnl: { realized: toDecimalString(portfolio.realizedPnl), unrealized: v.unrealizedPnl, fees: toDecimalString(portfolio.fees) },
    positions: [...portfolio.positions.values()].filter((p) => p.qty !== 0n).map((p) => {
      const pv = v.positions.find((x) => x.symbol === p.symbol);
      return {
        symbol: p.symbol,
        qty: toDecimalString(p.qty),
        avg_price: toDecimalString(p.avgPrice),
        last_price: pv?.lastPrice ?? null,
        value_usd: pv?.marketValue ?? 0,
        unrealized_usd: pv?.unrealizedPnl ?? 0,
        realized_usd: toDecimalString(p.realizedPnl),
        fees_usd: toDecimalString(p.fees),
      };
    }),
    open_orders: openOrders,
  };
}
