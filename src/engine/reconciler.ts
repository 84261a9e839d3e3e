// The reconciler: one engine's component that brings its orders in line with the venue's own
// books — at start-up, periodically (a small daemon), on demand, and soon after something the
// engine could not place (a venue event for an unknown order, a submit whose answer was lost).
// reconcile.ts decides per order what the venue's evidence means; this component runs the
// passes one at a time, keeps their history and totals, alerts and counts, and applies each
// decision through the narrow ReconcileTarget the engine exposes: the engine's own event path
// (the same ledger transaction, audit line, bus events and books as live order flow). It never
// touches the engine's maps or its ledger rows directly.
import { performance } from 'node:perf_hooks';
import { ZERO } from '../core/decimal.js';
import type { ClientOrderId, VenueId } from '../core/ids.js';
import { type Order, type OrderTransitionError, isTransitionError } from '../core/order.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { Venue, VenueEvent } from '../venues/venue.js';
import {
  type ReconcileAction, type ReconcileOptions, type ReconcileReport, type ReconcileState, type ReconcileSummary, type ReconcileTrigger,
  DEFAULT_RECONCILE_OPTIONS, ReconcileDaemon, decideOrder, describeReport, driftOf, gatherEvidence, reconcileMetrics, summarizeReport,
} from './reconcile.js';

/** The corrections the reconciler may make to one order, inside the engine's ledger transaction. */
export interface CorrectionPath {
  /** Records an order the venue holds and the ledger never knew (adopted, ACCEPTED). */
  adopt(order: Order): void;
  /** The venue acknowledged an order still NEW here. */
  accept(order: Order, venueOrderId: string): Order | OrderTransitionError;
  /** Applies a venue event (a fill, a cancel, an expiry) as live order flow would; returns the
   *  order unchanged when the event books nothing (a fill already booked, a closed order). */
  apply(order: Order, event: VenueEvent): Order;
  /** The venue never received the order: it is rejected as NOT_SENT. */
  rejectUnsent(order: Order): Order | OrderTransitionError;
}

/** What the engine exposes to its reconciler: reads of its orders and its event path. */
export interface ReconcileTarget {
  readonly name: string;
  readonly venueId: VenueId;
  /** Open orders not being routed right now (those are not settled yet). */
  settledOpenOrders(): Order[];
  /** True while the order's submission awaits the venue's answer. */
  isRouting(clientOrderId: string): boolean;
  /** The order as the engine knows it (open, or from the ledger). */
  order(clientOrderId: string): Order | undefined;
  /** True when this venue trade is already in the ledger. */
  isBooked(tradeId: string): boolean;
  /**
   * Runs `apply` in one ledger transaction; then the engine files the order's new state
   * (`apply`'s result) and publishes what changed, as it does for live order flow.
   */
  correct(local: Order | undefined, apply: (path: CorrectionPath) => Order | undefined): void;
}

export interface ReconcilerOptions {
  readonly target: ReconcileTarget;
  readonly venue: Venue;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics | null;
  readonly now: () => number;
  readonly options?: Partial<ReconcileOptions>;
}

interface ReconcileAccumulator {
  readonly adopted: string[];
  readonly accepted: string[];
  readonly closed: { client_order_id: string; status: string }[];
  readonly rejected_unsent: string[];
  readonly trade_ids: string[];
  readonly pending: { client_order_id: string; why: string }[];
  readonly flagged: { client_order_id: string; problem: string }[];
}

export class Reconciler {
  readonly options: ReconcileOptions;
  private readonly target: ReconcileTarget;
  private readonly venue: Venue;
  private readonly bus: Bus;
  private readonly log: Logger;
  private readonly metrics: Metrics | null;
  private readonly now: () => number;
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;
  private daemon: ReconcileDaemon | null = null;
  /** Ids of venue events for orders the ledger did not know: the next pass looks them up. */
  private readonly unknownOrderIds = new Set<ClientOrderId>();
  /** Problems that could be a stale view of the venue: flagged only if seen twice in a row. */
  private suspects = new Set<string>();
  private readonly alertedFlags = new Set<string>();
  private startup: ReconcileReport | null = null;
  private last: ReconcileReport | null = null;
  private lastOkAt: number | null = null;
  private passes = 0;
  private readonly history: ReconcileReport[] = [];
  private readonly totals = { adopted: 0, accepted: 0, closed: 0, rejected_unsent: 0, fills_booked: 0, flagged: 0 };

  constructor(opts: ReconcilerOptions) {
    this.target = opts.target;
    this.venue = opts.venue;
    this.bus = opts.bus;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.now = opts.now;
    this.options = { ...DEFAULT_RECONCILE_OPTIONS, ...opts.options };
  }

  /** An order the engine could not settle by itself: the next pass asks the venue about it. */
  flag(clientOrderId: ClientOrderId): void {
    this.unknownOrderIds.add(clientOrderId);
  }

  /** As flag(), and runs that pass soon rather than at the next periodic one, minutes away. */
  lookUp(clientOrderId: ClientOrderId): void {
    this.unknownOrderIds.add(clientOrderId);
    this.daemon?.kick();
  }

  /** The start-up pass, summarised for the recovery report (null until it has run). */
  startupSummary(): ReconcileSummary | null {
    return this.startup ? summarizeReport(this.startup) : null;
  }

  /**
   * One reconciliation pass with the venue. Passes are serialised; each reads the venue first
   * and then decides and applies synchronously, so no order event interleaves with a decision.
   */
  reconcile(trigger: ReconcileTrigger = 'manual'): Promise<ReconcileReport> {
    const run = this.chain.then(() => this.pass(trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Starts the periodic reconciliation (after the start-up pass). */
  startDaemon(): void {
    if (this.daemon) return;
    this.daemon = new ReconcileDaemon((t) => this.reconcile(t), this.options);
    this.daemon.start(this.last);
  }

  /** Stops the daemon and waits for a pass under way. */
  async stop(): Promise<void> {
    this.daemon?.stop();
    this.daemon = null;
    await this.chain;
  }

  state(): ReconcileState {
    const last = this.lastOkAt;
    return {
      engine: this.target.name,
      running: this.running,
      passes: this.passes,
      interval_ms: this.options.intervalMs,
      last: this.last,
      last_success_at: last === null ? null : new Date(last).toISOString(),
      lag_sec: last === null ? null : Math.max(0, Math.round((this.now() - last) / 100) / 10),
      startup: this.startup,
      totals: { ...this.totals },
      history: [...this.history],
    };
  }

  private async pass(trigger: ReconcileTrigger): Promise<ReconcileReport> {
    const t = this.target;
    const started = this.now();
    const t0 = performance.now();
    this.running = true;
    try {
      const gathered = await gatherEvidence(this.venue, t.settledOpenOrders(), [...this.unknownOrderIds], (id) => t.order(id));
      const acc: ReconcileAccumulator = { adopted: [], accepted: [], closed: [], rejected_unsent: [], trade_ids: [], pending: [], flagged: [] };
      let venueOpenIds: string[] = [];
      const suspects = new Set<string>();
      if (gathered.ok) {
        venueOpenIds = gathered.venueOpen.map((o) => o.clientOrderId);
        for (const e of gathered.evidence) {
          if (t.isRouting(e.clientOrderId)) continue; // being routed right now: not settled yet
          const local = t.order(e.clientOrderId);
          const actions = decideOrder(local, e, {
            now: this.now(),
            newOrderGraceMs: this.options.newOrderGraceMs,
            isBooked: (tradeId) => t.isBooked(tradeId),
          }).map((a): ReconcileAction => {
            if (a.kind !== 'flag' || !a.transient) return a;
            const key = `${a.clientOrderId}|${a.problem}`;
            suspects.add(key);
            return this.suspects.has(key) ? a : { kind: 'pending', clientOrderId: a.clientOrderId, why: `${a.problem} (re-checking)` };
          });
          this.applyActions(local, actions, acc);
          if (!actions.some((a) => a.kind === 'pending')) this.unknownOrderIds.delete(e.clientOrderId);
        }
        this.suspects = suspects;
      }
      const engineOpen = t.settledOpenOrders().filter((o) => o.createdAt <= started).map((o) => o.clientOrderId as string);
      const venueSet = new Set(venueOpenIds);
      const sameOpen = engineOpen.length === venueSet.size && engineOpen.every((id) => venueSet.has(id));
      const base = {
        engine: t.name, trigger, started_at: new Date(started).toISOString(), finished_at: new Date(this.now()).toISOString(),
        duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
        ok: gathered.ok, error: gathered.ok ? null : gathered.error,
        checked: gathered.ok ? gathered.evidence.length : 0,
        venue_open: venueOpenIds.length, engine_open: engineOpen.length,
        adopted: acc.adopted, accepted: acc.accepted, closed: acc.closed, rejected_unsent: acc.rejected_unsent,
        fills_booked: acc.trade_ids.length, trade_ids: acc.trade_ids, pending: acc.pending, flagged: acc.flagged,
      };
      const report: ReconcileReport = { ...base, drift: driftOf(base), in_sync: gathered.ok && sameOpen && acc.flagged.length === 0 && acc.pending.length === 0 };
      this.afterPass(report);
      return report;
    } finally {
      this.running = false;
    }
  }

  /** Applies one order's actions through the engine's event path, in one ledger transaction. */
  private applyActions(local: Order | undefined, actions: readonly ReconcileAction[], acc: ReconcileAccumulator): void {
    if (actions.length === 0) return;
    const now = this.now();
    const venueId = this.target.venueId;
    this.target.correct(local, (path) => {
      let order = local;
      for (const a of actions) {
        const id = a.clientOrderId;
        if (a.kind === 'pending') {
          acc.pending.push({ client_order_id: id, why: a.why });
        } else if (a.kind === 'flag') {
          acc.flagged.push({ client_order_id: id, problem: a.problem });
        } else if (a.kind === 'adopt') {
          const v = a.state;
          order = {
            clientOrderId: id, venue: venueId, model: null, symbol: v.symbol, side: v.side, type: v.type,
            timeInForce: v.type === 'MARKET' ? 'IOC' : 'GTC', qty: v.qty, price: v.price, status: 'ACCEPTED',
            filledQty: ZERO, filledNotional: ZERO, fees: ZERO, venueOrderId: v.venueOrderId, rejectReason: null, createdAt: now, updatedAt: now,
          };
          path.adopt(order);
          acc.adopted.push(id);
        } else if (order === undefined) {
          acc.flagged.push({ client_order_id: id, problem: `cannot ${a.kind}: the order is not in the ledger` });
        } else if (a.kind === 'accept') {
          const next = path.accept(order, a.venueOrderId);
          if (isTransitionError(next)) {
            acc.flagged.push({ client_order_id: id, problem: `cannot accept: ${next.from} → ${next.to}` });
            continue;
          }
          order = next;
          acc.accepted.push(id);
        } else if (a.kind === 'book_fills') {
          for (const f of a.fills) {
            const next = path.apply(order, { type: 'fill', fill: f });
            if (next !== order) acc.trade_ids.push(f.tradeId);
            order = next;
          }
        } else if (a.kind === 'close') {
          const next = path.apply(order, { type: a.to === 'CANCELED' ? 'canceled' : 'expired', clientOrderId: id, ts: now, reason: `RECONCILED: ${a.to} at the venue` });
          if (next === order) acc.flagged.push({ client_order_id: id, problem: `cannot close ${order.status} as ${a.to}` });
          else acc.closed.push({ client_order_id: id, status: a.to });
          order = next;
        } else if (a.kind === 'reject_unsent') {
          const next = path.rejectUnsent(order);
          if (isTransitionError(next)) {
            acc.flagged.push({ client_order_id: id, problem: `cannot reject: ${next.from} → ${next.to}` });
            continue;
          }
          order = next;
          acc.rejected_unsent.push(id);
        }
      }
      return order;
    });
  }

  private afterPass(r: ReconcileReport): void {
    const name = this.target.name;
    this.passes++;
    this.last = r;
    if (r.trigger === 'startup' && this.startup === null) this.startup = r;
    this.history.unshift(r);
    if (this.history.length > 20) this.history.length = 20;
    const t = this.totals;
    t.adopted += r.adopted.length;
    t.accepted += r.accepted.length;
    t.closed += r.closed.length;
    t.rejected_unsent += r.rejected_unsent.length;
    t.fills_booked += r.fills_booked;
    t.flagged += r.flagged.length;
    if (r.ok) this.lastOkAt = this.now();

    const m = this.metrics ? reconcileMetrics(this.metrics.registry) : null;
    if (m) {
      m.runs.inc({ venue: name, trigger: r.trigger, result: !r.ok ? 'venue_unavailable' : r.flagged.length ? 'flagged' : 'ok' });
      for (const [kind, n] of [['adopted', r.adopted.length], ['accepted', r.accepted.length], ['closed', r.closed.length], ['rejected_unsent', r.rejected_unsent.length], ['fills_booked', r.fills_booked]] as const) {
        if (n > 0) m.corrections.inc({ venue: name, kind }, n);
      }
      m.flagged.set({ venue: name }, r.flagged.length);
      if (r.ok) m.lastSuccess.set({ venue: name }, this.now() / 1000);
    }

    const line = `[RECON] ${describeReport(r)}`;
    const fields = { engine: name, reconcile: { trigger: r.trigger, drift: r.drift, in_sync: r.in_sync, adopted: r.adopted, accepted: r.accepted, closed: r.closed, rejected_unsent: r.rejected_unsent, trade_ids: r.trade_ids, pending: r.pending, flagged: r.flagged } };
    if (!r.ok || r.flagged.length > 0) this.log.error(fields, line);
    else if (r.drift > 0 || r.pending.length > 0) this.log.warn(fields, line);
    else if (r.trigger === 'periodic') this.log.debug(fields, line);
    else this.log.info(fields, line);

    const ts = this.now();
    if (!r.ok) {
      this.bus.publish('alert', { severity: 'WARNING', title: 'Reconciliation cannot read the venue', message: `${name}: ${r.error}; nothing was changed, retrying`, key: `recon_unavailable:${name}`, ts });
      return;
    }
    const fresh = r.flagged.filter((f) => !this.alertedFlags.has(`${f.client_order_id}|${f.problem}`));
    this.alertedFlags.clear();
    for (const f of r.flagged) this.alertedFlags.add(`${f.client_order_id}|${f.problem}`);
    if (fresh.length > 0) {
      this.bus.publish('alert', {
        severity: 'CRITICAL', title: 'Reconciliation found what it cannot explain',
        message: `${name}: ${fresh.map((f) => `${f.client_order_id}: ${f.problem}`).join('; ')}`, key: `recon_flagged:${name}`, ts,
      });
    } else if (r.drift > this.options.driftAlertThreshold) {
      this.bus.publish('alert', {
        severity: 'WARNING', title: 'Reconciliation corrected drift',
        message: `${name} (${r.trigger}): imported ${r.adopted.length}, closed ${r.closed.length}, accepted ${r.accepted.length}, unsent ${r.rejected_unsent.length}, booked ${r.fills_booked} fills`,
        key: `recon_drift:${name}`, ts,
      });
    }
  }
}
