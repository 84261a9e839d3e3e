// Start-up configuration of the Redis side of a distributed deployment: the bus (Redis Streams)
// and the ops leader lease share one Redis. Off unless REDIS_URL or REDIS_SENTINELS is set (the
// embedded stack keeps its in-process bus). Keys:
//   REDIS_URL               redis://[user:pass@]host:port[/db]: one Redis
//   REDIS_SENTINELS         host:port,host:port,…: the Sentinels of a primary with replicas
//                           (instead of REDIS_URL; the clients follow a fail-over)
//   REDIS_SENTINEL_NAME     the group the sentinels monitor (`sentinel monitor <name> …`), required with REDIS_SENTINELS
//   REDIS_PASSWORD[_FILE]   AUTH for the primary and replicas (with REDIS_SENTINELS; with REDIS_URL it goes in the URL)
//   REDIS_SENTINEL_PASSWORD[_FILE]  AUTH for the sentinels, when they require one
//                           (both read by config/secret.ts, as the venues' API keys are: the
//                           value or a file, trimmed, never empty, carried as a Secret)
//   REDIS_BUS_PREFIX        key prefix of the stream and the lease (default hmm:); one per stack sharing a Redis
//   REDIS_BUS_MAXLEN        approximate bound on the event stream (default 10000)
//   HMM_LEADER_TTL_MS       ops leader lease length (default 10000): fail-over takes at most about this long
//   HMM_OUTBOX_MAX_LAG_MS   an engine refuses new orders while its oldest event not yet on the
//                           stream is older than this (default 5000): it cannot publish, so it fails closed
import { ConfigError } from '../config/config.js';
import { readSecret } from '../config/secret.js';
import type { RedisEndpoint, SentinelAddress } from './redisConnection.js';

export const REDIS_ENV_KEYS: readonly string[] = [
  'REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_PASSWORD', 'REDIS_PASSWORD_FILE', 'REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_PASSWORD_FILE',
  'REDIS_BUS_PREFIX', 'REDIS_BUS_MAXLEN', 'HMM_LEADER_TTL_MS', 'HMM_OUTBOX_MAX_LAG_MS',
];

export interface RedisDeploymentConfig {
  /** Where every Redis client of this process connects (redisConnection.ts makes them). */
  readonly endpoint: RedisEndpoint;
  readonly prefix: string;
  readonly busMaxLen: number;
  readonly leaderTtlMs: number;
  readonly outboxMaxLagMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, key: string, dflt: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(key, `expected an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  return v;
}

/** "host:port,host:port": at least one; a port is required (Sentinel's usual one is 26379). */
export function parseSentinels(raw: string): SentinelAddress[] {
  const out: SentinelAddress[] = [];
  for (const part of raw.split(',').map((s) => s.trim())) {
    if (part === '') throw new ConfigError('REDIS_SENTINELS', `an empty entry in ${JSON.stringify(raw)}; expected host:port,host:port`);
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65_535) throw new ConfigError('REDIS_SENTINELS', `${JSON.stringify(part)} is not host:port (e.g. 10.0.0.5:26379)`);
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
    if (out.some((s) => s.host === host && s.port === port)) throw new ConfigError('REDIS_SENTINELS', `${part} is listed twice`);
    out.push({ host, port });
  }
  return out;
}

function endpointFrom(env: Env): RedisEndpoint | null {
  const url = env['REDIS_URL'] || undefined;
  const sentinels = env['REDIS_SENTINELS'] || undefined;
  if (url !== undefined && sentinels !== undefined) throw new ConfigError('REDIS_SENTINELS', 'set REDIS_URL (one Redis) or REDIS_SENTINELS (a primary with replicas), not both');
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError('REDIS_URL', 'expected redis://host:port[/db]');
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('REDIS_URL', `expected a redis:// or rediss:// URL, got ${u.protocol}//`);
    for (const k of ['REDIS_SENTINEL_NAME', 'REDIS_PASSWORD', 'REDIS_PASSWORD_FILE']) {
      if (env[k]) throw new ConfigError(k, `applies with REDIS_SENTINELS only; with REDIS_URL ${k.startsWith('REDIS_PASSWORD') ? 'put the password in the URL (redis://:password@host:port)' : 'there is no sentinel group'}`);
    }
    return { kind: 'url', url };
  }
  if (sentinels === undefined) {
    if (env['REDIS_SENTINEL_NAME']) throw new ConfigError('REDIS_SENTINELS', 'REDIS_SENTINEL_NAME is set but REDIS_SENTINELS (host:port,host:port) is not');
    return null;
  }
  const name = env['REDIS_SENTINEL_NAME'];
  if (!name) throw new ConfigError('REDIS_SENTINEL_NAME', 'required with REDIS_SENTINELS: the group name of `sentinel monitor <name> …` (often mymaster)');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError('REDIS_SENTINEL_NAME', `letters, digits and _.- only, at most 64, got ${JSON.stringify(name)}`);
  const password = readSecret(env, 'REDIS_PASSWORD');
  const sentinelPassword = readSecret(env, 'REDIS_SENTINEL_PASSWORD');
  return {
    kind: 'sentinel', sentinels: parseSentinels(sentinels), name,
    ...(password !== null ? { password } : {}),
    ...(sentinelPassword !== null ? { sentinelPassword } : {}),
  };
}

/** null when neither REDIS_URL nor REDIS_SENTINELS is set: single-process deployment. */
export function loadRedisConfig(env: Env = process.env): RedisDeploymentConfig | null {
  const endpoint = endpointFrom(env);
  if (endpoint === null) return null;
  const prefix = env['REDIS_BUS_PREFIX'] || 'hmm:';
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) throw new ConfigError('REDIS_BUS_PREFIX', 'letters, digits and :_.- only, at most 64');
  return {
    endpoint,
    prefix,
    busMaxLen: int(env, 'REDIS_BUS_MAXLEN', 10_000, 100, 10_000_000),
    leaderTtlMs: int(env, 'HMM_LEADER_TTL_MS', 10_000, 1_000, 300_000),
    outboxMaxLagMs: int(env, 'HMM_OUTBOX_MAX_LAG_MS', 5_000, 100, 3_600_000),
  };
}

/** Whether this environment names a shared Redis (either way), for commands that choose a default. */
export function redisConfigured(env: Env = process.env): boolean {
  return Boolean(env['REDIS_URL'] || env['REDIS_SENTINELS']);
}
