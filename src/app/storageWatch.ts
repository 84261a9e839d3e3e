// What a process does when its disk starts or stops refusing writes (util/storageHealth.ts): one
// ERROR line, a CRITICAL alert, hmm_storage_fault=1 and the STORAGE condition in the trading state
// while it lasts (the engines refuse new orders on their own: they hold the same health); one WARN
// line, an INFO alert and everything put back once writes succeed: the trading-state file the disk
// refused is written, and an engine that lost a commit rebuilds its books from the ledger and
// reconciles with the venue. Shared by the embedded stack and the engine and ops processes.
//
// Distributed mode: an engine process holds the watch of its own root (it refuses its own orders
// and resyncs its own books); each change also goes on the bus ('storage.state'), where the
// control plane's watch (followEngines) shows it as that engine's STORAGE condition.
import type { Bus } from '../bus/bus.js';
import type { Engine } from '../engine/engine.js';
import type { EngineHandle } from '../engine/engineHandle.js';
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
    if (f !== null) this.tradingStates?.setCondition('STORAGE', this.o.name, { reason: describeStorageFault(f), since: new Date(f.since).toISOString() });
  }

  /**
   * The control plane of a distributed stack: shows the storage fault of each engine process (on
   * its own disk) as that engine's STORAGE condition, from its /health now (a fault that began
   * before this replica started) and from the bus's 'storage.state' events after. The engine
   * refuses its own orders; this is what the operator reads in /status and GET /trading/state.
   */
  async followEngines(engines: readonly EngineHandle[]): Promise<void> {
    const ts = this.tradingStates;
    if (ts === null) throw new Error('followEngines needs the trading states (attach them first)');
    const names = new Set(engines.map((e) => e.name));
    this.o.bus.subscribe('storage.state', (p) => {
      if (!names.has(p.source)) return;
      ts.setCondition('STORAGE', p.source, p.fault === null ? null : { reason: `${p.source}: ${p.fault.reason}`, since: new Date(p.fault.since).toISOString() });
    });
    for (const e of engines) {
      try {
        const s = (await e.health()).storage ?? null;
        if (s) ts.setCondition('STORAGE', e.name, { reason: `${e.name}: ${describeStorageFault(s)}`, since: s.since });
      } catch (err) {
        this.o.log.warn(`[OPS] ${e.name}'s storage health could not be read (${(err as Error).message}): its STORAGE condition shows from its next change`);
      }
    }
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
    this.tradingStates?.setCondition('STORAGE', name, { reason: describeStorageFault(f), since: new Date(f.since).toISOString() });
    bus.publish('storage.state', { source: name, fault: { code: f.code, path: f.path, reason: describeStorageFault(f), since: f.since, failures: f.failures }, ts: Date.now() });
    // This line may not reach ops.log (the disk is what fails): it goes to stdout all the same.
    log.error({ code: f.code, file: f.path }, `[OPS] STORAGE fault on ${name}: ${describeStorageFault(f)}; new orders are REFUSED (STORAGE, HTTP 503), reads and /kill still answer; trading resumes by itself once writes succeed`);
    bus.publish('alert', { severity: 'CRITICAL', title: 'Storage fault', message: `${name}: ${describeStorageFault(f)}; new orders refused until writes succeed`, key: `storage:${name}`, ts: Date.now() });
  }

  private onCleared(f: StorageFault, free: number | null): void {
    const { log, metrics, bus, name } = this.o;
    metrics.storageFault.reset();
    metrics.storageFault.set({ code: 'none' }, 0);
    this.tradingStates?.setCondition('STORAGE', name, null);
    bus.publish('storage.state', { source: name, fault: null, ts: Date.now() });
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

/** What the operator reads of a fault: what failed and where. */
export function describeStorageFault(f: Pick<StorageFault, 'code' | 'path' | 'message'>): string {
  return f.code === 'LOW_SPACE' ? `free space under the floor (${f.message})` : `${f.code} writing ${f.path} (${f.message})`;
}
