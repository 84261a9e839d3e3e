// The Redis Streams bus against the real Redis at 127.0.0.1:6379: two processes' buses see
// each other's events, a dropped connection replays what it missed, the stream stays bounded.
// Every test uses its own key prefix and deletes it afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBus, type RedisBusOptions } from '../../src/bus/redisBus.js';
import type { AlertPayload } from '../../src/bus/topics.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(URL, { lazyConnect: true });
const prefixes: string[] = [];
const buses: RedisBus[] = [];

after(async () => {
  for (const b of buses) await b.close();
  for (const p of prefixes) {
    const keys = await admin.keys(`${p}*`);
    if (keys.length) await admin.del(...keys);
  }
  await admin.quit();
});

function prefix(): string {
  const p = `hmm-test-${randomBytes(4).toString('hex')}:`;
  prefixes.push(p);
  return p;
}

async function bus(p: string, name: string, extra: Partial<RedisBusOptions> = {}): Promise<RedisBus> {
  const b = await RedisBus.connect({ url: URL, prefix: p, processId: name, blockMs: 200, ...extra });
  buses.push(b);
  return b;
}

const alert = (n: number): AlertPayload => ({ severity: 'INFO', title: `t${n}`, message: `m${n}`, key: `k${n}`, ts: n });

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function killConnection(name: string): Promise<void> {
  await admin.connect().catch(() => undefined);
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `connection ${name} not found`);
  const id = /\bid=(\d+)/.exec(line)![1]!;
  await admin.client('KILL', 'ID', id);
}

test('two processes see each other\'s events, in order; a process does not get its own twice', async () => {
  const p = prefix();
  const a = await bus(p, 'proc-a');
  const b = await bus(p, 'proc-b');
  const seenA: string[] = [];
  const seenB: string[] = [];
  a.subscribeAll((payload, topic) => seenA.push(`${topic}:${(payload as { title?: string; tradeId?: string }).title ?? (payload as { tradeId?: string }).tradeId}`));
  b.subscribeAll((payload, topic) => seenB.push(`${topic}:${(payload as { title?: string; tradeId?: string }).title ?? (payload as { tradeId?: string }).tradeId}`));

  a.publish('alert', alert(1));
  assert.deepEqual(seenA, ['alert:t1'], 'local subscribers get it synchronously');
  for (let i = 0; i < 20; i++) {
    a.publish('trade.fill', { venue: 'sim', tradeId: `f${i}`, clientOrderId: 'c', model: null, symbol: 'BTCUSDT', side: 'BUY', qty: '1', price: '1', fee: '0', liquidity: 'TAKER', ts: i });
    a.publish('alert', alert(100 + i));
  }
  b.publish('alert', alert(2));
  await until(() => seenB.length >= 42 && seenA.length >= 42);
  const expectB = ['alert:t2', 'alert:t1', ...Array.from({ length: 20 }, (_, i) => [`trade.fill:f${i}`, `alert:t${100 + i}`]).flat()];
  assert.deepEqual(seenB, expectB, 'B sees A\'s events in A\'s order across topics');
  assert.equal(seenA.filter((x) => x === 'alert:t1').length, 1, 'own events are not re-delivered');
  assert.ok(seenA.includes('alert:t2'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seenA.length, 42);
  assert.ok(a.stats().skippedOwn >= 41);
  assert.equal(b.stats().received, 41);
});

test('a failing subscriber is isolated; typed subscriptions get only their topic', async () => {
  const p = prefix();
  const a = await bus(p, 'iso-a');
  const errors: string[] = [];
  const b = await bus(p, 'iso-b', { onHandlerError: (topic, err) => errors.push(`${topic}:${(err as Error).message}`) });
  const alerts: string[] = [];
  b.subscribe('alert', () => {
    throw new Error('boom');
  });
  b.subscribe('alert', (x) => alerts.push(x.title));
  const signals: string[] = [];
  b.subscribe('signal', (s) => signals.push(s.symbol));
  a.publish('alert', alert(7));
  await until(() => alerts.length === 1);
  assert.deepEqual(alerts, ['t7']);
  assert.deepEqual(signals, []);
  assert.deepEqual(errors, ['alert:boom']);
  assert.equal(b.stats().failed, 1);
});

test('a dropped reader connection replays what was published meanwhile, without loss or duplicates', async () => {
  const p = prefix();
  const a = await bus(p, 'replay-a');
  // B reconnects only after a pause, so A's events certainly land while B is away.
  const b = await bus(p, 'replay-b', { redisOptions: { retryStrategy: () => 400 } });
  const got: string[] = [];
  b.subscribe('alert', (x) => got.push(x.title));
  a.publish('alert', alert(0));
  await until(() => got.length === 1);
  await killConnection('hmm-bus-read:replay-b');
  for (let i = 1; i <= 30; i++) a.publish('alert', alert(i));
  await until(() => got.length === 31);
  assert.deepEqual(got, Array.from({ length: 31 }, (_, i) => `t${i}`));
  assert.ok(b.stats().reconnects >= 1);
  assert.equal(b.stats().gaps, 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got.length, 31, 'nothing delivered twice');
});

test('a publisher whose connection drops still gets its events to the stream', async () => {
  const p = prefix();
  const a = await bus(p, 'pubdrop-a', { redisOptions: { retryStrategy: () => 100 } });
  const b = await bus(p, 'pubdrop-b');
  const got: string[] = [];
  b.subscribe('alert', (x) => got.push(x.title));
  await killConnection('hmm-bus-pub:pubdrop-a');
  for (let i = 0; i < 10; i++) a.publish('alert', alert(i));
  await until(() => got.length === 10);
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `t${i}`));
  assert.equal(a.stats().publishErrors, 0);
});

test('the stream stays bounded, and events trimmed before a reader got them are reported as a gap', async () => {
  const p = prefix();
  const a = await bus(p, 'bound-a', { maxLen: 50 });
  const b = await bus(p, 'bound-b', { redisOptions: { retryStrategy: () => 600 } });
  let got = 0;
  b.subscribe('alert', () => got++);
  await killConnection('hmm-bus-read:bound-b');
  for (let i = 0; i < 1000; i++) a.publish('alert', alert(i));
  await until(() => a.stats().pendingPublishes === 0);
  const len = await admin.xlen(`${p}bus:events`);
  // MAXLEN ~ trims whole stream nodes (100 entries each by default): at most one node over.
  assert.ok(len >= 50 && len <= 150, `length ${len}`);
  await until(() => b.stats().gaps === 1 && got === len, 5000);
  assert.equal(b.stats().lost, 1000 - len, 'every event is either delivered or counted as lost');
});

test('close() stops delivery and closes both connections', async () => {
  const p = prefix();
  const a = await bus(p, 'close-a');
  const b = await bus(p, 'close-b');
  let got = 0;
  b.subscribe('alert', () => got++);
  a.publish('alert', alert(1));
  await until(() => got === 1);
  await b.close();
  a.publish('alert', alert(2));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got, 1);
  const list = (await admin.client('LIST')) as string;
  assert.ok(!list.includes('name=hmm-bus-read:close-b '), 'reader closed');
  assert.ok(!list.includes('name=hmm-bus-pub:close-b '), 'publisher closed');
  await b.close(); // twice is fine
});

test('an unreachable Redis fails start-up with a message that hides the password', async () => {
  await assert.rejects(
    RedisBus.connect({ url: 'redis://:s3cretpw@127.0.0.1:1', prefix: prefix(), connectTimeoutMs: 500, redisOptions: { retryStrategy: () => null } }),
    (err: Error) => /cannot reach Redis/.test(err.message) && !err.message.includes('s3cretpw'),
  );
});
