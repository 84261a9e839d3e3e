// Each model's own book at an engine (engine/modelBooks.ts): what a model holds comes from its
// own fills only; a manual fill (no model) is in no model's book.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fx } from '../../../src/core/decimal.js';
import { clientOrderId, modelId, symbol } from '../../../src/core/ids.js';
import type { Fill } from '../../../src/core/order.js';
import { ModelBooks } from '../../../src/engine/modelBooks.js';

const BTC = symbol('BTCUSDT');
const fill = (tradeId: string, model: string | null, side: 'BUY' | 'SELL', qty: string, price: string): Fill => ({
  tradeId, clientOrderId: clientOrderId(`o-${tradeId}`), venue: 'sim' as Fill['venue'], model: model === null ? null : modelId(model),
  symbol: BTC, side, qty: fx(qty), price: fx(price), fee: fx('0'), liquidity: 'TAKER', ts: 1,
});

test('a model holds what its own fills add up to; manual fills belong to no model', () => {
  const books = new ModelBooks();
  books.book(fill('1', 'ma', 'BUY', '0.5', '100'));
  books.book(fill('2', 'ma', 'SELL', '0.2', '110'));
  books.book(fill('3', 'hmm', 'BUY', '1', '100'));
  books.book(fill('4', null, 'BUY', '7', '100'));
  assert.equal(books.size, 2);
  assert.equal(books.qty('ma', 'BTCUSDT'), '0.3');
  assert.equal(books.qty('hmm', 'BTCUSDT'), '1');
  assert.equal(books.qty('nobody', 'BTCUSDT'), '0');
  const ma = books.positions().find((p) => p.model === 'ma')!;
  assert.deepEqual({ qty: ma.qty, avg: ma.avgPrice, realized: ma.realizedPnl }, { qty: '0.3', avg: '100', realized: '2' });
});
