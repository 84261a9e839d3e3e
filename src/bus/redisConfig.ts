// Start-up configuration of the Redis side of a distributed deployment: the bus (Redis Streams)
// and the ops leader lease share one Redis. Off unless REDIS_URL is set (the embedded stack
// keeps its in-process bus). Keys:
//   REDIS_URL          redis://[user:pass@]host:port[/db]; enables the Redis bus and leader lease
//   REDIS_BUS_PREFIX   key prefix of the stream and the lease (default hmm:); one per stack sharing a Redis
//   REDIS_BUS_MAXLEN   approximate bound on the event stream (default 10000)
//   HMM_LEADER_TTL_MS  ops leader lease length (default 10000): fail-over takes at most about this long
//   HMM_OUTBOX_MAX_LAG_MS  an engine refuses new orders while its oldest event not yet on the
//                      stream is older than this (default 5000): it cannot publish, so it fails closed
import { ConfigError } from '../config/config.js';

export const REDIS_ENV_KEYS: readonly string[] = ['REDIS_URL', 'REDIS_BUS_PREFIX', 'REDIS_BUS_MAXLEN', 'HMM_LEADER_TTL_MS', 'HMM_OUTBOX_MAX_LAG_MS'];

export interface RedisDeploymentConfig {
  readonly url: string;
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

/** null when REDIS_URL is unset: single-process deployment. */
export function loadRedisConfig(env: Env = process.env): RedisDeploymentConfig | null {
  const url = env['REDIS_URL'];
  if (url === undefined || url === '') return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('REDIS_URL', 'expected redis://host:port[/db]');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('REDIS_URL', `expected a redis:// or rediss:// URL, got ${u.protocol}//`);
  const prefix = env['REDIS_BUS_PREFIX'] || 'hmm:';
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) throw new ConfigError('REDIS_BUS_PREFIX', 'letters, digits and :_.- only, at most 64');
  return {
    url,
    prefix,
    busMaxLen: int(env, 'REDIS_BUS_MAXLEN', 10_000, 100, 10_000_000),
    leaderTtlMs: int(env, 'HMM_LEADER_TTL_MS', 10_000, 1_000, 300_000),
    outboxMaxLagMs: int(env, 'HMM_OUTBOX_MAX_LAG_MS', 5_000, 100, 3_600_000),
  };
}
