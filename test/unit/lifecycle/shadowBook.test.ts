// The shadow book fills paper orders on the sim venue's terms: the same order through the
// real SimVenue and through the shadow book gets the same price and fee; paper positions
// survive a restart; a signal replayed under an id already executed is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx, toDecimalString } from '../../../src/core/decimal.js';
import { clientOrderId, modelId, symbol } from '../../../src/core/ids.js';
import type { Bar } from '../../../src/core/marketData.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { ShadowBook } from '../../../src/lifecycle/shadowBook.js';
import { DEFAULT_SIM_INSTRUMENTS, SimVenue } from '../../../src/venues/sim/simVenue.js';

const BTC = symbol('BTCUSDT');
const instruments = new Map(DEFAULT_SIM_INSTRUMENTS.map((i) => [i.symbol as string, { stepSize: i.stepSize, tickSize: i.tickSize }]));
const bar: Bar = { symbol: BTC, ts: 1_700_000_000_000, open: 60_000, high: 60_100, low: 59_900, close: 60_012.34, volume: 3 };

function book(path: string | null, quota = 5000) {
  return new ShadowBook({
    path, instruments, takerFeeBps: 10, slippageBps: 2, minNotionalUsd: fx('10'), maxNotionalUsd: fx('2000'),
    quota: () => quota, log: silentLogger(),
  });
}

test('a paper BUY fills at the prices and fees the sim venue charges the same order', async () => {
  const shadow = book(null);
  shadow.onBar(bar);
  const out = shadow.execute({ model: modelId('m'), symbol: BTC, action: 'BUY', strength: 1, targetExposure: 0.3, ts: bar.ts });
  assert.equal(out.outcome, 'filled');
  if (out.outcome !== 'filled') return;
  const qty = out.fills.reduce((a, f) => a + f.qty, 0n);
  // 0.3 × 5000 = 1500 USDT, clipped by nothing, rounded down to the step.
  assert.equal(toDecimalString(qty as ReturnType<typeof fx>), '0.02499');

  const venue = new SimVenue({ id: 'sim', takerFeeBps: 10, slippageBps: 2, startingBalances: { USDT: '100000' } });
  venue.onBar(bar);
  const res = await venue.submit({ clientOrderId: clientOrderId('x1'), symbol: BTC, side: 'BUY', type: 'MARKET', qty: qty as ReturnType<typeof fx>, price: null, timeInForce: 'IOC' });
  assert.equal(res.kind, 'accepted');
  if (res.kind !== 'accepted') return;
  const venueFills = res.events.flatMap((e) => (e.type === 'fill' ? [e.fill] : []));
  assert.deepEqual(out.fills.map((f) => [f.qty, f.price, f.fee]), venueFills.map((f) => [f.qty, f.price, f.fee]));
  await venue.close();

  const v = shadow.view('m');
  assert.equal(v.fills, out.fills.length);
  assert.ok(v.pnl < 0, 'fresh position is down by slippage and fees');
  assert.ok(Math.abs(v.exposure_usd - 1500) < 2);
});

test('selling to flat and the min-notional rule match the router', () => {
  const shadow = book(null, 1500); // target within MAX_NOTIONAL: one order reaches it
  shadow.onBar(bar);
  shadow.execute({ model: modelId('m'), symbol: BTC, action: 'BUY', strength: 1, targetExposure: 1, ts: bar.ts });
  const tiny = shadow.execute({ model: modelId('m'), symbol: BTC, action: 'BUY', strength: 1, targetExposure: 1, ts: bar.ts + 1 });
  assert.deepEqual(tiny, { outcome: 'skipped', reason: 'BELOW_MIN_NOTIONAL' }); // already at target
  const exit = shadow.execute({ model: modelId('m'), symbol: BTC, action: 'SELL', strength: 1, targetExposure: 0, ts: bar.ts + 2 });
  assert.equal(exit.outcome, 'filled');
  assert.equal(shadow.qty('m', 'BTCUSDT'), 0n);
  assert.deepEqual(shadow.execute({ model: modelId('m'), symbol: symbol('SOLUSDT'), action: 'BUY', strength: 1, ts: 1 }), { outcome: 'skipped', reason: 'NO_INSTRUMENT' });
});

test('paper positions persist across a restart; an unreadable file starts flat', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shadow-'));
  try {
    const path = join(dir, 'shadow_book.json');
    const a = book(path);
    a.onBar(bar);
    a.execute({ model: modelId('m'), symbol: BTC, action: 'BUY', strength: 1, targetExposure: 0.2, ts: bar.ts });
    const before = a.view('m');
    a.close();
    const b = book(path);
    b.onBar(bar);
    assert.deepEqual(b.view('m'), before);
    writeFileSync(path, '{ not json');
    const c = book(path);
    assert.equal(c.view('m').fills, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a signal id already executed is refused as DUPLICATE and books nothing; a new id is taken, also after a restore', () => {
  const shadow = book(null);
  shadow.onBar(bar);
  const buy = { model: modelId('m'), symbol: BTC, action: 'BUY' as const, strength: 1, targetExposure: 0.3, ts: bar.ts };
  const exit = { model: modelId('m'), symbol: BTC, action: 'SELL' as const, strength: 1, targetExposure: 0, ts: bar.ts + 1 };
  assert.equal(shadow.execute(buy, 'ev-1').outcome, 'filled');
  const held = shadow.qty('m', 'BTCUSDT');
  const before = shadow.view('m');
  assert.ok(held > 0n);

  // The exit would fill (it does below under a new id): under a replayed id it is refused.
  assert.deepEqual(shadow.execute(exit, 'ev-1'), { outcome: 'skipped', reason: 'DUPLICATE' });
  assert.deepEqual(shadow.execute(buy, 'ev-1'), { outcome: 'skipped', reason: 'DUPLICATE' });
  assert.equal(shadow.qty('m', 'BTCUSDT'), held, 'a duplicate books nothing');
  assert.deepEqual(shadow.view('m'), before);

  // Another replica restored from this book's snapshot refuses the ids this one executed.
  const replica = book(null);
  replica.restore(shadow.snapshot());
  assert.deepEqual(replica.execute(exit, 'ev-1'), { outcome: 'skipped', reason: 'DUPLICATE' });
  assert.equal(replica.qty('m', 'BTCUSDT'), held);

  // The counterpart: a new id is executed, on both.
  const out = shadow.execute(exit, 'ev-2');
  assert.ok(out.outcome === 'filled', 'a new id is executed');
  assert.equal(shadow.qty('m', 'BTCUSDT'), 0n);
  assert.equal(shadow.view('m').fills, before.fills + out.fills.length);
  assert.equal(replica.execute(exit, 'ev-2').outcome, 'filled');
  assert.equal(replica.qty('m', 'BTCUSDT'), 0n);
  assert.deepEqual(shadow.execute(exit, 'ev-2'), { outcome: 'skipped', reason: 'DUPLICATE' });
});
