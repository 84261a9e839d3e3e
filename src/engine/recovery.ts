// Start-up recovery: what the engine found when it opened its ledger. The portfolio, the open
// orders and the model books are rebuilt from the ledger by the engine (the ledger is the only
// truth); this module judges the rest — the snapshot against the ledger's replay, the ledger's
// own consistency, orders left in the intent journal, an unclean shutdown or a restore — logs
// what an operator must know with [RECON] lines, and returns the report `/status` shows.
// Reconciling the recovered orders with the venue is the reconciler's job (reconciler.ts).
import { copyFileSync } from 'node:fs';
import { toDecimalString } from '../core/decimal.js';
import type { Portfolio } from '../core/portfolio.js';
import type { Logger } from '../obs/logger.js';
import type { QuarantinedLine } from '../util/rotatingFile.js';
import type { Ledger } from './ledger.js';
import { orderIdOf } from './orderLog.js';
import { assessSnapshot, readSnapshot } from './snapshot.js';
import type { RecoveryReport } from './views.js';

export interface RecoveryContext {
  /** The previous run's lock was left behind: it did not stop cleanly. */
  readonly uncleanShutdown?: { readonly pid: number; readonly started_at: string } | null;
  /** `hmm restore` put this state in place (its marker). */
  readonly restoredFrom?: Readonly<Record<string, unknown>> | null;
}

/** What recovery reads: the engine's state as rebuilt from the ledger, and the context of the start. */
export interface RecoveryInput {
  readonly name: string;
  readonly ledger: Ledger;
  readonly portfolio: Portfolio;
  /** Open orders rebuilt from the ledger. */
  readonly openOrders: number;
  /** Models with their own book rebuilt from the ledger. */
  readonly models: number;
  readonly snapshotPath: string | null;
  /** Lines of engine/logs/orders.jsonl quarantined at open (the order log's `damaged`). */
  readonly orderLogDamaged?: readonly QuarantinedLine[];
  readonly ctx: RecoveryContext;
  readonly log: Logger;
  /** When this start recovered (epoch ms). */
  readonly now: number;
}

export function recoverFromLedger(input: RecoveryInput): Omit<RecoveryReport, 'reconciliation'> {
  const { name, ledger, portfolio, openOrders, models, snapshotPath, ctx, log, now } = input;
  const orderLogDamaged = input.orderLogDamaged ?? [];
  // Both kinds of damage in one list, each named by file and line: the journal's first.
  const damaged = [
    ...ledger.journalDamaged.map((d) => ({ file: d.file, line: d.line, reason: d.reason, id: d.id })),
    ...orderLogDamaged.map((d) => ({ file: d.file, line: d.line, reason: d.reason, id: orderIdOf(d.text) })),
  ];
  const counts = ledger.counts();
  const recovered = ledger.existed;
  const positions = [...portfolio.positions.values()].filter((p) => p.qty !== 0n);
  const problems = recovered ? ledger.consistencyProblems() : [];
  let snapshot: RecoveryReport['snapshot'] = null;
  if (snapshotPath) {
    const a = assessSnapshot(readSnapshot(snapshotPath), {
      seq: portfolio.fillCount,
      cash: toDecimalString(portfolio.cash),
      positions: Object.fromEntries(positions.map((p) => [p.symbol, toDecimalString(p.qty)])),
    });
    snapshot = { ...a, rebuilt: a.status !== 'ok' };
  }
  const report: Omit<RecoveryReport, 'reconciliation'> = {
    recovered,
    at: new Date(now).toISOString(),
    source: ctx.restoredFrom ? 'backup' : recovered ? 'ledger' : 'fresh',
    unclean_shutdown: ctx.uncleanShutdown ?? null,
    restored_from: ctx.restoredFrom ?? null,
    fills_replayed: portfolio.fillCount,
    journal_recovered: ledger.journalRecovered.length,
    journal_damaged: ledger.journalDamaged.length,
    order_log_damaged: orderLogDamaged.length,
    damaged_lines: damaged.slice(0, 20).map((d) => ({
      file: d.file, line: d.line, reason: d.reason, client_order_id: d.id, in_ledger: d.id !== null && ledger.getOrder(d.id) !== undefined,
    })),
    fills: counts.fills,
    orders: counts.orders,
    open_orders: openOrders,
    positions: positions.length,
    models: models,
    snapshot,
    ledger_check: { ok: problems.length === 0, problems: problems.slice(0, 20) },
  };
  const fields = { engine: name, recovery: report };
  if (recovered) {
    log.info(fields, `[RECON] ${name} recovered from the ledger${ctx.restoredFrom ? ' (restored from a backup)' : ''}: ${counts.orders} orders, ${counts.fills} fills, ${openOrders} open orders, ${positions.length} positions, ${models} model books`);
  }
  if (ctx.uncleanShutdown) {
    log.warn(fields, `[RECON] ${name}: the previous run (pid ${ctx.uncleanShutdown.pid}, started ${ctx.uncleanShutdown.started_at}) did not stop cleanly; reconciling with the venue`);
  }
  for (const p of problems) log.error({ engine: name }, `[RECON] ${name} ledger inconsistency: ${p}`);
  for (const d of report.damaged_lines) {
    // Named by file and line so the operator can find it; the line itself is in <file>.damaged.
    log.error({ engine: name, damaged: d }, `[RECON] ${name}: ${d.file} line ${d.line} is damaged (${d.reason}); moved to ${d.file}.damaged, start-up goes on${d.client_order_id === null ? '' : d.in_ledger ? `; order ${d.client_order_id} is in the ledger and is reconciled with the venue by client order id` : `; order ${d.client_order_id} is not in the ledger: the start-up reconciliation asks the venue for it by client order id (adopted if the venue holds it)`}`);
  }
  if (damaged.length > report.damaged_lines.length) {
    const files = [...new Set(damaged.map((d) => d.file))];
    log.error({ engine: name, damaged: damaged.length }, `[RECON] ${name}: ${damaged.length - report.damaged_lines.length} more damaged line(s) beyond the ${report.damaged_lines.length} named above, each kept in ${files.map((f) => `${f}.damaged`).join(' / ')}`);
  }
  const journaled = ledger.journalRecovered;
  if (journaled.length > 0) {
    log.warn({ engine: name, orders: journaled.slice(0, 20) }, `[RECON] ${name}: ${journaled.length} order(s) were journaled but not yet committed when the process stopped; recorded as NEW for reconciliation with the venue`);
  }
  if (snapshot && snapshotPath) {
    if (!recovered && snapshot.snapshot_seq !== null && snapshot.snapshot_seq > 0) {
      // A snapshot with history beside a brand-new ledger: the ledger was lost or moved.
      keepAside(snapshotPath);
      log.error(fields, `[RECON] ${name}: ${snapshotPath} records ${snapshot.snapshot_seq} fills but the ledger is new; the ledger was lost or moved. The old snapshot is kept as ${snapshotPath}.rejected; restore the ledger from a backup (\`hmm restore FILE\`)`);
    } else if (snapshot.status === 'corrupt' || snapshot.status === 'diverged') {
      keepAside(snapshotPath);
      log.error(fields, `[RECON] ${name}: snapshot ${snapshotPath} is ${snapshot.status} (${snapshot.detail}); kept as ${snapshotPath}.rejected and rebuilt from the ledger`);
    } else if (snapshot.status === 'stale') {
      log.warn(fields, `[RECON] ${name}: snapshot ${snapshotPath} is stale (${snapshot.detail}); rebuilt from the ledger`);
    } else if (snapshot.status === 'missing' && recovered) {
      log.warn(fields, `[RECON] ${name}: snapshot ${snapshotPath} is missing; rebuilt from the ledger`);
    }
  }
  return report;
}

/** Keeps a snapshot that disagrees with the ledger beside it (evidence), before it is rewritten. */
function keepAside(path: string): void {
  try {
    copyFileSync(path, `${path}.rejected`);
  } catch { /* unreadable or gone: nothing to keep */ }
}
