// The control plane's bus input bounds (bus/inputBounds.ts): what judging an event costs per
// event, on the busiest topics (a model signal handed to two subscribers; the governance
// daemon's metrics.update), against building the payload alone. The signal is also judged for
// one subscriber: the difference is what each further handler of the same event costs (the
// guard keeps its last verdict with its payload, so a further handler does not judge again).
//
//   npx tsx bench/bus-guard.bench.ts [--events 1000000]
import { BusInputGuard } from '../src/bus/inputBounds.js';
import { silentLogger } from '../src/obs/logger.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--events') + 1] || 1_000_000) || 1_000_000;
const guard = new BusInputGuard({ log: silentLogger() });
let sink = 0;

console.log(`bus input bounds: ${N.toLocaleString('en-US')} events per case, 3 rounds (the last is reported warm)`);
for (let round = 1; round <= 3; round++) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) { const p = { model: 'm', symbol: 'BTCUSDT', action: 'BUY', strength: 0.5, ts: 1.7e12 + i }; sink += p.strength; }
  const t1 = performance.now();
  for (let i = 0; i < N; i++) {
    const p = { model: 'm', symbol: 'BTCUSDT', action: 'BUY', strength: 0.5, ts: 1.7e12 + i };
    if (guard.admit('signal', p)) sink++;
    if (guard.admit('signal', p)) sink++;
  }
  const t2 = performance.now();
  for (let i = 0; i < N; i++) {
    const p = { model: 'm', symbol: 'BTCUSDT', action: 'BUY', strength: 0.5, ts: 1.7e12 + i };
    if (guard.admit('signal', p)) sink++;
  }
  const t2b = performance.now();
  for (let i = 0; i < N; i++) {
    const p = { equity: 1e4 + i, pnl_unrealized: -3, pnl_realized: 1, exposure: 100, drawdown_pct: 1, peak_equity: 1e4 };
    if (guard.admit('metrics.update', p)) sink++;
  }
  const t3 = performance.now();
  const us = (ms: number) => ((ms * 1000) / N).toFixed(3);
  console.log(`  round ${round}: payload alone ${us(t1 - t0)} µs; signal judged for 2 subscribers ${us(t2 - t1)} µs, for 1 ${us(t2b - t2)} µs; metrics.update (6 keys) ${us(t3 - t2b)} µs`);
}
if (sink === 0) console.log('');
