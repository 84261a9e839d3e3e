// WAL checkpoints off the order path. SQLite's automatic checkpoint runs inside whichever
// commit crosses the threshold, stalling that order for milliseconds; instead a worker
// thread with its own connections checkpoints (PASSIVE: never blocks the writer) on a timer,
// and the writers' connections have automatic checkpoints turned off. One worker serves every
// database of the process (the ledger, the sim venue's books): each worker is a V8 isolate of
// its own, some 15 MB of resident memory.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const dbs = new Map();
const checkpoint = (db) => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
};
setInterval(() => { for (const db of dbs.values()) checkpoint(db); }, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m.add !== undefined) {
    try {
      const db = new Database(m.add);
      db.pragma('busy_timeout = 1000');
      dbs.set(m.add, db);
    } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
  } else if (m.remove !== undefined) {
    const db = dbs.get(m.remove);
    dbs.delete(m.remove);
    if (db) { checkpoint(db); db.close(); }
    parentPort.postMessage({ removed: m.id });
  }
});
`;

interface Shared {
  readonly worker: Worker;
  users: number;
  nextId: number;
  readonly pending: Map<number, () => void>;
  readonly onError: Set<(message: string) => void>;
}

let shared: Shared | null = null;

function acquire(intervalMs: number): Shared {
  if (shared !== null) {
    shared.users++;
    return shared;
  }
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { intervalMs, driver },
    // It only runs pragmas: a small heap keeps the isolate small.
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
  });
  const s: Shared = { worker, users: 1, nextId: 0, pending: new Map(), onError: new Set() };
  worker.on('message', (m: { error?: string; removed?: number }) => {
    if (m.error) for (const fn of s.onError) fn(m.error);
    if (m.removed !== undefined) {
      s.pending.get(m.removed)?.();
      s.pending.delete(m.removed);
    }
  });
  worker.on('error', (err) => { for (const fn of s.onError) fn(err.message); });
  worker.on('exit', () => {
    for (const done of s.pending.values()) done();
    s.pending.clear();
    if (shared === s) shared = null;
  });
  worker.unref();
  shared = s;
  return s;
}

export class WalCheckpointer {
  private readonly shared: Shared;
  private stopped: Promise<void> | null = null;

  /** The interval is the worker's: the first checkpointer of the process sets it. */
  constructor(private readonly path: string, intervalMs = 250, private readonly onError: (message: string) => void = () => {}) {
    this.shared = acquire(intervalMs);
    this.shared.onError.add(onError);
    this.shared.worker.postMessage({ add: path });
  }

  /** Runs one last checkpoint of this database and closes the worker's connection to it; the
   *  worker ends with its last database. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const s = this.shared;
    const id = s.nextId++;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      s.pending.set(id, () => { clearTimeout(t); resolve(); });
      s.worker.postMessage({ remove: this.path, id });
    });
    s.onError.delete(this.onError);
    if (--s.users === 0) {
      if (shared === s) shared = null;
      await s.worker.terminate();
    }
  }
}
