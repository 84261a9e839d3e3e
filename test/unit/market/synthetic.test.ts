// The synthetic market: reproducible for a seed, regimes that switch and differ, prices
// that stay positive and plausible over a long backtest, and bars that are valid OHLC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyntheticMarket, SyntheticFeed, REGIME_NAMES, type RegimeName } from '../../../src/market/synthetic.js';
import type { Bar } from '../../../src/core/marketData.js';

test('the same seed gives identical bars; a different seed does not', () => {
  const a = new SyntheticMarket({ seed: 42 }).generate(5_000);
  const b = new SyntheticMarket({ seed: 42 }).generate(5_000);
  const c = new SyntheticMarket({ seed: 43 }).generate(5_000);
  assert.deepEqual(a, b);
  assert.equal(a.length, 10_000);
  assert.notDeepEqual(a.map((x) => x.close), c.map((x) => x.close));
});

test('each step gives one bar per symbol at the same open time, advancing by the interval', () => {
  const m = new SyntheticMarket({ seed: 1, intervalMs: 5_000, startTs: 1_000_000 });
  const s1 = m.nextBars();
  const s2 = m.nextBars();
  assert.deepEqual(s1.map((b) => b.symbol), ['BTCUSDT', 'ETHUSDT']);
  assert.deepEqual(s1.map((b) => b.ts), [1_000_000, 1_000_000]);
  assert.deepEqual(s2.map((b) => b.ts), [1_005_000, 1_005_000]);
  // Continuous trading: a bar opens where the previous one closed.
  assert.equal(s2[0]!.open, s1[0]!.close);
  assert.ok(Math.abs(s1[0]!.open - 60_000) < 600, `BTC starts near 60000, got ${s1[0]!.open}`);
  assert.ok(Math.abs(s1[1]!.open - 3_000) < 30, `ETH starts near 3000, got ${s1[1]!.open}`);
});

test('regimes switch every few hundred bars and the volatile regime is more volatile than calm', () => {
  const m = new SyntheticMarket({ seed: 7 });
  const sums = new Map<RegimeName, { n: number; s: number; ss: number }>();
  for (const r of REGIME_NAMES) sums.set(r, { n: 0, s: 0, ss: 0 });
  let switches = 0;
  let prev = m.regimeOf('BTCUSDT');
  const steps = 200_000;
  for (let i = 0; i < steps; i++) {
    const regime = m.regimeOf('BTCUSDT')!;
    if (regime !== prev) switches++;
    prev = regime;
    const bar = m.nextBars()[0]!;
    const r = Math.log(bar.close / bar.open);
    const acc = sums.get(regime)!;
    acc.n++;
    acc.s += r;
    acc.ss += r * r;
  }
  const meanLength = steps / switches;
  assert.ok(meanLength > 150 && meanLength < 1_500, `mean regime length ${meanLength.toFixed(0)} bars`);
  const std = (r: RegimeName): number => {
    const a = sums.get(r)!;
    assert.ok(a.n > 5_000, `${r} visited only ${a.n} bars`);
    return Math.sqrt(a.ss / a.n - (a.s / a.n) ** 2);
  };
  assert.ok(std('volatile') > 2 * std('calm'), `volatile ${std('volatile')} vs calm ${std('calm')}`);
  // Trending regimes drift their way.
  const mean = (r: RegimeName): number => sums.get(r)!.s / sums.get(r)!.n;
  assert.ok(mean('trending-up') > 0 && mean('trending-down') < 0);
});

test('realised volatility is crypto-like and the two symbols are mildly correlated', () => {
  const m = new SyntheticMarket({ seed: 3 });
  const n = 100_000;
  const rb: number[] = [];
  const re: number[] = [];
  for (let i = 0; i < n; i++) {
    const [b, e] = m.nextBars() as [Bar, Bar];
    rb.push(Math.log(b.close / b.open));
    re.push(Math.log(e.close / e.open));
  }
  const meanB = rb.reduce((x, y) => x + y, 0) / n;
  const meanE = re.reduce((x, y) => x + y, 0) / n;
  let vb = 0, ve = 0, cov = 0;
  for (let i = 0; i < n; i++) {
    vb += (rb[i]! - meanB) ** 2;
    ve += (re[i]! - meanE) ** 2;
    cov += (rb[i]! - meanB) * (re[i]! - meanE);
  }
  const annual = Math.sqrt((vb / n) * 525_600);
  assert.ok(annual > 0.5 && annual < 1.0, `BTC annualised vol ${annual.toFixed(2)}`);
  const corr = cov / Math.sqrt(vb * ve);
  assert.ok(corr > 0.3 && corr < 0.85, `correlation ${corr.toFixed(2)}`);
});

test('over a million bars prices stay positive and sane, and every bar is valid OHLC', () => {
  const m = new SyntheticMarket({ seed: 11 });
  let count = 0;
  let bad = '';
  const range = new Map<string, [number, number]>();
  m.forEachBar(500_000, (b) => {
    count++;
    if (!(b.low > 0 && b.low <= b.open && b.low <= b.close && b.high >= b.open && b.high >= b.close && b.volume >= 0)) {
      if (bad === '') bad = JSON.stringify(b);
    }
    const r = range.get(b.symbol) ?? [Infinity, 0];
    range.set(b.symbol, [Math.min(r[0], b.low), Math.max(r[1], b.high)]);
  });
  assert.equal(count, 1_000_000);
  assert.equal(bad, '', `invalid bar ${bad}`);
  const [btcLo, btcHi] = range.get('BTCUSDT')!;
  const [ethLo, ethHi] = range.get('ETHUSDT')!;
  assert.ok(btcLo > 6_000 && btcHi < 600_000, `BTC range ${btcLo}..${btcHi}`);
  assert.ok(ethLo > 300 && ethHi < 30_000, `ETH range ${ethLo}..${ethHi}`);
});

test('bad options are refused with a message naming the option', () => {
  assert.throws(() => new SyntheticMarket({ seed: 1, intervalMs: 0 }), /intervalMs/);
  assert.throws(() => new SyntheticMarket({ seed: 1, symbols: ['DOGEUSDT'] }), /DOGEUSDT/);
  assert.throws(() => new SyntheticMarket({ seed: 1, correlation: 1 }), /correlation/);
});

test('the live feed emits steps on its timer and stops', async () => {
  const feed = new SyntheticFeed({ market: { seed: 5 }, emitEveryMs: 5 });
  const twin = new SyntheticMarket({ seed: 5 });
  const got: (readonly Bar[])[] = [];
  await new Promise<void>((resolve) => {
    feed.start((bars) => {
      got.push(bars);
      if (got.length === 3) resolve();
    });
  });
  feed.stop();
  assert.equal(feed.running, false);
  const n = got.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(got.length, n, 'no bars after stop');
  assert.deepEqual(got[0], twin.nextBars());
  assert.deepEqual(got[1], twin.nextBars());
});
