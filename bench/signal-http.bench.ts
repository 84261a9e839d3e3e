// Signal throughput over HTTP: POST /strategy/signal → routed, risk-checked, ledger-persisted
// sim order, under autocannon, beside a no-op Fastify route measured in the same run on the
// same machine. Both servers run as their own processes; the load generator is this one.
//
//   npx tsx bench/signal-http.bench.ts [--seconds 10] [--connections 32]
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HMM_NODE_FLAGS } from '../src/app/nodeFlags.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = arg('seconds', 10);
const connections = arg('connections', 32);
const repo = join(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789abcdef';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** user + system CPU seconds of a process (all its threads), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

const kill = (p: ChildProcess) => new Promise<void>((resolve) => {
  if (p.exitCode !== null) return resolve();
  p.once('exit', () => resolve());
  p.kill('SIGTERM');
});

const root = mkdtempSync(join(tmpdir(), 'hmm-bench-http-'));
const opsPort = await freePort();
const noopPort = await freePort();
// BENCH_PROFILE_DIR=dir writes a CPU profile of the stack process (node --cpu-prof).
const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
// The shipped V8 flags (src/app/nodeFlags.ts), as `npm start` and the image run it; BENCH_NO_NODE_FLAGS=1 leaves them off.
const flags = process.env.BENCH_NO_NODE_FLAGS === '1' ? [] : HMM_NODE_FLAGS;
const stack = spawn(process.execPath, [...flags, ...profile, join(repo, 'bin/hmm.mjs'), 'up'], {
  cwd: root,
  env: {
    ...process.env, HMM_ROOT: root, OPS_PORT: String(opsPort), ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, LOG_LEVEL: 'warn',
    MAX_ORDERS_PER_MIN: '100000000', STARTING_CASH_USD: '1000000000', MAX_NOTIONAL_USDT: '1000000', MIN_NOTIONAL_USDT: '10',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const noop = spawn(process.execPath, ['--input-type=module', '-e', `
  import Fastify from 'fastify';
  const app = Fastify();
  app.post('/noop', { schema: { body: { type: 'object' } } }, async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: ${noopPort} });
`], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });

try {
  await waitHttp(`http://127.0.0.1:${opsPort}/health`);
  await waitHttp(`http://127.0.0.1:${noopPort}/noop`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1500)); // first bars, allocator step
  const headers = { 'content-type': 'application/json', 'x-ops-token': TOKEN };
  const body = (side: string) => JSON.stringify({ symbol: 'BTCUSDT', side, quote_usd: 20, model: 'ma_crossover_v1' });

  // Warm both servers (JIT) before measuring.
  await run({ url: `http://127.0.0.1:${noopPort}/noop`, method: 'POST', headers, body: '{}', connections, duration: 2 });
  await run({ url: `http://127.0.0.1:${opsPort}/strategy/signal`, method: 'POST', headers, requests: [{ body: body('BUY') }, { body: body('SELL') }], connections, duration: 2 });

  const noopRes = await run({ url: `http://127.0.0.1:${noopPort}/noop`, method: 'POST', headers, body: '{}', connections, duration: seconds });
  const before = JSON.parse(readFileSync(join(root, 'engine/state/portfolio.json'), 'utf8')) as { seq: number };
  const cpuBefore = cpuSeconds(stack.pid!);
  const sigRes = await run({ url: `http://127.0.0.1:${opsPort}/strategy/signal`, method: 'POST', headers, requests: [{ body: body('BUY') }, { body: body('SELL') }], connections, duration: seconds });
  const cpuUsed = cpuSeconds(stack.pid!) - cpuBefore;
  await new Promise((r) => setTimeout(r, 400));
  const after = JSON.parse(readFileSync(join(root, 'engine/state/portfolio.json'), 'utf8')) as { seq: number };
  const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/aggregate/metrics`)).json() as { venues: { engine_sim: { orders_submitted: number; orders_rejected: number; rejected_by_reason: Record<string, number> } } };

  const perMin = sigRes.requests.average * 60;
  console.log(`signal-http: ${seconds}s, ${connections} connections, 2 cores shared with the load generator`);
  console.log(`  no-op Fastify route : ${noopRes.requests.average.toFixed(0)} req/s  p50 ${noopRes.latency.p50} ms  p99 ${noopRes.latency.p99} ms`);
  console.log(`  POST /strategy/signal: ${sigRes.requests.average.toFixed(0)} signals/s  p50 ${sigRes.latency.p50} ms  p99 ${sigRes.latency.p99} ms  non-2xx ${sigRes.non2xx}  errors ${sigRes.errors}`);
  console.log(`  stack process CPU  : ${(cpuUsed / seconds * 100).toFixed(0)}% of one core, ${(cpuUsed * 1e6 / (sigRes.requests.average * seconds)).toFixed(0)} µs CPU per signal`);
  console.log(`  ratio signal/no-op  : ${(sigRes.requests.average / noopRes.requests.average).toFixed(3)}`);
  console.log(`  fills booked        : ${after.seq - before.seq} during the run; engine totals ${JSON.stringify(metrics.venues.engine_sim.orders_submitted)} submitted, ${metrics.venues.engine_sim.orders_rejected} rejected ${JSON.stringify(metrics.venues.engine_sim.rejected_by_reason)}`);
  console.log(`  vs runbook scale-out threshold (500 signals/min): ${(perMin / 500).toFixed(0)}× (${perMin.toFixed(0)} signals/min)`);
} finally {
  await Promise.all([kill(stack), kill(noop)]);
  rmSync(root, { recursive: true, force: true });
}
