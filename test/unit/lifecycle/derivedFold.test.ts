// The derived-state fold a leader publishes and a new leader resumes: a snapshot restores
// exactly, and a fill met again (a replayed tail, an outbox's second relay) is booked once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../../src/core/decimal.js';
import { symbol } from '../../../src/core/ids.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { FillPayload } from '../../../src/bus/topics.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { DerivedFold, type FoldMode } from '../../../src/lifecycle/derivedFold.js';
import { ShadowBook } from '../../../src/lifecycle/shadowBook.js';
import { StrategyRegistry } from '../../../src/lifecycle/strategyRegistry.js';
import { StrategyTracker } from '../../../src/lifecycle/strategyTracker.js';

function replica(dir: string, mode: FoldMode) {
  const log = silentLogger();
  const registry = new StrategyRegistry(join(dir, `registry-${mode}.json`), log);
  const shadow = new ShadowBook({ path: null, instruments: new Map([['ETHUSDT', { stepSize: fx('0.0001'), tickSize: fx('0.01') }]]), takerFeeBps: 5, slippageBps: 1, minNotionalUsd: fx(5), maxNotionalUsd: fx(10_000), quota: () => 1_000, log });
  const tracker = new StrategyTracker({ engines: () => [], shadow, registry, weight: () => 1, quota: () => 1_000, models: () => ['m'], scoreMetric: () => 'pnl', bus: new InProcessBus(), log });
  let pos = 0;
  const fold = new DerivedFold({ tracker, shadow, log, mode, position: () => `${++pos}-0`, stages: () => ({}), applyStages: () => undefined, diagnostics: () => ({}) });
  return { tracker, fold };
}

const bar = (ts: number, close: number) => ({ kind: 'bar' as const, bar: { symbol: symbol('ETHUSDT'), ts, open: close, high: close, low: close, close, volume: 100 } });
const fill = (tradeId: string, side: 'BUY' | 'SELL', price: string, eventId?: string) => ({
  kind: 'fill' as const,
  fill: { venue: 'engine_sim', tradeId, clientOrderId: `c-${tradeId}`, model: 'm', symbol: 'ETHUSDT', side, qty: '0.1', price, fee: '0.2', liquidity: 'TAKER', ts: 1, ...(eventId ? { event_id: eventId } : {}) } as FillPayload,
});

test('a fill is booked once by its event id, and a snapshot restores the figures exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-fold-'));
  try {
    const leader = replica(dir, 'live');
    leader.fold.take(bar(60_000, 2000));
    leader.fold.take(fill('t1', 'BUY', '2000'));
    leader.fold.take(fill('t1', 'BUY', '2000')); // the same fill again
    leader.fold.take(bar(120_000, 2010));
    assert.equal(leader.tracker.report('m').total.trades, 1);
    // An outbox event id is the identity when present: a second relay under it is the same fill.
    leader.fold.take(fill('t2', 'SELL', '2010', 'evt-7'));
    leader.fold.take(fill('t2-relayed', 'SELL', '2010', 'evt-7'));
    leader.fold.take(bar(180_000, 2020));
    assert.equal(leader.tracker.report('m').total.trades, 2);

    const snap = leader.fold.snapshot();
    const follower = replica(dir, 'follow');
    follower.fold.take(fill('t9', 'BUY', '2000')); // a follower folds nothing itself
    follower.fold.follow(JSON.parse(JSON.stringify(snap)));
    assert.deepEqual(follower.tracker.report('m'), leader.tracker.report('m'));
    assert.equal(follower.fold.seq, snap.seq);

    // Taking over: the tail after the snapshot repeats t2 (already folded) and brings t3.
    const r = await follower.fold.lead(snap, async () => [{ id: '99-0', e: fill('t2', 'SELL', '2010', 'evt-7') }, { id: '100-0', e: fill('t3', 'BUY', '2020') }]);
    assert.deepEqual(r, { restored: true, replayed: 2 });
    assert.equal(follower.fold.mode, 'live');
    assert.equal(follower.tracker.report('m').total.trades, 3);
    assert.equal(follower.fold.position, '100-0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
