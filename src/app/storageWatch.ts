// What a process does when its disk starts or stops refusing writes (util/storageHealth.ts): one
// ERROR line, a CRITICAL alert, hmm_storage_fault=1 and the STORAGE condition in the trading state
// while it lasts (the engines refuse new orders on their own: they hold the same health); one WARN
// line, an INFO alert and everything put back once writes succeed: the trading-state file the disk
// refused is written, and an engine that lost a commit rebuilds its books from the ledger and
// reconciles with the venue. Shared by the embedded stack and the engine and ops processes.
import type { Bus } from '../bus/bus.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { TradingStates } from '../ops/governance/tradingStates.js';
import { type StorageFault, StorageHealth } from '../util/storageHealth.js';

export interface StorageWatchOptions {
  readonly root: string;
  readonly minFreeBytes: number;
  readonly probeMs: number;
  readonly name: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly bus: Bus;
}

/** The health of this process's root, with its log lines, alert and metric wired. Call attach()
 *  for the parts that react to it, start() once the stack is up, stop() when it stops. */
export class StorageWatch {
  readonly health: StorageHealth;
  private readonly engines: Engine[] = [];
  private tradingStates: TradingStates | null = null;

  constructor(private readonly o: StorageWatchOptions) {
    this.health = new StorageHealth({ root: o.root, minFreeBytes: o.minFreeBytes, probeMs: o.probeMs });
    const m = o.metrics;
    m.storageFault.set({ code: 'none' }, 0);
    m.accountRefreshers.add(() => {
      const free = this.health.free;
      if (free !== null) m.storageFreeBytes.set(free);
    });
    this.health.onChange((c) => (c.kind === 'fault' ? this.onFault(c.fault) : this.onCleared(c.fault, c.freeBytes)));
  }

  attach(parts: { readonly engines?: readonly Engine[]; readonly tradingStates?: TradingStates | null }): void {
    this.engines.push(...(parts.engines ?? []));
    if (parts.tradingStates) this.tradingStates = parts.tradingStates;
    const f = this.health.fault;
    if (f !== null) this.tradingStates?.setCondition('STORAGE', { reason: describe(f), since: new Date(f.since).toISOString() });
  }

  start(): void {
    this.health.check();
    this.health.start();
  }

  stop(): void {
    this.health.stop();
  }

  private onFault(f: StorageFault): void {
    const { log, metrics, bus, name } = this.o;
    metrics.storageFault.reset();
    metrics.storageFault.set({ code: f.code }, 1);
    this.tradingStates?.setCondition('STORAGE', { reason: describe(f), since: new Date(f.since).toISOString() });
    // This line may not reach ops.log (the disk is what fails): it goes to stdout all the same.
    log.error({ code: f.code, file: f.path }, `[OPS] STORAGE fault on ${name}: ${describe(f)}; new orders are REFUSED (STORAGE, HTTP 503), reads and /kill still answer; trading resumes by itself once writes succeed`);
    bus.publish('alert', { severity: 'CRITICAL', title: 'Storage fault', message: `${name}: ${describe(f)}; new orders refused until writes succeed`, key: `storage:${name}`, ts: Date.now() });
  }

  private onCleared(f: StorageFault, free: number | null): void {
    const { log, metrics, bus, name } = this.o;
    metrics.storageFault.reset();
    metrics.storageFault.set({ code: 'none' }, 0);
    this.tradingStates?.setCondition('STORAGE', null);
    const lasted = Math.round((Date.now() - f.since) / 1000);
    log.warn({ code: f.code, free_bytes: free, failed_writes: f.failures }, `[OPS] STORAGE fault on ${name} cleared after ${lasted} s (${f.failures} write(s) failed; ${free ?? '?'} bytes free): new orders are taken again`);
    bus.publish('alert', { severity: 'INFO', title: 'Storage fault cleared', message: `${name}: writes succeed again after ${lasted} s; new orders are taken again`, key: `storage:${name}`, ts: Date.now() });
    try {
      this.tradingStates?.saveIfUnsaved();
    } catch (err) {
      log.error({ err }, `[GOV] saving the trading state after the storage fault failed: ${(err as Error).message}`);
    }
    for (const e of this.engines) {
      e.resyncAfterStorageFault().catch((err: Error) => log.error({ err }, `[RECON] resync after the storage fault failed: ${err.message}; restart to recover from the ledger`));
    }
  }
}

function describe(f: StorageFault): string {
  return f.code === 'LOW_SPACE' ? `free space under the floor (${f.message})` : `${f.code} writing ${f.path} (${f.message})`;
}
