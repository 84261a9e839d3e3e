// `hmm stop`: the runbook's "stop `hmm up`" as a command, for a stack started in another
// terminal or in the background. It signals only the process the root's lock names, on this
// host and alive, and returns once that process has released the lock (a clean stop), so a
// `hmm restore` on the next line finds the root free.
import { hostname } from 'node:os';
import { lockPath, processAlive, readLock } from '../ops/stackLock.js';
import { CliError } from './opsClient.js';

export async function stopStack(root: string, timeoutMs: number): Promise<string> {
  const lock = readLock(root);
  if (lock === null) throw new CliError(`no stack is running on ${root} (no ${lockPath(root)}; --root or HMM_ROOT names another root)`, 2);
  if (lock.hostname !== hostname()) throw new CliError(`the stack on ${root} runs on host ${lock.hostname}, not here: stop it there`, 2);
  if (!processAlive(lock.pid)) throw new CliError(`no stack is running on ${root}: its lock names pid ${lock.pid}, which has exited without a clean stop (the next start recovers)`, 2);
  process.kill(lock.pid, 'SIGTERM');
  const waitMs = Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 30_000;
  const end = Date.now() + waitMs;
  while (Date.now() < end) {
    const now = readLock(root);
    if (now === null || now.pid !== lock.pid || !processAlive(lock.pid)) return `stopped the stack on ${root} (pid ${lock.pid}${lock.ops_url ? `, ${lock.ops_url}` : ''})`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`pid ${lock.pid} did not stop within ${Math.round(waitMs / 1000)} s; it is still running (kill -9 ${lock.pid} if it hangs; the next start recovers)`, 1);
}
