// Kill switch across processes: Redis, two sim engine processes and one ops process, all
// separate. Orders flow straight to both engines' HTTP APIs from this process while
// POST /kill goes to the ops process. Measured: how long /kill takes to answer, whether any
// order is acknowledged (201) after it answered, and when each engine's last acceptance was.
//
//   npx tsx bench/kill-cluster.bench.ts [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Child, freePort, http, spawnHmm, spawnRedis, until, waitUp } from '../test/support/hmmProcess.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 5) || 5;
const TOKEN = 'bench-kill-token-0123456789';
const roots: string[] = [];
const children: Child[] = [];
const root = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `hmm-bench-kill-${name}-`));
  roots.push(d);
  return d;
};

try {
  const redisPort = await freePort();
  children.push(spawnRedis(redisPort));
  const common = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_BUS_PREFIX: 'killbench:', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '200', WARMUP_BARS: '20', LOG_LEVEL: 'warn', MAX_ORDERS_PER_MIN: '100000000', STARTING_CASH_USD: '100000000', EXPOSURE_CAP_SYMBOL_USD: '1000000000', EXPOSURE_CAP_TOTAL_USD: '1000000000' };
  const engines: Record<string, string> = {};
  for (const [name, symbol] of [['engine_a', 'BTCUSDT'], ['engine_b', 'ETHUSDT']] as const) {
    const port = await freePort();
    const child = spawnHmm(name, ['engine', '--venue', 'sim', '--name', name], { ...common, HMM_ROOT: root(name), ENGINE_PORT: String(port), TRADE_SYMBOLS: symbol });
    children.push(child);
    engines[name] = `http://127.0.0.1:${port}`;
    await waitUp(child, `${engines[name]}/health`);
  }
  const opsPort = await freePort();
  const ops = spawnHmm('ops', ['ops'], { ...common, HMM_ROOT: root('ops'), OPS_PORT: String(opsPort), HMM_ENGINES: Object.entries(engines).map(([n, u]) => `${n}=${u}`).join(',') });
  children.push(ops);
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  await waitUp(ops, `${opsUrl}/health`);
  await until('ops sees both engines', async () => {
    const s = await http('GET', `${opsUrl}/status`);
    const state = s.body.state as { engines?: Record<string, unknown> } | undefined;
    return s.status === 200 && Object.keys(state?.engines ?? {}).length === 2;
  }, 30_000);

  console.log(`kill switch across processes: Redis + 2 engine processes + 1 ops process; ${runs} runs, 8 order loops per engine`);
  for (let run = 1; run <= runs; run++) {
    await http('POST', `${opsUrl}/kill`, { enabled: true, reason: 'bench run' }, TOKEN);
    const acks: { engine: string; at: number; status: number }[] = [];
    let flowing = true;
    let seq = 0;
    const loop = async (engine: string, symbol: string) => {
      while (flowing) {
        const r = await http('POST', `${engines[engine]}/orders`, { client_order_id: `kb-${run}-${engine}-${seq++}`, symbol, side: seq % 2 ? 'BUY' : 'SELL', quote_usd: 20 }, TOKEN);
        acks.push({ engine, at: performance.now(), status: r.status });
      }
    };
    const loops = [...Array(8)].flatMap(() => [loop('engine_a', 'BTCUSDT'), loop('engine_b', 'ETHUSDT')]);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const kill = await http('POST', `${opsUrl}/kill`, { enabled: false, reason: 'bench kill' }, TOKEN);
    const answered = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    flowing = false;
    await Promise.all(loops);
    const acceptedAfter = acks.filter((a) => a.at > answered && a.status === 201).length;
    const refusedAfter = acks.filter((a) => a.at > answered && a.status === 403).length;
    const last = (e: string) => {
      const l = acks.filter((a) => a.engine === e && a.status === 201).pop();
      return l ? `${((answered - l.at)).toFixed(1)} ms before` : 'none';
    };
    console.log(`  run ${run}: /kill answered ${kill.status} in ${(answered - t0).toFixed(1)} ms; acknowledged after it: ${acceptedAfter}; refused after it: ${refusedAfter}; last acceptance engine_a ${last('engine_a')}, engine_b ${last('engine_b')} the answer; ${acks.filter((a) => a.status === 201).length} accepted in the run`);
  }
} finally {
  await Promise.all(children.reverse().map((c) => c.stop(2000)));
  for (const d of roots) rmSync(d, { recursive: true, force: true });
}
