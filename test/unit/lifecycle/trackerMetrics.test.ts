// The strategy tracker measures a live model from its engine book and a shadow model from the
// shadow book, as returns on the capital each had at work, and never across a change of book.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../../src/core/decimal.js';
import { modelId, symbol } from '../../../src/core/ids.js';
import { InProcessBus } from '../../../src/bus/bus.js';
import type { EngineHandle } from '../../../src/engine/engineHandle.js';
import type { ModelPositionView } from '../../../src/engine/views.js';
import { silentLogger } from '../../../src/obs/logger.js';
import { ShadowBook } from '../../../src/lifecycle/shadowBook.js';
import { StrategyRegistry } from '../../../src/lifecycle/strategyRegistry.js';
import { StrategyTracker } from '../../../src/lifecycle/strategyTracker.js';
import { DEFAULT_SIM_INSTRUMENTS } from '../../../src/venues/sim/simVenue.js';

test('live PnL from the engine book, shadow from the shadow book, returns on capital at work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-'));
  try {
    let price = '100';
    const positions: ModelPositionView[] = [{ model: 'live', symbol: 'BTCUSDT', qty: '10', avgPrice: '100', realizedPnl: '0', fees: '1' }];
    const engine = { name: 'e', modelPositions: async () => positions, lastPrice: async () => price } as unknown as EngineHandle;
    let tracker: StrategyTracker | null = null;
    const shadow = new ShadowBook({
      path: null, instruments: new Map(DEFAULT_SIM_INSTRUMENTS.map((i) => [i.symbol as string, { stepSize: i.stepSize, tickSize: i.tickSize }])),
      takerFeeBps: 0, slippageBps: 0, minNotionalUsd: fx('1'), maxNotionalUsd: fx('100000'), quota: () => 2000, log: silentLogger(),
      onFill: (m, f, r) => tracker?.onShadowFill(m, f, r),
    });
    const weights: Record<string, number> = { live: 0.5, paper: 0 };
    const registry = new StrategyRegistry(join(dir, 'reg.json'), silentLogger());
    const bus = new InProcessBus();
    tracker = new StrategyTracker({
      engines: () => [engine], shadow, registry, weight: (m) => weights[m] ?? 0, quota: () => 2000, models: () => ['live', 'paper'],
      scoreMetric: () => 'pnl', bus, log: silentLogger(), sampleEveryMs: 1000,
    });
    const bar = (close: number, ts: number) => ({ symbol: symbol('BTCUSDT'), ts, open: close, high: close, low: close, close, volume: 1000 });
    shadow.onBar(bar(100, 0));
    shadow.execute({ model: modelId('paper'), symbol: symbol('BTCUSDT'), action: 'BUY', strength: 1, targetExposure: 0.5, ts: 0 });
    await tracker.sample(0);
    price = '110';
    shadow.onBar(bar(110, 1000));
    await tracker.sample(1000);

    const live = tracker.report('live');
    assert.equal(live.source, 'live');
    assert.equal(live.pnl, 99); // 10 × (110 − 100) − 1 fee
    // Return on quota × weight = 1000: (99 − (−1)) / 1000 = 10 %.
    assert.ok(Math.abs(live.total.return_pct - 10) < 1e-6, `${live.total.return_pct}`);
    assert.equal(live.total.exposure_time_pct, 100);

    const paper = tracker.report('paper');
    assert.equal(paper.source, 'shadow');
    assert.equal(paper.pnl, 100); // 10 BTC bought at 100 for 1000 (0.5 × 2000), now 110
    assert.ok(Math.abs(paper.total.return_pct - 5) < 1e-6, 'on quota × paper weight 1 = 2000');
    assert.equal(paper.total.trades, 1);
    assert.equal(paper.score, 100);

    // Promoted: its figures now come from the engine book; no return across the switch.
    weights.paper = 0.1;
    await tracker.sample(2000);
    assert.equal(tracker.report('paper').source, 'live');
    assert.equal(tracker.report('paper').total.return_pct, paper.total.return_pct);
    tracker.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
