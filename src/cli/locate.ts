// Where the CLI finds the running stack's Ops API. One answer, with where it came from, so an
// error can say what was tried. Precedence (docs/OPS_RUNBOOK.md, "Which stack hmm talks to"):
//   1. --url                       the operator named it
//   2. OPS_URL                     the operator named it for this shell
//   3. <root>/.hmm-stack.lock      where the stack on this root actually listens, while its
//                                  process lives (right even when OPS_PORT was 0 or has changed)
//   4. OPS_PORT (+ OPS_HOST)       where a stack started from this shell listens
//   5. http://127.0.0.1:8002       the documented default
import { hostname } from 'node:os';
import { heldByOther, lockPath, readLock } from '../ops/stackLock.js';

export type UrlSource = '--url' | 'OPS_URL' | 'lock file' | 'OPS_PORT' | 'default';

export interface OpsLocation {
  readonly url: string;
  readonly source: UrlSource;
  /** What else was looked at and why it was not used: for the "cannot reach" error. */
  readonly notes: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

/** A listen address is not a place to connect to: 0.0.0.0 / :: mean "this host". */
function connectable(url: string): string {
  return url.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1');
}

export function locateOps(root: string, flagUrl: string | undefined, env: Env): OpsLocation {
  const notes: string[] = [];
  if (flagUrl) return { url: flagUrl, source: '--url', notes };
  if (env.OPS_URL) return { url: env.OPS_URL, source: 'OPS_URL', notes };
  const lock = readLock(root);
  if (lock === null) notes.push(`no stack lock at ${lockPath(root)} (no stack started on this root, or it stopped cleanly; --root or HMM_ROOT names another root)`);
  else if (lock.hostname !== hostname()) notes.push(`the lock ${lockPath(root)} is from host ${lock.hostname}, not this one`);
  else if (!heldByOther(lock)) notes.push(`the lock ${lockPath(root)} names pid ${lock.pid}, which is not running (the stack did not stop cleanly)`);
  else if (lock.ops_url === null) notes.push(`the stack on this root (pid ${lock.pid}) has not opened its Ops API yet, or runs without one (hmm engine)`);
  else return { url: connectable(lock.ops_url), source: 'lock file', notes };
  if (env.OPS_PORT) {
    const port = Number(env.OPS_PORT);
    if (Number.isInteger(port) && port > 0 && port <= 65535) {
      const host = env.OPS_HOST && env.OPS_HOST !== '' ? env.OPS_HOST : '127.0.0.1';
      return { url: connectable(`http://${host.includes(':') ? `[${host}]` : host}:${port}`), source: 'OPS_PORT', notes };
    }
    notes.push(`OPS_PORT=${env.OPS_PORT} is not a port to connect to (1-65535)`);
  }
  return { url: 'http://127.0.0.1:8002', source: 'default', notes };
}

/** The "cannot reach" explanation: where the address came from and what the other ways are. */
export function describeLocation(loc: OpsLocation): string {
  const how = loc.source === 'default' ? 'the default' : `from ${loc.source}`;
  const rest = loc.notes.length > 0 ? `; ${loc.notes.join('; ')}` : '';
  return `${loc.url} (${how}${rest}). hmm finds the stack by --url, OPS_URL, the root's .hmm-stack.lock, OPS_PORT, then 127.0.0.1:8002`;
}
