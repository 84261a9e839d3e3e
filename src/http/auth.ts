// The HTTP layer's token check and audit hooks. A route that changes state declares
// `config: { auth: true }`; the onRequest hook then demands a valid X-OPS-TOKEN (401 with the
// standard error body otherwise), and the onResponse hook reports the call to the server's
// onControlAction (the audit trail). Which tokens are valid is the TokenSource's business
// (ops/auth.ts's OpsTokenRing reads the operator's token files): the hooks only ask it.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../obs/logger.js';
import { codeForStatus } from './errors.js';
import type { FloodGuard } from './floodGuard.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route changes state: requires X-OPS-TOKEN. */
    auth?: boolean;
    /** Data-plane routes (orders, signals: thousands a second) audit only refused tokens;
     *  control actions (kill, weights, states, ...) audit every call. */
    audit?: 'all' | 'refusals';
  }
}

export const TOKEN_HEADER = 'x-ops-token';

export interface TokenSource {
  readonly origin: 'env' | 'file';
  verify(presented: string | undefined): boolean;
  /** Short, non-reversible fingerprint for audit lines. */
  fingerprint(presented: string): string;
}

/** A token's fingerprint: the first 12 hex digits of its SHA-256 (never the token itself). */
export const tokenFingerprint = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12);

/** One authenticated call, as the audit hook reports it. */
export interface ControlAction {
  readonly route: string;
  readonly method: string;
  readonly fingerprint: string | null;
  readonly status: number;
  readonly body: unknown;
}

/** A URL fit for a log line: the path, and the query's names with their values redacted (an
 *  operator who pastes the token into `?token=` must not find it in the logs). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = url.slice(q + 1).split('&').filter((p) => p.length > 0).map((p) => `${p.split('=')[0]}=[redacted]`);
  return `${url.slice(0, q)}?${names.join('&')}`;
}

/** A request body fit for the audit trail: any string that is a valid token (an operator who
 *  put the token in the body instead of the header) becomes '[redacted]'. */
function redactBody(body: unknown, token: TokenSource, depth = 0): unknown {
  if (typeof body === 'string') return body.length >= 8 && token.verify(body) ? '[redacted]' : body;
  if (body === null || typeof body !== 'object' || depth > 4) return body;
  if (Array.isArray(body)) return body.map((v) => redactBody(v, token, depth + 1));
  return Object.fromEntries(Object.entries(body as Record<string, unknown>).map(([k, v]) => [k, redactBody(v, token, depth + 1)]));
}

function presentedToken(req: FastifyRequest): string | undefined {
  const h = req.headers[TOKEN_HEADER];
  return Array.isArray(h) ? h[0] : h;
}

/** Who did it, for logs and state records: the presenting token's fingerprint, never the token. */
export function actorOf(req: FastifyRequest): string {
  const token = presentedToken(req);
  return token ? `operator:${tokenFingerprint(token)}` : 'operator';
}

/** Adds the token check on routes marked `auth` (callback-style: it runs on every request,
 *  and an async hook would cost a promise each). With a FloodGuard, a client past its limits
 *  gets 429 before its token is looked at, and only its first refusal per window is logged. */
export function addTokenCheck(app: FastifyInstance, token: TokenSource, log: Logger, guard?: FloodGuard): void {
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (!req.routeOptions.config.auth) return done();
    if (guard?.admit(req, reply)) return;
    if (token.verify(presentedToken(req))) return done();
    const url = redactUrl(req.url);
    if (!guard || guard.failed(req)) log.warn({ route: url, method: req.method }, `[AUTH] rejected ${req.method} ${req.routeOptions.url ?? url}: invalid or missing X-OPS-TOKEN`);
    void reply.code(401).send({ error: 'invalid or missing X-OPS-TOKEN', code: codeForStatus(401) });
  });
}

/** Reports every call of an `auth` route (or, with `audit: 'refusals'`, only refused tokens). */
export function addAuditHook(app: FastifyInstance, token: TokenSource, onControlAction: (action: ControlAction) => void): void {
  app.addHook('onResponse', (req, reply, done) => {
    if (!req.routeOptions.config.auth) return done();
    // A flood's 429s are summarised by the FloodGuard; one audit entry each would be the flood again.
    if (reply.statusCode === 429) return done();
    if (req.routeOptions.config.audit === 'refusals' && reply.statusCode !== 401) return done();
    const value = presentedToken(req);
    try {
      onControlAction({ route: req.routeOptions.url ?? redactUrl(req.url), method: req.method, fingerprint: value ? token.fingerprint(value) : null, status: reply.statusCode, body: redactBody(req.body, token) });
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}
