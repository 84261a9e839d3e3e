// In-process order path: engine.submit → idempotency → risk rails → sim venue → OMS →
// SQLite ledger (file, WAL) → orders.jsonl, measured per order (p50 / p99 / p99.9), with the
// sim venue's own books in memory and on disk. Also the kill switch: time from set(false)
// returning to the last order accepted (must be none) while orders flow.
//
//   npx tsx bench/inprocess.bench.ts [--orders 20000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fx } from '../src/core/decimal.js';
import { symbol } from '../src/core/ids.js';
import { InProcessBus } from '../src/bus/bus.js';
import { Engine } from '../src/engine/engine.js';
import { LocalEngineHandle } from '../src/engine/engineHandle.js';
import { Ledger } from '../src/engine/ledger.js';
import { OrderLog } from '../src/engine/orderLog.js';
import { silentLogger } from '../src/obs/logger.js';
import { createMetrics } from '../src/obs/metrics.js';
import { KillSwitch } from '../src/ops/killSwitch.js';
import { TradingStates } from '../src/ops/governance/tradingStates.js';
import { SimVenue } from '../src/venues/sim/simVenue.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--orders') + 1] || 20_000) || 20_000;
const BTC = symbol('BTCUSDT');

function build(dir: string, venueOnDisk: boolean, withMetrics: boolean) {
  const venue = new SimVenue({
    id: 'sim', startingBalances: { USDT: '1000000000' }, book: { fixedLevelQty: { BTCUSDT: '1000' } },
    ...(venueOnDisk ? { statePath: join(dir, 'venue.sqlite') } : {}),
  });
  venue.onBar({ symbol: BTC, ts: 1, open: 60000, high: 60000, low: 60000, close: 60000, volume: 1e6 });
  const ledger = new Ledger(join(dir, 'ledger.sqlite'), 'normal', { backgroundCheckpoints: true });
  const orderLog = new OrderLog(join(dir, 'orders.jsonl'));
  const bus = new InProcessBus();
  const engine = new Engine({
    name: 'engine_sim', venue, ledger, orderLog, snapshotPath: join(dir, 'portfolio.json'), startingCash: fx('1000000000'),
    limits: { tradeSymbols: new Set(['BTCUSDT']), minNotionalUsdt: fx('10'), maxNotionalUsdt: fx('1000000'), maxOrdersPerMin: 1e9 },
    tradingEnabled: true, bus, logger: silentLogger(), metrics: withMetrics ? createMetrics({ collectProcess: false }) : null,
  });
  return { engine, bus, close: async () => { await engine.close(); await venue.close(); await ledger.closeAsync(); orderLog.close(); } };
}

function quantiles(xs: Float64Array): { p50: number; p99: number; p999: number; max: number } {
  const s = xs.slice().sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p99: q(0.99), p999: q(0.999), max: s[s.length - 1]! };
}

async function latency(label: string, venueOnDisk: boolean, withMetrics: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-'));
  const { engine, close } = build(dir, venueOnDisk, withMetrics);
  const warm = 2000;
  const lat = new Float64Array(N);
  const ack = new Float64Array(N);
  for (let i = 0; i < N + warm; i++) {
    const t0 = performance.now();
    const out = await engine.submit({ clientOrderId: `o${i}`, symbol: BTC, side: i % 2 ? 'SELL' : 'BUY', type: 'MARKET', qty: fx('0.001'), price: null });
    if (out.kind !== 'accepted') throw new Error(`order ${i} was ${out.kind}`);
    if (i >= warm) {
      lat[i - warm] = (performance.now() - t0) * 1000;
      ack[i - warm] = out.routingTimeMs * 1000;
    }
  }
  const show = (what: string, xs: Float64Array) => {
    const q = quantiles(xs);
    console.log(`  ${label.padEnd(44)} ${what.padEnd(22)} p50 ${q.p50.toFixed(1).padStart(6)} µs  p99 ${q.p99.toFixed(1).padStart(6)} µs  p99.9 ${q.p999.toFixed(1).padStart(7)} µs  max ${q.max.toFixed(0)} µs`);
  };
  show('signal → venue ack', ack);
  show('→ durable engine ack', lat);
  const total = lat.reduce((a, b) => a + b, 0);
  console.log(`  ${''.padEnd(44)} ${(N / (total / 1e6)).toFixed(0)} orders/s one at a time`);
  await close();
  rmSync(dir, { recursive: true, force: true });
}

async function killSwitch(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-kill-'));
  const { engine, bus, close } = build(dir, false, false);
  const handle = new LocalEngineHandle(engine);
  const ks = new KillSwitch(new TradingStates({ path: join(dir, 'trading_states.json'), engines: () => [handle], bus, log: silentLogger(), metrics: null }));
  const accepted: number[] = [];
  let running = true;
  let i = 0;
  const flow = (async () => {
    while (running) {
      const r = await engine.submit({ clientOrderId: `k${i++}`, symbol: BTC, side: i % 2 ? 'SELL' : 'BUY', type: 'MARKET', qty: fx('0.001'), price: null });
      if (r.kind === 'accepted') accepted.push(performance.now());
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  await ks.set(false, 'bench', 'kill switch timing');
  const returned = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  running = false;
  await flow;
  const after = accepted.filter((t) => t > returned).length;
  const lastBefore = accepted.filter((t) => t <= returned).pop() ?? t0;
  console.log(`  kill switch (one process): set() took ${((returned - t0) * 1000).toFixed(0)} µs; orders accepted after it returned: ${after}; last acceptance ${((returned - lastBefore) * 1000).toFixed(0)} µs before it returned; ${accepted.length} accepted in total`);
  await close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`in-process order path: ${N} market orders each, after 2,000 warm-up orders`);
// --case N runs only one of them (for a CPU profile of that case).
const only = args.includes('--case') ? Number(args[args.indexOf('--case') + 1]) : null;
const cases: [string, () => Promise<void>][] = [
  ['memory', () => latency('ledger on, venue books in memory', false, false)],
  ['metrics', () => latency('ledger on, venue books in memory, metrics on', false, true)],
  ['disk', () => latency('ledger on, venue books on disk (SQLite)', true, true)],
  ['kill', killSwitch],
];
for (const [i, [, run]] of cases.entries()) if (only === null || only === i + 1) await run();
