// The start-up keys of market data and of the distributed deployment: safe defaults (synthetic
// bars, one process), and a bad value stops start-up naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/config.js';

test('defaults: synthetic bars, no Redis, no remote engines, engine_sim', () => {
  const c = loadConfig({});
  assert.deepEqual(c.marketData, { source: 'synthetic', timeframe: '1m', timeframeMs: 60_000, pollMs: 5_000 });
  assert.deepEqual(c.distributed, { redisUrl: null, engines: [], engineVenue: 'sim', engineName: 'engine_sim', enginesWaitSec: 60, replicaId: null });
});

test('MARKET_DATA=binance with a timeframe and poll interval; the engine name follows the venue', () => {
  const c = loadConfig({
    MARKET_DATA: 'binance', MARKET_TIMEFRAME: '1s', MARKET_POLL_MS: '250', ENGINE_VENUE: 'binance', REDIS_URL: 'redis://redis:6379/2',
    HMM_ENGINES: 'engine_sim=http://engine_sim:8101, engine_binance=http://engine_binance:8101/', OPS_REPLICA_ID: 'ops-a',
  });
  assert.deepEqual(c.marketData, { source: 'binance', timeframe: '1s', timeframeMs: 1_000, pollMs: 250 });
  assert.equal(c.distributed.engineName, 'engine_binance');
  assert.equal(c.distributed.redisUrl, 'redis://redis:6379/2');
  assert.deepEqual(c.distributed.engines, [{ name: 'engine_sim', url: 'http://engine_sim:8101' }, { name: 'engine_binance', url: 'http://engine_binance:8101' }]);
  assert.equal(c.distributed.replicaId, 'ops-a');
  assert.equal(loadConfig({ ENGINE_VENUE: 'binance', ENGINE_NAME: 'engine_binance_2' }).distributed.engineName, 'engine_binance_2');
});

test('a bad market-data or deployment value stops start-up naming the key', () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ MARKET_DATA: 'kraken' }, 'MARKET_DATA', /"synthetic" or "binance"/],
    [{ MARKET_TIMEFRAME: '7m' }, 'MARKET_TIMEFRAME', /one of 1s, 1m/],
    [{ MARKET_POLL_MS: '10' }, 'MARKET_POLL_MS', /≥ 100/],
    [{ ENGINE_VENUE: 'kraken' }, 'ENGINE_VENUE', /"sim" or "binance"/],
    [{ ENGINE_NAME: 'engine sim' }, 'ENGINE_NAME', /letters, digits/],
    [{ REDIS_URL: 'http://redis:6379' }, 'REDIS_URL', /redis:\/\//],
    [{ HMM_ENGINES: 'engine_sim' }, 'HMM_ENGINES', /expected NAME=URL/],
    [{ HMM_ENGINES: 'a=http://x:1,a=http://y:2' }, 'HMM_ENGINES', /listed twice/],
    [{ HMM_ENGINES: 'a=ftp://x' }, 'HMM_ENGINES', /http\(s\)/],
    [{ HMM_ENGINES_WAIT_SEC: '-1' }, 'HMM_ENGINES_WAIT_SEC', /≥ 0/],
    [{ OPS_REPLICA_ID: 'a#1' }, 'OPS_REPLICA_ID', /letters, digits/],
  ];
  for (const [env, key, message] of cases) {
    assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && err.key === key && message.test(err.message), `${key}: ${JSON.stringify(env)}`);
  }
});
