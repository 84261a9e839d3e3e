// Whatever orders and bars arrive, the sim venue's books stay a spot exchange's books:
// nothing goes negative, no order overfills, every fill is on step and tick, and cash is
// exactly what the fills say it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Fixed, fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, type ClientOrderId } from '../../../src/core/ids.js';
import type { Fill, OrderSide, TimeInForce } from '../../../src/core/order.js';
import { SimVenue } from '../../../src/venues/sim/simVenue.js';
import { fillNotional } from '../../../src/venues/sim/matching.js';

const SYMS = [symbol('BTCUSDT'), symbol('ETHUSDT')] as const;
const START: Record<string, Fixed> = { USDT: fx('20000'), BTC: fx('0.2'), ETH: fx('3') };

type Op =
  | { kind: 'bar'; sym: 0 | 1; moveBps: number; rangeBps: number; volume: number }
  | { kind: 'order'; sym: 0 | 1; side: OrderSide; market: boolean; tif: TimeInForce; steps: number; offsetBps: number }
  | { kind: 'cancel'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('bar' as const), sym: fc.constantFrom(0 as const, 1 as const), moveBps: fc.integer({ min: -300, max: 300 }), rangeBps: fc.integer({ min: 0, max: 200 }), volume: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4000 }).map((x) => x / 100)) }),
  fc.record({
    kind: fc.constant('order' as const),
    sym: fc.constantFrom(0 as const, 1 as const),
    side: fc.constantFrom<OrderSide>('BUY', 'SELL'),
    market: fc.boolean(),
    tif: fc.constantFrom<TimeInForce>('GTC', 'IOC', 'FOK'),
    steps: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 40_000 })),
    offsetBps: fc.integer({ min: -150, max: 150 }),
  }),
  fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
);

test('balances never go negative, orders never overfill, fills conform and cash reconciles exactly', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 80, size: 'max' }), fc.integer({ min: 0, max: 1000 }), async (ops, seed) => {
      const v = new SimVenue({
        id: 'sim',
        seed,
        slippageJitterBps: 2,
        makerVolumeShare: 0.2,
        startingBalances: { USDT: '20000', BTC: '0.2', ETH: '3' },
      });
      const price = [60_000, 3_000];
      const ids: ClientOrderId[] = [];
      const requested = new Map<string, bigint>();
      const fills: Fill[] = [];
      v.onEvent((e) => {
        if (e.type === 'fill') fills.push(e.fill);
      });
      let ts = 0;
      // Both markets start with a price and a book, so most orders reach the matching code.
      v.onBar({ symbol: SYMS[0], ts, open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 20 });
      v.onBar({ symbol: SYMS[1], ts, open: 3_000, high: 3_000, low: 3_000, close: 3_000, volume: 300 });
      for (const op of ops) {
        if (op.kind === 'bar') {
          const open = price[op.sym]!;
          const close = Math.round(open * (1 + op.moveBps / 10_000) * 100) / 100;
          const high = Math.round(Math.max(open, close) * (1 + op.rangeBps / 10_000) * 100) / 100;
          const low = Math.round(Math.min(open, close) * (1 - op.rangeBps / 10_000) * 100) / 100;
          price[op.sym] = close;
          v.onBar({ symbol: SYMS[op.sym], ts: (ts += 60_000), open, high, low, close, volume: op.volume });
        } else if (op.kind === 'order') {
          const inst = v.instruments().get(SYMS[op.sym])!;
          const last = v.lastPrice(SYMS[op.sym]);
          const id = clientOrderId(`o${ids.length}`);
          ids.push(id);
          const limit = last === undefined ? fx('1') : ((((last * BigInt(10_000 + op.offsetBps)) / 10_000n) / inst.tickSize) * inst.tickSize) as Fixed;
          const qty = (inst.stepSize * BigInt(op.steps)) as Fixed;
          const r = v.submitNow({
            clientOrderId: id,
            symbol: SYMS[op.sym],
            side: op.side,
            type: op.market ? 'MARKET' : 'LIMIT',
            qty,
            price: op.market ? null : limit,
            timeInForce: op.market ? 'IOC' : op.tif,
          });
          if (r.kind === 'accepted') requested.set(id, qty);
          if (r.kind === 'accepted') for (const e of r.events) if (e.type === 'fill') fills.push(e.fill);
        } else if (ids.length > 0) {
          v.cancelNow(ids[op.pick % ids.length]!);
        }
        checkBooks(v, fills, requested);
      }
      // Every order's fills add up to what the venue reports, never beyond its quantity.
      for (const [id, qty] of requested) {
        const state = (await v.fetchOrder(id as ClientOrderId))!;
        const sum = fills.filter((f) => f.clientOrderId === id).reduce((a, f) => a + f.qty, 0n);
        assert.equal(sum, state.filledQty);
        assert.ok(sum <= qty);
        assert.equal(state.status === 'FILLED', sum === qty);
      }
      // With every resting order canceled nothing stays locked: no lock leaked or went missing.
      for (const o of await v.fetchOpenOrders()) assert.equal(v.cancelNow(o.clientOrderId).kind, 'canceled');
      for (const [asset, b] of v.balances()) assert.equal(b.locked, 0n, `${asset} still locked`);
      checkBooks(v, fills, requested);
    }),
    { numRuns: 300 },
  );
});

function checkBooks(v: SimVenue, fills: readonly Fill[], requested: ReadonlyMap<string, bigint>): void {
  const balances = v.balances();
  for (const [asset, b] of balances) {
    assert.ok(b.free >= 0n && b.locked >= 0n, `${asset} free ${b.free} locked ${b.locked}`);
  }
  const expected: Record<string, bigint> = { ...START };
  const byOrder = new Map<string, bigint>();
  for (const f of fills) {
    const inst = v.instruments().get(f.symbol)!;
    assert.ok(f.qty > 0n && f.qty % inst.stepSize === 0n, `fill qty ${f.qty} off step`);
    assert.ok(f.price > 0n && f.price % inst.tickSize === 0n, `fill price ${f.price} off tick`);
    const notional = fillNotional(f.qty, f.price);
    const sign = f.side === 'BUY' ? 1n : -1n;
    expected[inst.quote] = expected[inst.quote]! - sign * notional - f.fee;
    expected[inst.base] = expected[inst.base]! + sign * f.qty;
    byOrder.set(f.clientOrderId, (byOrder.get(f.clientOrderId) ?? 0n) + f.qty);
  }
  for (const [asset, amount] of Object.entries(expected)) {
    assert.equal(balances.get(asset)!.total, amount, `${asset} total vs Σ fills`);
  }
  assert.equal(new Set(fills.map((f) => f.tradeId)).size, fills.length, 'trade ids unique');
  for (const [id, sum] of byOrder) assert.ok(sum <= requested.get(id)!, `order ${id} filled ${sum} of ${requested.get(id)}`);
}
