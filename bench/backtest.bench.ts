// Backtest throughput: bars per second for the MA crossover and the HMM through the full live
// path (model → strategy router sizing → engine risk rails → sim venue → OMS → portfolio,
// in-memory ledger) — runBacktest, not a shortcut. Bars are generated before timing. Also
// times the model alone over the same bars, to show what the execution path costs on top.
// Run: npx tsx bench/backtest.bench.ts [bars]   (default 1,000,000; one symbol, 1-minute bars)
import { modelId, symbol } from '../src/core/ids.js';
import { SyntheticMarket } from '../src/market/synthetic.js';
import { runBacktest } from '../src/replay/backtest.js';
import { HmmModel, trainHmmFromBars } from '../src/strategy/hmm/hmmModel.js';
import { MaCrossoverModel } from '../src/strategy/ma/maCrossover.js';
import type { Model } from '../src/strategy/model.js';

const N = Number(process.argv[2] ?? 1_000_000);
const BTC = symbol('BTCUSDT');
const market = new SyntheticMarket({ seed: 42, symbols: ['BTCUSDT'], intervalMs: 60_000 });
const train = market.generate(20_000);
const bars = market.generate(N);
const stored = trainHmmFromBars(train, { id: 'bench_hmm' });

function modelOnly(make: () => Model): number {
  const m = make();
  let signals = 0;
  const t0 = performance.now();
  for (const b of bars) if (m.onBar(b) !== null) signals++;
  const s = (performance.now() - t0) / 1000;
  if (signals < 0) throw new Error('unreachable');
  return N / s;
}

async function full(make: () => Model): Promise<{ rate: number; orders: number; signals: number }> {
  const r = await runBacktest({ model: make(), bars, keepCurve: false });
  return { rate: r.report.bars_per_sec, orders: r.report.orders, signals: r.report.signals };
}

const makers: [string, () => Model][] = [
  ['ma', () => new MaCrossoverModel(modelId('ma'), [BTC])],
  ['hmm', () => new HmmModel(stored, { symbol: BTC, id: modelId('hmm') })],
];

console.log(`backtest benchmark: ${N.toLocaleString('en-US')} one-minute BTCUSDT bars, model + router + risk rails + sim venue + OMS + in-memory ledger`);
for (const [name, make] of makers) {
  await full(make); // warm-up run: JIT
  const best = { rate: 0, orders: 0, signals: 0 };
  for (let i = 0; i < 2; i++) {
    const r = await full(make);
    if (r.rate > best.rate) Object.assign(best, r);
  }
  const alone = Math.max(modelOnly(make), modelOnly(make));
  console.log(`  ${name.padEnd(4)} full path ${Math.round(best.rate).toLocaleString('en-US').padStart(11)} bars/s   (${best.signals.toLocaleString('en-US')} signals, ${best.orders.toLocaleString('en-US')} orders)   model alone ${Math.round(alone).toLocaleString('en-US').padStart(12)} bars/s`);
}
