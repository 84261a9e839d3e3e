// Leadership among ops replicas: the singleton daemons (allocator, governance, canary) run
// only on the replica holding this lease. It is a Redis key set with SET NX PX, renewed
// by a compare-and-PEXPIRE script and released by compare-and-DEL, so only the holder can
// extend or drop it; a holder that dies simply stops renewing and the key expires.
//
// No two leaders at once: the holder steps down (onLost) at its own deadline, measured from
// when it SENT the last successful renewal minus a safety margin — Redis started the TTL no
// earlier than that, so the key outlives the local deadline and no one else can acquire
// before the old holder has stepped down (clock rates drifting apart by less than the margin
// over one TTL). A renewal that cannot reach Redis therefore ends leadership on time, without
// waiting for an answer.
//
// Fencing: each acquisition takes a token from a monotonic INCR counter. A writer that takes
// orders from the leader (a store, another service) keeps the highest token it has seen and
// refuses lower ones (FencingGate), so a stale leader that has not yet noticed its loss — a GC
// pause, a partition — cannot overwrite its successor's work.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis, RedisOptions } from 'ioredis';
import { type RedisTarget, createRedis } from '../../bus/redisConnection.js';
import type { Logger } from '../../obs/logger.js';

// KEYS[1] lease, KEYS[2] fence counter; ARGV[1] holder id, ARGV[2] ttl ms. Returns the token or 0.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'NX', 'PX', ARGV[2])
return token`;
// KEYS[1] lease; ARGV[1] our value, ARGV[2] ttl ms. 1 when renewed, 0 when it is not ours.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface Leadership {
  /** Fencing token: larger than any earlier leader's. */
  readonly token: number;
  /** Epoch ms of the acquisition. */
  readonly since: number;
}

export interface LeaderLeaseOptions {
  /** A redis:// URL or a Sentinel endpoint (bus/redisConnection.ts). */
  readonly url: RedisTarget;
  /** What is led, e.g. 'ops-daemons'; keys are `<prefix>leader:<name>` and `…:fence`. */
  readonly name: string;
  readonly prefix?: string;
  /** This replica's id; default host:pid:random. */
  readonly holderId?: string;
  /** Lease length; default 10000. */
  readonly ttlMs?: number;
  /** Renewal period while leading; default ttl / 3. */
  readonly renewEveryMs?: number;
  /** Acquisition attempts while following; default ttl / 3. */
  readonly retryEveryMs?: number;
  /** Subtracted from the local deadline for clock-rate drift; default max(50 ms, ttl / 10). */
  readonly safetyMarginMs?: number;
  readonly onAcquired?: (l: Leadership) => void;
  readonly onLost?: (reason: string) => void;
  readonly logger?: Logger;
  readonly redisOptions?: RedisOptions;
  /** The host's monotonic clock (ms) the deadline is kept in; default performance.now. */
  readonly hostNow?: () => number;
}

export class LeaderLease {
  readonly holderId: string;
  readonly key: string;
  readonly fenceKey: string;
  private readonly redis: Redis;
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly retryEveryMs: number;
  private readonly marginMs: number;
  private readonly log: Logger | null;
  private readonly onAcquired: (l: Leadership) => void;
  private readonly onLost: (reason: string) => void;
  private readonly hostNow: () => number;
  private current: (Leadership & { readonly value: string }) | null = null;
  /** hostNow() by which we must have stepped down. */
  private deadline = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private running = false;
  private ticking: Promise<void> | null = null;

  constructor(opts: LeaderLeaseOptions) {
    this.holderId = opts.holderId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    if (opts.holderId !== undefined && opts.holderId.includes('#')) throw new RangeError('holderId must not contain "#"');
    this.key = `${opts.prefix ?? 'hmm:'}leader:${opts.name}`;
    this.fenceKey = `${this.key}:fence`;
    this.ttlMs = opts.ttlMs ?? 10_000;
    if (!(this.ttlMs >= 100)) throw new RangeError(`ttlMs must be ≥ 100, got ${this.ttlMs}`);
    this.renewEveryMs = opts.renewEveryMs ?? Math.floor(this.ttlMs / 3);
    this.retryEveryMs = opts.retryEveryMs ?? Math.floor(this.ttlMs / 3);
    this.marginMs = opts.safetyMarginMs ?? Math.max(50, Math.floor(this.ttlMs / 10));
    if (this.renewEveryMs >= this.ttlMs - this.marginMs) throw new RangeError('renewEveryMs must be shorter than ttlMs minus the safety margin');
    this.log = opts.logger ?? null;
    this.onAcquired = opts.onAcquired ?? (() => undefined);
    this.onLost = opts.onLost ?? (() => undefined);
    this.hostNow = opts.hostNow ?? (() => performance.now());
    // Commands fail at once while disconnected instead of queueing: a renewal that arrives
    // late could extend a lease we have already given up.
    this.redis = createRedis(opts.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectionName: `hmm-leader:${this.holderId}`, ...opts.redisOptions });
    this.redis.on('error', () => undefined); // reported through failed renewals/acquisitions
  }

  /** Connects and makes the first attempt (so a lone replica leads as soon as this resolves). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.redis.connect();
    await this.tick();
    this.schedule();
  }

  isLeader(): boolean {
    return this.current !== null && this.hostNow() < this.deadline;
  }

  leadership(): Leadership | null {
    return this.isLeader() && this.current ? { token: this.current.token, since: this.current.since } : null;
  }

  /** Whether `token` is still the latest issued (no one has acquired since). */
  async isCurrentToken(token: number): Promise<boolean> {
    const v = await this.redis.get(this.fenceKey);
    return v !== null && Number(v) === token;
  }

  /**
   * Stops taking part. With release (the default) a leader deletes its key so another replica
   * takes over at its next attempt; without, it just stops renewing (as if it had died).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    await this.ticking?.catch(() => undefined);
    const held = this.current;
    if (held && (opts.release ?? true)) {
      await this.redis.eval(RELEASE, 1, this.key, held.value).catch(() => undefined);
    }
    if (held) this.stepDown('stopped');
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private schedule(): void {
    if (!this.running) return;
    this.tickTimer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        this.schedule();
      });
    }, this.current ? this.renewEveryMs : this.retryEveryMs);
    this.tickTimer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.current) await this.renew();
    else await this.acquire();
  }

  private async acquire(): Promise<void> {
    const sentAt = this.hostNow();
    const value = `${this.holderId}#`;
    let token: number;
    try {
      token = Number(await this.redis.eval(ACQUIRE, 2, this.key, this.fenceKey, this.holderId, String(this.ttlMs)));
    } catch {
      return; // Redis unreachable: nobody can acquire through it either; try again later
    }
    if (!this.running || token <= 0) return;
    this.current = { token, since: Date.now(), value: `${value}${token}` };
    this.extendDeadline(sentAt);
    this.log?.warn({ lease: this.key, holder: this.holderId, token }, `[OPS] ${this.holderId} is now the leader for ${this.key} (fencing token ${token})`);
    try {
      this.onAcquired({ token, since: this.current.since });
    } catch (err) {
      this.log?.error({ err }, `[OPS] onAcquired failed: ${(err as Error).message}`);
    }
  }

  private async renew(): Promise<void> {
    const held = this.current!;
    if (this.hostNow() >= this.deadline) {
      this.stepDown('the lease ran out before it could be renewed');
      return;
    }
    const sentAt = this.hostNow();
    let ok: number;
    try {
      ok = Number(await this.redis.eval(RENEW, 1, this.key, held.value, String(this.ttlMs)));
    } catch (err) {
      // Not renewed: the watchdog steps down at the deadline unless a later renewal succeeds.
      this.log?.warn({ lease: this.key }, `[OPS] renewing ${this.key} failed: ${(err as Error).message}; leadership ends in ${Math.max(0, Math.round(this.deadline - this.hostNow()))} ms unless renewed`);
      return;
    }
    if (this.current !== held) return;
    if (ok === 1) this.extendDeadline(sentAt);
    else this.stepDown('the lease is held by someone else (it expired and was taken over)');
  }

  private extendDeadline(sentAt: number): void {
    this.deadline = sentAt + this.ttlMs - this.marginMs;
    this.armWatchdog();
  }

  /**
   * The step-down at the deadline, whatever the renewal in flight does: a partition leaves it
   * unanswered, and the next tick (whose deadline check would step down) waits for it. A Node
   * timer can fire up to about 1 ms before the clock reaches the time it was set for (it counts
   * whole milliseconds from a truncated start), so one that fires early is set again for the
   * rest: a watchdog that just returned would leave a leader whose lease has run out with its
   * daemons running until the link came back.
   */
  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (!this.current) return;
      if (this.hostNow() >= this.deadline) this.stepDown('the lease ran out before it could be renewed');
      else this.armWatchdog();
    }, Math.ceil(Math.max(0, this.deadline - this.hostNow())) + 1);
    this.watchdog.unref?.();
  }

  private stepDown(reason: string): void {
    const held = this.current;
    if (!held) return;
    this.current = null;
    this.deadline = 0;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    this.log?.warn({ lease: this.key, holder: this.holderId, token: held.token, reason }, `[OPS] ${this.holderId} is no longer the leader for ${this.key}: ${reason}`);
    try {
      this.onLost(reason);
    } catch (err) {
      this.log?.error({ err }, `[OPS] onLost failed: ${(err as Error).message}`);
    }
  }
}

/**
 * The receiving side of fencing: admits a write only if its token is not lower than the
 * highest seen. Pure, for stores that track tokens themselves.
 */
export class FencingGate {
  private highest = 0;
  admit(token: number): boolean {
    if (!Number.isSafeInteger(token) || token < this.highest) return false;
    this.highest = token;
    return true;
  }
  get highestToken(): number {
    return this.highest;
  }
}
