// The venue market-data feed over a scripted OHLCV source: only closed bars, in order, each
// once; a failed poll loses nothing; our symbols map onto the venue's; a symbol the venue
// lacks stops start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symbol } from '../../../src/core/ids.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { VenueFeed, closedBarsFrom, settleMarginMs, type OhlcvSource } from '../../../src/venues/ccxt/ccxtFeed.js';

const BTC = symbol('BTCUSDT');
const row = (ts: number, close: number, extra: Partial<{ open: number; high: number; low: number; volume: unknown }> = {}) =>
  [ts, extra.open ?? close, extra.high ?? close + 1, extra.low ?? close - 1, close, extra.volume ?? 5];

test('closedBarsFrom: the forming bar and anything not after the last one are left out; duplicates keep the later row', () => {
  const now = 10_000 + settleMarginMs(1_000); // the bar opening at 9000 has just closed
  const rows = [row(7_000, 100), row(8_000, 101), row(8_000, 102), row(9_000, 103), row(10_000, 104)];
  const bars = closedBarsFrom(rows, BTC, 1_000, now, 7_000);
  assert.deepEqual(bars.map((b) => [b.ts, b.close]), [[8_000, 102], [9_000, 103]]);
  assert.equal(closedBarsFrom(rows, BTC, 1_000, now - 1, null).at(-1)!.ts, 8_000, 'within the settle margin a bar is not final yet');
});

test('closedBarsFrom: bad rows are dropped; high/low always bracket open and close; volume is never negative', () => {
  const rows: unknown[][] = [
    [1_000, 'x', 1, 1, 1, 1], [2_000, 10, 11, 9, 0, 1], ['3000', 10, 11, 9, 10, 1], [4_000, '10.5', '10.4', '10.6', '10.5', '-3'], [5_000, 10, 12, 9, 11, '7.25'],
  ];
  const bars = closedBarsFrom(rows, BTC, 1_000, 60_000, null);
  assert.deepEqual(bars.map((b) => b.ts), [4_000, 5_000]);
  assert.deepEqual([bars[0]!.open, bars[0]!.high, bars[0]!.low, bars[0]!.volume], [10.5, 10.5, 10.5, 0]);
  assert.equal(bars[1]!.volume, 7.25);
  assert.equal(bars[1]!.symbol, BTC);
});

/** A venue whose 1 s klines close at 100 + index, with scriptable failures. */
function scripted(now: () => number): OhlcvSource & { failNext: number; calls: { symbol: string; since: number | undefined; limit: number | undefined }[] } {
  const src = {
    id: 'scripted',
    markets: { 'BTC/USDT': { base: 'BTC', quote: 'USDT', spot: true }, 'ETH/USDT': { base: 'ETH', quote: 'USDT', spot: true }, 'BTC/USDT:USDT': { base: 'BTC', quote: 'USDT', spot: false } } as Record<string, unknown>,
    failNext: 0,
    calls: [] as { symbol: string; since: number | undefined; limit: number | undefined }[],
    async loadMarkets() { return src.markets; },
    async fetchOHLCV(sym: string, _tf?: string, since?: number, limit?: number): Promise<unknown[][]> {
      src.calls.push({ symbol: sym, since, limit });
      if (src.failNext > 0) {
        src.failNext--;
        throw new Error('503 Service Unavailable');
      }
      const last = Math.floor(now() / 1000) * 1000; // the forming bar
      const first = since ?? last - ((limit ?? 500) - 1) * 1000;
      const out: unknown[][] = [];
      for (let ts = first; ts <= last; ts += 1000) out.push(row(ts, (sym.startsWith('BTC') ? 100 : 10) + ts / 1000));
      return out;
    },
  };
  return src;
}

test('VenueFeed: history, then each closed bar once, in order, catching up after failed polls', async () => {
  let clock = 100_500;
  const src = scripted(() => clock);
  const feed = await VenueFeed.open({ source: src, symbols: ['BTCUSDT', 'ETHUSDT'], timeframe: '1s', timeframeMs: 1_000, pollMs: 1_000, log: silentLogger(), now: () => clock });
  const history = await feed.history(5);
  // Five closed bars per symbol (95..99 s); 100 s is still forming.
  assert.deepEqual([...new Set(history.map((b) => b.ts))], [95_000, 96_000, 97_000, 98_000, 99_000]);
  assert.deepEqual(history.slice(0, 2).map((b) => b.symbol), ['BTCUSDT', 'ETHUSDT']);
  assert.equal(src.calls[0]!.symbol, 'BTC/USDT', 'our symbol mapped onto the spot market');

  clock = 101_200; // 100 s has closed
  assert.deepEqual((await feed.pollOnce()).map((b) => [b.symbol, b.ts]), [['BTCUSDT', 100_000], ['ETHUSDT', 100_000]]);
  assert.equal(src.calls.at(-1)!.since, 100_000, 'each poll asks from the bar after the last one');
  assert.deepEqual(await feed.pollOnce(), [], 'nothing new: nothing emitted');

  // BTC's request fails, then both of the next poll's, while four bars close: none is lost.
  src.failNext = 1;
  clock = 102_500;
  const partial = await feed.pollOnce(); // BTC fails, ETH answers
  assert.deepEqual(partial.map((b) => [b.symbol, b.ts]), [['ETHUSDT', 101_000]]);
  src.failNext = 2;
  clock = 105_300;
  assert.deepEqual(await feed.pollOnce(), []);
  const caught = await feed.pollOnce();
  assert.deepEqual(caught.filter((b) => b.symbol === 'BTCUSDT').map((b) => b.ts), [101_000, 102_000, 103_000, 104_000]);
  assert.deepEqual(caught.filter((b) => b.symbol === 'ETHUSDT').map((b) => b.ts), [102_000, 103_000, 104_000]);
  assert.equal(caught[0]!.close, 100 + 101);
});

test('VenueFeed: start() emits steps grouped by open time; stop() ends it', async () => {
  let clock = 50_500;
  const src = scripted(() => clock);
  const feed = await VenueFeed.open({ source: src, symbols: ['ETHUSDT', 'BTCUSDT'], timeframe: '1s', timeframeMs: 1_000, pollMs: 10, log: silentLogger(), now: () => clock });
  await feed.history(1);
  const steps: string[][] = [];
  feed.start((bars) => steps.push(bars.map((b) => `${b.symbol}@${b.ts}`)));
  assert.throws(() => feed.start(() => undefined), /already started/);
  clock = 52_500;
  const deadline = Date.now() + 2_000;
  while (steps.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await feed.close();
  assert.deepEqual(steps.slice(0, 2), [['BTCUSDT@50000', 'ETHUSDT@50000'], ['BTCUSDT@51000', 'ETHUSDT@51000']]);
  assert.equal(feed.running, false);
});

test('VenueFeed: a symbol the venue has no spot market for stops start-up, naming it', async () => {
  const src = scripted(() => 0);
  await assert.rejects(VenueFeed.open({ source: src, symbols: ['BTCUSDT', 'DOGEUSDT'], timeframe: '1s', timeframeMs: 1_000, pollMs: 100, log: silentLogger() }), /no spot market for DOGEUSDT/);
});
