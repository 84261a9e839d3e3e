// The capacity plan, measured on this machine (issue 16 item 6): its own redis-server, ten sim
// engine processes (small: one symbol each, 20 warm-up bars) and one `hmm ops` driving ten
// models (MA variants registered live, spread over both symbols), all through Redis. Measured:
//   - the control plane's signal throughput: POST /strategy/signal at a fixed concurrency for a
//     fixed time, every answer counted (routed, rejected, 429);
//   - /metrics: series (sample lines) and scrape time on the ops process;
//   - bus lag, publish → consume: a reader on the shared stream (the RedisBus every ops replica
//     runs) takes each order.update / trade.fill an engine published and subtracts the event's
//     own time (same host, same clock).
// Prints one JSON line of figures. The sim venue lists BTCUSDT and ETHUSDT only, so signals
// reach the first engine listing their symbol (two of the ten); the other eight publish bars
// and heartbeats and answer the control plane's reads like any venue.
//
//   npx tsx bench/capacity.bench.ts [--engines 10] [--models 10] [--seconds 30] [--concurrency 8]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RedisBus } from '../src/bus/redisBus.js';
import { type Child, freePort, http, spawnHmm, spawnRedis, until, waitUp } from '../test/support/hmmProcess.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) || dflt : dflt;
};
const ENGINES = arg('engines', 10);
const MODELS = arg('models', 10);
const SECONDS = arg('seconds', 30);
const CONCURRENCY = arg('concurrency', 8);
const TOKEN = 'bench-capacity-token-0123456789';
const SYMBOLS = ['BTCUSDT', 'ETHUSDT'];
const roots: string[] = [];
const children: Child[] = [];
const root = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `hmm-bench-cap-${name}-`));
  roots.push(d);
  return d;
};
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
};

let bus: RedisBus | null = null;
try {
  const redisPort = await freePort();
  children.push(spawnRedis(redisPort));
  const REDIS_URL = `redis://127.0.0.1:${redisPort}`;
  await new Promise((r) => setTimeout(r, 300));
  const common = {
    REDIS_URL, REDIS_BUS_PREFIX: 'capbench:', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '1000', WARMUP_BARS: '20', LOG_LEVEL: 'warn',
    MAX_ORDERS_PER_MIN: '100000000', STARTING_CASH_USD: '100000000', EXPOSURE_CAP_SYMBOL_USD: '1000000000', EXPOSURE_CAP_TOTAL_USD: '1000000000',
  };
  const t0 = performance.now();
  const engines: string[] = [];
  // Started two at a time: ten cold starts at once on two cores time each other out.
  for (let i = 0; i < ENGINES; i += 2) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(ENGINES, i + 2); j++) {
      const name = `engine_${String(j).padStart(2, '0')}`;
      const port = await freePort();
      const child = spawnHmm(name, ['engine', '--venue', 'sim', '--name', name], { ...common, HMM_ROOT: root(name), ENGINE_PORT: String(port), TRADE_SYMBOLS: SYMBOLS[j % 2]! });
      children.push(child);
      engines.push(`${name}=http://127.0.0.1:${port}`);
      batch.push(waitUp(child, `http://127.0.0.1:${port}/health`, 120_000));
    }
    await Promise.all(batch);
  }
  const enginesUpS = (performance.now() - t0) / 1000;

  // Ten models, registered live: MA variants over both symbols (no HMM training at start).
  const opsRoot = root('ops');
  mkdirSync(join(opsRoot, 'ops'), { recursive: true });
  const now = new Date().toISOString();
  const models = Array.from({ length: MODELS }, (_, i) => ({
    id: `ma_cap_${i}`, kind: 'ma', version: 1, stage: 'live', created_at: now, stage_since: now,
    symbols: [SYMBOLS[i % 2]!], params: { fast: 3 + (i % 5), slow: 12 + i, band: 0 }, replaced: null, metrics: null, tracking: null,
  }));
  writeFileSync(join(opsRoot, 'ops/strategy_registry.json'), JSON.stringify({ format: 1, updated_at: now, models, history: [] }));
  const opsPort = await freePort();
  const ops = spawnHmm('ops', ['ops'], { ...common, HMM_ROOT: opsRoot, OPS_PORT: String(opsPort), HMM_ENGINES: engines.join(','), HMM_ENGINES_WAIT_SEC: '120' });
  children.push(ops);
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  await waitUp(ops, `${opsUrl}/health`, 180_000);
  const running = await until('ten models running', async () => {
    const s = (await http('GET', `${opsUrl}/strategy/status`)).body as { models?: { id: string }[] };
    return (s.models?.length ?? 0) >= MODELS ? s.models!.length : null;
  }, 30_000, 500);

  // A consumer on the shared stream, as an ops replica reads it.
  const lags: number[] = [];
  bus = await RedisBus.connect({ url: REDIS_URL, prefix: 'capbench:', processId: 'capacity-bench' });
  const lag = (p: { ts: number }) => {
    if (typeof p.ts === 'number') lags.push(Date.now() - p.ts);
  };
  bus.subscribe('order.update', lag);
  bus.subscribe('trade.fill', lag);

  // Signal throughput at a fixed concurrency.
  const codes: Record<string, number> = {};
  const latencies: number[] = [];
  let sent = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const k = sent++;
      const start = performance.now();
      const r = await http('POST', `${opsUrl}/strategy/signal`, { model: `ma_cap_${k % MODELS}`, symbol: SYMBOLS[(k % MODELS) % 2], side: (k >> 1) % 2 === 0 ? 'BUY' : 'SELL', quote_usd: 20 + ((w + i) % 7) }, TOKEN).catch(() => ({ status: 0 }));
      latencies.push(performance.now() - start);
      codes[String(r.status)] = (codes[String(r.status)] ?? 0) + 1;
    }
  }));
  const signalsPerSec = sent / SECONDS;
  await new Promise((r) => setTimeout(r, 1_500)); // the last events reach the consumer

  // /metrics on the ops process under that configuration.
  const scrapes: number[] = [];
  let series = 0;
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    const res = await fetch(`${opsUrl}/metrics`);
    const text = await res.text();
    scrapes.push(performance.now() - s);
    series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    bytes = text.length;
  }

  console.log(JSON.stringify({
    engines: ENGINES, models_running: running, loadavg_1_5_15: loadavg().map((x) => Math.round(x * 10) / 10), engines_up_s: Math.round(enginesUpS), seconds: SECONDS, concurrency: CONCURRENCY,
    signals: sent, signals_per_s: Math.round(signalsPerSec * 10) / 10, signals_per_min: Math.round(signalsPerSec * 60), answers: codes,
    signal_ms: { p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99) },
    metrics: { series, bytes, scrape_ms: { p50: pct(scrapes, 50), p95: pct(scrapes, 95), max: pct(scrapes, 100) } },
    bus_lag_ms: { events: lags.length, p50: pct(lags, 50), p95: pct(lags, 95), p99: pct(lags, 99), max: pct(lags, 100) },
  }));
} finally {
  await bus?.close().catch(() => undefined);
  for (const c of children.reverse()) await c.stop(3_000);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
}
