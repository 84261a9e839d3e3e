// Per-client flood limits for both APIs: failed authentications and calls to control routes
// (auth routes that audit every call), counted per client address in fixed windows. Past a
// limit the client gets 429 with Retry-After until its window ends, and the log gets one line
// when the limit trips and one summary when the window closes — never a line per request, so
// whoever reaches the port cannot grow the logs. Data-plane routes (`audit: 'refusals'`:
// signals, orders, thousands a second from authenticated clients) are never limited for
// calls, only for failed authentication. Written here rather than with @fastify/rate-limit:
// that plugin counts requests before the token check, while the limit that matters is on
// *failures* of the check (a good token must keep working at any rate on the data plane).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../obs/logger.js';
import { codeForStatus } from './errors.js';

export interface FloodLimits {
  /** Failed authentications a client may make per window before 429. */
  readonly authFailures: number;
  /** Calls a client may make per window to control routes (kill, weights, states...); 0 = unlimited. */
  readonly controlCalls: number;
  readonly windowMs: number;
}

/** Shipped defaults: far above any operator or test (control routes are called a few times a
 *  minute by hand; 6000 leaves room for scripted control and fuzzing suites from one host),
 *  low enough that a token-guessing or log-flooding client is stopped at once. */
export const DEFAULT_FLOOD_LIMITS: FloodLimits = { authFailures: 10, controlCalls: 6000, windowMs: 60_000 };

const positiveInt = (raw: string | undefined, fallback: number, min: number): number => {
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  return Number.isInteger(n) && n >= min ? n : fallback;
};

/** Limits from the environment (HMM_RATE_AUTH_FAILURES, HMM_RATE_CONTROL_CALLS, HMM_RATE_WINDOW_MS);
 *  a value that is not a whole number in range keeps the default. */
export function floodLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): FloodLimits {
  return {
    authFailures: positiveInt(env.HMM_RATE_AUTH_FAILURES, DEFAULT_FLOOD_LIMITS.authFailures, 1),
    controlCalls: positiveInt(env.HMM_RATE_CONTROL_CALLS, DEFAULT_FLOOD_LIMITS.controlCalls, 0),
    windowMs: positiveInt(env.HMM_RATE_WINDOW_MS, DEFAULT_FLOOD_LIMITS.windowMs, 100),
  };
}

interface ClientWindow {
  start: number;
  failures: number;
  calls: number;
  refused: number;
}

/** Bound on clients tracked at once: a spray of source addresses cannot grow memory without end. */
const MAX_CLIENTS = 10_000;

export class FloodGuard {
  private readonly clients = new Map<string, ClientWindow>();

  constructor(
    private readonly limits: FloodLimits,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private window(client: string): ClientWindow {
    const t = this.now();
    let w = this.clients.get(client);
    if (w && t - w.start >= this.limits.windowMs) {
      this.summarise(client, w);
      w = undefined;
    }
    if (!w) {
      if (this.clients.size >= MAX_CLIENTS) this.sweep(t);
      w = { start: t, failures: 0, calls: 0, refused: 0 };
      this.clients.set(client, w);
    }
    return w;
  }

  /** Closed windows are summarised and dropped; if all are live, the oldest goes. */
  private sweep(t: number): void {
    for (const [client, w] of this.clients) {
      if (t - w.start >= this.limits.windowMs) {
        this.summarise(client, w);
        this.clients.delete(client);
      }
    }
    if (this.clients.size >= MAX_CLIENTS) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
  }

  private summarise(client: string, w: ClientWindow): void {
    if (w.refused === 0) return;
    this.log.warn({ client, failures: w.failures, refused: w.refused, window_ms: this.limits.windowMs },
      `[AUTH] flood from ${client} over ${this.limits.windowMs} ms: ${w.failures} failed authentications, ${w.refused} requests answered 429`);
  }

  private retryAfterS(w: ClientWindow): number {
    return Math.max(1, Math.ceil((w.start + this.limits.windowMs - this.now()) / 1000));
  }

  private refuse(reply: FastifyReply, w: ClientWindow, client: string, what: string): void {
    w.refused++;
    if (w.refused === 1) {
      this.log.warn({ client, limit: what }, `[AUTH] ${client} exceeded ${what}: answering 429 until its window ends (one summary line follows)`);
    }
    void reply.code(429).header('retry-after', String(this.retryAfterS(w)))
      .send({ error: `too many requests: ${what}; retry later`, code: codeForStatus(429) });
  }

  /** Before the token check, on auth routes: true if the request was answered 429. */
  admit(req: FastifyRequest, reply: FastifyReply): boolean {
    const w = this.window(req.ip);
    if (w.failures >= this.limits.authFailures) {
      this.refuse(reply, w, req.ip, `${this.limits.authFailures} failed authentications per ${this.limits.windowMs} ms`);
      return true;
    }
    if (this.limits.controlCalls > 0 && req.routeOptions.config.audit !== 'refusals') {
      if (w.calls >= this.limits.controlCalls) {
        this.refuse(reply, w, req.ip, `${this.limits.controlCalls} control calls per ${this.limits.windowMs} ms`);
        return true;
      }
      w.calls++;
    }
    return false;
  }

  /** A failed authentication; true if it is the client's first in this window (the one logged). */
  failed(req: FastifyRequest): boolean {
    const w = this.window(req.ip);
    w.failures++;
    return w.failures === 1;
  }
}
