// Start-up configuration: read from the environment once, typed and validated. A bad value
// stops start-up with a message naming the key and the problem. Defaults are safe: paper
// trading on the sim venue, APIs bound to 127.0.0.1.
import { resolve } from 'node:path';
import { type Fixed, fx } from './core/decimal.js';

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
  readonly warmupBars: number;
  readonly sim: { readonly takerBps: number; readonly makerBps: number; readonly slippageBps: number; readonly seed: number };
  readonly ledgerSync: 'full' | 'normal';
  readonly logLevel: string;
  readonly opsApiToken: string | null;
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
    warmupBars: num(env, 'WARMUP_BARS', 300, { min: 0, integer: true }),
    sim: {
      takerBps: num(env, 'SIM_TAKER_BPS', 10, { min: 0, max: 1000 }),
      makerBps: num(env, 'SIM_MAKER_BPS', 2, { min: 0, max: 1000 }),
      slippageBps: num(env, 'SIM_SLIPPAGE_BPS', 2, { min: 0, max: 1000 }),
      seed: num(env, 'SIM_SEED', 11, { integer: true }),
    },
    ledgerSync,
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    opsApiToken: token === undefined || token === '' ? null : token,
  };
}
