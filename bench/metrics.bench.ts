// Benchmarks a Prometheus scrape of the stack's registry at 500, 5,000 and 50,000 series
// (the runbook's capacity plan: 500 today, 5,000 the threshold, 50,000 headroom). Each
// registry is the real one from createMetrics() (process metrics included) plus families
// shaped like the stack's own (venue × symbol gauges, venue × model counters, venue × model
// routing histograms) sized to reach the target. Prints serialisation time, the time of a
// real GET /metrics over loopback HTTP (Fastify, as the Ops API serves it) and body size.
// Target: ≤ 200 ms per scrape at 50,000 series. Run: npx tsx bench/metrics.bench.ts
import Fastify from 'fastify';
import client from 'prom-client';
import { createMetrics } from '../src/obs/metrics.js';

const TARGETS = [500, 5_000, 50_000];
const RUNS = 15;
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SERIES_PER_HISTOGRAM = BUCKETS.length + 3; // buckets + +Inf + _sum + _count

const countSeries = (text: string): number => text.split('\n').reduce((n, l) => n + (l !== '' && !l.startsWith('#') ? 1 : 0), 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function build(target: number) {
  const m = createMetrics();
  const r = [m.registry];
  const base = countSeries(await m.registry.metrics());
  // Shares of the remaining series: 60 % gauges, 25 % counters, 15 % histograms.
  const remaining = Math.max(0, target - base);
  const histSets = Math.floor((remaining * 0.15) / SERIES_PER_HISTOGRAM);
  const counters = Math.floor(remaining * 0.25);
  const gauges = remaining - counters - histSets * SERIES_PER_HISTOGRAM;
  const g = new client.Gauge({ name: 'hmm_bench_exposure_usd', help: 'bench: venue x symbol gauge', labelNames: ['venue', 'symbol'], registers: r });
  const c = new client.Counter({ name: 'hmm_bench_orders_total', help: 'bench: venue x model counter', labelNames: ['venue', 'model'], registers: r });
  const h = new client.Histogram({ name: 'hmm_bench_routing_seconds', help: 'bench: venue x model histogram', labelNames: ['venue', 'model'], buckets: BUCKETS, registers: r });
  for (let i = 0; i < gauges; i++) g.set({ venue: `engine_${i % 50}`, symbol: `SYM${Math.floor(i / 50)}USDT` }, 1000 + i * 0.37);
  for (let i = 0; i < counters; i++) c.inc({ venue: `engine_${i % 50}`, model: `model_${Math.floor(i / 50)}` }, i);
  for (let i = 0; i < histSets; i++) for (let k = 0; k < 5; k++) h.observe({ venue: `engine_${i % 50}`, model: `model_${Math.floor(i / 50)}` }, 0.0003 * (k + 1) * (1 + (i % 7)));
  return m.registry;
}

console.log(`metrics scrape benchmark (prom-client ${(await import('prom-client/package.json', { with: { type: 'json' } })).default.version}, node ${process.version}, median of ${RUNS} runs)`);
console.log('target series | actual series | body bytes | registry.metrics() ms | GET /metrics ms (loopback)');
for (const target of TARGETS) {
  const registry = await build(target);
  const body = await registry.metrics();
  const series = countSeries(body);
  const serialise: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await registry.metrics();
    serialise.push(performance.now() - t0);
  }
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const http: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/metrics`);
    await res.text();
    http.push(performance.now() - t0);
  }
  await app.close();
  console.log(`${String(target).padStart(13)} | ${String(series).padStart(13)} | ${String(Buffer.byteLength(body)).padStart(10)} | ${median(serialise).toFixed(1).padStart(21)} | ${median(http).toFixed(1).padStart(10)}`);
}
