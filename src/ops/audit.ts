// The audit trail of control actions: ops/logs/audit.jsonl, one JSON object per line — time,
// action, server, route, token fingerprint (never the token), actor, a summary of the body
// with secret-looking fields redacted, and the result. Every authenticated route of the Ops
// API and of each engine API writes here (through the HTTP layer's onControlAction hook, src/http/auth.ts), including
// refused attempts, and the governance daemon records its own actions here too.
import { appendFileSync, mkdirSync } from 'node:fs';
import { reportStorageFault } from '../util/storageHealth.js';
import { dirname } from 'node:path';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { ControlAction } from '../http/auth.js';

export type AuditResult = 'ok' | 'denied' | 'rejected' | 'error';

export interface AuditInput {
  /** Which HTTP server took the action: 'ops' or an engine's name. */
  readonly server: string;
  readonly action: string;
  readonly method: string | null;
  readonly route: string | null;
  readonly token_fp: string | null;
  readonly actor: string;
  readonly status: number | null;
  readonly result: AuditResult;
  readonly body: unknown;
}

export interface AuditEntry extends Omit<AuditInput, 'body'> {
  readonly ts: string;
  readonly body: unknown;
}

const SECRET_KEY = /token|secret|password|passwd|api[_-]?key|authorization|signature|private/i;
const MAX_STRING = 120;
const MAX_KEYS = 30;
const MAX_DEPTH = 3;

/** A bounded, secret-free copy of a request body for the audit line. */
export function summarizeBody(body: unknown, depth = 0): unknown {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string') return body.length > MAX_STRING ? `${body.slice(0, MAX_STRING)}…(${body.length} chars)` : body;
  if (typeof body === 'number' || typeof body === 'boolean') return body;
  if (depth >= MAX_DEPTH) return Array.isArray(body) ? `[${body.length} items]` : '{…}';
  if (Array.isArray(body)) {
    const head = body.slice(0, 10).map((v) => summarizeBody(v, depth + 1));
    return body.length > 10 ? [...head, `…(${body.length - 10} more)`] : head;
  }
  if (typeof body === 'object') {
    const out: Record<string, unknown> = {};
    const entries = Object.entries(body as Record<string, unknown>);
    for (const [k, v] of entries.slice(0, MAX_KEYS)) out[k] = SECRET_KEY.test(k) ? '[REDACTED]' : summarizeBody(v, depth + 1);
    if (entries.length > MAX_KEYS) out['…'] = `${entries.length - MAX_KEYS} more keys`;
    return out;
  }
  return String(body);
}

/** The action name an operator greps for, from the route and body. */
export function actionFor(method: string, route: string, body: unknown): string {
  const b = (body ?? {}) as Record<string, unknown>;
  // A refused request is answered before its body is read: name the route, not a guess.
  if (route === '/kill') return b.enabled === true ? 'trading.resume' : b.enabled === false ? 'trading.kill' : 'trading.kill_switch';
  if (route === '/strategy/weights') return 'weights.set';
  if (route === '/strategy/signal') return 'signal.route';
  if (route === '/bus/publish') return `bus.publish:${typeof b.topic === 'string' ? b.topic : '?'}`;
  // The ops API's POST /trading/state sets one entry (scope); the engine API's applies a whole document (version).
  if (route === '/trading/state') return typeof b.version === 'number' && b.scope === undefined ? 'trading_state.apply' : `trading_state.set:${typeof b.scope === 'string' ? b.scope : '?'}`;
  if (route === '/orders' && method === 'POST') return 'order.submit';
  if (route === '/orders/:id' && method === 'DELETE') return 'order.cancel';
  if (route === '/risk/limits') return 'risk_limits.set';
  if (route === '/governance/exposure') return 'governance.set_exposure';
  if (route === '/auth/rotate') return 'auth.rotate';
  return `${method} ${route}`;
}

export function resultFor(status: number): AuditResult {
  if (status === 401 || status === 403) return 'denied';
  if (status >= 500) return 'error';
  if (status >= 400) return 'rejected';
  return 'ok';
}

export class AuditLog {
  private failed = false;

  constructor(readonly path: string, private readonly log: Logger, private readonly metrics: Metrics | null = null) {
    mkdirSync(dirname(path), { recursive: true });
  }

  record(input: AuditInput): AuditEntry {
    const entry: AuditEntry = { ts: new Date().toISOString(), ...input, body: summarizeBody(input.body) };
    try {
      // One write(2) per line with O_APPEND: lines from concurrent requests never interleave.
      appendFileSync(this.path, JSON.stringify(entry) + '\n', { mode: 0o600 });
      this.failed = false;
      this.metrics?.auditEntries.inc({ result: input.result });
    } catch (err) {
      // Losing the audit trail must be loud, but must not fail the action already taken.
      reportStorageFault(this.path, err);
      if (!this.failed) this.log.error({ err }, `[AUDIT] cannot append to ${this.path}: ${(err as Error).message}`);
      this.failed = true;
    }
    return entry;
  }

  /** The hook the HTTP layer calls after every authenticated request (HttpServerOptions.onControlAction). */
  hook(server: string) {
    return (e: ControlAction) => {
      this.record({
        server,
        action: actionFor(e.method, e.route, e.body),
        method: e.method,
        route: e.route,
        token_fp: e.fingerprint,
        actor: e.fingerprint ? `token:${e.fingerprint}` : 'anonymous',
        status: e.status,
        result: resultFor(e.status),
        body: e.body,
      });
    };
  }
}
