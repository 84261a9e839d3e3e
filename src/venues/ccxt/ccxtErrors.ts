// What a failed ccxt call means for the order it concerned. The one question that matters is
// whether the venue acted: a venue that answered with an error did nothing (the order is
// rejected, the read failed); a request that timed out, hit a 5xx or lost its connection may
// or may not have taken effect (outcome unknown: a submit is then resolved by asking the venue
// by client order id, never re-sent). ccxt's exception classes carry most of this; Binance's
// numeric codes (in the body ccxt quotes in its message) refine it, e.g. -1006/-1007
// "execution status unknown", -2010 insufficient balance vs duplicate order.
import ccxt from 'ccxt';

export type ErrorClass =
  /** 429/418 or a venue rate-limit code: nothing was done; wait before any further request. */
  | { readonly kind: 'rate_limited'; readonly venueCode: string | null; readonly message: string }
  /** The signed request's timestamp was outside the venue's window (-1021): nothing was done. */
  | { readonly kind: 'clock'; readonly venueCode: string | null; readonly message: string }
  /** Timeout, 5xx, dropped connection, "execution status unknown": the venue may have acted. */
  | { readonly kind: 'unknown_outcome'; readonly venueCode: string | null; readonly message: string }
  /** The venue does not know the order (-2013 on a query, -2011 on a cancel). */
  | { readonly kind: 'not_found'; readonly venueCode: string | null; readonly message: string }
  /** The client order id is already in use at the venue (-2010 "Duplicate order sent."). */
  | { readonly kind: 'duplicate'; readonly venueCode: string | null; readonly message: string }
  /** Credentials refused (-1022 signature, -2014/-2015 key): nothing was done. */
  | { readonly kind: 'auth'; readonly venueCode: string | null; readonly message: string }
  /** The venue answered no; `reason` is our reject code. */
  | { readonly kind: 'rejected'; readonly reason: string; readonly venueCode: string | null; readonly message: string };

/** Binance's {"code":-2010,"msg":"..."} as ccxt quotes it in its exception message. */
export function venueErrorOf(message: string): { code: string | null; msg: string | null } {
  const code = /"code"\s*:\s*"?(-?\d+)"?/.exec(message)?.[1] ?? null;
  const msg = /"msg"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(message)?.[1] ?? null;
  return { code, msg };
}

/** Removes what must never reach a log from an error message: request signatures, keys. */
export function scrubMessage(message: string, secrets: readonly string[] = []): string {
  let out = message.replace(/(signature=)[^&\s"']+/gi, '$1[REDACTED]').replace(/(X-MBX-APIKEY["']?\s*[:=]\s*["']?)[^"'\s,}]+/gi, '$1[REDACTED]');
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join('[REDACTED]');
  return out;
}

const UNKNOWN_CODES = new Set(['-1006', '-1007']);
const RATE_CODES = new Set(['-1003', '-1015']);
const AUTH_CODES = new Set(['-1022', '-2014', '-2015', '-1002']);
const NOT_FOUND_CODES = new Set(['-2011', '-2013']);

export function classifyError(err: unknown): ErrorClass {
  const message = err instanceof Error ? err.message : String(err);
  const { code, msg } = venueErrorOf(message);
  const text = msg ?? message;
  const base = { venueCode: code, message: text };

  // Venue codes first: ccxt's class for them differs between its spot and common tables.
  if (code !== null) {
    if (UNKNOWN_CODES.has(code)) return { kind: 'unknown_outcome', ...base };
    if (RATE_CODES.has(code)) return { kind: 'rate_limited', ...base };
    if (code === '-1021') return { kind: 'clock', ...base };
    if (NOT_FOUND_CODES.has(code)) return { kind: 'not_found', ...base };
    if (code === '-2010' && /duplicate/i.test(text)) return { kind: 'duplicate', ...base };
    if (code === '-2010' && /insufficient balance/i.test(text)) return { kind: 'rejected', reason: 'INSUFFICIENT_BALANCE', ...base };
    if (AUTH_CODES.has(code) && !(err instanceof ccxt.DDoSProtection)) return { kind: 'auth', ...base };
    if (code === '-1013' || /filter failure/i.test(text)) return { kind: 'rejected', reason: 'VENUE_FILTER', ...base };
  }
  // RateLimitExceeded and DDoSProtection are NetworkErrors in ccxt: test them before it.
  if (err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection) return { kind: 'rate_limited', ...base };
  if (err instanceof ccxt.InvalidNonce) return { kind: 'clock', ...base };
  if (err instanceof ccxt.NetworkError) return { kind: 'unknown_outcome', ...base };
  if (err instanceof ccxt.OperationFailed) return { kind: 'unknown_outcome', ...base };
  if (err instanceof ccxt.OrderNotFound) return { kind: 'not_found', ...base };
  if (err instanceof ccxt.DuplicateOrderId) return { kind: 'duplicate', ...base };
  if (err instanceof ccxt.AuthenticationError || err instanceof ccxt.PermissionDenied) return { kind: 'auth', ...base };
  if (err instanceof ccxt.InsufficientFunds) return { kind: 'rejected', reason: 'INSUFFICIENT_BALANCE', ...base };
  if (err instanceof ccxt.BadSymbol) return { kind: 'rejected', reason: 'UNKNOWN_SYMBOL', ...base };
  if (err instanceof ccxt.InvalidOrder) return { kind: 'rejected', reason: 'VENUE_REJECTED', ...base };
  if (err instanceof ccxt.ExchangeError) return { kind: 'rejected', reason: 'VENUE_REJECTED', ...base };
  // Anything else (a bug of ours, a non-ccxt failure mid-request) could have happened after
  // the request left: the only safe reading is "unknown".
  return { kind: 'unknown_outcome', ...base };
}
