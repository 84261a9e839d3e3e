// Leader lease against the real Redis at 127.0.0.1:6379: one leader at a time, fail-over
// within the TTL when the leader dies, no overlap when it is cut off, fencing tokens that grow.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { LeaderLease, type LeaderLeaseOptions } from '../../src/ops/cluster/leaderLease.js';
import { tcpRelay } from '../support/tcpRelay.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(URL);
const prefixes: string[] = [];
const leases: LeaderLease[] = [];

after(async () => {
  for (const l of leases) await l.stop({ release: true });
  for (const p of prefixes) {
    const keys = await admin.keys(`${p}*`);
    if (keys.length) await admin.del(...keys);
  }
  await admin.quit();
});

interface Timeline {
  acquired: { at: number; token: number }[];
  lost: { at: number; reason: string }[];
}

function lease(prefix: string, holderId: string, extra: Partial<LeaderLeaseOptions> = {}): { lease: LeaderLease; t: Timeline } {
  const t: Timeline = { acquired: [], lost: [] };
  const l = new LeaderLease({
    url: URL, name: 'daemons', prefix, holderId, ttlMs: 600, renewEveryMs: 150, retryEveryMs: 100, safetyMarginMs: 60,
    onAcquired: (x) => t.acquired.push({ at: performance.now(), token: x.token }),
    onLost: (reason) => t.lost.push({ at: performance.now(), reason }),
    ...extra,
  });
  leases.push(l);
  return { lease: l, t };
}

function newPrefix(): string {
  const p = `hmm-test-${randomBytes(4).toString('hex')}:`;
  prefixes.push(p);
  return p;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function killConnection(name: string): Promise<void> {
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `connection ${name} not found`);
  await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
}

test('of two replicas exactly one leads, and keeps leading while it renews', async () => {
  const p = newPrefix();
  const a = lease(p, 'replica-a');
  const b = lease(p, 'replica-b');
  await a.lease.start();
  await b.lease.start();
  assert.equal(a.lease.isLeader(), true);
  assert.equal(b.lease.isLeader(), false);
  assert.equal(a.lease.leadership()?.token, 1);
  await new Promise((r) => setTimeout(r, 1500)); // several TTLs
  assert.equal(a.lease.isLeader(), true);
  assert.equal(b.lease.isLeader(), false);
  assert.equal(b.t.acquired.length, 0);
  assert.equal(a.t.lost.length, 0);
  assert.equal(await admin.get(`${p}leader:daemons`), 'replica-a#1');
});

test('a leader that dies (stops renewing) is replaced within the TTL, with a larger token', async () => {
  const p = newPrefix();
  const a = lease(p, 'dies-a');
  const b = lease(p, 'dies-b');
  await a.lease.start();
  await b.lease.start();
  assert.equal(a.lease.isLeader(), true);
  const died = performance.now();
  await a.lease.stop({ release: false }); // no DEL: the key must expire
  await until(() => b.lease.isLeader());
  const took = b.t.acquired[0]!.at - died;
  // Within the TTL plus a retry or two (timers on a busy test machine run late; the bound is behaviour, not speed).
  assert.ok(took <= 600 + 2 * 100 + 300, `took over after ${Math.round(took)} ms (ttl 600 + retries)`);
  assert.ok(b.t.acquired[0]!.token > a.t.acquired[0]!.token);
  assert.equal(await b.lease.isCurrentToken(b.t.acquired[0]!.token), true);
});

test('a leader cut off from Redis steps down before anyone else can take over: no overlap', async () => {
  const p = newPrefix();
  // A cannot reconnect for 2 s after its connection is killed: its renewals fail.
  const a = lease(p, 'cut-a', { redisOptions: { retryStrategy: () => 2000 } });
  const b = lease(p, 'cut-b');
  await a.lease.start();
  await b.lease.start();
  assert.equal(a.lease.isLeader(), true);
  await killConnection('hmm-leader:cut-a');
  await until(() => b.lease.isLeader());
  assert.equal(a.t.lost.length, 1);
  assert.match(a.t.lost[0]!.reason, /ran out/);
  assert.ok(a.t.lost[0]!.at <= b.t.acquired[0]!.at, 'the old leader stepped down before the new one took over');
  assert.equal(a.lease.isLeader(), false);
  // A stale leader's token is no longer current: its writes can be refused.
  assert.equal(await b.lease.isCurrentToken(a.t.acquired[0]!.token), false);
  assert.ok(b.t.acquired[0]!.token > a.t.acquired[0]!.token);
  // Once A is back it follows: B keeps the lease.
  await new Promise((r) => setTimeout(r, 2300));
  assert.equal(b.lease.isLeader(), true);
  assert.equal(a.lease.isLeader(), false);
});

test('a leader that stops with release hands over at the other replica\'s next attempt', async () => {
  const p = newPrefix();
  const a = lease(p, 'rel-a');
  const b = lease(p, 'rel-b', { retryEveryMs: 50 });
  await a.lease.start();
  await b.lease.start();
  const released = performance.now();
  await a.lease.stop();
  assert.deepEqual(a.t.lost.map((x) => x.reason), ['stopped']);
  await until(() => b.lease.isLeader());
  assert.ok(b.t.acquired[0]!.at - released < 400, 'well before the TTL would have expired');
  assert.equal(await admin.get(`${p}leader:daemons`), `rel-b#${b.t.acquired[0]!.token}`);
});

test('a lease someone else took (a renewal finds another holder) ends leadership at once', async () => {
  const p = newPrefix();
  const a = lease(p, 'steal-a');
  await a.lease.start();
  await admin.set(`${p}leader:daemons`, 'intruder#99', 'PX', 5000);
  await until(() => a.t.lost.length === 1);
  assert.match(a.t.lost[0]!.reason, /held by someone else/);
  assert.equal(a.lease.isLeader(), false);
});

test('a leader whose renewal is never answered (a partition) steps down at its deadline, even when its timer fires before its clock gets there', async () => {
  // The watchdog is what ends leadership when a renewal hangs, and a Node timer can fire up to
  // about 1 ms before performance.now() reaches the time it was set for (whole milliseconds from
  // a truncated start). Played here in full by a lease clock that runs at half the timers' speed:
  // every time the watchdog fires, the clock says the deadline is still ahead.
  const p = newPrefix();
  // A relay to Redis that can go silent like a partition (test/support/tcpRelay.ts).
  const target = new globalThis.URL(URL);
  const relay = await tcpRelay({ host: target.hostname, port: Number(target.port || 6379) });
  const t0 = performance.now();
  const a = lease(p, 'hang-a', { url: `redis://127.0.0.1:${relay.port}`, hostNow: () => t0 + (performance.now() - t0) / 2 });
  await a.lease.start();
  assert.equal(a.lease.isLeader(), true);
  // The counterpart: while renewals are answered, the slow clock ends nothing.
  await new Promise((r) => setTimeout(r, 1500)); // several renewals
  assert.equal(a.lease.isLeader(), true);
  assert.equal(a.t.lost.length, 0);
  relay.silence();
  const silencedAt = performance.now();
  try {
    // The last renewal's deadline is ≤ 540 ms of the lease clock away: ≤ 1080 ms of the timers'.
    await until(() => a.t.lost.length > 0, 5_000);
    assert.match(a.t.lost[0]!.reason, /ran out/);
    assert.equal(a.lease.isLeader(), false);
    // Not before the lease clock's deadline: ≥ 540 − 75 ms of it, ≥ 930 ms of the timers'.
    assert.ok(performance.now() - silencedAt >= 900, `stepped down ${Math.round(performance.now() - silencedAt)} ms after the silence`);
  } finally {
    relay.close(); // resets the held connection: the pending renewal fails and the lease can stop
  }
});
