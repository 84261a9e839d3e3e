// MARKET_DATA=binance: a dry run on live data. The venue's public klines (the fake Binance over
// loopback, speaking /api/v3/klines) are the bars: they warm and drive the models and price the
// sim venue, which still executes every order. Nothing is ever sent to the exchange but public
// market-data requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { symbol } from '../../src/core/ids.js';
import type { Bar } from '../../src/core/marketData.js';
import type { Signal } from '../../src/core/signal.js';
import { startStack, type Stack } from '../../src/app/stack.js';
import { startEngineProcess, type EngineProcess } from '../../src/app/engineProcess.js';
import { DEFAULT_FAKE_SYMBOLS, FakeBinance } from '../support/fakeBinance.js';
import { http, until } from '../support/hmmProcess.js';

const TOKEN = 'test-token-0123456789abcdef';
const BTC = symbol('BTCUSDT');
// Prices far from the synthetic market's (60000 / 3000), so a bar's source is unmistakable.
const fake = new FakeBinance({
  apiKey: 'paperLiveKey0123456789', apiSecret: 'paperLiveSecret0123456789',
  symbols: DEFAULT_FAKE_SYMBOLS.map((s) => ({ ...s, price: s.symbol === 'BTCUSDT' ? '42000' : '2500' })),
});
// A faster wave than the default, so the MA model has something to say within seconds.
fake.klineClose = (_s, k, price) => price * (1 + 0.01 * Math.sin(k / 2));
const dirs: string[] = [];
let stack: Stack;
let engineProc: EngineProcess | null = null;
const bars: Bar[] = [];
const signals: Signal[] = [];
const near = (x: number, target: number, pct: number) => Math.abs(x - target) / target <= pct / 100;

before(async () => {
  const base = await fake.start();
  const root = mkdtempSync(join(tmpdir(), 'hmm-paperlive-'));
  dirs.push(root);
  stack = await startStack({
    env: {
      HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, WARMUP_BARS: '60', MARKET_INTERVAL_MS: '50',
      MARKET_DATA: 'binance', CCXT_API_BASE: base, MARKET_TIMEFRAME: '1s', MARKET_POLL_MS: '200',
    },
    stdout: false,
  });
  stack.bus.subscribe('market.bar', (b) => { bars.push(b); });
  stack.bus.subscribe('signal', (s) => { signals.push(s); });
});

after(async () => {
  await stack?.stop();
  await engineProc?.stop();
  await fake.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the venue\'s closed klines are the bars: warm-up and live, one per second, priced like the venue', async () => {
  // Warm-up came from the venue: the sim venue is priced at Binance's level, not the synthetic one.
  const px = Number(stack.engine.lastPriceString('BTCUSDT'));
  assert.ok(near(px, 42_000, 1.5), `BTCUSDT priced ${px}`);
  await until('three live steps', () => new Set(bars.map((b) => b.ts)).size >= 3, 8_000);
  const btc = bars.filter((b) => b.symbol === BTC);
  for (const b of btc) {
    assert.equal(b.ts % 1000, 0, 'bars open on the second, as the venue\'s 1s klines do');
    assert.ok(b.ts + 1000 <= Date.now(), 'only closed bars are emitted');
    assert.ok(near(b.close, 42_000, 1.5));
  }
  for (let i = 1; i < btc.length; i++) assert.equal(btc[i]!.ts - btc[i - 1]!.ts, 1000, 'no bar missed or repeated');
  // The sim venue trades at the last bar's close.
  const last = btc.at(-1)!;
  await until('the venue priced at the last bar', () => Math.abs(Number(stack.engine.lastPriceString('BTCUSDT')) - bars.filter((b) => b.symbol === BTC).at(-1)!.close) < 0.011, 3_000);
  assert.ok(last.volume > 0);
  const status = (await http('GET', `${stack.opsUrl}/status`)).body['state'] as { last_bar_at: string | null };
  assert.ok(status.last_bar_at !== null && Date.now() - Date.parse(status.last_bar_at) < 3_000);
});

test('the models trade on the venue\'s bars, and orders fill on the sim venue only', async () => {
  // The MA model re-states its view on its first live bar: a signal stamped with a venue bar's time.
  const sig = await until('an MA signal on a venue bar', () => signals.find((s) => s.model === 'ma_crossover_v1' && bars.some((b) => b.ts === s.ts && b.symbol === s.symbol)), 10_000);
  assert.ok(sig);
  const r = await http('POST', `${stack.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 100 }, TOKEN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const order = r.body['order'] as { status: string; avg_price: string; venue: string };
  assert.equal(order.status, 'FILLED');
  assert.equal(order.venue, 'sim');
  assert.ok(near(Number(order.avg_price), 42_000, 1.5), `filled at ${order.avg_price}`);

  // The price moves at the venue: the bars, the sim venue and the fills follow.
  fake.setPrice('BTCUSDT', '45000');
  await until('bars at the new level', () => near(bars.filter((b) => b.symbol === BTC).at(-1)!.close, 45_000, 1.5), 8_000);
  const r2 = await http('POST', `${stack.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 100 }, TOKEN);
  assert.ok(near(Number((r2.body['order'] as { avg_price: string }).avg_price), 45_000, 1.5));

  // A dry run: the exchange saw market-data requests only.
  assert.equal(fake.orders.length, 0);
  const paths = new Set(fake.requests.map((q) => `${q.method} ${q.path}`));
  assert.ok(paths.has('GET /klines'));
  for (const p of paths) assert.ok(['GET /exchangeInfo', 'GET /klines'].includes(p), `unexpected request ${p}`);
});

test('`hmm engine --venue sim` with MARKET_DATA=binance serves the venue\'s bars to a control plane', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-paperlive-engine-'));
  dirs.push(root);
  engineProc = await startEngineProcess({
    env: { HMM_ROOT: root, ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, WARMUP_BARS: '30', TRADE_SYMBOLS: 'BTCUSDT', MARKET_DATA: 'binance', CCXT_API_BASE: fake.base, MARKET_TIMEFRAME: '1s', MARKET_POLL_MS: '200' },
    stdout: false,
  });
  const warm = (await http('GET', `${engineProc.url}/bars?limit=30`)).body['bars'] as Bar[];
  assert.equal(warm.length, 30);
  assert.ok(warm.every((b) => b.symbol === 'BTCUSDT' && near(b.close, 45_000, 1.5)));
  const price = (await http('GET', `${engineProc.url}/prices/BTCUSDT`)).body as { price: string };
  assert.ok(near(Number(price.price), 45_000, 1.5));
  assert.equal((await http('GET', `${engineProc.url}/prices/ETHUSDT`)).status, 404, 'the engine trades only its TRADE_SYMBOLS');
  const h = (await http('GET', `${engineProc.url}/health`)).body;
  assert.match(String(h['market_data']), /binance 1s OHLCV/);
});
