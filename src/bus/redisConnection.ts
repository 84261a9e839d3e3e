// Where the stack's Redis is, and the one factory every Redis client of the stack is made by
// (bus publisher and reader, the engine's reachability watch, the ops leader lease, the ops
// state store, the engine's start-up read of the trading state). Two kinds of endpoint:
//   - a URL (REDIS_URL): one Redis; losing it stops the bus until it returns;
//   - Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME): the clients ask the sentinels which
//     server is the primary of the named group, connect there, and ask again on every
//     reconnect, so a fail-over the sentinels perform is followed without a restart.
// Decisions:
//   - The role is checked on every connect (ioredis compares INFO's role with "master"): a
//     client never writes to a server that has been demoted to a replica.
//   - failoverDetector: each client also listens for the sentinels' +switch-master and drops
//     its connection when they announce a new primary. Without it a client still connected to
//     an old primary that is alive but cut off from the sentinels (a partition, a manual
//     fail-over) would keep talking to it until it was demoted.
//   - The callers keep their own retry and queueing options (the lease must fail fast, the bus
//     reader must never give up); this factory only decides where to connect, and keeps a
//     Sentinel client to those options where ioredis would drop it (keepReconnecting below).
import { Redis, type RedisOptions } from 'ioredis';
import type { Secret } from '../config/secret.js';

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export type RedisEndpoint =
  | { readonly kind: 'url'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly SentinelAddress[];
      /** The group name the sentinels monitor (`sentinel monitor <name> …`). */
      readonly name: string;
      /** AUTH for the primary and replicas (REDIS_PASSWORD); revealed only to ioredis. */
      readonly password?: Secret;
      /** AUTH for the sentinels themselves (REDIS_SENTINEL_PASSWORD). */
      readonly sentinelPassword?: Secret;
    };

/** A redis:// URL, or an endpoint from the deployment's configuration. */
export type RedisTarget = string | RedisEndpoint;

function endpointOf(target: RedisTarget): RedisEndpoint {
  return typeof target === 'string' ? { kind: 'url', url: target } : target;
}

/** A client for `target`; `options` are the caller's (retries, queueing, connection name). */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  const e = endpointOf(target);
  if (e.kind === 'url') return new Redis(e.url, options);
  return keepReconnecting(options, (opts) => new Redis({
    ...opts,
    sentinels: e.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: e.name,
    role: 'master',
    failoverDetector: true,
    ...(e.password !== undefined ? { password: e.password.reveal() } : {}),
    ...(e.sentinelPassword !== undefined ? { sentinelPassword: e.sentinelPassword.reveal() } : {}),
  }));
}

/**
 * ioredis ends a Sentinel client for good — no reconnect, whatever its retryStrategy — when the
 * failover detector's disconnect (+switch-master) lands while the client is asking a sentinel
 * where the primary is: a reconnect under way during the very fail-over being announced. An
 * engine's reachability watch so ended refused every order (BUS_UNAVAILABLE) after a fail-over
 * until it was restarted. Such a client is connected again here, on its own retryStrategy; one
 * its owner closed (disconnect, quit) stays closed, and so does one whose strategy gives up.
 */
function keepReconnecting(options: RedisOptions, make: (options: RedisOptions) => Redis): Redis {
  // Whether the caller's retryStrategy gave up (returned no delay) since the last 'ready': an
  // 'end' that follows is the caller's decision, not ioredis's, and is left alone.
  let gaveUp = false;
  const strategy = options.retryStrategy;
  const redis = make(strategy == null ? options : {
    ...options,
    retryStrategy: (times: number) => {
      const delay = strategy(times);
      if (typeof delay !== 'number') gaveUp = true;
      return delay;
    },
  });
  let closedByOwner = false;
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) closedByOwner = true;
    disconnect(reconnect);
  };
  const quit = redis.quit.bind(redis);
  redis.quit = ((...args: Parameters<Redis['quit']>) => {
    closedByOwner = true;
    return quit(...args);
  }) as Redis['quit'];
  let attempts = 0;
  redis.on('ready', () => {
    attempts = 0;
    gaveUp = false;
  });
  redis.on('end', () => {
    const delay = closedByOwner || gaveUp ? null : redis.options.retryStrategy?.(++attempts);
    if (typeof delay !== 'number') return;
    setTimeout(() => {
      if (!closedByOwner && redis.status === 'end') redis.connect().catch(() => undefined);
    }, delay).unref();
  });
  return redis;
}

/** Where the clients connect, for log lines and error messages: never a password. */
export function describeRedis(target: RedisTarget): string {
  const e = endpointOf(target);
  if (e.kind === 'url') return redactUrl(e.url);
  return `Sentinel group '${e.name}' via ${e.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'REDACTED';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
