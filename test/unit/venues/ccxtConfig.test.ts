// Live-venue configuration: keys from the environment or files, never printable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '../../../src/config/config.js';
import { credentialKeys, loadCcxtVenueConfig, parseApiBase } from '../../../src/venues/ccxt/ccxtConfig.js';
import { rewriteApiUrls } from '../../../src/venues/ccxt/ccxtVenue.js';

test('credentials from the environment, defaults for the rest', () => {
  const c = loadCcxtVenueConfig('binance', { BINANCE_API_KEY: 'key-123456', BINANCE_API_SECRET: 'secret-123456' });
  assert.equal(c.credentials?.apiKey.reveal(), 'key-123456');
  assert.equal(c.credentials?.secret.reveal(), 'secret-123456');
  assert.equal(c.credentials?.password, null);
  assert.doesNotMatch(`${JSON.stringify(c)}\n${inspect(c, { depth: null })}`, /123456/, 'the config prints whole without its credentials');
  assert.deepEqual(c.symbols, ['BTCUSDT', 'ETHUSDT']);
  assert.equal(c.recvWindowMs, 5000);
  assert.equal(c.pollIntervalMs, 2000);
  assert.equal(c.staleAfterMs, 15000);
  assert.equal(c.apiBase, null);
  assert.equal(c.sandbox, false);
  assert.equal(loadCcxtVenueConfig('binance', {}).credentials, null, 'market data only without keys');
});

test('credentials from files (Docker secrets), trailing newline dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-ccxt-cfg-'));
  try {
    writeFileSync(join(dir, 'k'), 'file-key-123\n');
    writeFileSync(join(dir, 's'), 'file-secret-456\n');
    const c = loadCcxtVenueConfig('kraken', { KRAKEN_API_KEY_FILE: join(dir, 'k'), KRAKEN_API_SECRET_FILE: join(dir, 's'), TRADE_SYMBOLS: 'btcusd' });
    assert.equal(c.credentials?.apiKey.reveal(), 'file-key-123');
    assert.equal(c.credentials?.secret.reveal(), 'file-secret-456');
    assert.deepEqual(c.symbols, ['BTCUSD']);
    assert.throws(() => loadCcxtVenueConfig('kraken', { KRAKEN_API_KEY_FILE: join(dir, 'missing'), KRAKEN_API_SECRET: 'x' }), (e: unknown) => e instanceof ConfigError && e.key === 'KRAKEN_API_KEY_FILE' && /ENOENT/.test(e.message));
    writeFileSync(join(dir, 'empty'), '\n');
    assert.throws(() => loadCcxtVenueConfig('kraken', { KRAKEN_API_KEY_FILE: join(dir, 'empty'), KRAKEN_API_SECRET: 'x' }), (e: unknown) => e instanceof ConfigError && e.key === 'KRAKEN_API_KEY_FILE' && /is empty/.test(e.message));
    assert.throws(() => loadCcxtVenueConfig('kraken', { KRAKEN_API_KEY: 'file-key-123', KRAKEN_API_SECRET: ' \t ' }), (e: unknown) => e instanceof ConfigError && e.key === 'KRAKEN_API_SECRET' && /white space/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad configuration stops start-up naming the key', () => {
  const bad = (env: Record<string, string>, key: string, re: RegExp, venue = 'binance') =>
    assert.throws(() => loadCcxtVenueConfig(venue, env), (e: unknown) => e instanceof ConfigError && e.key === key && re.test(e.message));
  bad({ BINANCE_API_KEY: 'a', BINANCE_API_KEY_FILE: '/x', BINANCE_API_SECRET: 'b' }, 'BINANCE_API_KEY', /not both/);
  bad({ BINANCE_API_KEY: 'a' }, 'BINANCE_API_SECRET', /required together/);
  bad({}, 'venue', /not a ccxt exchange id/, 'notanexchange');
  bad({ CCXT_API_BASE: 'ftp://x' }, 'CCXT_API_BASE', /http/);
  bad({ CCXT_RECV_WINDOW_MS: '70000' }, 'CCXT_RECV_WINDOW_MS', /between/);
  bad({ CCXT_POLL_MS: 'fast' }, 'CCXT_POLL_MS', /integer/);
  bad({ CCXT_OPTIONS_JSON: '{nope' }, 'CCXT_OPTIONS_JSON', /not valid JSON/);
  bad({ CCXT_OPTIONS_JSON: '[1]' }, 'CCXT_OPTIONS_JSON', /object/);
  bad({ CCXT_SANDBOX: 'maybe' }, 'CCXT_SANDBOX', /true or false/);
  bad({ TRADE_SYMBOLS: 'BTC/USDT' }, 'TRADE_SYMBOLS', /invalid symbol/);
  assert.deepEqual(loadCcxtVenueConfig('binance', { CCXT_OPTIONS_JSON: '{"adjustForTimeDifference":true}' }).exchangeOptions, { adjustForTimeDifference: true });
  assert.deepEqual(credentialKeys('bybit'), ['BYBIT_API_KEY', 'BYBIT_API_KEY_FILE', 'BYBIT_API_SECRET', 'BYBIT_API_SECRET_FILE', 'BYBIT_API_PASSWORD', 'BYBIT_API_PASSWORD_FILE']);
});

test('the API base replaces scheme and host of every endpoint, keeping paths', () => {
  assert.equal(parseApiBase('http://127.0.0.1:9000/'), 'http://127.0.0.1:9000');
  assert.deepEqual(rewriteApiUrls({ public: 'https://api.binance.com/api/v3', sapi: 'https://api.binance.com/sapi/v1', nested: { spot: 'https://api.{hostname}' } }, 'http://127.0.0.1:9000'), {
    public: 'http://127.0.0.1:9000/api/v3', sapi: 'http://127.0.0.1:9000/sapi/v1', nested: { spot: 'http://127.0.0.1:9000' },
  });
});
