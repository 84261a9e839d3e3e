// The venue-wide brake on requests: every HTTP response the ccxt client receives passes
// through onResponse(); a 429 closes the gate for its Retry-After (or an exponential backoff
// when the venue gives none), a 418 — Binance's IP ban, what comes of ignoring 429s — closes
// it until the ban lifts (Retry-After, or the "banned until <ms>" in the body, whichever is
// later). While closed, the adapter sends nothing at all to that venue: not orders, not
// polls, not clock syncs. ccxt's own throttle (enableRateLimit) keeps us under the published
// weights; this gate handles the venue saying we went over anyway.

export type GateReason = 'rate_limit' | 'ip_ban';

export interface GateState {
  readonly open: boolean;
  readonly reason: GateReason | null;
  /** Epoch ms when requests may resume (0 when open). */
  readonly until: number;
  readonly rateLimitHits: number;
  readonly bans: number;
}

export interface GateChange {
  readonly reason: GateReason;
  readonly until: number;
  readonly status: number;
}

/** Retry-After as seconds or an HTTP date → epoch ms; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return now + Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isFinite(date) ? date : null;
}

/** Binance's 418 body: "... IP(1.2.3.4) banned until 1659146813111. ..." → epoch ms. */
export function parseBanUntil(body: string): number | null {
  const m = /banned until (\d{10,16})/i.exec(body);
  return m ? Number(m[1]) : null;
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === want) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

export interface RequestGateOptions {
  /** Backoff for a 429 without Retry-After: base × 2^(n−1), capped. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** A 418 without any duration: assume this long (Binance bans start at 2 minutes). */
  readonly defaultBanMs?: number;
}

export class RequestGate {
  private until = 0;
  private reason: GateReason | null = null;
  private consecutive429 = 0;
  private rateLimitHits = 0;
  private bans = 0;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly defaultBanMs: number;

  constructor(private readonly now: () => number, opts: RequestGateOptions = {}) {
    this.backoffBaseMs = opts.backoffBaseMs ?? 1_000;
    this.backoffCapMs = opts.backoffCapMs ?? 60_000;
    this.defaultBanMs = opts.defaultBanMs ?? 120_000;
  }

  /** Feeds one HTTP response; returns the change when it closed (or extended) the gate. */
  onResponse(status: number, headers: Readonly<Record<string, string | string[] | undefined>>, body: string): GateChange | null {
    const now = this.now();
    if (status === 418) {
      const retry = parseRetryAfter(header(headers, 'retry-after'), now);
      const banned = parseBanUntil(body);
      const until = Math.max(retry ?? 0, banned ?? 0) || now + this.defaultBanMs;
      this.bans++;
      return this.close('ip_ban', until, status);
    }
    if (status === 429) {
      this.consecutive429++;
      this.rateLimitHits++;
      const retry = parseRetryAfter(header(headers, 'retry-after'), now);
      const backoff = Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** (this.consecutive429 - 1));
      return this.close('rate_limit', retry ?? now + backoff, status);
    }
    if (status < 400) this.consecutive429 = 0;
    return null;
  }

  private close(reason: GateReason, until: number, status: number): GateChange {
    // A ban outranks a rate limit; either only ever extends the closed period.
    const banActive = this.reason === 'ip_ban' && this.waitMs() > 0;
    this.reason = reason === 'ip_ban' || banActive ? 'ip_ban' : 'rate_limit';
    this.until = Math.max(this.until, until);
    return { reason: this.reason, until: this.until, status };
  }

  /** Milliseconds until requests may resume; 0 when the gate is open. */
  waitMs(): number {
    const left = this.until - this.now();
    if (left <= 0) {
      this.reason = null;
      return 0;
    }
    return left;
  }

  state(): GateState {
    const wait = this.waitMs();
    return { open: wait === 0, reason: wait === 0 ? null : this.reason, until: wait === 0 ? 0 : this.until, rateLimitHits: this.rateLimitHits, bans: this.bans };
  }
}
