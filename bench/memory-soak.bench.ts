// Memory under load: the embedded stack (one process, `hmm up`) takes a steady stream of
// external signals plus its own models' trading and a dashboard stream client, for N minutes
// (or seconds); with --reads, also a dashboard's and an operator's polling of the read routes
// (/status, /strategy/status, /aggregate/*, /dashboard/*, /orders/recent, /metrics, the page).
// Its RSS is sampled (every 10 s, or every second for runs of two minutes or less) and the
// V8 breakdown (heap spaces, external) is read from the stack's own /metrics at start, at the
// RSS peak and at the end. Target: ≤ 200 MB (issue 14: 60 s of signals + 200 reads/s). Also
// printed: how far one RSS sample can sit above or below the one before (the old generation
// rises between V8's major collections and drops at each), over the second half of the run.
//
//   npx tsx bench/memory-soak.bench.ts [--minutes 10 | --seconds 60] [--rate 200] [--reads 0]
//                                      [--no-shipped-flags] [--node-flag --max-semi-space-size=8 ...]
//                                      [--snapshots DIR]
// The stack runs with the shipped V8 flags (src/app/nodeFlags.ts, as `npm start` and the image
// run it) unless --no-shipped-flags; --node-flag adds flags after them (the last one wins).
// --snapshots DIR writes V8 heap snapshots of the stack into DIR a tenth of the way in and at
// the end (compare them by constructor to find what grows).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { HMM_NODE_FLAGS } from '../src/app/nodeFlags.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = args.includes('--seconds') ? arg('seconds', 60) : arg('minutes', 10) * 60;
const rate = arg('rate', 200);
const readRate = arg('reads', 0);
const snapshotDir = args.includes('--snapshots') ? args[args.indexOf('--snapshots') + 1]! : null;
const nodeFlags = [
  ...(args.includes('--no-shipped-flags') ? [] : HMM_NODE_FLAGS),
  ...args.flatMap((a, i) => (a === '--node-flag' ? [args[i + 1]!] : [])),
  ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : []),
];
const sampleMs = seconds <= 120 ? 1_000 : 10_000;
const repo = join(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789abcdef';

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const root = mkdtempSync(join(tmpdir(), 'hmm-bench-mem-'));
const child = spawn(process.execPath, [...nodeFlags, join(repo, 'bin/hmm.mjs'), 'up'], {
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

/** V8's view of the process, from the stack's own default metrics (MB). */
const breakdown = async (): Promise<string> => {
  const text = await (await fetch(`${base}/metrics`, { headers: { 'x-ops-token': TOKEN } })).text();
  const mb = (re: RegExp): string => {
    const m = re.exec(text);
    return m ? (Number(m[1]) / 1048576).toFixed(1) : '?';
  };
  const space = (s: string) => mb(new RegExp(`^hmm_nodejs_heap_space_size_total_bytes\\{space="${s}"\\} (\\S+)`, 'm'));
  return `heap used ${mb(/^hmm_nodejs_heap_size_used_bytes (\S+)/m)} / total ${mb(/^hmm_nodejs_heap_size_total_bytes (\S+)/m)} MB `
    + `(new ${space('new')}, old ${space('old')}, code ${space('code')}, large ${space('large_object')}), external ${mb(/^hmm_nodejs_external_memory_bytes (\S+)/m)} MB`;
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

// What a dashboard tab (polling when its stream drops) and an operator's scripts read.
const READS = ['/status', '/strategy/status', '/aggregate/portfolio', '/dashboard/history', '/dashboard/events', '/metrics', '/orders/recent?limit=100', '/aggregate/exposure', '/dashboard/config', '/pnl_dashboard.html', '/reconcile/report', '/aggregate/metrics'];
let reads = 0, readsFailed = 0;
const readAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const get = (path: string) => new Promise<void>((resolve) => {
  const req = http.get(`${base}${path}`, { agent: readAgent, headers: { 'x-ops-token': TOKEN } }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode !== 200) readsFailed++; resolve(); });
  });
  req.on('error', () => { readsFailed++; resolve(); });
  reads++;
});
const readTimer = readRate > 0 ? setInterval(() => { for (let i = 0; i < readRate / 10; i++) void get(READS[reads % READS.length]!); }, 100) : null;

const start = Date.now();
const samples: { s: number; rss: number }[] = [];
const startRss = rss();
console.log(`memory soak: ${seconds} s, ${rate} signals/s${readRate > 0 ? ` + ${readRate} reads/s over ${READS.length} read routes` : ''} + models trading every 250 ms + one SSE client${nodeFlags.length ? `; node ${nodeFlags.join(' ')}` : ''}; RSS at start ${startRss.toFixed(0)} MB`);
console.log(`  at start: ${await breakdown()}`);
let peak = { s: 0, rss: startRss, breakdown: '' };
let snapshotted = false;
while (Date.now() - start < seconds * 1_000) {
  await new Promise((r) => setTimeout(r, sampleMs));
  const s = { s: (Date.now() - start) / 1_000, rss: rss() };
  samples.push(s);
  if (s.rss > peak.rss) peak = { ...s, breakdown: await breakdown() };
  if (snapshotDir && !snapshotted && s.s >= seconds / 10) {
    snapshotted = true;
    child.kill('SIGUSR2');
  }
  if (samples.length % Math.max(1, Math.round(60_000 / sampleMs)) === 0 || (sampleMs < 10_000 && samples.length % 10 === 0)) {
    console.log(`  t=${s.s.toFixed(0)} s  RSS ${s.rss.toFixed(0)} MB  signals ${sent} (${failed} not 200)  reads ${reads} (${readsFailed} not 200)`);
  }
}
if (snapshotDir) {
  child.kill('SIGUSR2');
  await new Promise((r) => setTimeout(r, 5_000));
}
clearInterval(timer);
if (readTimer) clearInterval(readTimer);
const last = samples.at(-1)!;
const maxRss = Math.max(...samples.map((s) => s.rss));
const half = samples.filter((s) => s.s >= seconds / 2);
const slope = half.length > 1 ? (half.at(-1)!.rss - half[0]!.rss) / ((half.at(-1)!.s - half[0]!.s) / 60) : 0;
const steps = half.slice(1).map((x, i) => x.rss - half[i]!.rss);
console.log(`  second half: RSS ${Math.min(...half.map((x) => x.rss)).toFixed(0)}–${Math.max(...half.map((x) => x.rss)).toFixed(0)} MB; ` +
  `from one ${sampleMs / 1000} s sample to the next at most +${Math.max(0, ...steps).toFixed(0)} / −${Math.max(0, ...steps.map((d) => -d)).toFixed(0)} MB`);
console.log(`  peak RSS ${peak.rss.toFixed(0)} MB at t=${peak.s.toFixed(0)} s: ${peak.breakdown}`);
console.log(`  at the end: ${await breakdown()}`);
console.log(`  after ${seconds} s: RSS ${last.rss.toFixed(0)} MB (max ${maxRss.toFixed(0)} MB; second-half slope ${slope.toFixed(1)} MB/min); ${sent} signals sent, ${failed} not 200; ${reads} reads, ${readsFailed} not 200`);
sse.destroy();
agent.destroy();
readAgent.destroy();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
rmSync(root, { recursive: true, force: true });
