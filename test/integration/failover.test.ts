// Faults a distributed deployment meets, each against the real thing:
//   - an engine loses its Redis (a redis-server this test owns, killed and restarted on the same
//     port): new orders are refused with BUS_UNAVAILABLE while it is down, taken again and the
//     engine's events flow again once it is back;
//   - a leader that stalls past its lease (a GC pause, a partition) and then writes: its
//     allocation, multiplier and derived-state writes are refused by fencing, each counted under
//     its own key, and the successor's allocation stands;
//   - a venue submit whose answer is lost: the order stays NEW and is settled by reconciliation
//     right away, not at the next periodic pass.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fx } from '../../src/core/decimal.js';
import { symbol } from '../../src/core/ids.js';
import { silentLogger } from '../../src/obs/logger.js';
import { DEFAULT_CAPITAL_POLICY } from '../../src/portfolio/capitalPolicy.js';
import { LeaderLease } from '../../src/ops/cluster/leaderLease.js';
import type { CapitalAllocator } from '../../src/portfolio/allocator.js';
import type { DerivedSnapshot } from '../../src/lifecycle/derivedFold.js';
import { OpsStateStore } from '../../src/ops/cluster/stateStore.js';
import { ReplicatedAllocator } from '../../src/portfolio/replicatedAllocator.js';
import { SimVenue } from '../../src/venues/sim/simVenue.js';
import type { Venue } from '../../src/venues/venue.js';
import { engineFixture } from '../support/engineFixture.js';
import { freePort, http, spawnHmm, redisAnswers, spawnRedis, until, waitUp } from '../support/hmmProcess.js';
import { Scratch } from '../support/scratch.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'failover-token-0123456789abcdef';
const scratch = new Scratch('failover');
const { children } = scratch;
const tmp = (label: string) => scratch.root(label);
const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await scratch.cleanup();
});

test('an engine whose Redis goes away refuses new orders (BUS_UNAVAILABLE) and takes them again when it returns', async () => {
  const redisPort = await freePort();
  let redis = spawnRedis(redisPort);
  children.push(redis);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  await until('redis-server', () => redisAnswers(redisUrl));
  const root = tmp('engine');
  const port = await freePort();
  const engine = spawnHmm('engine_sim', ['engine', '--venue', 'sim'], {
    HMM_ROOT: root, ENGINE_PORT: String(port), REDIS_URL: redisUrl, REDIS_BUS_PREFIX: 'fo:', OPS_API_TOKEN: TOKEN,
    MARKET_INTERVAL_MS: '100', WARMUP_BARS: '20', TRADE_SYMBOLS: 'BTCUSDT,ETHUSDT',
  });
  children.push(engine);
  const base = `http://127.0.0.1:${port}`;
  await waitUp(engine, `${base}/health`);
  const order = (id: string) => http('POST', `${base}/orders`, { client_order_id: id, symbol: 'ETHUSDT', side: 'BUY', quantity: '0.01' }, TOKEN);
  const busUp = async () => ((await http('GET', `${base}/health`)).body['bus'] as { up: boolean }).up;

  assert.equal(await busUp(), true);
  assert.equal((await order('before-outage')).status, 201);

  redis.signal('SIGKILL');
  await redis.exited;
  await until('the engine to notice', async () => (await busUp()) === false, 5_000);
  const refused = await order('during-outage');
  assert.equal(refused.status, 403);
  assert.equal(refused.body['error'], 'BUS_UNAVAILABLE');
  assert.match(String((refused.body['order'] as { reject_reason: string }).reject_reason), /^BUS_UNAVAILABLE: /);
  // Reads and the order it already has still answer; the refusal is on the audit line.
  assert.equal((await http('GET', `${base}/orders/before-outage`)).status, 200);
  assert.equal((await http('GET', `${base}/orders/during-outage`)).status, 404, 'a refused order is not booked');
  const lines = readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { client_order_id: string; status: string; reason: string | null });
  assert.ok(lines.some((l) => l.client_order_id === 'during-outage' && l.status === 'REJECTED' && l.reason === 'BUS_UNAVAILABLE'));
  // A replay of an order it already has is not a new order: answered from the ledger.
  assert.equal((await order('before-outage')).status, 200);

  redis = spawnRedis(redisPort);
  children.push(redis);
  await until('the engine to see Redis again', busUp, 10_000, 100);
  // Events written during the outage wait in the outbox; new orders are taken once they are on
  // the stream (an event older than HMM_OUTBOX_MAX_LAG_MS still waiting keeps them refused).
  await until('the outbox to catch up', async () => ((await http('GET', `${base}/health`)).body['bus'] as { outbox: { backlog: number } }).outbox.backlog === 0, 10_000, 100);
  assert.equal((await order('after-outage')).status, 201);
  // And its events reach the (new, empty) Redis again.
  const admin = new Redis(redisUrl);
  cleanups.push(async () => { await admin.quit(); });
  await until('bars on the restarted bus', async () => (await admin.xlen('fo:bus:events')) > 0, 10_000, 100);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /hmm_engine_bus_up\{venue="engine_sim"\} 1/);
  assert.match(metrics, /hmm_orders_rejected_total\{venue="engine_sim",reason="BUS_UNAVAILABLE"\} 1/);
  await engine.stop();
});

test('a stale leader\'s allocation write is refused by fencing; the successor\'s stands', async (t) => {
  const prefix = `hmm-fence-${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(REDIS_URL);
  cleanups.push(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
  });
  const dir = tmp('fence');
  const lease = (holderId: string) => new LeaderLease({ url: REDIS_URL, name: 'ops-daemons', prefix, holderId, ttlMs: 600, renewEveryMs: 150, retryEveryMs: 50, safetyMarginMs: 60 });
  const a = lease('replica_a');
  const b = lease('replica_b');
  // Stopped whether or not an assertion fails: a running lease's Redis connection keeps the
  // process alive, so a failure here would otherwise hang the run until the CI timeout.
  t.after(async () => { await a.stop(); await b.stop(); });
  const store = new OpsStateStore(REDIS_URL, prefix, a.fenceKey);
  await store.connect();
  cleanups.push(() => store.close());
  let fenced = 0;
  const allocator = (holder: string, file: string) => new ReplicatedAllocator(
    [join(dir, file), () => DEFAULT_CAPITAL_POLICY, () => ['m1', 'm2'], async () => 10_000, silentLogger(), null, {}] satisfies ConstructorParameters<typeof CapitalAllocator>,
    { store, holder, onFenced: () => { fenced++; } },
  );
  const allocA = allocator('replica_a', 'a.json');
  const allocB = allocator('replica_b', 'b.json');

  await a.start();
  const tokenA = a.leadership()!.token;
  allocA.setLeadership(a.leadership());
  await allocA.step();
  assert.equal((await store.readAllocations())!.token, tokenA);

  // A stalls: it stops renewing but still believes it leads (nobody told its allocator).
  await a.stop({ release: false });
  await b.start();
  await until('B to take over once A\'s lease expires', () => b.isLeader(), 3_000, 20);
  const tokenB = b.leadership()!.token;
  assert.ok(tokenB > tokenA);
  allocB.setLeadership(b.leadership());
  const fileB = await allocB.step();

  // A wakes up and writes with its old token: refused, nothing overwritten, A told.
  await allocA.step();
  assert.equal(fenced, 1);
  assert.equal(allocA.refused, 1);
  const stored = (await store.readAllocations())!;
  assert.deepEqual([stored.token, stored.holder], [tokenB, 'replica_b']);
  assert.deepEqual(stored.file.capital_quota_usd, fileB.capital_quota_usd);
  assert.deepEqual((await store.allocationWrites()).map((w) => w.token), [tokenB, tokenA], 'one write per leader, in order');
  assert.equal(await store.allocationRefusals(), 1);
  assert.deepEqual(await store.fencedRefusals(), { allocations: 1, exposure_multiplier: 0, derived: 0 });
  // A's other outputs are refused too, each counted under its own key: ops:allocations:refused
  // keeps meaning what the runbook says (refused allocation writes), and nothing is overwritten.
  const multiplierB = { multiplier: 0.7, token: tokenB, holder: 'replica_b', ts: Date.now() };
  assert.equal(await store.writeMultiplier(multiplierB), 'written');
  assert.equal(await store.writeMultiplier({ multiplier: 0.5, token: tokenA, holder: 'replica_a', ts: Date.now() }), 'fenced');
  assert.equal(await store.writeMultiplier({ multiplier: 0.4, token: tokenA, holder: 'replica_a', ts: Date.now() }), 'fenced');
  const snapshot: DerivedSnapshot = {
    format: 1, seq: 1, position: null, stages: {}, diagnostics: {},
    tracker: { tracks: {}, mirrors: {}, marks: {}, barTs: {}, pendingTs: null, sampledTs: null, fills: [] },
    shadow: { books: {}, markets: {}, seq: 0, applied: [] },
  };
  assert.equal(await store.writeDerived({ token: tokenA, holder: 'replica_a', ts: Date.now(), snapshot }), 'fenced');
  assert.deepEqual(await store.fencedRefusals(), { allocations: 1, exposure_multiplier: 2, derived: 1 });
  assert.equal(await store.allocationRefusals(), 1, 'refused multiplier and derived writes are not allocation refusals');
  assert.deepEqual(await store.readMultiplier(), multiplierB);
  assert.equal(await store.readDerived(), null);

  // A follower serves the leader's quotas and mirrors them to its own file.
  const follower = allocator('replica_c', 'c.json');
  follower.applyReplicated(stored);
  assert.deepEqual(follower.all(), stored.file.capital_quota_usd);
  assert.equal(follower.quota('m1'), stored.file.capital_quota_usd['m1']);
  assert.ok(existsSync(join(dir, 'c.json')));
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8')).capital_quota_usd, stored.file.capital_quota_usd);
});

test('a submit whose venue answer is lost is reconciled right away, not at the next periodic pass', async () => {
  const dir = tmp('lost-submit');
  const BTC = symbol('BTCUSDT');
  const venue = new SimVenue({ id: 'sim', startingBalances: { USDT: '100000' }, book: { fixedLevelQty: { BTCUSDT: '1' } }, statePath: join(dir, 'venue.sqlite') });
  venue.onBar({ symbol: BTC, ts: 1_000, open: 60_000, high: 60_000, low: 60_000, close: 60_000, volume: 1_000 });
  let mode: 'acted' | 'never-sent' = 'acted';
  // The venue acts on the order, then the answer is lost (a timeout after the venue received it).
  const flaky: Venue = {
    id: venue.id, allowsShort: venue.allowsShort, instruments: () => venue.instruments(), lastPrice: (s) => venue.lastPrice(s),
    submit: async (r) => {
      if (mode === 'acted') venue.submitNow(r);
      throw new Error(mode === 'acted' ? 'read timeout after the request was sent' : 'connect timeout');
    },
    cancel: (id) => venue.cancel(id), fetchOpenOrders: () => venue.fetchOpenOrders(), fetchOrder: (id) => venue.fetchOrder(id), fetchFills: (id) => venue.fetchFills(id),
    onEvent: (l) => venue.onEvent(l), close: () => venue.close(),
  };
  const f = engineFixture({
    dir, venue: () => flaky, snapshotPath: null, maxOrdersPerMin: 1_000,
    limits: { tradeSymbols: new Set(['BTCUSDT']), maxNotionalUsdt: fx('100000') },
    // A periodic pass far away: only the immediate hand-over can settle the order in time.
    reconcile: { intervalMs: 60_000, retryMs: 100, newOrderGraceMs: 300 },
  });
  const engine = f.engine;
  cleanups.push(() => f.close());
  await engine.reconcile('startup');
  engine.startReconcileDaemon();

  await assert.rejects(engine.submit({ clientOrderId: 'lost-answer', symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null }), /read timeout/);
  assert.equal(engine.getOrder('lost-answer')!.status, 'NEW');
  assert.ok(engine.listOpenOrders().some((o) => o.client_order_id === 'lost-answer'), 'an order of unknown outcome counts as open');
  await until('the fill booked by reconciliation', () => engine.getOrder('lost-answer')!.status === 'FILLED', 3_000, 20);
  assert.equal(engine.fillsForOrder('lost-answer').length, 1);
  assert.equal(engine.listOpenOrders().length, 0);

  // One the venue never received: rejected as unsent once its grace period is over.
  mode = 'never-sent';
  await assert.rejects(engine.submit({ clientOrderId: 'never-sent', symbol: BTC, side: 'BUY', type: 'MARKET', qty: fx('0.01'), price: null }), /connect timeout/);
  await until('the unsent order closed', () => engine.getOrder('never-sent')!.status === 'REJECTED', 3_000, 20);
  assert.match(engine.getOrder('never-sent')!.reject_reason!, /^NOT_SENT/);
  assert.equal(engine.listOpenOrders().length, 0);
});
