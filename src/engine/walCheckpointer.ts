// WAL checkpoints off the order path. SQLite's automatic checkpoint runs inside whichever
// commit crosses the threshold, stalling that order for milliseconds; instead a worker
// thread with its own connection checkpoints (PASSIVE: never blocks the writer) on a timer,
// and the engine's connection has automatic checkpoints turned off.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

export class WalCheckpointer {
  private readonly worker: Worker;

  constructor(path: string, intervalMs = 250, onError: (message: string) => void = () => {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, intervalMs, driver } });
    this.worker.on('message', (m: { error?: string }) => { if (m.error) onError(m.error); });
    this.worker.on('error', (err) => onError(err.message));
    this.worker.unref();
  }

  /** Stops the timer, runs one last checkpoint and closes the worker's connection. */
  async stop(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.worker.once('message', () => { clearTimeout(t); resolve(); });
      this.worker.once('exit', () => { clearTimeout(t); resolve(); });
    });
    this.worker.postMessage('stop');
    await done;
    await this.worker.terminate();
  }
}
