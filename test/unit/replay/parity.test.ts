// Replay parity: a short live run (the embedded stack on the wall clock, the synthetic market
// at a fast MARKET_INTERVAL_MS) records the bars it emitted; the replay of those bars must
// place the same orders and get the same fills. Compared: the sequence of (event, model,
// symbol, side, qty, fill_price) of the order log. Client order ids embed the signal's time
// and are compared too where both clocks agree on it (they do: the signal carries its bar's
// time). Not compared, with the reason: routing_time (a wall-clock latency), and promotions /
// allocation steps — the live run's daemons run on wall seconds (the allocator every 5 s) while
// its bars span a minute of market time each, so in a few wall seconds it takes one or two
// allocation steps where the replay, on market time, takes one per bar. What holds and is
// asserted: no promotion in either run, and the allocation weights are the same at the end.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Scratch } from '../../support/scratch.js';
import type { Bar } from '../../../src/core/marketData.js';
import { loadConfig } from '../../../src/config/config.js';
import { symbol as toSymbol } from '../../../src/core/ids.js';
import { type MarketSource, syntheticSource } from '../../../src/app/marketSource.js';
import { startStack } from '../../../src/app/stack.js';
import { stackPaths } from '../../../src/ops/paths.js';
import { runReplay } from '../../../src/replay/replay.js';

const scratch = new Scratch('parity');
const fresh = () => join(scratch.root('run'), 'root');
after(() => scratch.cleanup());
const seq = (root: string) => readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => {
  const o = JSON.parse(l) as Record<string, unknown>;
  return [o.event, o.model, o.symbol, o.side, o.qty, o.fill_price ?? null, o.client_order_id].join(' ');
});

test('a recorded live run replays to the same orders and fills', async () => {
  const env = { MARKET_SEED: '21', MARKET_DRIFT: '2', MARKET_INTERVAL_MS: '15', WARMUP_BARS: '300', OPS_PORT: '0' };
  const liveRoot = fresh();
  // The live run's own market source (the one startStack would open: seeded synthetic market,
  // state file, a step every MARKET_INTERVAL_MS of wall time), recorded on its way in: its
  // warm-up history and every step it hands the stack — the first inside startStack.
  const config = loadConfig({ ...env, HMM_ROOT: liveRoot });
  const symbols = config.tradeSymbols.map(toSymbol);
  const source = syntheticSource(config, symbols, { statePath: stackPaths(config.root).marketState('engine_sim'), now: Date.now() });
  const recorded: Bar[] = [...source.history];
  const market: MarketSource = { ...source, start: (onBars) => source.start((bars) => { recorded.push(...bars); onBars(bars); }) };
  const stack = await startStack({ env: { ...env, HMM_ROOT: liveRoot }, stdout: false, listen: false, market });
  await new Promise((r) => setTimeout(r, 3000));
  await stack.stop();
  const liveWeights = { ...stack.context.weights.current.weights };
  const replayRoot = fresh();
  const r = await runReplay({ root: replayRoot, bars: recorded, env: { WARMUP_BARS: '300' } });
  assert.ok(r.steps > 50, `steps ${r.steps}`);
  const live = seq(liveRoot);
  const replay = seq(replayRoot);
  assert.ok(live.length > 4, `live order-log lines ${live.length}`);
  assert.deepEqual(replay, live);
  assert.equal(r.lifecycle.filter((h) => h.action !== 'register').length, 0);
  assert.deepEqual(r.final_weights, liveWeights);
});
