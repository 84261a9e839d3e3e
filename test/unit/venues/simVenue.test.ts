// The sim venue behaves like a spot exchange: exact taker fills with fee and slippage,
// exchange-style rejections with codes, a book that runs out, resting GTC orders filled as
// maker by later bars, FOK/IOC semantics, balances with locks, and its own books on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fixed, fx, bps } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, type ClientOrderId } from '../../../src/core/ids.js';
import { instrument } from '../../../src/core/instrument.js';
import type { OrderSide, TimeInForce } from '../../../src/core/order.js';
import type { VenueEvent, VenueOrderRequest, VenueSubmitResult } from '../../../src/venues/venue.js';
import { SimVenue, type SimVenueOptions } from '../../../src/venues/sim/simVenue.js';

const BTC = symbol('BTCUSDT');
const ETH = symbol('ETHUSDT');
let idCounter = 0;
const nextId = (): ClientOrderId => clientOrderId(`c${++idCounter}`);

function venue(opts: Partial<SimVenueOptions> = {}): SimVenue {
  return new SimVenue({
    id: 'sim',
    slippageBps: 5,
    takerFeeBps: 10,
    makerFeeBps: 2,
    startingBalances: { USDT: '100000' },
    book: { fixedLevelQty: { BTCUSDT: '1', ETHUSDT: '10' }, levels: 5, levelSpacingBps: 2 },
    ...opts,
  });
}

function bar(price: number, over: Partial<{ ts: number; low: number; high: number; volume: number; sym: typeof BTC }> = {}) {
  return {
    symbol: over.sym ?? BTC,
    ts: over.ts ?? 1_000,
    open: price,
    high: over.high ?? price,
    low: over.low ?? price,
    close: price,
    volume: over.volume ?? 100,
  };
}

function req(side: OrderSide, qty: string, price: string | null = null, tif: TimeInForce = 'GTC', sym = BTC, id = nextId()): VenueOrderRequest {
  return { clientOrderId: id, symbol: sym, side, type: price === null ? 'MARKET' : 'LIMIT', qty: fx(qty), price: price === null ? null : fx(price), timeInForce: price === null ? 'IOC' : tif };
}

function accepted(r: VenueSubmitResult): readonly VenueEvent[] {
  assert.equal(r.kind, 'accepted', r.kind === 'rejected' ? `${r.code}: ${r.message}` : '');
  return r.kind === 'accepted' ? r.events : [];
}

function fillsOf(events: readonly VenueEvent[]): { qty: Fixed; price: Fixed; fee: Fixed; liquidity: string }[] {
  return events.flatMap((e) => (e.type === 'fill' ? [{ qty: e.fill.qty, price: e.fill.price, fee: e.fill.fee, liquidity: e.fill.liquidity }] : []));
}

const bal = (v: SimVenue, asset: string) => v.balances().get(asset)!;

test('a market buy fills at last + slippage as taker, with the exact fee, and settles balances', async () => {
  const v = venue();
  v.onBar(bar(60_000));
  const r = await v.submit(req('BUY', '0.5'));
  const events = accepted(r);
  // 60000 + 5 bps = 60030.00; notional 0.5 × 60030 = 30015; fee 10 bps = 30.015.
  assert.deepEqual(fillsOf(events), [{ qty: fx('0.5'), price: fx('60030'), fee: fx('30.015'), liquidity: 'TAKER' }]);
  assert.equal(bal(v, 'USDT').free, fx('69954.985'));
  assert.equal(bal(v, 'BTC').free, fx('0.5'));
  const sell = accepted(await v.submit(req('SELL', '0.2')));
  // 60000 − 5 bps = 59970; 0.2 × 59970 = 11994; fee 11.994.
  assert.deepEqual(fillsOf(sell), [{ qty: fx('0.2'), price: fx('59970'), fee: fx('11.994'), liquidity: 'TAKER' }]);
  assert.equal(bal(v, 'USDT').free, fx('69954.985') + fx('11994') - fx('11.994'));
  assert.equal(bal(v, 'BTC').free, fx('0.3'));
  const state = await v.fetchOrder((events[0] as { fill: { clientOrderId: ClientOrderId } }).fill.clientOrderId);
  assert.equal(state?.status, 'FILLED');
  assert.equal(state?.filledQty, fx('0.5'));
});

test('the last price is the bar close rounded to tick', () => {
  const v = venue();
  assert.equal(v.lastPrice(BTC), undefined);
  v.onBar(bar(60_000.126));
  assert.equal(v.lastPrice(BTC), fx('60000.13'));
});

test('exchange-style rejections carry a reason code', async () => {
  const v = new SimVenue({
    id: 'sim',
    instruments: [instrument(BTC, 'BTC', 'USDT', { stepSize: '0.00001', tickSize: '0.01', minQty: '0.001', minNotional: '5' })],
  });
  const code = async (r: VenueOrderRequest) => {
    const res = await v.submit(r);
    return res.kind === 'rejected' ? res.code : 'accepted';
  };
  assert.equal(await code(req('BUY', '0.01')), 'NO_MARKET_DATA');
  v.onBar(bar(60_000));
  assert.equal(await code(req('BUY', '0.01', null, 'IOC', symbol('XRPUSDT'))), 'UNKNOWN_SYMBOL');
  assert.equal(await code(req('BUY', '0.010005')), 'QTY_STEP');
  assert.equal(await code(req('BUY', '0.0005')), 'QTY_BELOW_MIN');
  assert.equal(await code(req('BUY', '0.01', '59000.005')), 'PRICE_TICK');
  assert.equal(await code(req('BUY', '0.001', '4000')), 'BELOW_VENUE_MIN_NOTIONAL');
  assert.equal(await code(req('BUY', '0')), 'INVALID_QTY');
  assert.equal(await code({ ...req('BUY', '0.01'), type: 'LIMIT' }), 'INVALID_PRICE');
  assert.equal(await code(req('BUY', '0.01', '59000')), 'accepted');
  // Rejected orders move no money.
  assert.equal(bal(v, 'USDT').total, fx('100000'));
});

test('a large market order walks the book in partial fills and the rest expires', async () => {
  const v = venue({ slippageBps: 1, book: { fixedLevelQty: { BTCUSDT: '0.1' }, levels: 3, levelSpacingBps: 2 } });
  v.onBar(bar(60_000));
  const r = req('BUY', '0.5');
  const events = accepted(await v.submit(r));
  // Levels at 1, 3 and 5 bps above 60000.
  assert.deepEqual(fillsOf(events).map((f) => [f.qty, f.price]), [
    [fx('0.1'), fx('60006')],
    [fx('0.1'), fx('60018')],
    [fx('0.1'), fx('60030')],
  ]);
  assert.deepEqual(events[3], { type: 'expired', clientOrderId: r.clientOrderId, ts: 1_000, reason: 'INSUFFICIENT_LIQUIDITY' });
  assert.equal(events.length, 4);
  const state = await v.fetchOrder(r.clientOrderId);
  assert.equal(state?.status, 'EXPIRED');
  assert.equal(state?.filledQty, fx('0.3'));
  // The book is spent for this bar; the next bar replenishes it.
  const again = accepted(await v.submit(req('BUY', '0.01')));
  assert.deepEqual(again.map((e) => e.type), ['expired']);
  v.onBar(bar(60_000, { ts: 2_000 }));
  assert.deepEqual(accepted(await v.submit(req('BUY', '0.01'))).map((e) => e.type), ['fill']);
});

test('book depth follows bar volume when no fixed depth is set', async () => {
  const v = venue({ book: { volumeShare: 0.1, levels: 5, levelSpacingBps: 2 } });
  v.onBar(bar(60_000, { volume: 10 })); // 1 BTC over 5 levels: 0.2 each
  const fills = fillsOf(accepted(await v.submit(req('BUY', '1.2'))));
  assert.equal(fills.length, 5);
  assert.ok(fills.every((f) => f.qty === fx('0.2')));
});

test('a GTC limit below the market rests, locks quote, and fills as maker when a later bar trades through', async () => {
  const v = venue();
  const got: VenueEvent[] = [];
  v.onEvent((e) => got.push(e));
  v.onBar(bar(60_000));
  const r = req('BUY', '0.1', '59000');
  assert.deepEqual(accepted(await v.submit(r)), []);
  // 5900 + 10 bps reserve for the fee.
  assert.equal(bal(v, 'USDT').locked, fx('5905.9'));
  assert.equal(bal(v, 'USDT').free, fx('94094.1'));
  assert.deepEqual((await v.fetchOpenOrders()).map((o) => [o.clientOrderId, o.status]), [[r.clientOrderId, 'OPEN']]);

  v.onBar(bar(59_500, { ts: 2_000, low: 59_000 })); // touches, does not trade through
  assert.equal(got.length, 0);
  const returned = v.onBar(bar(59_200, { ts: 3_000, low: 58_900 }));
  assert.equal(got.length, 1);
  assert.deepEqual(returned, got);
  assert.deepEqual(fillsOf(got), [{ qty: fx('0.1'), price: fx('59000'), fee: fx('1.18'), liquidity: 'MAKER' }]);
  assert.equal(got[0]!.type === 'fill' && got[0]!.fill.ts, 3_000);
  assert.equal(bal(v, 'USDT').locked, 0n);
  assert.equal(bal(v, 'USDT').free, fx('100000') - fx('5900') - fx('1.18'));
  assert.equal(bal(v, 'BTC').free, fx('0.1'));
  assert.equal((await v.fetchOrder(r.clientOrderId))?.status, 'FILLED');
  assert.deepEqual(await v.fetchOpenOrders(), []);
});

test('a resting order fills partially over several thin bars and releases its lock at the end', async () => {
  const v = venue({ makerVolumeShare: 0.05 });
  const got: VenueEvent[] = [];
  v.onEvent((e) => got.push(e));
  v.onBar(bar(3_000, { sym: ETH }));
  const r = req('SELL', '1', '3100', 'GTC', ETH);
  // Sell needs ETH: buy some first.
  accepted(await v.submit(req('BUY', '1', null, 'IOC', ETH)));
  accepted(await v.submit(r));
  assert.equal(bal(v, 'ETH').locked, fx('1'));
  let ts = 2_000;
  while ((await v.fetchOrder(r.clientOrderId))?.status === 'OPEN' && ts < 100_000) {
    v.onBar({ symbol: ETH, ts, open: 3_090, high: 3_150, low: 3_080, close: 3_120, volume: 5 }); // 0.125–0.375 ETH a bar
    ts += 1_000;
  }
  const fills = fillsOf(got);
  assert.ok(fills.length >= 3, `filled in ${fills.length} bars`);
  assert.equal(fills.reduce((s, f) => s + f.qty, 0n), fx('1'));
  assert.ok(fills.every((f) => f.price === fx('3100') && f.liquidity === 'MAKER'));
  assert.equal(bal(v, 'ETH').locked, 0n);
  assert.equal(bal(v, 'ETH').total, 0n);
});

test('a marketable GTC limit takes what the book offers up to its price, then rests the rest', async () => {
  const v = venue({ slippageBps: 1, book: { fixedLevelQty: { BTCUSDT: '0.1' }, levels: 3, levelSpacingBps: 2 } });
  v.onBar(bar(60_000));
  const r = req('BUY', '0.3', '60010');
  const fills = fillsOf(accepted(await v.submit(r)));
  assert.deepEqual(fills.map((f) => [f.qty, f.price, f.liquidity]), [[fx('0.1'), fx('60006'), 'TAKER']]);
  const open = await v.fetchOpenOrders();
  assert.equal(open.length, 1);
  assert.equal(open[0]!.filledQty, fx('0.1'));
  // The rest stays locked at its limit price.
  const reserve = fx('12002') + bps(fx('12002'), 10, 'up');
  assert.equal(bal(v, 'USDT').locked, reserve);
});

test('FOK is all or nothing; IOC fills what it can and expires the rest', async () => {
  const v = venue({ slippageBps: 1, book: { fixedLevelQty: { BTCUSDT: '0.1' }, levels: 3, levelSpacingBps: 2 } });
  v.onBar(bar(60_000));
  const fokBig = req('BUY', '0.5', '61000', 'FOK');
  assert.deepEqual(accepted(await v.submit(fokBig)), [{ type: 'expired', clientOrderId: fokBig.clientOrderId, ts: 1_000, reason: 'FOK_NOT_FILLABLE' }]);
  assert.equal(bal(v, 'USDT').total, fx('100000'));
  assert.equal(bal(v, 'BTC').total, 0n);
  assert.deepEqual(await v.fetchFills(fokBig.clientOrderId), []);

  const fok = req('BUY', '0.25', '61000', 'FOK');
  const f1 = fillsOf(accepted(await v.submit(fok)));
  assert.equal(f1.reduce((s, f) => s + f.qty, 0n), fx('0.25'));
  assert.equal((await v.fetchOrder(fok.clientOrderId))?.status, 'FILLED');

  v.onBar(bar(60_000, { ts: 2_000 }));
  const ioc = req('BUY', '0.5', '60020', 'IOC');
  const ev = accepted(await v.submit(ioc));
  assert.deepEqual(fillsOf(ev).map((f) => f.price), [fx('60006'), fx('60018')]);
  assert.equal(ev.at(-1)?.type, 'expired');
  assert.deepEqual(await v.fetchOpenOrders(), []);
  assert.equal(bal(v, 'USDT').locked, 0n);
});

test('cancel releases the lock; a second cancel and an unknown id are reported, not thrown', async () => {
  const v = venue();
  const got: VenueEvent[] = [];
  v.onEvent((e) => got.push(e));
  v.onBar(bar(60_000));
  const r = req('BUY', '0.2', '55000');
  accepted(await v.submit(r));
  assert.ok(bal(v, 'USDT').locked > 0n);
  const c = await v.cancel(r.clientOrderId);
  assert.equal(c.kind, 'canceled');
  assert.equal(bal(v, 'USDT').locked, 0n);
  assert.equal(bal(v, 'USDT').free, fx('100000'));
  assert.equal((await v.fetchOrder(r.clientOrderId))?.status, 'CANCELED');
  assert.equal((await v.cancel(r.clientOrderId)).kind, 'already_closed');
  assert.equal((await v.cancel(clientOrderId('nope'))).kind, 'not_found');
  // The cancel's result is its report; the listener is not told again.
  assert.equal(got.length, 0);
  v.onBar(bar(50_000, { ts: 2_000, low: 49_000 }));
  assert.deepEqual(await v.fetchFills(r.clientOrderId), []);
});

test('orders beyond free balance are refused, counting what resting orders lock', async () => {
  const v = venue();
  v.onBar(bar(60_000));
  const big = await v.submit(req('BUY', '2'));
  assert.equal(big.kind === 'rejected' && big.code, 'INSUFFICIENT_BALANCE');
  const short = await v.submit(req('SELL', '0.1'));
  assert.equal(short.kind === 'rejected' && short.code, 'INSUFFICIENT_BALANCE');
  accepted(await v.submit(req('BUY', '0.5')));
  accepted(await v.submit(req('SELL', '0.5', '70000'))); // locks all the BTC
  const more = await v.submit(req('SELL', '0.1', '70000'));
  assert.equal(more.kind === 'rejected' && more.code, 'INSUFFICIENT_BALANCE');
  // A limit buy must cover its full value at its limit.
  const free = bal(v, 'USDT').free;
  const tooMuch = await v.submit(req('BUY', '1.2', '59000'));
  assert.ok(fx('1.2') * fx('59000') / 100_000_000n > free);
  assert.equal(tooMuch.kind === 'rejected' && tooMuch.code, 'INSUFFICIENT_BALANCE');
});

test('a client order id the venue already has is refused; a rejected one may be reused', async () => {
  const v = venue();
  v.onBar(bar(60_000));
  const id = nextId();
  const r1 = await v.submit(req('BUY', '0.00001', null, 'IOC', BTC, id)); // below min notional
  assert.equal(r1.kind === 'rejected' && r1.code, 'BELOW_VENUE_MIN_NOTIONAL');
  accepted(await v.submit(req('BUY', '0.01', null, 'IOC', BTC, id)));
  const dup = await v.submit(req('BUY', '0.01', null, 'IOC', BTC, id));
  assert.equal(dup.kind === 'rejected' && dup.code, 'DUPLICATE_CLIENT_ORDER_ID');
  assert.equal((await v.fetchFills(id)).length, 1);
});

test('the same seed gives the same fills; another seed gives different ones', async () => {
  async function run(seed: number): Promise<string> {
    const v = new SimVenue({ id: 'sim', seed, slippageJitterBps: 3, startingBalances: { USDT: '1000000' } });
    const out: string[] = [];
    v.onEvent((e) => out.push(JSON.stringify(e, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))));
    let p = 60_000;
    for (let i = 0; i < 40; i++) {
      v.onBar({ symbol: BTC, ts: i * 60_000, open: p, high: p + 150, low: p - 150, close: p + 10, volume: 3 });
      p += 10;
      for (const e of accepted(await v.submit(req('BUY', '0.05', null, 'IOC', BTC, clientOrderId(`m${seed}-${i}`))))) out.push(JSON.stringify(e, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));
      accepted(await v.submit(req('BUY', '0.2', (p - 100).toFixed(2), 'GTC', BTC, clientOrderId(`l${seed}-${i}`))));
    }
    return out.join('\n').replaceAll(/[ml]\d+-/g, 'x-');
  }
  const a = await run(1);
  assert.equal(a, await run(1));
  assert.notEqual(a, await run(2));
  assert.ok(a.includes('"MAKER"') && a.includes('"TAKER"'));
});

test('a venue reopened on the same state file resumes orders, fills and balances', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'simvenue-'));
  const statePath = join(dir, 'sim.sqlite');
  try {
    const a = venue({ statePath });
    a.onBar(bar(60_000));
    const m = req('BUY', '0.5');
    accepted(await a.submit(m));
    const restBuy = req('BUY', '0.1', '59000');
    const restSell = req('SELL', '0.2', '61000');
    accepted(await a.submit(restBuy));
    accepted(await a.submit(restSell));
    const before = { open: await a.fetchOpenOrders(), balances: a.balances(), fills: await a.fetchFills(m.clientOrderId), last: a.lastPrice(BTC) };
    await a.close();

    const b = venue({ statePath, startingBalances: { USDT: '1' } }); // ignored when resuming
    assert.deepEqual(await b.fetchOpenOrders(), before.open);
    assert.deepEqual(b.balances(), before.balances);
    assert.deepEqual(await b.fetchFills(m.clientOrderId), before.fills);
    assert.equal(b.lastPrice(BTC), before.last);
    const dup = await b.submit({ ...req('BUY', '0.01'), clientOrderId: m.clientOrderId });
    assert.equal(dup.kind === 'rejected' && dup.code, 'DUPLICATE_CLIENT_ORDER_ID');
    // Resting orders keep working and trade ids stay unique.
    const got: VenueEvent[] = [];
    b.onEvent((e) => got.push(e));
    b.onBar(bar(58_800, { ts: 2_000, low: 58_700, high: 59_000 }));
    assert.equal(got.length, 1);
    const tradeIds = [...before.fills, ...got.flatMap((e) => (e.type === 'fill' ? [e.fill] : []))].map((f) => f.tradeId);
    assert.equal(new Set(tradeIds).size, tradeIds.length);
    await b.close();

    const c = venue({ statePath });
    assert.equal((await c.fetchOrder(restBuy.clientOrderId))?.status, 'FILLED');
    assert.deepEqual((await c.fetchOpenOrders()).map((o) => o.clientOrderId), [restSell.clientOrderId]);
    assert.deepEqual(c.balances(), b.balances());
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('latency delays submission by the configured time', async () => {
  const v = venue({ latencyMs: 25 });
  v.onBar(bar(60_000));
  const t0 = performance.now();
  accepted(await v.submit(req('BUY', '0.01')));
  assert.ok(performance.now() - t0 >= 20);
});

test('bad options stop construction with the key named', () => {
  assert.throws(() => venue({ takerFeeBps: -1 }), /takerFeeBps/);
  assert.throws(() => venue({ startingBalances: { USDT: 'lots' } }), /startingBalances\.USDT/);
  assert.throws(() => venue({ book: { levels: 0 } }), /book\.levels/);
});
