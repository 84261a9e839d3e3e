// The one factory every Redis client of the stack is made by: a URL is one Redis; a Sentinel
// endpoint becomes a client that asks the sentinels for the primary, checks the role it reaches
// and drops its connection when they announce a fail-over — with the caller's own options kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedis } from '../../../src/bus/redisConnection.js';
import { Secret } from '../../../src/config/secret.js';

test('a URL is one Redis, with the caller\'s options', () => {
  const r = createRedis('redis://:pw@10.0.0.2:6380/3', { lazyConnect: true, enableOfflineQueue: false, connectionName: 'x' });
  assert.deepEqual([r.options.host, r.options.port, r.options.db, r.options.password, r.options.enableOfflineQueue, r.options.connectionName], ['10.0.0.2', 6380, 3, 'pw', false, 'x']);
  assert.equal(r.options.sentinels, null);
  r.disconnect();
});

test('a Sentinel endpoint: the group through its sentinels, primary role checked, fail-overs followed', () => {
  const r = createRedis(
    { kind: 'sentinel', name: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }], password: new Secret('p'), sentinelPassword: new Secret('sp') },
    { lazyConnect: true, maxRetriesPerRequest: 0, connectionName: 'lease' },
  );
  const o = r.options as typeof r.options & { failoverDetector?: boolean };
  assert.deepEqual(o.sentinels, [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }]);
  assert.deepEqual([o.name, o.role, o.failoverDetector, o.password, o.sentinelPassword], ['mymaster', 'master', true, 'p', 'sp']);
  assert.deepEqual([o.maxRetriesPerRequest, o.connectionName], [0, 'lease']);
  r.disconnect();
});
