import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError, parseEngineEndpoints } from '../../../src/config/config.js';
import { parsePolicies } from '../../../src/ops/policies.js';
import { parseWeightsFile, validateWeights } from '../../../src/portfolio/strategyWeights.js';
import { parseCapitalPolicy } from '../../../src/portfolio/capitalPolicy.js';
import { ValidationError } from '../../../src/config/watchedFile.js';
import { readFileSync } from 'node:fs';

test('safe defaults: paper mode, loopback, trading not forced', () => {
  const c = loadConfig({});
  assert.equal(c.mode, 'paper');
  assert.equal(c.opsHost, '127.0.0.1');
  assert.equal(c.opsPort, 8002);
  assert.equal(c.tradingEnabled, null);
  assert.deepEqual(c.tradeSymbols, ['BTCUSDT', 'ETHUSDT']);
});

test('a bad value stops start-up with a message naming the key', () => {
  const cases: [Record<string, string>, string][] = [
    [{ OPS_PORT: 'abc' }, 'OPS_PORT'],
    [{ OPS_PORT: '70000' }, 'OPS_PORT'],
    [{ MIN_NOTIONAL_USDT: '-1' }, 'MIN_NOTIONAL_USDT'],
    [{ MAX_NOTIONAL_USDT: '1', MIN_NOTIONAL_USDT: '5' }, 'MAX_NOTIONAL_USDT'],
    [{ TRADING_ENABLED: 'maybe' }, 'TRADING_ENABLED'],
    [{ TRADING_MODE: 'live' }, 'TRADING_MODE'],
    [{ TRADE_SYMBOLS: 'BTC/USDT' }, 'TRADE_SYMBOLS'],
    [{ OPS_API_TOKEN: 'short' }, 'OPS_API_TOKEN'],
    [{ MAX_ORDERS_PER_MIN: '1.5' }, 'MAX_ORDERS_PER_MIN'],
  ];
  for (const [env, key] of cases) {
    assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.key === key && e.message.includes(key), JSON.stringify(env));
  }
});

test('the shipped ops/policies.yaml is valid; bad policies name the key', () => {
  const p = parsePolicies(readFileSync(new URL('../../../ops/policies.yaml', import.meta.url), 'utf8'));
  assert.equal(p.dashboard_refresh_sec, 10);
  assert.throws(() => parsePolicies('max_concurrent_signals: -1'), /max_concurrent_signals/);
  assert.throws(() => parsePolicies('dashbord_refresh_sec: 5'), /unknown key "dashbord_refresh_sec"/);
  assert.throws(() => parsePolicies('a: [1, 2'), ValidationError);
  assert.throws(() => parsePolicies('- 1\n- 2'), /mapping/);
});

test('weights validation names each bad field', () => {
  const known = new Set(['a', 'b']);
  assert.deepEqual(validateWeights({ a: 0.5 }, known), []);
  const errs = validateWeights({ a: Number.NaN, b: 2, c: 0.1 }, known).map((e) => e.field);
  assert.deepEqual(errs.sort(), ['weights.a', 'weights.b', 'weights.c']);
  assert.throws(() => parseWeightsFile('{"weights": {"a": -1}}', known), /weights\.a/);
  assert.throws(() => parseWeightsFile('{', known), /not valid JSON/);
});

test('capital policy validation', () => {
  const p = parseCapitalPolicy(readFileSync(new URL('../../../ops/capital_policy.json', import.meta.url), 'utf8'));
  assert.ok(p.max_deployable_frac > 0 && p.max_deployable_frac <= 1);
  assert.throws(() => parseCapitalPolicy('{"max_deployable_frac": 2}'), /max_deployable_frac/);
  assert.throws(() => parseCapitalPolicy('{"freeze_until": "soon"}'), /freeze_until/);
});

test('HMM_ENGINES lists engines as NAME=URL', () => {
  assert.deepEqual(parseEngineEndpoints('engine_sim=http://engine_sim:8101/, engine_binance=http://engine_binance:8101'), [
    { name: 'engine_sim', url: 'http://engine_sim:8101' },
    { name: 'engine_binance', url: 'http://engine_binance:8101' },
  ]);
  assert.throws(() => parseEngineEndpoints('engine_sim'), /NAME=URL/);
  assert.throws(() => parseEngineEndpoints('a=ftp://x'), /http/);
  assert.throws(() => parseEngineEndpoints('a=http://x,a=http://y'), /twice/);
  assert.deepEqual(parseEngineEndpoints(''), []);
});
