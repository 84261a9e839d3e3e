// The engine's outbox against a real Redis this test owns (a redis-server on a free port, with
// an append-only file so a restart keeps the stream, killed with SIGKILL and restarted):
//   - a Redis outage under load loses no event: an engine process trades, Redis dies for
//     OUTBOX_OUTAGE_MS (default 60 s, the figure) while orders are canceled and resting
//     orders fill; new orders are refused meanwhile (fail closed); when Redis returns the relay
//     catches up in order, and a consumer on the control-plane side has every event the ledger
//     holds exactly once, in seq order — every fill in the ledger among them;
//   - a batch relayed twice (its answer lost) reaches a consumer once: copies are dropped by id,
//     also by a consumer restarted from its persisted marks; a consumer without marks shows the
//     copies really were on the stream.
// The outage length is a parameter for local runs only: nothing in the relay depends on how long
// Redis is away (it retries the same rows with a capped backoff, and the rows wait in SQLite, not
// in a client queue with a retry limit), but npm test runs the 60 s once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RedisBus } from '../../src/bus/redisBus.js';
import { ProducerMarks, parseEventId } from '../../src/bus/eventIds.js';
import { Ledger } from '../../src/engine/ledger.js';
import { Outbox, OutboxBus, OutboxRelay } from '../../src/engine/outbox.js';
import { silentLogger } from '../../src/obs/logger.js';
import { PersistedMarks } from '../../src/app/processBus.js';
import { type Child, freePort, http, spawnChild, redisAnswers, spawnHmm, until, waitUp } from '../support/hmmProcess.js';
import { Scratch } from '../support/scratch.js';

const OUTAGE_MS = Number(process.env['OUTBOX_OUTAGE_MS'] ?? 60_000);
const TOKEN = 'outbox-token-0123456789abcdef';
const scratch = new Scratch('outbox');
const { children } = scratch;
const tmp = (label: string) => scratch.root(label);
const closers: (() => Promise<unknown> | unknown)[] = [];
let redisPort = 0;
let redisDir = '';
let redis: Child;
let redisUrl = '';

/** A redis-server that keeps its data across a SIGKILL (AOF, fsync on every write). */
function startRedis(): Child {
  const c = spawnChild(`redis:${redisPort}`, 'redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', redisDir,
  ], {}, redisDir);
  children.push(c);
  return c;
}


before(async () => {
  redisPort = await freePort();
  redisDir = tmp('redis');
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  redis = startRedis();
  await until('redis-server', () => redisAnswers(redisUrl));
});

after(async () => {
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await scratch.cleanup();
});

/** A control-plane-side consumer: every event with an id, in arrival order, admitted once. */
async function consumer(prefix: string, name: string, marks: ProducerMarks | null) {
  const bus = await RedisBus.connect({
    url: redisUrl, prefix, processId: name, startFrom: '0-0', blockMs: 200, ...(marks ? { marks } : {}),
    redisOptions: { retryStrategy: () => 300 },
  });
  closers.push(() => bus.close());
  const fills: string[] = [];
  bus.subscribeAll((payload, topic) => {
    if (topic === 'trade.fill') fills.push((payload as { tradeId: string }).tradeId);
  });
  return { bus, fills };
}

test(`a ${OUTAGE_MS / 1000} s Redis outage under load loses no event: the relay catches up in order, each event reaches the consumer once`, { timeout: OUTAGE_MS + 120_000 }, async () => {
  const prefix = 'ob:';
  const marks = new ProducerMarks();
  // Record the admitted ids in order by wrapping admit (what the bus admits, it delivers).
  const admitted: string[] = [];
  const admit = marks.admit.bind(marks);
  marks.admit = (id: string) => {
    const r = admit(id);
    if (r === 'new') admitted.push(id);
    return r;
  };
  const c = await consumer(prefix, 'outage-consumer', marks);

  const root = tmp('engine');
  const port = await freePort();
  const engine = spawnHmm('engine_sim', ['engine', '--venue', 'sim'], {
    HMM_ROOT: root, ENGINE_PORT: String(port), REDIS_URL: redisUrl, REDIS_BUS_PREFIX: prefix, OPS_API_TOKEN: TOKEN,
    MARKET_INTERVAL_MS: '100', WARMUP_BARS: '20', TRADE_SYMBOLS: 'ETHUSDT', HMM_OUTBOX_MAX_LAG_MS: '2000',
    MAX_ORDERS_PER_MIN: '100000', MAX_OPEN_ORDERS: '1000', LOSS_STREAK_LIMIT: '0', MAX_DRAWDOWN_PCT: '0', EQUITY_FLOOR_USD: '0',
  });
  children.push(engine);
  const base = `http://127.0.0.1:${port}`;
  await waitUp(engine, `${base}/health`);
  type Outboxed = { producer: string; last_seq: number; relayed_seq: number; backlog: number; lag_ms: number };
  const outbox = async () => ((await http('GET', `${base}/health`)).body['bus'] as { outbox: Outboxed }).outbox;
  const price = async () => Number((await http('GET', `${base}/prices/ETHUSDT`)).body['price']);
  let n = 0;
  const market = (side: 'BUY' | 'SELL') => http('POST', `${base}/orders`, { client_order_id: `m${++n}`, symbol: 'ETHUSDT', side, quantity: '0.01' }, TOKEN);
  const limit = async (px: number) => http('POST', `${base}/orders`, { client_order_id: `l${++n}`, symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.01', price: px.toFixed(2) }, TOKEN);

  // Load before the outage: market orders (fills) and resting limit orders, some near the price.
  const resting: string[] = [];
  for (let i = 0; i < 60; i++) {
    assert.equal((await market(i % 2 === 0 ? 'BUY' : 'SELL')).status, 201);
    if (i % 2 === 0) {
      const px = await price();
      const r = await limit(px * (i % 4 === 0 ? 0.999 : 0.98));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      resting.push((r.body['order'] as { client_order_id: string }).client_order_id);
    }
  }
  const producer = (await outbox()).producer;
  assert.ok((await outbox()).last_seq >= 120, 'the load wrote outbox rows');

  // Redis dies. The engine fails closed for new orders; cancels and fills still happen and wait.
  redis.signal('SIGKILL');
  await redis.exited;
  const outageStart = Date.now();
  await until('new orders refused', async () => (await market('BUY')).status === 403, 10_000, 200);
  const refused = await market('BUY');
  assert.equal(refused.status, 403);
  assert.equal(refused.body['error'], 'BUS_UNAVAILABLE');
  let canceled = 0;
  for (const id of resting.slice(0, 20)) {
    const r = await http('DELETE', `${base}/orders/${id}`, undefined, TOKEN);
    if (r.status === 200) canceled++;
  }
  assert.ok(canceled > 0, 'orders canceled during the outage');
  const during = await outbox();
  assert.ok(during.backlog >= canceled, `the cancels wait in the outbox (${JSON.stringify(during)})`);
  // The outage lasts its full length, with the engine still taking cancels now and then.
  let i = 20;
  while (Date.now() - outageStart < OUTAGE_MS) {
    await new Promise((r) => setTimeout(r, 2_000));
    const id = resting[i++];
    if (id !== undefined) await http('DELETE', `${base}/orders/${id}`, undefined, TOKEN);
    assert.equal((await market('SELL')).status, 403, 'still refused while the events cannot be published');
  }
  const backlogAtReturn = (await outbox()).backlog;
  assert.ok(backlogAtReturn > during.backlog - 1, 'nothing was dropped from the outbox during the outage');

  // Redis returns with its stream: the relay catches up, the consumer resumes.
  redis = startRedis();
  await until('redis back', () => redisAnswers(redisUrl), 10_000);
  await until('the outbox to catch up', async () => {
    const o = await outbox();
    return o.backlog === 0 && marks.mark(producer) === o.last_seq;
  }, 30_000, 200);
  await until('orders taken again', async () => (await market('BUY')).status === 201, 15_000, 200);
  await until('the last events reach the consumer', async () => marks.mark(producer) === (await outbox()).last_seq, 10_000, 100);
  const last = (await outbox()).last_seq;
  await engine.stop();

  // Exactly once, in order: the consumer's ids of this producer are 1..last with no gap.
  const seqs = admitted.map((id) => parseEventId(id)!).filter((e) => e.producer === producer).map((e) => e.seq);
  assert.equal(seqs.length, last, `every event once (${seqs.length} of ${last})`);
  assert.deepEqual(seqs, Array.from({ length: last }, (_, k) => k + 1), 'in seq order, none missing, none twice');
  // Every fill the ledger holds reached the consumer, once.
  const db = new Database(join(root, `engine/state/engine_sim.ledger.sqlite`), { readonly: true });
  const ledgerFills = (db.prepare('SELECT trade_id FROM fills ORDER BY seq').pluck().all() as string[]);
  const ledgerLast = Number(db.prepare('SELECT MAX(seq) FROM outbox').pluck().get());
  db.close();
  assert.ok(ledgerFills.length >= 60);
  assert.equal(ledgerLast, last);
  assert.deepEqual([...c.fills].sort(), [...ledgerFills].sort(), 'the consumer has exactly the ledger\'s fills');
  assert.equal(new Set(c.fills).size, c.fills.length, 'no fill twice');
  assert.equal(c.bus.stats().decodeErrors, 0);
});

test('a batch relayed twice (its answer lost) reaches consumers once; a consumer restarted from its saved marks drops the copies too', async () => {
  const prefix = 'dup:';
  const dir = tmp('dup');
  const producerBus = await RedisBus.connect({ url: redisUrl, prefix, processId: 'dup-engine', blockMs: 200 });
  closers.push(() => producerBus.close());
  const marksPath = join(dir, 'bus_marks.json');
  const saved = new PersistedMarks(marksPath, silentLogger(), 50);
  const a = await consumer(prefix, 'dup-a', saved.marks);
  const plain = await consumer(prefix, 'dup-plain', null);

  const open = () => {
    const ledger = new Ledger(join(dir, 'ledger.sqlite'));
    const outbox = new Outbox(ledger, { engine: 'engine_dup' });
    const relay = new OutboxRelay({ outbox, ledger, send: (e) => producerBus.appendEvents(e), log: silentLogger(), name: 'engine_dup' });
    return { ledger, outbox, relay, bus: new OutboxBus(producerBus, outbox, ledger, silentLogger()) };
  };
  const first = open();
  first.relay.start();
  for (let k = 1; k <= 50; k++) {
    first.ledger.transaction(() => first.bus.publish('trade.fill', { venue: 'sim', tradeId: `t${k}`, clientOrderId: `c${k}`, model: null, symbol: 'ETHUSDT', side: 'BUY', qty: '1', price: '1', fee: '0', liquidity: 'TAKER', ts: k }));
  }
  await until('50 relayed', () => first.outbox.relayedSeq === 50, 10_000);
  await first.relay.stop();
  await first.ledger.durable();
  first.ledger.close();
  // The relay's mark was not committed past 20 (a crash before its commit, or a lost answer).
  const raw = new Database(join(dir, 'ledger.sqlite'));
  raw.prepare("UPDATE meta SET value = '20' WHERE key = 'outbox_relayed'").run();
  raw.close();
  const second = open();
  assert.equal(second.outbox.producer, first.outbox.producer, 'the same ledger life: the same producer');
  second.relay.start();
  await until('the copies relayed', () => second.outbox.relayedSeq === 50, 10_000);
  await until('the consumers to read to the end', () => plain.fills.length === 80, 10_000);
  await until('consumer a to see the copies', () => a.bus.stats().duplicates === 30, 10_000);

  assert.deepEqual(a.fills, Array.from({ length: 50 }, (_, k) => `t${k + 1}`), 'each event once, in order');
  assert.equal(plain.fills.length, 80, 'the copies are on the stream: without ids they would be taken twice');
  await second.relay.stop();
  second.ledger.close();

  // A consumer restarted from the saved marks reads the whole stream and takes nothing again.
  saved.stop();
  const restored = new PersistedMarks(marksPath, silentLogger());
  const again = await consumer(prefix, 'dup-a-restarted', restored.marks);
  await until('the restarted consumer to read the stream', () => again.bus.stats().duplicates === 80, 10_000);
  assert.deepEqual(again.fills, []);
  restored.stop();
});
