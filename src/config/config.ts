// Start-up configuration: read from the environment once, typed and validated. A bad value
// stops start-up with a message naming the key and the problem. Defaults are safe: paper
// trading on the sim venue, APIs bound to 127.0.0.1.
import { resolve } from 'node:path';
import { type Fixed, fx } from '../core/decimal.js';

export class ConfigError extends Error {
  constructor(readonly key: string, problem: string) {
    super(`config ${key}: ${problem}`);
  }
}

export interface StackConfig {
  readonly root: string;
  readonly mode: 'paper';
  readonly opsHost: string;
  readonly opsPort: number;
  /** Engine HTTP API port; 0 = not served over HTTP (embedded use only). */
  readonly enginePort: number;
  readonly engineHost: string;
  readonly tradingEnabled: boolean | null;
  readonly tradeSymbols: readonly string[];
  readonly minNotionalUsdt: Fixed;
  readonly maxNotionalUsdt: Fixed;
  readonly maxOrdersPerMin: number;
  readonly startingCashUsd: Fixed;
  readonly marketIntervalMs: number;
  /** Market time one synthetic bar spans (the demo replays one-minute bars every MARKET_INTERVAL_MS). */
  readonly barIntervalMs: number;
  readonly marketSeed: number;
  /** MARKET_DRIFT: scales the synthetic regimes' drift (1 as specified, 0 none: a market with no edge to find). */
  readonly marketDrift: number;
  readonly warmupBars: number;
  readonly sim: { readonly takerBps: number; readonly makerBps: number; readonly slippageBps: number; readonly seed: number };
  readonly ledgerSync: 'full' | 'normal';
  /** Storage faults (util/storageHealth.ts): under minFreeBytes free (HMM_STORAGE_MIN_FREE_MB) the
   *  root counts as full and new orders are refused; probeMs (HMM_STORAGE_PROBE_MS) is how often
   *  free space is read and, while faulted, a write is tried to resume. */
  readonly storage: { readonly minFreeBytes: number; readonly probeMs: number };
  readonly logLevel: string;
  readonly opsApiToken: string | null;
  /** Extra operator tokens valid at the same time (OPS_API_TOKENS, comma-separated): rotation. */
  readonly opsApiTokens: readonly string[];
  /** How long a token removed from .ops_token / .ops_tokens stays valid (OPS_TOKEN_GRACE_SEC). */
  readonly opsTokenGraceSec: number;
  /** Rails in depth (engine risk rails); 0 turns one off. */
  readonly risk: {
    readonly exposureCapSymbolUsd: Fixed;
    readonly exposureCapTotalUsd: Fixed;
    readonly equityFloorUsd: Fixed;
    readonly maxDrawdownPct: number;
    readonly lossStreakLimit: number;
    readonly lossStreakCooldownSec: number;
    readonly priceBandPct: number;
    readonly maxOpenOrders: number;
  };
  /** Per-engine MIN_NOTIONAL_USDT overrides: ENGINE_<NAME>_MIN_NOTIONAL_USDT (e.g. ENGINE_SIM_MIN_NOTIONAL_USDT). */
  readonly engineMinNotionalUsdt: Readonly<Record<string, Fixed>>;
  /** Telegram alerts: disabled (with one log line) unless both token and chat id are set. */
  readonly telegram: {
    readonly token: string | null;
    readonly chatId: string | null;
    readonly apiBase: string;
    /** The command bot (TELEGRAM_COMMANDS, default on with a token): long-polls getUpdates. */
    readonly commands: boolean;
    /** Chats whose commands are answered (TELEGRAM_COMMAND_CHAT_IDS; default TELEGRAM_CHAT_ID). */
    readonly commandChatIds: readonly string[];
    readonly pollTimeoutSec: number;
    /** How long a confirmation button stays valid (TELEGRAM_CONFIRM_TTL_SEC). */
    readonly confirmTtlSec: number;
  };
  /** Where bars come from: the seeded synthetic market (offline default) or a venue's public
   *  OHLCV (MARKET_DATA=binance: a dry run on live data, the sim venue still executing). */
  readonly marketData: MarketDataConfig;
  /** Distributed deployment (see src/app/): the shared Redis (bus, leader lease, replicated ops
   *  state; details in bus/redisConfig.ts), the engines `hmm ops` reaches, and this engine's identity. */
  readonly distributed: DistributedConfig;
}

export type MarketDataSource = 'synthetic' | 'binance';

export interface MarketDataConfig {
  readonly source: MarketDataSource;
  /** ccxt timeframe of venue bars (MARKET_TIMEFRAME, default 1m). */
  readonly timeframe: string;
  readonly timeframeMs: number;
  /** How often the venue's OHLCV is polled (MARKET_POLL_MS, default 5000). */
  readonly pollMs: number;
}

export type EngineVenueKind = 'sim' | 'binance';

export interface DistributedConfig {
  /** REDIS_URL (validated again with its companions by loadRedisConfig); null = one process. */
  readonly redisUrl: string | null;
  /** HMM_ENGINES: the engines `hmm ops` reaches over HTTP. */
  readonly engines: readonly EngineEndpoint[];
  /** ENGINE_VENUE (sim | binance; `hmm engine --venue` sets it). */
  readonly engineVenue: EngineVenueKind;
  /** ENGINE_NAME; default engine_<venue>. */
  readonly engineName: string;
  /** HMM_ENGINES_WAIT_SEC: how long `hmm ops` waits at start for every engine to answer. */
  readonly enginesWaitSec: number;
  /** OPS_REPLICA_ID: this ops replica's name in the leader lease; default host:pid:random. */
  readonly replicaId: string | null;
}

/** ccxt timeframes the venue feed accepts, in milliseconds. */
export const TIMEFRAME_MS: Readonly<Record<string, number>> = {
  '1s': 1_000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000,
  '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '1d': 86_400_000,
};

/** MIN_NOTIONAL_USDT for one engine: its ENGINE_<NAME>_MIN_NOTIONAL_USDT override, else the global one. */
export function minNotionalFor(config: Pick<StackConfig, 'minNotionalUsdt' | 'engineMinNotionalUsdt'>, engineName: string): Fixed {
  return config.engineMinNotionalUsdt[engineName] ?? config.minNotionalUsdt;
}

type Env = Readonly<Record<string, string | undefined>>;

function str(env: Env, key: string, dflt: string): string {
  const v = env[key];
  return v === undefined || v === '' ? dflt : v;
}

function num(env: Env, key: string, dflt: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new ConfigError(key, `expected a number, got ${JSON.stringify(raw)}`);
  if (opts.integer && !Number.isInteger(v)) throw new ConfigError(key, `expected an integer, got ${raw}`);
  if (opts.min !== undefined && v < opts.min) throw new ConfigError(key, `must be ≥ ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && v > opts.max) throw new ConfigError(key, `must be ≤ ${opts.max}, got ${raw}`);
  return v;
}

function money(env: Env, key: string, dflt: string): Fixed {
  const raw = str(env, key, dflt);
  let v: Fixed;
  try {
    v = fx(raw);
  } catch {
    throw new ConfigError(key, `expected a decimal amount, got ${JSON.stringify(raw)}`);
  }
  if (v < 0n) throw new ConfigError(key, `must not be negative, got ${raw}`);
  return v;
}

function bool(env: Env, key: string): boolean | null {
  const raw = env[key];
  if (raw === undefined || raw === '') return null;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(key, `expected true or false, got ${JSON.stringify(raw)}`);
}

export function loadConfig(env: Env = process.env): StackConfig {
  const mode = str(env, 'TRADING_MODE', 'paper');
  if (mode !== 'paper') {
    throw new ConfigError('TRADING_MODE', `only "paper" is available in this build (live venues need a configured live adapter), got ${JSON.stringify(mode)}`);
  }
  const symbols = str(env, 'TRADE_SYMBOLS', 'BTCUSDT,ETHUSDT').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const s of symbols) if (!/^[A-Z0-9]{2,20}$/.test(s)) throw new ConfigError('TRADE_SYMBOLS', `invalid symbol ${JSON.stringify(s)}`);
  const minNotional = money(env, 'MIN_NOTIONAL_USDT', '10');
  const maxNotional = money(env, 'MAX_NOTIONAL_USDT', '2000');
  if (maxNotional < minNotional) throw new ConfigError('MAX_NOTIONAL_USDT', 'must be ≥ MIN_NOTIONAL_USDT');
  const ledgerSync = str(env, 'LEDGER_SYNC', 'normal');
  if (ledgerSync !== 'full' && ledgerSync !== 'normal') throw new ConfigError('LEDGER_SYNC', 'expected "full" or "normal"');
  const token = env.OPS_API_TOKEN;
  if (token !== undefined && token !== '' && token.length < 16) throw new ConfigError('OPS_API_TOKEN', 'must be at least 16 characters');
  const extraTokens = str(env, 'OPS_API_TOKENS', '').split(',').map((t) => t.trim()).filter(Boolean);
  extraTokens.forEach((t, i) => {
    // Never echo a token: name its position instead.
    if (t.length < 16) throw new ConfigError('OPS_API_TOKENS', `token #${i + 1} must be at least 16 characters`);
  });
  const engineMinNotional: Record<string, Fixed> = {};
  for (const key of Object.keys(env)) {
    const m = /^ENGINE_([A-Z0-9_]+)_MIN_NOTIONAL_USDT$/.exec(key);
    if (m && env[key] !== undefined && env[key] !== '') engineMinNotional[`engine_${m[1]!.toLowerCase()}`] = money(env, key, '0');
  }
  const telegramToken = str(env, 'TELEGRAM_TOKEN', '') || null;
  if (telegramToken !== null && !/^[0-9]{1,20}:[A-Za-z0-9_-]{10,200}$/.test(telegramToken)) {
    throw new ConfigError('TELEGRAM_TOKEN', 'expected a Bot API token of the form <bot id>:<secret> (as BotFather gives it)');
  }
  const telegramChat = str(env, 'TELEGRAM_CHAT_ID', '') || null;
  if (telegramChat !== null && !/^(-?[0-9]{1,20}|@[A-Za-z0-9_]{4,64})$/.test(telegramChat)) {
    throw new ConfigError('TELEGRAM_CHAT_ID', `expected a numeric chat id or @channelname, got ${JSON.stringify(telegramChat)}`);
  }
  const commandChats = str(env, 'TELEGRAM_COMMAND_CHAT_IDS', '').split(',').map((c) => c.trim()).filter(Boolean);
  for (const c of commandChats) {
    // Updates name a chat by its number: a @channel name can never match one.
    if (!/^-?[0-9]{1,20}$/.test(c)) throw new ConfigError('TELEGRAM_COMMAND_CHAT_IDS', `expected comma-separated numeric chat ids, got ${JSON.stringify(c)}`);
  }
  const telegramCommands = bool(env, 'TELEGRAM_COMMANDS') ?? true;
  const telegramBase = str(env, 'TELEGRAM_API_BASE', 'https://api.telegram.org').replace(/\/+$/, '');
  try {
    const u = new URL(telegramBase);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError('TELEGRAM_API_BASE', `expected an http(s) URL, got ${JSON.stringify(telegramBase)}`);
  }
  return {
    root: resolve(str(env, 'HMM_ROOT', process.cwd())),
    mode: 'paper',
    opsHost: str(env, 'OPS_HOST', '127.0.0.1'),
    opsPort: num(env, 'OPS_PORT', 8002, { min: 0, max: 65535, integer: true }),
    engineHost: str(env, 'ENGINE_HOST', '127.0.0.1'),
    enginePort: num(env, 'ENGINE_PORT', 8101, { min: 0, max: 65535, integer: true }),
    tradingEnabled: bool(env, 'TRADING_ENABLED'),
    tradeSymbols: symbols,
    minNotionalUsdt: minNotional,
    maxNotionalUsdt: maxNotional,
    maxOrdersPerMin: num(env, 'MAX_ORDERS_PER_MIN', 60, { min: 0, integer: true }),
    startingCashUsd: money(env, 'STARTING_CASH_USD', '10000'),
    marketIntervalMs: num(env, 'MARKET_INTERVAL_MS', 1000, { min: 1, integer: true }),
    barIntervalMs: num(env, 'BAR_INTERVAL_MS', 60_000, { min: 1, integer: true }),
    marketSeed: num(env, 'MARKET_SEED', 7, { integer: true }),
    marketDrift: num(env, 'MARKET_DRIFT', 1, { min: 0, max: 100 }),
    warmupBars: num(env, 'WARMUP_BARS', 300, { min: 0, integer: true }),
    sim: {
      takerBps: num(env, 'SIM_TAKER_BPS', 10, { min: 0, max: 1000 }),
      makerBps: num(env, 'SIM_MAKER_BPS', 2, { min: 0, max: 1000 }),
      slippageBps: num(env, 'SIM_SLIPPAGE_BPS', 2, { min: 0, max: 1000 }),
      seed: num(env, 'SIM_SEED', 11, { integer: true }),
    },
    ledgerSync,
    storage: storageConfig(env),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    opsApiToken: token === undefined || token === '' ? null : token,
    opsApiTokens: extraTokens,
    opsTokenGraceSec: num(env, 'OPS_TOKEN_GRACE_SEC', 3600, { min: 0, max: 90 * 86_400 }),
    risk: {
      exposureCapSymbolUsd: money(env, 'EXPOSURE_CAP_SYMBOL_USD', '5000'),
      exposureCapTotalUsd: money(env, 'EXPOSURE_CAP_TOTAL_USD', '10000'),
      equityFloorUsd: money(env, 'EQUITY_FLOOR_USD', '0'),
      maxDrawdownPct: num(env, 'MAX_DRAWDOWN_PCT', 25, { min: 0, max: 100 }),
      // Opt-in (0 = off), like Freqtrade's StoplossGuard: a wall-clock cooldown misfires in the compressed demo market.
      lossStreakLimit: num(env, 'LOSS_STREAK_LIMIT', 0, { min: 0, integer: true }),
      lossStreakCooldownSec: num(env, 'LOSS_STREAK_COOLDOWN_SEC', 900, { min: 0, max: 30 * 86_400, integer: true }),
      priceBandPct: num(env, 'PRICE_BAND_PCT', 5, { min: 0, max: 1000 }),
      maxOpenOrders: num(env, 'MAX_OPEN_ORDERS', 50, { min: 0, integer: true }),
    },
    engineMinNotionalUsdt: engineMinNotional,
    telegram: {
      token: telegramToken, chatId: telegramChat, apiBase: telegramBase, commands: telegramCommands,
      commandChatIds: commandChats.length > 0 ? commandChats : telegramChat !== null && /^-?[0-9]+$/.test(telegramChat) ? [telegramChat] : [],
      pollTimeoutSec: num(env, 'TELEGRAM_POLL_TIMEOUT_SEC', 25, { min: 0, max: 50, integer: true }),
      confirmTtlSec: num(env, 'TELEGRAM_CONFIRM_TTL_SEC', 300, { min: 5, max: 86_400, integer: true }),
    },
    marketData: marketDataConfig(env),
    distributed: distributedConfig(env),
  };
}

/** Read once here and by the CLI's start-up check, so both judge a full disk alike. */
export function storageConfig(env: Env): StackConfig['storage'] {
  return {
    minFreeBytes: Math.round(num(env, 'HMM_STORAGE_MIN_FREE_MB', 8, { min: 0, max: 1_000_000 }) * 1024 * 1024),
    probeMs: num(env, 'HMM_STORAGE_PROBE_MS', 1000, { min: 50, max: 60_000, integer: true }),
  };
}

function marketDataConfig(env: Env): MarketDataConfig {
  const source = str(env, 'MARKET_DATA', 'synthetic');
  if (source !== 'synthetic' && source !== 'binance') throw new ConfigError('MARKET_DATA', `expected "synthetic" or "binance", got ${JSON.stringify(source)}`);
  const timeframe = str(env, 'MARKET_TIMEFRAME', '1m');
  const timeframeMs = TIMEFRAME_MS[timeframe];
  if (timeframeMs === undefined) throw new ConfigError('MARKET_TIMEFRAME', `expected one of ${Object.keys(TIMEFRAME_MS).join(', ')}, got ${JSON.stringify(timeframe)}`);
  return { source, timeframe, timeframeMs, pollMs: num(env, 'MARKET_POLL_MS', 5_000, { min: 100, max: 3_600_000, integer: true }) };
}

/** Environment key listing the engines `hmm ops` reaches over HTTP. */
export const ENGINE_ENDPOINTS_ENV = 'HMM_ENGINES';

export interface EngineEndpoint {
  readonly name: string;
  readonly url: string;
}

/** "name=url,name=url" → endpoints; a RangeError names the bad entry. Parsed here, with the
 *  rest of the configuration, so config depends on nothing above it (the engine's HTTP
 *  handle only consumes the endpoints). */
export function parseEngineEndpoints(text: string): EngineEndpoint[] {
  const out: EngineEndpoint[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9._-]{1,64})=(.+)$/.exec(raw);
    if (!m) throw new RangeError(`${ENGINE_ENDPOINTS_ENV}: expected NAME=URL, got ${JSON.stringify(raw)}`);
    let u: URL;
    try {
      u = new URL(m[2]!);
    } catch {
      throw new RangeError(`${ENGINE_ENDPOINTS_ENV}: ${m[1]} has an invalid URL ${JSON.stringify(m[2])}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`${ENGINE_ENDPOINTS_ENV}: ${m[1]} must use http(s)`);
    if (out.some((e) => e.name === m[1])) throw new RangeError(`${ENGINE_ENDPOINTS_ENV}: ${m[1]} is listed twice`);
    out.push({ name: m[1]!, url: m[2]!.replace(/\/+$/, '') });
  }
  return out;
}

function distributedConfig(env: Env): DistributedConfig {
  const redisUrl = str(env, 'REDIS_URL', '') || null;
  if (redisUrl !== null && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) throw new ConfigError('REDIS_URL', 'expected redis://host:port[/db]');
  let engines: EngineEndpoint[];
  try {
    engines = parseEngineEndpoints(str(env, 'HMM_ENGINES', ''));
  } catch (err) {
    throw new ConfigError('HMM_ENGINES', (err as Error).message.replace(/^HMM_ENGINES: /, ''));
  }
  const venue = str(env, 'ENGINE_VENUE', 'sim');
  if (venue !== 'sim' && venue !== 'binance') throw new ConfigError('ENGINE_VENUE', `expected "sim" or "binance", got ${JSON.stringify(venue)}`);
  const engineName = str(env, 'ENGINE_NAME', `engine_${venue}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(engineName)) throw new ConfigError('ENGINE_NAME', 'letters, digits and ._- only, at most 64');
  const replicaId = str(env, 'OPS_REPLICA_ID', '') || null;
  if (replicaId !== null && !/^[A-Za-z0-9._:-]{1,64}$/.test(replicaId)) throw new ConfigError('OPS_REPLICA_ID', 'letters, digits and ._:- only, at most 64');
  return {
    redisUrl, engines, engineVenue: venue, engineName,
    enginesWaitSec: num(env, 'HMM_ENGINES_WAIT_SEC', 60, { min: 0, max: 3_600, integer: true }),
    replicaId,
  };
}
