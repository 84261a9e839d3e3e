// Memory under load: the embedded stack (one process, `hmm up`) takes a steady stream of
// external signals plus its own models' trading and a dashboard stream client, for N minutes;
// its RSS is sampled every 10 s. Target: ≤ 200 MB after 10 minutes (the runbook restarts
// ops above 2 GB).
//
//   npx tsx bench/memory-soak.bench.ts [--minutes 10] [--rate 200]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const minutes = arg('minutes', 10);
const rate = arg('rate', 200);
const repo = join(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789abcdef';

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const root = mkdtempSync(join(tmpdir(), 'hmm-bench-mem-'));
const child = spawn(process.execPath, [join(repo, 'bin/hmm.mjs'), 'up'], {
  cwd: root,
  env: { ...process.env, HMM_ROOT: root, OPS_PORT: String(port), ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, LOG_LEVEL: 'warn', MARKET_INTERVAL_MS: '250', MAX_ORDERS_PER_MIN: '1000000', STARTING_CASH_USD: '100000000', EXPOSURE_CAP_SYMBOL_USD: '1000000000', EXPOSURE_CAP_TOTAL_USD: '1000000000' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/health`)).ok) break; } catch { /* starting */ }
  if (i > 300) throw new Error('stack did not start');
  await new Promise((r) => setTimeout(r, 100));
}

const rss = (): number => {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};

// A dashboard tab stays connected to the live stream for the whole run.
const sse = http.get(`${base}/stream`, (res) => res.resume());

let sent = 0, failed = 0, side = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const post = () => new Promise<void>((resolve) => {
  const body = JSON.stringify({ symbol: side++ % 4 < 2 ? 'BTCUSDT' : 'ETHUSDT', side: side % 2 ? 'BUY' : 'SELL', quote_usd: 25, model: 'ma_crossover_v1' });
  const req = http.request(`${base}/strategy/signal`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN } }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode !== 200) failed++; resolve(); });
  });
  req.on('error', () => { failed++; resolve(); });
  req.end(body);
  sent++;
});
const timer = setInterval(() => { for (let i = 0; i < rate / 10; i++) void post(); }, 100);

const start = Date.now();
const samples: { min: number; rss: number }[] = [];
const startRss = rss();
console.log(`memory soak: ${minutes} min, ${rate} signals/s + models trading every 250 ms + one SSE client; RSS at start ${startRss.toFixed(0)} MB`);
while (Date.now() - start < minutes * 60_000) {
  await new Promise((r) => setTimeout(r, 10_000));
  const s = { min: (Date.now() - start) / 60_000, rss: rss() };
  samples.push(s);
  if (samples.length % 6 === 0) console.log(`  t=${s.min.toFixed(1)} min  RSS ${s.rss.toFixed(0)} MB  signals ${sent} (${failed} not 200)`);
}
clearInterval(timer);
const last = samples.at(-1)!;
const maxRss = Math.max(...samples.map((s) => s.rss));
const half = samples.filter((s) => s.min >= minutes / 2);
const slope = half.length > 1 ? (half.at(-1)!.rss - half[0]!.rss) / (half.at(-1)!.min - half[0]!.min) : 0;
console.log(`  after ${minutes} min: RSS ${last.rss.toFixed(0)} MB (max ${maxRss.toFixed(0)} MB; second-half slope ${slope.toFixed(1)} MB/min); ${sent} signals sent, ${failed} not 200`);
sse.destroy();
agent.destroy();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
rmSync(root, { recursive: true, force: true });
