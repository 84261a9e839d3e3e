// The dashboard feed's drawdown: it keeps governance's statement off the bus (a drill reading
// without the peak does not replace it) and draws each frame below governance's stated peak,
// before that statement below the starting capital. The plugin runs on Fastify with a plain
// bus and engine; the history is a real SQLite file in a temporary root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { Topic } from '../../../../src/bus/topics.js';
import type { EngineHandle } from '../../../../src/engine/engineHandle.js';
import { silentLogger } from '../../../../src/obs/logger.js';
import { streamRoutes } from '../../../../src/ops/routes/stream.js';

interface History {
  governance: { drawdown_pct: number; peak_equity: number; ts: number } | null;
  points: { ts: number; equity: number; drawdown_pct: number }[];
}

test('frames are drawn below governance\'s stated peak; only a whole statement replaces it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-stream-dd-'));
  let publish: ((payload: unknown, topic: Topic) => void) | null = null;
  const engine = {
    name: 'sim',
    valuation: async () => ({ cash: 9_550, equity: 10_450, exposure: 900, realizedPnl: 0, unrealizedPnl: 450, fees: 0, positions: [] }),
  } as unknown as EngineHandle;
  const app = Fastify();
  await app.register(streamRoutes, {
    bus: { subscribeAll: (h) => { publish = h as (payload: unknown, topic: Topic) => void; return () => { publish = null; }; } },
    engines: () => [engine], baselineEquity: () => 10_000, leaderboard: async () => [], tradingEnabled: () => true,
    refreshSec: () => 10, sseClients: { set: () => undefined }, log: silentLogger(), mode: 'test', startedAt: Date.now(),
    historyPath: join(root, 'ops/dashboard_history.sqlite'), retentionHours: () => 24, modelPnlReady: () => false,
  });
  await app.ready();
  const history = async () => (await app.inject({ method: 'GET', url: '/dashboard/history?points=5000' })).json() as History;
  /** The history once `ok` holds (the feed samples once a host second). */
  const until = async (ok: (h: History) => boolean): Promise<History> => {
    const deadline = Date.now() + 10_000;
    let h = await history();
    while (!ok(h) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      h = await history();
    }
    return h;
  };
  try {
    // Before governance speaks: 10,450 is above the 10,000 starting capital, no drawdown.
    const first = await until((h) => h.points.length > 0);
    assert.equal(first.governance, null);
    assert.equal(first.points[0]!.drawdown_pct, 0);

    publish!({ equity: 10_450, drawdown_pct: 5, peak_equity: 11_000 }, 'metrics.update');
    assert.deepEqual({ ...(await history()).governance, ts: 0 }, { drawdown_pct: 5, peak_equity: 11_000, ts: 0 });
    // The next frame: 10,450 below governance's 11,000 peak, to a thousandth of a percent.
    const below = await until((h) => h.points.some((p) => p.drawdown_pct > 0));
    assert.equal(below.points.at(-1)!.drawdown_pct, 5);

    // A drill reading without the peak, and a half statement with a broken peak, are not governance's.
    publish!({ pnl_unrealized: -500, drawdown_pct: 50 }, 'metrics.update');
    publish!({ drawdown_pct: 40, peak_equity: Number.NaN }, 'metrics.update');
    publish!({ drawdown_pct: 40, peak_equity: '12000' }, 'metrics.update');
    const after = await history();
    assert.equal(after.governance!.drawdown_pct, 5);
    assert.equal(after.governance!.peak_equity, 11_000);
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
});
