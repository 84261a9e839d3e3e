// Reconciliation of an engine's orders with its venue's own books: after a crash, a restore
// or a lost event, and periodically while running. This module owns the evidence gathering
// (asking the venue), the pure decision per order (what to correct, what to flag) and the
// report; the engine applies the decisions through its ledger, and a small daemon repeats
// the pass. Rules it keeps:
//   - a venue report that is missing or throws is never read as "no orders": the pass (or
//     that one order) is skipped and retried, nothing is closed on absence of evidence;
//   - fills are booked per venue trade and de-duplicated by trade id, never from totals;
//   - an order is closed only after every fill the venue reports for it is booked;
//   - anything that cannot be explained is flagged (and alerted), never silently "fixed".
import { type Fixed, ZERO, toDecimalString } from '../core/decimal.js';
import type { ClientOrderId } from '../core/ids.js';
import { type Fill, type Order, TERMINAL_STATUSES } from '../core/order.js';
import client from 'prom-client';
import type { Venue, VenueOrderState } from '../venues/venue.js';

export type ReconcileTrigger = 'startup' | 'periodic' | 'manual';

export interface ReconcileOptions {
  /** Between periodic passes when everything is settled. */
  readonly intervalMs: number;
  /** Sooner when something was left pending or the venue could not be read. */
  readonly retryMs: number;
  /** A NEW order younger than this may still reach the venue: it is left pending. */
  readonly newOrderGraceMs: number;
  /** A pass whose drift (corrections + flags) exceeds this raises an `alert`. */
  readonly driftAlertThreshold: number;
}

export const DEFAULT_RECONCILE_OPTIONS: ReconcileOptions = {
  intervalMs: 30_000,
  retryMs: 1_000,
  newOrderGraceMs: 3_000,
  driftAlertThreshold: 0,
};

export const UNAVAILABLE = 'unavailable' as const;
type Unavailable = typeof UNAVAILABLE;

/** What the venue said about one order, gathered before deciding. */
export interface OrderEvidence {
  readonly clientOrderId: ClientOrderId;
  /** null: the venue answered that it does not know the order. */
  readonly venue: VenueOrderState | null | Unavailable;
  /** null: not asked (the filled quantities already agree). */
  readonly fills: readonly Fill[] | null | Unavailable;
}

export type ReconcileAction =
  | { readonly kind: 'adopt'; readonly clientOrderId: ClientOrderId; readonly state: VenueOrderState }
  | { readonly kind: 'accept'; readonly clientOrderId: ClientOrderId; readonly venueOrderId: string }
  | { readonly kind: 'book_fills'; readonly clientOrderId: ClientOrderId; readonly fills: readonly Fill[] }
  | { readonly kind: 'close'; readonly clientOrderId: ClientOrderId; readonly to: 'CANCELED' | 'EXPIRED' }
  | { readonly kind: 'reject_unsent'; readonly clientOrderId: ClientOrderId }
  | { readonly kind: 'pending'; readonly clientOrderId: ClientOrderId; readonly why: string }
  | { readonly kind: 'flag'; readonly clientOrderId: ClientOrderId; readonly problem: string; readonly transient: boolean };

export interface DecideContext {
  readonly now: number;
  /** A NEW order younger than this may still reach the venue: it is left pending. */
  readonly newOrderGraceMs: number;
  readonly isBooked: (tradeId: string) => boolean;
}

const OPEN_AT_VENUE = 'OPEN';

/**
 * The decision for one order, from the ledger's view (`local`, fresh) and the venue's. Pure:
 * the same inputs give the same actions, applied in the order returned.
 */
export function decideOrder(local: Order | undefined, e: OrderEvidence, ctx: DecideContext): ReconcileAction[] {
  const id = e.clientOrderId;
  if (e.venue === UNAVAILABLE) return [{ kind: 'pending', clientOrderId: id, why: 'the venue did not answer for this order' }];
  const v = e.venue;

  if (local === undefined) {
    if (v === null) return [];
    // The venue has an order the ledger lost (a restore from an older backup, an order placed
    // by hand at the venue, an event for an unknown id): take it over, then settle it below.
    const adopted: Order = {
      clientOrderId: id, symbol: v.symbol, side: v.side, type: v.type, qty: v.qty, price: v.price,
      timeInForce: 'GTC', model: null, venue: '' as Order['venue'], status: 'ACCEPTED', filledQty: ZERO,
      filledNotional: ZERO, fees: ZERO, venueOrderId: v.venueOrderId, rejectReason: null, createdAt: ctx.now, updatedAt: ctx.now,
    };
    return [{ kind: 'adopt', clientOrderId: id, state: v }, ...settle(adopted, v, e.fills, ctx)];
  }

  if (TERMINAL_STATUSES.has(local.status)) {
    if (v !== null && v.status === OPEN_AT_VENUE) {
      return [{ kind: 'flag', clientOrderId: id, problem: `the venue has it OPEN but the ledger says ${local.status}`, transient: false }];
    }
    return [];
  }

  if (v === null) {
    if (local.status === 'NEW') {
      // Booked, then the process died (or the venue call failed) before the venue saw it.
      if (ctx.now - local.createdAt >= ctx.newOrderGraceMs) return [{ kind: 'reject_unsent', clientOrderId: id }];
      return [{ kind: 'pending', clientOrderId: id, why: 'NEW order not at the venue yet (within the grace period)' }];
    }
    return [{ kind: 'flag', clientOrderId: id, problem: `the venue has no record of this ${local.status} order (venue id ${local.venueOrderId ?? '-'})`, transient: false }];
  }

  const mismatch = identityMismatch(local, v);
  if (mismatch !== null) return [{ kind: 'flag', clientOrderId: id, problem: `the venue's order differs: ${mismatch}`, transient: false }];

  const actions: ReconcileAction[] = [];
  if (local.status === 'NEW') actions.push({ kind: 'accept', clientOrderId: id, venueOrderId: v.venueOrderId });
  return [...actions, ...settle(local, v, e.fills, ctx)];
}

/** Books the fills the ledger misses, then follows the venue's status. */
function settle(local: Order, v: VenueOrderState, fills: OrderEvidence['fills'], ctx: DecideContext): ReconcileAction[] {
  const id = local.clientOrderId;
  const out: ReconcileAction[] = [];
  const delta = (v.filledQty - local.filledQty) as Fixed;
  let filledAfter = local.filledQty;
  if (delta < 0n) {
    // Possible for a moment when our view of the venue predates a fill event we already
    // booked; persistent, it is a real divergence.
    return [{ kind: 'flag', clientOrderId: id, problem: `the venue reports ${toDecimalString(v.filledQty)} filled, the ledger ${toDecimalString(local.filledQty)}`, transient: true }];
  }
  if (delta > 0n) {
    if (fills === null || fills === UNAVAILABLE) {
      return [{ kind: 'pending', clientOrderId: id, why: `${toDecimalString(delta)} filled at the venue, but its fills could not be read` }];
    }
    const missing = fills.filter((f) => !ctx.isBooked(f.tradeId));
    const sum = missing.reduce((a, f) => (a + f.qty) as Fixed, ZERO);
    if (sum > delta) {
      return [{ kind: 'flag', clientOrderId: id, problem: `unbooked venue fills total ${toDecimalString(sum)}, more than the ${toDecimalString(delta)} the venue reports filled`, transient: false }];
    }
    if (missing.length > 0) out.push({ kind: 'book_fills', clientOrderId: id, fills: missing });
    filledAfter = (local.filledQty + sum) as Fixed;
    if (sum < delta) {
      out.push({ kind: 'flag', clientOrderId: id, problem: `the venue reports ${toDecimalString(delta)} more filled but lists fills for only ${toDecimalString(sum)}`, transient: false });
      return out;
    }
  }
  if (v.status === 'FILLED' && filledAfter !== local.qty) {
    out.push({ kind: 'flag', clientOrderId: id, problem: `the venue says FILLED with ${toDecimalString(v.filledQty)} of ${toDecimalString(local.qty)}`, transient: false });
  } else if ((v.status === 'CANCELED' || v.status === 'EXPIRED') && filledAfter < local.qty) {
    out.push({ kind: 'close', clientOrderId: id, to: v.status });
  } else if ((v.status === 'CANCELED' || v.status === 'EXPIRED') && filledAfter === local.qty) {
    // Fully filled before the cancel reached it: the fills make it FILLED; nothing to close.
  }
  return out;
}

function identityMismatch(o: Order, v: VenueOrderState): string | null {
  const diffs: string[] = [];
  if (o.symbol !== v.symbol) diffs.push(`symbol ${v.symbol} ≠ ${o.symbol}`);
  if (o.side !== v.side) diffs.push(`side ${v.side} ≠ ${o.side}`);
  if (o.qty !== v.qty) diffs.push(`qty ${toDecimalString(v.qty)} ≠ ${toDecimalString(o.qty)}`);
  if (o.type === 'LIMIT' && o.price !== v.price) diffs.push(`price ${v.price === null ? '-' : toDecimalString(v.price)} ≠ ${o.price === null ? '-' : toDecimalString(o.price)}`);
  return diffs.length ? diffs.join(', ') : null;
}

// ---- evidence gathering ----------------------------------------------------------------

export type Gathered =
  | { readonly ok: true; readonly venueOpen: readonly VenueOrderState[]; readonly evidence: readonly OrderEvidence[] }
  | { readonly ok: false; readonly error: string };

/**
 * Asks the venue about every order worth checking: its open orders, each of our open orders
 * it did not list, and any ids we were told about (events for unknown orders). Fills are
 * fetched only where the filled quantities differ.
 */
export async function gatherEvidence(
  venue: Venue,
  localOpen: readonly Order[],
  extraIds: Iterable<ClientOrderId>,
  lookup: (id: ClientOrderId) => Order | undefined,
): Promise<Gathered> {
  let venueOpen: VenueOrderState[];
  try {
    venueOpen = await venue.fetchOpenOrders();
    if (!Array.isArray(venueOpen)) throw new Error('the venue returned no open-order list');
  } catch (err) {
    return { ok: false, error: `the venue's open-order report is unavailable: ${(err as Error).message}` };
  }
  const byId = new Map<string, VenueOrderState>(venueOpen.map((o) => [o.clientOrderId, o]));
  const ids = new Set<ClientOrderId>();
  for (const o of localOpen) ids.add(o.clientOrderId);
  for (const o of venueOpen) ids.add(o.clientOrderId);
  for (const id of extraIds) ids.add(id);

  const evidence: OrderEvidence[] = [];
  for (const id of ids) {
    let state: VenueOrderState | null | Unavailable = byId.get(id) ?? null;
    if (!byId.has(id)) {
      try {
        state = await venue.fetchOrder(id);
      } catch {
        state = UNAVAILABLE;
      }
    }
    let fills: readonly Fill[] | null | Unavailable = null;
    if (state !== null && state !== UNAVAILABLE) {
      const local = lookup(id);
      if (state.filledQty !== (local?.filledQty ?? ZERO)) {
        try {
          fills = await venue.fetchFills(id);
        } catch {
          fills = UNAVAILABLE;
        }
      }
    }
    evidence.push({ clientOrderId: id, venue: state, fills });
  }
  return { ok: true, venueOpen, evidence };
}

// ---- report -----------------------------------------------------------------------------

export interface ReconcileReport {
  readonly engine: string;
  readonly trigger: ReconcileTrigger;
  readonly started_at: string;
  readonly finished_at: string;
  readonly duration_ms: number;
  /** False when the venue could not be read: nothing was changed. */
  readonly ok: boolean;
  readonly error: string | null;
  readonly checked: number;
  readonly venue_open: number;
  readonly engine_open: number;
  /** Orders the venue had and the ledger did not (the seed's `imported`). */
  readonly adopted: string[];
  /** NEW orders the venue turned out to have accepted. */
  readonly accepted: string[];
  /** Orders the venue canceled or expired while the engine did not know. */
  readonly closed: { readonly client_order_id: string; readonly status: string }[];
  /** NEW orders the venue never received (crash between the ledger and the venue). */
  readonly rejected_unsent: string[];
  readonly fills_booked: number;
  readonly trade_ids: string[];
  /** Orders that could not be settled this pass (retried soon). */
  readonly pending: { readonly client_order_id: string; readonly why: string }[];
  /** What reconciliation could not explain. */
  readonly flagged: { readonly client_order_id: string; readonly problem: string }[];
  /** Corrections made plus problems flagged in this pass. */
  readonly drift: number;
  /** After the pass the engine's open orders are exactly the venue's, with nothing flagged or pending. */
  readonly in_sync: boolean;
}

export interface ReconcileState {
  readonly engine: string;
  readonly running: boolean;
  readonly passes: number;
  readonly interval_ms: number;
  readonly last: ReconcileReport | null;
  readonly last_success_at: string | null;
  /** Seconds since the last pass that read the venue (the seed's reconcile_lag_seconds). */
  readonly lag_sec: number | null;
  readonly startup: ReconcileReport | null;
  readonly totals: { readonly adopted: number; readonly accepted: number; readonly closed: number; readonly rejected_unsent: number; readonly fills_booked: number; readonly flagged: number };
  readonly history: readonly ReconcileReport[];
  /** Intent-journal lines quarantined at start-up (`<journal>.damaged`); see /status recovery. */
  readonly damaged_lines?: number;
}

/** The counts of a report, for /status (state.recovery.<engine>.reconciliation). */
export interface ReconcileSummary {
  readonly at: string;
  readonly ok: boolean;
  readonly in_sync: boolean;
  readonly adopted: number;
  readonly accepted: number;
  readonly closed: number;
  readonly rejected_unsent: number;
  readonly fills_booked: number;
  readonly pending: number;
  readonly flagged: number;
  readonly drift: number;
}

export function summarizeReport(r: ReconcileReport): ReconcileSummary {
  return {
    at: r.finished_at, ok: r.ok, in_sync: r.in_sync, adopted: r.adopted.length, accepted: r.accepted.length,
    closed: r.closed.length, rejected_unsent: r.rejected_unsent.length, fills_booked: r.fills_booked,
    pending: r.pending.length, flagged: r.flagged.length, drift: r.drift,
  };
}

export function driftOf(r: Pick<ReconcileReport, 'adopted' | 'accepted' | 'closed' | 'rejected_unsent' | 'fills_booked' | 'flagged'>): number {
  return r.adopted.length + r.accepted.length + r.closed.length + r.rejected_unsent.length + r.fills_booked + r.flagged.length;
}

/** One line for the log: what a pass changed. */
export function describeReport(r: ReconcileReport): string {
  if (!r.ok) return `${r.engine} reconciliation (${r.trigger}) skipped: ${r.error}`;
  const parts: string[] = [];
  if (r.adopted.length) parts.push(`adopted ${r.adopted.length}`);
  if (r.accepted.length) parts.push(`accepted ${r.accepted.length}`);
  if (r.closed.length) parts.push(`closed ${r.closed.length}`);
  if (r.rejected_unsent.length) parts.push(`unsent ${r.rejected_unsent.length}`);
  if (r.fills_booked) parts.push(`booked ${r.fills_booked} fills`);
  if (r.pending.length) parts.push(`pending ${r.pending.length}`);
  if (r.flagged.length) parts.push(`FLAGGED ${r.flagged.length}`);
  const what = parts.length ? parts.join(', ') : 'no drift';
  return `${r.engine} reconciliation (${r.trigger}): ${what}; ${r.engine_open} open at the engine, ${r.venue_open} at the venue${r.in_sync ? ', in sync' : ''}`;
}

// ---- daemon -----------------------------------------------------------------------------

export type ReconcileDaemonOptions = Pick<ReconcileOptions, 'intervalMs' | 'retryMs'>;

/** Repeats the reconciliation pass; one pass at a time (the engine serialises them). */
export class ReconcileDaemon {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(
    private readonly pass: (trigger: ReconcileTrigger) => Promise<ReconcileReport>,
    private readonly opts: ReconcileDaemonOptions,
  ) {}

  /** Schedules the next pass after `last` (soon when it left anything unsettled). */
  start(last: ReconcileReport | null = null): void {
    this.stopped = false;
    this.schedule(last);
  }

  /** Runs a pass soon (e.g. after an event for an unknown order). */
  kick(): void {
    if (this.stopped) return;
    this.clear();
    this.timer = setTimeout(() => this.run(), 0);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private schedule(last: ReconcileReport | null): void {
    if (this.stopped) return;
    this.clear();
    const unsettled = last !== null && (!last.ok || last.pending.length > 0);
    this.timer = setTimeout(() => this.run(), unsettled ? this.opts.retryMs : this.opts.intervalMs);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    if (this.stopped) return;
    this.pass('periodic').then((r) => this.schedule(r), () => this.schedule(null));
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

// ---- metrics ----------------------------------------------------------------------------

export interface ReconcileMetrics {
  readonly runs: client.Counter<'venue' | 'trigger' | 'result'>;
  readonly corrections: client.Counter<'venue' | 'kind'>;
  readonly flagged: client.Gauge<'venue'>;
  readonly lastSuccess: client.Gauge<'venue'>;
}

const metricsByRegistry = new WeakMap<client.Registry, ReconcileMetrics>();

/** The reconciliation series (the seed's reconcile_* names), registered once per registry. */
export function reconcileMetrics(registry: client.Registry): ReconcileMetrics {
  const existing = metricsByRegistry.get(registry);
  if (existing) return existing;
  const r = [registry];
  const m: ReconcileMetrics = {
    runs: new client.Counter({ name: 'hmm_reconcile_runs_total', help: 'Reconciliation passes by trigger and result (ok, venue_unavailable, flagged)', labelNames: ['venue', 'trigger', 'result'], registers: r }),
    corrections: new client.Counter({ name: 'hmm_reconcile_corrections_total', help: 'Corrections made by reconciliation: adopted (imported), accepted, closed, rejected_unsent, fills_booked', labelNames: ['venue', 'kind'], registers: r }),
    flagged: new client.Gauge({ name: 'hmm_reconcile_flagged', help: 'Orders reconciliation could not explain in its last pass', labelNames: ['venue'], registers: r }),
    lastSuccess: new client.Gauge({ name: 'hmm_reconcile_last_success_timestamp_seconds', help: 'Time of the last reconciliation pass that read the venue (lag = now - this)', labelNames: ['venue'], registers: r }),
  };
  metricsByRegistry.set(registry, m);
  return m;
}
