// A throw-away Redis with a standby for tests: a primary, one replica and three Sentinels,
// all real redis-server processes on ports of their own (there is no redis-sentinel binary
// here: a sentinel is `redis-server <conf> --sentinel`). Each is killed by its own pid; the
// sentinel config files (which Sentinel rewrites) live in a temp folder removed by stop().
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Child, freePort, spawnChild, until } from './hmmProcess.js';

export interface SentinelGroup {
  readonly name: string;
  readonly host: string;
  readonly primaryPort: number;
  readonly replicaPort: number;
  readonly sentinelPorts: readonly number[];
  readonly primary: Child;
  readonly replica: Child;
  readonly sentinels: readonly Child[];
  /** REDIS_SENTINELS / REDIS_SENTINEL_NAME for the stack's processes. */
  readonly env: { readonly REDIS_SENTINELS: string; readonly REDIS_SENTINEL_NAME: string };
  /** The primary's port as the first answering sentinel reports it. */
  primaryPortNow(): Promise<number>;
  /** A plain client of the server on `port`. */
  client(port: number): Redis;
  stop(): Promise<void>;
}

export interface SentinelGroupOptions {
  readonly name?: string;
  /** Sentinel's down-after-milliseconds: how long a silent primary counts as up; default 1000. */
  readonly downAfterMs?: number;
  /** Address every server binds and announces; default 127.0.0.1. */
  readonly host?: string;
}

function redisServer(label: string, port: number, host: string, dir: string, extra: readonly string[] = []): Child {
  return spawnChild(label, 'redis-server', ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {}, dir);
}

async function answers(port: number, host: string, probe: (r: Redis) => Promise<boolean>): Promise<boolean> {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await probe(r);
  } finally {
    r.disconnect();
  }
}

export async function startSentinelGroup(opts: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const name = opts.name ?? 'mymaster';
  const host = opts.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'hmm-sentinel-'));
  const children: Child[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    for (const c of children) c.signal('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [primaryPort, replicaPort, ...sentinelPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]) as [number, number, ...number[]];
    const primary = redisServer(`redis-primary:${primaryPort}`, primaryPort, host, dir);
    children.push(primary);
    await until('the primary', () => answers(primaryPort, host, async (r) => (await r.ping()) === 'PONG'));
    const replica = redisServer(`redis-replica:${replicaPort}`, replicaPort, host, dir, ['--replicaof', host, String(primaryPort)]);
    children.push(replica);
    // Sentinels learn the replica from the primary's INFO: start them once it is attached.
    await until('the replica in sync', () => answers(replicaPort, host, async (r) => /master_link_status:up/.test(await r.info('replication'))), 15_000);
    const sentinels = sentinelPorts.map((port) => {
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(conf, [
        `port ${port}`, `bind ${host}`, `dir ${dir}`,
        `sentinel monitor ${name} ${host} ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1_000}`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`, '',
      ].join('\n'));
      return spawnChild(`sentinel:${port}`, 'redis-server', [conf, '--sentinel'], {}, dir);
    });
    children.push(...sentinels);
    // A fail-over needs a majority that knows the replica and each other (hello messages every 2 s).
    for (const port of sentinelPorts) {
      await until(`sentinel ${port} to know the replica and the other sentinels`, () => answers(port, host, async (r) => {
        const replicas = (await r.call('SENTINEL', 'REPLICAS', name)) as unknown[];
        const others = (await r.call('SENTINEL', 'SENTINELS', name)) as unknown[];
        return replicas.length === 1 && others.length === sentinelPorts.length - 1;
      }), 20_000, 200);
    }
    return {
      name, host, primaryPort, replicaPort, sentinelPorts, primary, replica, sentinels,
      env: { REDIS_SENTINELS: sentinelPorts.map((p) => `${host}:${p}`).join(','), REDIS_SENTINEL_NAME: name },
      async primaryPortNow() {
        for (const port of sentinelPorts) {
          let found: number | null = null;
          await answers(port, host, async (r) => {
            const a = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
            found = a ? Number(a[1]) : null;
            return true;
          }).catch(() => false);
          if (found !== null) return found;
        }
        throw new Error('no sentinel answers');
      },
      client(port: number) {
        const r = new Redis({ host, port, maxRetriesPerRequest: 1 });
        r.on('error', () => undefined);
        clients.push(r);
        return r;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
