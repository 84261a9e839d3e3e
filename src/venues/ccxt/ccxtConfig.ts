// Start-up configuration of a live venue reached through ccxt: which exchange, its API
// credentials (from the environment or from files, e.g. Docker secrets), where its REST API
// lives (overridable, so tests and proxies can stand in for it) and the timing knobs. Read
// once, validated, and a bad value stops start-up with a message naming the key. Credentials
// are read by config/secret.ts (the reader Redis's passwords use too) and wrapped in Secret,
// which prints as [REDACTED] however it is logged or serialised.
//
// Environment keys (the venue name is the ccxt exchange id; BINANCE_ shown, KRAKEN_/BYBIT_… alike):
//   BINANCE_API_KEY / BINANCE_API_KEY_FILE        API key, or a file holding it (not both)
//   BINANCE_API_SECRET / BINANCE_API_SECRET_FILE  API secret, or a file holding it
//   BINANCE_API_PASSWORD / BINANCE_API_PASSWORD_FILE  passphrase, for exchanges that have one
//   CCXT_API_BASE        origin (and optional path prefix) replacing every REST endpoint's
//                        scheme and host, e.g. http://127.0.0.1:9000 (a local fake or a proxy)
//   CCXT_SANDBOX         true: the exchange's testnet (ccxt setSandboxMode)
//   CCXT_RECV_WINDOW_MS  signed-request validity window (default 5000, max 60000)
//   CCXT_TIMEOUT_MS      per-request timeout (default 10000)
//   CCXT_POLL_MS         order/fill/price poll interval (default 2000)
//   CCXT_STALE_MS        no successful poll for this long = stale view, resync (default max(15000, 5 × poll))
//   CCXT_OPTIONS_JSON    extra ccxt exchange options as a JSON object (venue quirks)
//   TRADE_SYMBOLS        the symbols to trade (shared with the stack config)
import ccxt from 'ccxt';
import { ConfigError } from '../../config/config.js';
import { type Env, type Secret, present, readSecret } from '../../config/secret.js';

/** Documented environment keys this module reads (deploy files are checked against them). */
export const CCXT_ENV_KEYS: readonly string[] = [
  'CCXT_API_BASE', 'CCXT_SANDBOX', 'CCXT_RECV_WINDOW_MS', 'CCXT_TIMEOUT_MS', 'CCXT_POLL_MS', 'CCXT_STALE_MS', 'CCXT_OPTIONS_JSON',
];

/** The credential keys for one exchange, e.g. BINANCE_API_KEY and BINANCE_API_KEY_FILE. */
export function credentialKeys(exchangeId: string): readonly string[] {
  const p = exchangeId.toUpperCase();
  return [`${p}_API_KEY`, `${p}_API_SECRET`, `${p}_API_PASSWORD`].flatMap((k) => [k, `${k}_FILE`]);
}

export interface CcxtCredentials {
  readonly apiKey: Secret;
  readonly secret: Secret;
  readonly password: Secret | null;
}

export interface CcxtVenueConfig {
  /** ccxt exchange id, also our venue id (binance, kraken, bybit, ...). */
  readonly exchangeId: string;
  readonly symbols: readonly string[];
  readonly credentials: CcxtCredentials | null;
  readonly apiBase: string | null;
  readonly sandbox: boolean;
  readonly recvWindowMs: number;
  readonly timeoutMs: number;
  readonly pollIntervalMs: number;
  readonly staleAfterMs: number;
  readonly exchangeOptions: Readonly<Record<string, unknown>>;
}


function int(env: Env, key: string, dflt: number, min: number, max: number): number {
  const raw = present(env, key);
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v)) throw new ConfigError(key, `expected an integer, got ${JSON.stringify(raw)}`);
  if (v < min || v > max) throw new ConfigError(key, `must be between ${min} and ${max}, got ${raw}`);
  return v;
}

/** An http(s) origin with an optional path prefix, without a trailing slash. */
export function parseApiBase(raw: string, key = 'CCXT_API_BASE'): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(key, `expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(key, `expected an http(s) URL, got ${JSON.stringify(raw)}`);
  if (u.search || u.hash) throw new ConfigError(key, 'must not carry a query or fragment');
  return raw.replace(/\/+$/, '');
}

/**
 * The configuration of the venue `exchangeId` (our venue name = the ccxt id). Credentials are
 * optional here (market data works without them); the adapter refuses to submit without.
 */
export function loadCcxtVenueConfig(exchangeId: string, env: Env = process.env): CcxtVenueConfig {
  if (!(ccxt.exchanges as readonly string[]).includes(exchangeId)) {
    throw new ConfigError('venue', `${JSON.stringify(exchangeId)} is not a ccxt exchange id (e.g. binance, kraken, bybit)`);
  }
  const p = exchangeId.toUpperCase();
  const apiKey = readSecret(env, `${p}_API_KEY`);
  const secret = readSecret(env, `${p}_API_SECRET`);
  const password = readSecret(env, `${p}_API_PASSWORD`);
  if ((apiKey === null) !== (secret === null)) {
    const missing = apiKey === null ? `${p}_API_KEY` : `${p}_API_SECRET`;
    throw new ConfigError(missing, `is required together with ${apiKey === null ? `${p}_API_SECRET` : `${p}_API_KEY`} (or its _FILE form)`);
  }
  const symbols = (present(env, 'TRADE_SYMBOLS') ?? 'BTCUSDT,ETHUSDT').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const s of symbols) if (!/^[A-Z0-9]{2,20}$/.test(s)) throw new ConfigError('TRADE_SYMBOLS', `invalid symbol ${JSON.stringify(s)}`);
  const baseRaw = present(env, 'CCXT_API_BASE');
  const sandboxRaw = (present(env, 'CCXT_SANDBOX') ?? 'false').toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(sandboxRaw)) throw new ConfigError('CCXT_SANDBOX', `expected true or false, got ${JSON.stringify(sandboxRaw)}`);
  const pollIntervalMs = int(env, 'CCXT_POLL_MS', 2_000, 100, 600_000);
  let exchangeOptions: Record<string, unknown> = {};
  const optionsRaw = present(env, 'CCXT_OPTIONS_JSON');
  if (optionsRaw !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(optionsRaw);
    } catch (err) {
      throw new ConfigError('CCXT_OPTIONS_JSON', `not valid JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('CCXT_OPTIONS_JSON', 'expected a JSON object');
    exchangeOptions = parsed as Record<string, unknown>;
  }
  return {
    exchangeId,
    symbols,
    credentials: apiKey !== null && secret !== null ? { apiKey, secret, password } : null,
    apiBase: baseRaw === undefined ? null : parseApiBase(baseRaw),
    sandbox: ['true', '1', 'yes'].includes(sandboxRaw),
    recvWindowMs: int(env, 'CCXT_RECV_WINDOW_MS', 5_000, 100, 60_000),
    timeoutMs: int(env, 'CCXT_TIMEOUT_MS', 10_000, 100, 120_000),
    pollIntervalMs,
    staleAfterMs: int(env, 'CCXT_STALE_MS', Math.max(15_000, 5 * pollIntervalMs), 1_000, 3_600_000),
    exchangeOptions,
  };
}
