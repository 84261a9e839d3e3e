// The distributed deployment as docker-compose runs it, as real processes on loopback: Redis
// (the shared one at 127.0.0.1:6379, under a fresh key prefix), `hmm engine --venue sim`,
// `hmm engine --venue binance` against the fake Binance (CCXT_API_BASE), and two `hmm ops`
// replicas. Signals reach both venues from either replica; weights and the kill switch set on
// one replica hold on the other and on every engine; the runbook's aggregates show both venues;
// SIGKILLing the leader moves the daemons to the other replica within a few seconds, and the
// allocation writes in Redis never interleave two leaders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { OPS_LEASE_NAME } from '../../src/ops/cluster/coordinator.js';
import { OpsStateStore } from '../../src/ops/cluster/stateStore.js';
import { FakeBinance } from '../support/fakeBinance.js';
import { type Child, freePort, http, spawnHmm, until, waitUp } from '../support/hmmProcess.js';
import { Scratch } from '../support/scratch.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'cluster-token-0123456789abcdef';
const KEY = 'clusterKey0123456789abcdef';
const SECRET = 'clusterSecret0123456789abcdef';
const prefix = `hmm-cluster-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(REDIS_URL);
const fake = new FakeBinance({ apiKey: KEY, apiSecret: SECRET, balances: { USDT: '20000' } });
const scratch = new Scratch('cluster');
const { children } = scratch;
const root = (label: string) => scratch.root(label);
const url: Record<string, string> = {};
const ops: Record<string, Child> = {};

const common = { REDIS_URL, REDIS_BUS_PREFIX: prefix, OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '200', WARMUP_BARS: '60', LOG_LEVEL: 'info' };

before(async () => {
  const fakeBase = await fake.start();
  const [pSim, pBin, pA, pB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  url['engine_sim'] = `http://127.0.0.1:${pSim}`;
  url['engine_binance'] = `http://127.0.0.1:${pBin}`;
  url['ops_a'] = `http://127.0.0.1:${pA}`;
  url['ops_b'] = `http://127.0.0.1:${pB}`;
  const sim = spawnHmm('engine_sim', ['engine', '--venue', 'sim'], { ...common, HMM_ROOT: root('sim'), ENGINE_PORT: String(pSim), TRADE_SYMBOLS: 'ETHUSDT' });
  const bin = spawnHmm('engine_binance', ['engine', '--venue', 'binance'], {
    ...common, HMM_ROOT: root('binance'), ENGINE_PORT: String(pBin), TRADE_SYMBOLS: 'BTCUSDT',
    CCXT_API_BASE: fakeBase, BINANCE_API_KEY: KEY, BINANCE_API_SECRET: SECRET, CCXT_POLL_MS: '300', MARKET_TIMEFRAME: '1s', MARKET_POLL_MS: '300',
  });
  children.push(sim, bin);
  await Promise.all([waitUp(sim, `${url['engine_sim']}/health`), waitUp(bin, `${url['engine_binance']}/health`)]);
  for (const [name, port] of [['ops_a', pA], ['ops_b', pB]] as const) {
    // Allocate every second, so the fail-over below sees allocation writes from both leaders.
    const r = scratch.allocatingRoot(name);
    const child = spawnHmm(name, ['ops'], {
      ...common, HMM_ROOT: r, OPS_PORT: String(port), OPS_REPLICA_ID: name, HMM_LEADER_TTL_MS: '1500',
      HMM_ENGINES: `engine_binance=${url['engine_binance']},engine_sim=${url['engine_sim']}`,
    });
    ops[name] = child;
    children.push(child);
  }
  await Promise.all(Object.keys(ops).map((n) => waitUp(ops[n]!, `${url[n]}/health`, 40_000)));
});

after(async () => {
  await scratch.cleanup((l) => /STRAT|RISK|ERROR|WARN/.test(l), 15);
  await fake.stop();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

type FencedRefusals = { allocations: number; exposure_multiplier: number; derived: number };
interface ClusterView { replica: string; leader: boolean; daemons_running: boolean; leadership: { token: number } | null; fenced_refusals: FencedRefusals }
const cluster = async (name: string) => (await http('GET', `${url[name]}/cluster`)).body as unknown as ClusterView;
const liveReplicas = () => Object.keys(ops).filter((n) => ops[n]!.proc.exitCode === null && ops[n]!.proc.signalCode === null);

async function leaderName(): Promise<string> {
  return until('exactly one leader', async () => {
    const views = await Promise.all(liveReplicas().map(cluster));
    const leaders = views.filter((v) => v.leader && v.daemons_running);
    return leaders.length === 1 ? leaders[0]!.replica : null;
  }, 15_000);
}

test('one replica leads; signals from either replica reach both venues (binance through the fake exchange, sim in its engine)', async () => {
  const leader = await leaderName();
  const follower = Object.keys(ops).find((n) => n !== leader)!;
  const views = await Promise.all(Object.keys(ops).map(cluster));
  assert.equal(views.filter((v) => v.leader).length, 1);

  // Binance takes client order ids of at most 36 characters: name one (the API's default is longer).
  const btc = await http('POST', `${url[leader]}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 100, client_order_id: 'cluster-btc-1' }, TOKEN);
  assert.equal(btc.status, 200, JSON.stringify(btc.body));
  assert.equal(btc.body['outcome'], 'routed');
  assert.equal(btc.body['engine'], 'engine_binance');
  const btcOrder = btc.body['order'] as { client_order_id: string; status: string };
  assert.equal(btcOrder.status, 'FILLED');
  assert.ok(fake.orderByClientId(btcOrder.client_order_id), 'the order reached the (fake) Binance');

  // A follower routes what its own API is asked to, through the same engines.
  const eth = await http('POST', `${url[follower]}/strategy/signal`, { symbol: 'ETHUSDT', side: 'BUY', quote_usd: 100 }, TOKEN);
  assert.equal(eth.status, 200, JSON.stringify(eth.body));
  assert.equal(eth.body['engine'], 'engine_sim');
  const ethOrder = eth.body['order'] as { client_order_id: string; status: string };
  assert.equal(ethOrder.status, 'FILLED');
  assert.equal(fake.orderByClientId(ethOrder.client_order_id), undefined, 'ETHUSDT trades on the sim venue, not at Binance');
  const atSim = await http('GET', `${url['engine_sim']}/orders/${ethOrder.client_order_id}`);
  assert.equal((atSim.body['order'] as { status: string }).status, 'FILLED');

  // Both replicas see both venues' fills on the shared bus (their trackers and dashboards).
  await until('both fills in /orders/recent of the leader', async () => {
    const recent = (await http('GET', `${url[leader]}/orders/recent?limit=100`)).body['orders'] as { client_order_id: string }[];
    return [btcOrder, ethOrder].every((o) => recent.some((r) => r.client_order_id === o.client_order_id));
  });
});

test('the runbook\'s aggregates show both venues', async () => {
  const leader = await leaderName();
  const metrics = (await http('GET', `${url[leader]}/aggregate/metrics`)).body as { venues: Record<string, { submitted?: number; trading_enabled: boolean }> };
  assert.deepEqual(Object.keys(metrics.venues).sort(), ['engine_binance', 'engine_sim']);
  assert.equal(metrics.venues['engine_binance']!.trading_enabled, true);
  const portfolio = (await http('GET', `${url[leader]}/aggregate/portfolio`)).body as { venues: Record<string, { exposure: number }>; exposure: number };
  assert.deepEqual(Object.keys(portfolio.venues).sort(), ['engine_binance', 'engine_sim']);
  assert.ok(portfolio.venues['engine_binance']!.exposure > 0 && portfolio.venues['engine_sim']!.exposure > 0, JSON.stringify(portfolio.venues));
  const exposure = (await http('GET', `${url[leader]}/aggregate/exposure`)).body as { by_venue: Record<string, { gross_usd: number }>; by_symbol: Record<string, { venues: Record<string, number> }> };
  assert.deepEqual(Object.keys(exposure.by_venue).sort(), ['engine_binance', 'engine_sim']);
  assert.ok(exposure.by_symbol['BTCUSDT']!.venues['engine_binance']! > 0);
  assert.ok(exposure.by_symbol['ETHUSDT']!.venues['engine_sim']! > 0);
});

test('weights set on one replica hold on the other', async () => {
  const [a, b] = Object.keys(ops) as [string, string];
  const set = await http('POST', `${url[a]}/strategy/weights`, { weights: { ma_crossover_v1: 0.37 } }, TOKEN);
  assert.equal(set.status, 200, JSON.stringify(set.body));
  await until('the weight on the other replica', async () => {
    const w = (await http('GET', `${url[b]}/strategy/weights`)).body as { weights: Record<string, number> };
    return w.weights['ma_crossover_v1'] === 0.37;
  }, 5_000);
});

const ENGINES = ['engine_sim', 'engine_binance'] as const;
/** How many trading-state documents each engine applied (a version it had already applied is
 *  ignored and not counted), and its version. */
const applications = async () => Object.fromEntries(await Promise.all(ENGINES.map(async (e) => {
  const t = (await http('GET', `${url[e]}/health`)).body['trading_state'] as { applied: number; ignored: number; version: number };
  return [e, t] as const;
})));

test('POST /kill on either replica stops orders on every engine before it answers, and holds on the other replica', async () => {
  const leader = await leaderName();
  const follower = Object.keys(ops).find((n) => n !== leader)!;
  const before = await applications();
  const kill = await http('POST', `${url[follower]}/kill`, { enabled: false, reason: 'cluster drill' }, TOKEN);
  assert.equal(kill.status, 200, JSON.stringify(kill.body));
  // No waiting: the answer came after every engine applied it.
  for (const e of ['engine_sim', 'engine_binance']) {
    const h = (await http('GET', `${url[e]}/health`)).body;
    assert.equal(h['trading_enabled'], false, `${e} stopped`);
  }
  const direct = await http('POST', `${url['engine_binance']}/orders`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50 }, TOKEN);
  assert.equal(direct.status, 403);
  assert.equal(direct.body['error'], 'TRADING_DISABLED');
  await until('the kill on the other replica', async () => ((await http('GET', `${url[leader]}/status`)).body['state'] as { trading_enabled: boolean }).trading_enabled === false, 5_000);
  const viaLeader = await http('POST', `${url[leader]}/strategy/signal`, { symbol: 'ETHUSDT', side: 'BUY', quote_usd: 50 }, TOKEN);
  assert.equal(viaLeader.status, 403);
  assert.equal(viaLeader.body['reason'], 'TRADING_DISABLED');

  const resume = await http('POST', `${url[leader]}/kill`, { enabled: true, reason: 'drill over' }, TOKEN);
  assert.equal(resume.status, 200);
  for (const e of ['engine_sim', 'engine_binance']) assert.equal((await http('GET', `${url[e]}/health`)).body['trading_enabled'], true);
  await until('the resume on the other replica', async () => ((await http('GET', `${url[follower]}/status`)).body['state'] as { trading_enabled: boolean }).trading_enabled === true, 5_000);

  // One change, one application per engine, whatever the number of replicas: each engine heard
  // each change by push (from the replica that decided it) and by bus, and each replica polls
  // Redis besides; every repeat was ignored.
  await new Promise((r) => setTimeout(r, 2_500)); // two replica polls, bus deliveries settled
  const after = await applications();
  const version = ((await http('GET', `${url[leader]}/trading/state`)).body as { version: number }).version;
  for (const e of ENGINES) {
    assert.equal(after[e]!.applied - before[e]!.applied, 2, `${e}: the kill and the resume, once each (${JSON.stringify([before[e], after[e]])})`);
    assert.ok(after[e]!.ignored - before[e]!.ignored >= 2, `${e}: the bus copies were ignored`);
    assert.equal(after[e]!.version, version, `${e} holds the cluster's version`);
  }
  assert.equal(((await http('GET', `${url[follower]}/trading/state`)).body as { version: number }).version, version, 'both replicas hold one document');
});

test('SIGKILL of the leader: the other replica takes the daemons over within a few seconds; allocation writes never interleave', async (t) => {
  const leader = await leaderName();
  const survivor = Object.keys(ops).find((n) => n !== leader)!;
  const oldToken = (await cluster(leader)).leadership!.token;
  await until('an allocation write by the leader', async () => (await admin.llen(`${prefix}ops:allocations:writes`)) > 0);

  const killedAt = Date.now();
  ops[leader]!.signal('SIGKILL');
  await ops[leader]!.exited;
  const view = await until('the survivor leads', async () => {
    const v = await cluster(survivor);
    return v.leader && v.daemons_running ? v : null;
  }, 10_000, 50);
  const tookMs = Date.now() - killedAt;
  // About one lease TTL (1.5 s) plus a retry interval; "a few seconds" is the contract.
  assert.ok(tookMs < 6_000, `fail-over took ${tookMs} ms`);
  t.diagnostic(`fail-over: ${survivor} led ${tookMs} ms after ${leader} was killed (lease TTL 1500 ms)`);
  const newToken = view.leadership!.token;
  assert.ok(newToken > oldToken);

  // The new leader allocates (and says so in Redis) with its own token.
  await until('an allocation write by the new leader', async () => {
    const raw = await admin.lrange(`${prefix}ops:allocations:writes`, 0, 0);
    return raw.length > 0 && (JSON.parse(raw[0]!) as { token: number }).token === newToken;
  }, 8_000);
  const writes = (await admin.lrange(`${prefix}ops:allocations:writes`, 0, -1)).map((s) => JSON.parse(s) as { token: number; holder: string; ts: number }).reverse();
  const firstNew = writes.findIndex((w) => w.token === newToken);
  assert.ok(firstNew > 0, 'writes from both leaders are on record');
  // Tokens never go back: no write of an earlier leader lands after a later leader's.
  for (let i = 1; i < writes.length; i++) assert.ok(writes[i]!.token >= writes[i - 1]!.token && writes[i]!.ts >= writes[i - 1]!.ts, JSON.stringify(writes));
  for (const [i, w] of writes.entries()) {
    if (i < firstNew) assert.ok(w.token <= oldToken, 'before the take-over only the old leader (or earlier ones) wrote');
    else assert.deepEqual([w.token, w.holder], [newToken, survivor], 'after it only the new leader wrote');
  }
  // Each leader output counts its refused writes under its own key: none of them may have one,
  // and GET /cluster (the operator's view of those counters) says so.
  const outputs = ['allocations', 'exposure_multiplier', 'derived'] as const;
  const counted = async () => Object.fromEntries(await Promise.all(outputs.map(async (o) => [o, Number((await admin.get(`${prefix}ops:${o}:refused`)) ?? 0)] as const)));
  assert.deepEqual(await counted(), { allocations: 0, exposure_multiplier: 0, derived: 0 }, 'no stale write was even attempted');
  assert.deepEqual((await cluster(survivor)).fenced_refusals, { allocations: 0, exposure_multiplier: 0, derived: 0 });
  // The killed leader's late multiplier write (sent before it died, landing now) is refused, and
  // GET /cluster shows the cluster-wide count under that output alone.
  const late = new OpsStateStore(REDIS_URL, prefix, `${prefix}leader:${OPS_LEASE_NAME}:fence`, 'cluster-test-late-writer');
  await late.connect();
  try {
    assert.equal(await late.writeMultiplier({ multiplier: 0.1, token: oldToken, holder: leader, ts: Date.now() }), 'fenced');
  } finally {
    await late.close();
  }
  assert.deepEqual(await counted(), { allocations: 0, exposure_multiplier: 1, derived: 0 });
  assert.deepEqual((await cluster(survivor)).fenced_refusals, { allocations: 0, exposure_multiplier: 1, derived: 0 });

  // Still one working control plane: a signal routes through the survivor.
  const r = await http('POST', `${url[survivor]}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50, client_order_id: 'cluster-btc-after-failover' }, TOKEN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body['outcome'], 'routed');
});
