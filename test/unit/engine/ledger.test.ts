// The SQLite ledger as the source of truth after a crash: it knows whether it is new, checks
// its own consistency, opens read-only for exports and backups, and a damaged file is refused
// with a message naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, symbol, venueId } from '../../../src/core/ids.js';
import type { Fill, Order } from '../../../src/core/order.js';
import { replayFills } from '../../../src/core/portfolio.js';
import { Ledger, LedgerOpenError } from '../../../src/engine/ledger.js';

const BTC = symbol('BTCUSDT');
const order = (id: string, filled = '0'): Order => ({
  clientOrderId: clientOrderId(id), symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('1'), price: null, timeInForce: 'IOC', model: null,
  venue: venueId('sim'), status: filled === '0' ? 'ACCEPTED' : 'FILLED', filledQty: fx(filled), filledNotional: fx('0'), fees: fx('0'), venueOrderId: 'v', rejectReason: null, createdAt: 1, updatedAt: 1,
});
const fill = (trade: string, id: string, qty: string, price = '100', side: 'BUY' | 'SELL' = 'BUY'): Fill => ({
  tradeId: trade, clientOrderId: clientOrderId(id), venue: venueId('sim'), symbol: BTC, side, qty: fx(qty), price: fx(price), fee: fx('0.01'), liquidity: 'TAKER', model: null, ts: 1,
});

function withDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmm-ledger-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('existed: false on the first open, true on every later one', withDir((dir) => {
  const p = join(dir, 'l.sqlite');
  const a = new Ledger(p);
  assert.equal(a.existed, false);
  a.startingCash(fx('1000'));
  a.close();
  const b = new Ledger(p);
  assert.equal(b.existed, true);
  assert.equal(b.startingCash(fx('5')), fx('1000'), 'starting cash is fixed at creation');
  b.close();
}));

test('fills are de-duplicated by venue trade id; high water moves with every commit', withDir((dir) => {
  const l = new Ledger(join(dir, 'l.sqlite'));
  l.insertOrder(order('a'), 'h');
  const h0 = l.highWater();
  assert.equal(l.insertFill(fill('t1', 'a', '0.5')), true);
  assert.equal(l.insertFill(fill('t1', 'a', '0.5')), false);
  assert.equal(l.hasTrade('sim', 't1'), true);
  assert.equal(l.hasTrade('sim', 't2'), false);
  assert.equal(l.highWater().fills, h0.fills + 1);
  l.updateOrder({ ...order('a', '0.5'), status: 'PARTIALLY_FILLED' });
  assert.equal(l.highWater().events, h0.events + 1);
  l.close();
}));

test('consistency check: an order whose filled quantity disagrees with its fills, and a fill without an order', withDir((dir) => {
  const l = new Ledger(join(dir, 'l.sqlite'));
  l.insertOrder(order('a', '1'), 'h');
  l.insertFill(fill('t1', 'a', '1'));
  assert.deepEqual(l.consistencyProblems(), []);
  l.insertOrder(order('b', '1'), 'h');
  l.insertFill(fill('t2', 'b', '0.4'));
  l.insertFill(fill('t3', 'ghost', '0.1'));
  const problems = l.consistencyProblems();
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /order b: filled_qty 1 but its fills sum to 0\.4/);
  assert.match(problems[1]!, /fill t3 belongs to no order/);
  assert.deepEqual(l.quickCheck(), ['ok']);
  l.close();
}));

test('read-only open: reads while a writer is open, never writes', withDir((dir) => {
  const p = join(dir, 'l.sqlite');
  const w = new Ledger(p);
  w.startingCash(fx('1000'));
  w.insertOrder(order('a', '1'), 'h');
  w.insertFill(fill('t1', 'a', '1'));
  // Group commit: other connections see the writes once this turn's batch is committed.
  const before = new Ledger(p, 'normal', { readonly: true });
  assert.equal([...before.fills()].length, 0);
  before.close();
  w.flush();
  const r = new Ledger(p, 'normal', { readonly: true });
  assert.equal(r.storedStartingCash(), fx('1000'));
  assert.equal([...r.fills()].length, 1);
  assert.throws(() => r.insertFill(fill('t2', 'a', '1')), /readonly/i);
  r.close();
  w.close();
  assert.throws(() => new Ledger(join(dir, 'missing.sqlite'), 'normal', { readonly: true }), LedgerOpenError);
}));

test('a damaged ledger file is refused with a message naming the file and the way out', withDir((dir) => {
  const p = join(dir, 'engine_sim.ledger.sqlite');
  writeFileSync(p, 'this is not a database, it is a text file that got copied over the ledger'.repeat(100));
  assert.throws(() => new Ledger(p), (err: Error) => {
    assert.ok(err instanceof LedgerOpenError);
    assert.match(err.message, /engine_sim\.ledger\.sqlite cannot be opened: file is not a database/);
    assert.match(err.message, /hmm restore/);
    return true;
  });
}));

test('property: a ledger reopened after any sequence of fills replays to the same portfolio', withDir(async (dir) => {
  let n = 0;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ side: fc.constantFrom('BUY' as const, 'SELL' as const), qty: fc.integer({ min: 1, max: 10_000 }), price: fc.integer({ min: 1, max: 1_000_000 }) }), { minLength: 1, maxLength: 30 }),
    async (rows) => {
      const p = join(dir, `p${n++}.sqlite`);
      const l = new Ledger(p);
      l.startingCash(fx('1000000'));
      l.insertOrder(order('o'), 'h');
      const fills = rows.map((r, i) => fill(`t${i}`, 'o', (r.qty / 10_000).toFixed(4), (r.price / 100).toFixed(2), r.side));
      for (const f of fills) l.insertFill(f);
      const live = replayFills(fx('1000000'), fills);
      l.close();
      const again = new Ledger(p, 'normal', { readonly: true });
      const replayed = replayFills(again.storedStartingCash()!, again.fills());
      again.close();
      assert.equal(replayed.cash, live.cash);
      assert.deepEqual(replayed.positions, live.positions);
      assert.equal(replayed.realizedPnl, live.realizedPnl);
    },
  ), { numRuns: 25 });
}));

test('intent journal: an order journaled but never committed is recorded NEW at the next open, even one in flight across compactions; committed ones are not repeated', withDir(async (dir) => {
  const p = join(dir, 'l.sqlite');
  const a = new Ledger(p, 'normal');
  a.startingCash(fx('1000'));
  const fresh = (id: string): Order => ({ ...order(id), status: 'NEW', venueOrderId: null, model: 'ma' as Order['model'] });
  // An order still at the venue (its answer has not come back) while everything else commits.
  a.recordIntent(fresh('in-flight'), 'hf');
  // Well over 1 MB of intents: every 50 the rows commit, so the journal is compacted several times.
  for (let i = 0; i < 12_000; i++) {
    const o = fresh(`o${i}`);
    a.recordIntent(o, `h${i}`);
    a.insertOrder(o, `h${i}`);
    if (i % 50 === 49) await a.durable();
  }
  await a.durable();
  assert.ok(statSync(`${p}-intents`).size < 1.2 * 1024 * 1024, 'the journal is compacted after commits, not a growing file');
  // The process dies after these two reached the venue, before their rows committed.
  a.recordIntent(fresh('lost-1'), 'hl1');
  a.recordIntent(fresh('lost-2'), 'hl2');
  // (No close: a second open over the same files is what a restart after SIGKILL sees.)
  const b = new Ledger(p, 'normal');
  assert.deepEqual([...b.journalRecovered].sort(), ['in-flight', 'lost-1', 'lost-2'], 'compaction kept the order still in flight');
  const lost = b.getOrder('lost-1');
  assert.equal(lost?.order.status, 'NEW');
  assert.equal(lost?.order.model, 'ma');
  assert.equal(lost?.requestHash, 'hl1');
  assert.equal(b.counts().orders, 12_003);
  b.close();
  const c = new Ledger(p, 'normal');
  assert.deepEqual(c.journalRecovered, [], 'recovered once, not again');
  c.close();
  a.close();
}));

test('intent journal: a damaged line is quarantined to <journal>.damaged with its line number, the good lines around it are recovered, and the open goes on', withDir(async (dir) => {
  const p = join(dir, 'l.sqlite');
  const a = new Ledger(p, 'normal');
  a.startingCash(fx('1000'));
  await a.durable();
  const fresh = (id: string): Order => ({ ...order(id), status: 'NEW', venueOrderId: null });
  a.recordIntent(fresh('good-1'), 'h1');
  // The fault of issue 14: JSON-valid, but a decimal qty (once "Cannot convert 0.001 to a BigInt").
  const bad = JSON.stringify({ id: 'bad-qty', venue: 'sim', model: null, symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', tif: 'IOC', qty: '0.001', price: null, hash: 'hb', ts: 1 });
  appendFileSync(`${p}-intents`, `${bad}\nnot json at all\n`);
  a.recordIntent(fresh('good-2'), 'h2');
  const b = new Ledger(p, 'normal');
  assert.deepEqual([...b.journalRecovered].sort(), ['good-1', 'good-2'], 'nothing journaled around the damage is lost');
  assert.deepEqual(b.journalDamaged.map((d) => [d.line, d.id]), [[2, 'bad-qty'], [3, null]]);
  assert.match(b.journalDamaged[0]?.reason ?? '', /qty "0\.001"/);
  assert.equal(readFileSync(`${p}-intents.damaged`, 'utf8'), `${bad}\nnot json at all\n`, 'the damaged lines are kept beside the journal');
  assert.equal(b.getOrder('bad-qty'), undefined);
  // The quarantine rewrote the journal: an order journaled now lands in the live file, so a
  // crash right after (b is never closed) loses nothing.
  b.recordIntent(fresh('after-damage'), 'h3');
  const c = new Ledger(p, 'normal');
  assert.deepEqual(c.journalDamaged, [], 'quarantined once: the journal no longer holds the damage');
  assert.deepEqual(c.journalRecovered, ['after-damage'], 'the line journaled after the quarantine is in the live journal');
  c.close();
  b.close();
  a.close();
}));

test('intent journal: a torn last line (no newline) is not damage', withDir(async (dir) => {
  const p = join(dir, 'l.sqlite');
  const a = new Ledger(p, 'normal');
  a.startingCash(fx('1000'));
  await a.durable();
  a.recordIntent({ ...order('ok'), status: 'NEW', venueOrderId: null }, 'h');
  appendFileSync(`${p}-intents`, '{"id":"torn","ven');
  const b = new Ledger(p, 'normal');
  assert.deepEqual(b.journalRecovered, ['ok']);
  assert.deepEqual(b.journalDamaged, []);
  b.close();
  a.close();
}));
