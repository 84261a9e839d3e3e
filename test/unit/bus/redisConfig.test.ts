// The Redis endpoint is read once at start-up: one Redis by REDIS_URL, or a primary with
// replicas behind Sentinels (REDIS_SENTINELS + REDIS_SENTINEL_NAME); a bad value stops start-up
// naming the key, and no message ever carries a password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '../../../src/config/config.js';
import { loadRedisConfig, redisConfigured } from '../../../src/bus/redisConfig.js';
import { describeRedis } from '../../../src/bus/redisConnection.js';

function refusedFor(env: Record<string, string>, key: string, problem?: RegExp): void {
  assert.throws(() => loadRedisConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key);
    if (problem) assert.match(err.message, problem);
    for (const v of Object.values(env)) if (/^from-|^pw-|s3cret/.test(v)) assert.ok(!err.message.includes(v), `a refusal never carries a password: ${err.message}`);
    return true;
  });
}

test('neither key: one process, no Redis', () => {
  assert.equal(loadRedisConfig({}), null);
  assert.equal(redisConfigured({}), false);
});

test('REDIS_URL: one Redis', () => {
  const c = loadRedisConfig({ REDIS_URL: 'redis://:s3cret@10.0.0.2:6379/1' })!;
  assert.deepEqual(c.endpoint, { kind: 'url', url: 'redis://:s3cret@10.0.0.2:6379/1' });
  assert.equal(c.prefix, 'hmm:');
  assert.doesNotMatch(describeRedis(c.endpoint), /s3cret/);
  refusedFor({ REDIS_URL: 'http://x:1' }, 'REDIS_URL');
  refusedFor({ REDIS_URL: 'not a url' }, 'REDIS_URL');
});

test('REDIS_SENTINELS + REDIS_SENTINEL_NAME: the group behind its sentinels', () => {
  const c = loadRedisConfig({ REDIS_SENTINELS: 's1:26379, 10.0.0.7:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw-primary', REDIS_SENTINEL_PASSWORD: 'pw-sentinel', REDIS_BUS_PREFIX: 'x:' })!;
  assert.ok(c.endpoint.kind === 'sentinel');
  const { password, sentinelPassword, ...rest } = c.endpoint;
  assert.deepEqual(rest, {
    kind: 'sentinel', name: 'mymaster',
    sentinels: [{ host: 's1', port: 26379 }, { host: '10.0.0.7', port: 26380 }, { host: '::1', port: 26381 }],
  });
  assert.deepEqual([password?.reveal(), sentinelPassword?.reveal()], ['pw-primary', 'pw-sentinel']);
  assert.doesNotMatch(`${JSON.stringify(c)}\n${inspect(c, { depth: null })}`, /pw-/, 'the config prints whole without its passwords');
  assert.equal(c.prefix, 'x:');
  assert.equal(redisConfigured({ REDIS_SENTINELS: 's1:26379' }), true);
  const described = describeRedis(c.endpoint);
  assert.equal(described, "Sentinel group 'mymaster' via s1:26379,10.0.0.7:26380,::1:26381");
  assert.doesNotMatch(described, /pw-/);
});

test('passwords may come from files (mounted secrets)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-redis-cfg-'));
  try {
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    writeFileSync(join(dir, 'empty'), '\n');
    const group = { REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' };
    const c = loadRedisConfig({ ...group, REDIS_PASSWORD_FILE: join(dir, 'pw'), REDIS_SENTINEL_PASSWORD_FILE: join(dir, 'pw') })!;
    assert.equal(c.endpoint.kind === 'sentinel' ? c.endpoint.password?.reveal() : null, 'from-file');
    assert.equal(c.endpoint.kind === 'sentinel' ? c.endpoint.sentinelPassword?.reveal() : null, 'from-file');
    refusedFor({ ...group, REDIS_PASSWORD_FILE: join(dir, 'missing') }, 'REDIS_PASSWORD_FILE', /cannot read .*ENOENT/);
    refusedFor({ ...group, REDIS_SENTINEL_PASSWORD_FILE: join(dir, 'empty') }, 'REDIS_SENTINEL_PASSWORD_FILE', /is empty/);
    refusedFor({ ...group, REDIS_PASSWORD: '  ' }, 'REDIS_PASSWORD', /only white space/);
    refusedFor({ ...group, REDIS_PASSWORD_FILE: join(dir, 'pw'), REDIS_PASSWORD: 'from-env' }, 'REDIS_PASSWORD', /not both/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad Sentinel setting stops start-up naming the key', () => {
  refusedFor({ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINEL_NAME', /required/);
  refusedFor({ REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINELS', /not/);
  refusedFor({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /"s1" is not host:port/);
  refusedFor({ REDIS_SENTINELS: 's1:26379,', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /empty entry/);
  refusedFor({ REDIS_SENTINELS: 's1:99999', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS');
  refusedFor({ REDIS_SENTINELS: 's1:26379,s1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /twice/);
  refusedFor({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'my master' }, 'REDIS_SENTINEL_NAME');
  refusedFor({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://a:1' }, 'REDIS_SENTINELS', /not both/);
  refusedFor({ REDIS_URL: 'redis://a:1', REDIS_PASSWORD: 'x' }, 'REDIS_PASSWORD', /in the URL/);
});
