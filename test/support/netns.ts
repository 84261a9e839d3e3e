// Test hosts on real addresses: a Linux network namespace per "host", joined to this one by veth
// pairs on a private /30 each, so a process in it talks to Redis and ops over an interface that
// the test can cut. Needs root and `ip`; netnsUnavailable() says why not, for a skip.
//
// A cut takes the namespace's end of a link down: inside, the routes over it are gone and
// packets are not sent; outside, the peer loses carrier and what is sent to the namespace is
// dropped. Established TCP connections are not reset — their data waits in the kernel and is
// retransmitted when the link comes back, as over a real partition — and new connections fail.
// Everything made here is removed by remove() (the namespace takes its veth ends with it).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Child, REPO, freePort, redisAnswers, spawnChild, until } from './hmmProcess.js';

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => spawnSync(p, ['-V']).status === 0) ?? null;

function ip(args: readonly string[]): void {
  const r = spawnSync(IP ?? 'ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

/** Why namespaces cannot be made here, or null when they can (tried for real, then removed). */
export function netnsUnavailable(): string | null {
  if (IP === null) return 'the ip command (iproute2) is not installed';
  if (process.getuid?.() !== 0) return `network namespaces need root (running as uid ${process.getuid?.()})`;
  const probe = `hmmt-probe-${randomBytes(3).toString('hex')}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['link', 'add', `${probe.slice(-6)}a`, 'type', 'veth', 'peer', 'name', `${probe.slice(-6)}b`, 'netns', probe]);
  } catch (err) {
    return `cannot make a network namespace with a veth pair: ${(err as Error).message}`;
  } finally {
    spawnSync(IP, ['link', 'del', `${probe.slice(-6)}a`]);
    spawnSync(IP, ['netns', 'del', probe]);
  }
  return null;
}

export interface Link {
  /** Our end's address: what the namespace reaches this side at. */
  readonly outside: string;
  /** The namespace's end: what this side reaches the namespace at. */
  readonly inside: string;
  readonly outsideIf: string;
  readonly insideIf: string;
}

export interface NetHost {
  readonly ns: string;
  readonly links: readonly Link[];
  /** `hmm <args>` inside the namespace (same files, its own network). */
  spawnHmm(label: string, args: readonly string[], env: Readonly<Record<string, string>>): Child;
  /** Takes the namespace's end of `link` down (the partition). */
  cut(link: Link): void;
  restore(link: Link): void;
  remove(): void;
}

let hosts = 0;

/** A namespace with `links` veth pairs to this one; addresses 10.<a>.<b>.1 (outside) / .2 (inside). */
export function createNetHost(label: string, links: number): NetHost {
  const tag = randomBytes(2).toString('hex');
  const ns = `hmmt-${label}-${tag}`;
  const a = 200 + (process.pid % 50);
  const made: Link[] = [];
  ip(['netns', 'add', ns]);
  const remove = () => {
    for (const l of made) spawnSync(IP!, ['link', 'del', l.outsideIf]);
    spawnSync(IP!, ['netns', 'del', ns]);
  };
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    for (let i = 0; i < links; i++) {
      const b = (hosts * 8 + i + Number.parseInt(tag, 16)) % 250;
      const link: Link = { outside: `10.${a}.${b}.1`, inside: `10.${a}.${b}.2`, outsideIf: `h${tag}${label.slice(0, 3)}${i}`, insideIf: `n${tag}${label.slice(0, 3)}${i}` };
      ip(['link', 'add', link.outsideIf, 'type', 'veth', 'peer', 'name', link.insideIf, 'netns', ns]);
      made.push(link);
      ip(['addr', 'add', `${link.outside}/30`, 'dev', link.outsideIf]);
      ip(['link', 'set', link.outsideIf, 'up']);
      ip(['-n', ns, 'addr', 'add', `${link.inside}/30`, 'dev', link.insideIf]);
      ip(['-n', ns, 'link', 'set', link.insideIf, 'up']);
    }
    hosts++;
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ns, links: made,
    spawnHmm(childLabel, args, env) {
      // `ip netns exec` enters the namespace and execs node: the child's pid is node's.
      return spawnChild(childLabel, IP!, ['netns', 'exec', ns, process.execPath, join(REPO, 'bin/hmm.mjs'), ...args], env);
    },
    cut(link) {
      ip(['-n', ns, 'link', 'set', link.insideIf, 'down']);
    },
    restore(link) {
      ip(['-n', ns, 'link', 'set', link.insideIf, 'up']);
    },
    remove,
  };
}

/** A redis-server on a free port listening on loopback and on `addresses` (our ends of some
 *  links), pushed to `children` at once (the caller's clean-up kills it whatever happens next),
 *  resolved once it answers, with a client of it on loopback (the caller disconnects it).
 *  Protected mode (which refuses clients that are not on loopback when there is no password)
 *  is off: the namespaces are its clients, and nothing else can reach those addresses. */
export async function startRedisOn(addresses: readonly string[], children: Child[]): Promise<{ port: number; admin: Redis }> {
  const port = await freePort();
  children.push(spawnChild(`redis:${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...addresses, '--protected-mode', 'no', '--save', '', '--appendonly', 'no'], {}, '/tmp'));
  await until('redis-server', () => redisAnswers(`redis://127.0.0.1:${port}`));
  const admin = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  return { port, admin };
}
