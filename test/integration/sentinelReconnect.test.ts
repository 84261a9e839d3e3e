// A Sentinel client whose reconnect is under way when the sentinels announce the new primary:
// it must still reach that primary. ioredis ends such a client for good (no reconnect, whatever
// its retryStrategy) when the failover detector's disconnect (+switch-master) lands while it is
// asking a sentinel where the primary is; the engine's reachability watch so ended refused every
// order BUS_UNAVAILABLE after a fail-over (sentinel.test.ts, "an order acknowledged after the
// fail-over" not within 20 s, while its bus reader and outbox had reconnected).
// Played here for sure: the first sentinel the clients ask answers 4 s late (a relay in front
// of a real one), so the reconnect that follows the primary's death is still asking it when
// the fail-over is announced. The counterpart: a client its owner closed stays closed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/bus/redisConnection.js';
import { until } from '../support/hmmProcess.js';
import { type SentinelGroup, startSentinelGroup } from '../support/redisSentinel.js';
import { type TcpRelay, tcpRelay } from '../support/tcpRelay.js';

let group: SentinelGroup | null = null;
const clients: Redis[] = [];
let relay: TcpRelay | null = null;

after(async () => {
  for (const c of clients) c.disconnect();
  relay?.close();
  await group?.stop();
});

test('a Sentinel client that is reconnecting when the fail-over is announced reaches the new primary', async () => {
  const g = await startSentinelGroup();
  group = g;
  // A sentinel that answers 4 s late: a relay to a real one that holds each reply.
  relay = await tcpRelay({ host: '127.0.0.1', port: g.sentinelPorts[0]! }, { replyDelayMs: 4_000 });
  const slow = relay.port;
  const endpoint = { kind: 'sentinel' as const, name: g.name, sentinels: [{ host: '127.0.0.1', port: slow }, ...g.sentinelPorts.map((port) => ({ host: '127.0.0.1', port }))] };
  // The engine's reachability watch's options (app/processBus.ts).
  const watch = createRedis(endpoint, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: (n) => Math.min(1_000, 100 * n), connectionName: 'hmm-watch:test' });
  watch.on('error', () => undefined);
  clients.push(watch);
  await watch.connect();
  assert.equal(await watch.ping(), 'PONG');
  const closed = createRedis(endpoint, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: (n) => Math.min(1_000, 100 * n) });
  closed.on('error', () => undefined);
  clients.push(closed);
  await closed.connect();
  closed.disconnect();

  g.primary.signal('SIGKILL');
  await g.primary.exited;
  await until('the sentinels to promote the replica', async () => (await g.primaryPortNow()) === g.replicaPort, 20_000, 100);
  // The watch reaches the new primary (its slow first sentinel makes each attempt take ≥ 4 s).
  await until('the watch to answer PING on the new primary', async () => (await watch.ping().catch(() => null)) === 'PONG', 20_000, 200)
    .catch((err: Error) => { throw new Error(`${err.message} (client status: ${watch.status})`); });
  assert.match(await watch.info('server'), new RegExp(`tcp_port:${g.replicaPort}\\b`));
  assert.equal(closed.status, 'end', 'a client its owner closed is not reconnected');
});
