// The bus a process runs on, and whether it can trust it: the in-process bus when REDIS_URL is
// unset (one process, `hmm up`), the Redis Streams bus shared by every engine, ops replica and
// the CLI when it is set. RedisReachability watches the Redis connection for an engine, which
// fails safe on it: an engine whose events cannot reach the control plane (fills, rejections,
// the governance daemon's inputs) takes no new orders until Redis answers again.
// PersistedMarks keeps a control plane's event-id high-water marks (bus/eventIds.ts) in its root,
// so an engine's outbox re-sending a batch after this process restarted is still dropped by id.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InProcessBus, type Bus } from '../bus/bus.js';
import { RedisBus } from '../bus/redisBus.js';
import { type RedisTarget, createRedis, describeRedis } from '../bus/redisConnection.js';
import type { RedisDeploymentConfig } from '../bus/redisConfig.js';
import { ProducerMarks } from '../bus/eventIds.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { withTimeout } from '../util/withTimeout.js';

/** "<role>:<host>:<pid>:<random>": who wrote an entry on the shared stream. */
export function processIdFor(role: string): string {
  return `${role}:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export async function openBus(redis: RedisDeploymentConfig | null, role: string, log: Logger, metrics: Metrics | null, marks?: ProducerMarks): Promise<Bus> {
  const bus: Bus = redis === null
    ? new InProcessBus((topic, err) => log.error({ err, topic }, `[BUS] a ${topic} subscriber failed: ${(err as Error).message}`))
    : await RedisBus.connect({ url: redis.endpoint, prefix: redis.prefix, maxLen: redis.busMaxLen, processId: processIdFor(role), logger: log, ...(marks ? { marks } : {}) });
  if (metrics) bus.subscribeAll((_p, topic) => metrics.busEvents.inc({ topic }));
  if (redis !== null) log.info({ stream: (bus as RedisBus).stream }, `[BUS] ${role} on the shared Redis bus ${describeRedis(redis.endpoint)} (stream ${(bus as RedisBus).stream})`);
  return bus;
}

export interface ReachabilityState {
  readonly up: boolean;
  /** Epoch ms of the last change (or of the start). */
  readonly since: number;
  readonly last_error: string | null;
}

export interface RedisReachabilityOptions {
  readonly url: RedisTarget;
  /** Between two checks; default 500. */
  readonly intervalMs?: number;
  /** A PING not answered within this is a failure; default 1000. */
  readonly timeoutMs?: number;
  /** Consecutive failures before Redis counts as down; default 2 (one lost PING is noise). */
  readonly failuresToDown?: number;
  readonly log: Logger;
  /** Whose view this is, for log lines. */
  readonly name: string;
  readonly onChange?: (s: ReachabilityState) => void;
}

/**
 * Whether Redis answers, from a dedicated connection: PING every intervalMs, down after
 * failuresToDown misses or at once when the connection drops, up at the first answer after.
 */
export class RedisReachability {
  private readonly redis: Redis;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly failuresToDown: number;
  private state: ReachabilityState;
  private failures = 0;
  private first = true;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly opts: RedisReachabilityOptions) {
    this.intervalMs = opts.intervalMs ?? 500;
    this.timeoutMs = opts.timeoutMs ?? 1_000;
    this.failuresToDown = opts.failuresToDown ?? 2;
    this.state = { up: false, since: Date.now(), last_error: 'not checked yet' };
    // No offline queue: a PING either goes out now or fails now; the client reconnects by itself.
    this.redis = createRedis(opts.url, {
      lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: this.timeoutMs,
      retryStrategy: (times) => Math.min(1_000, 100 * times), connectionName: `hmm-watch:${opts.name}`,
    });
    this.redis.on('error', () => undefined); // reported through failed checks
    this.redis.on('close', () => {
      if (this.running) this.mark(false, 'connection closed');
    });
  }

  get current(): ReachabilityState {
    return this.state;
  }

  get up(): boolean {
    return this.state.up;
  }

  /** Connects and checks once, so `up` is meaningful when this resolves. */
  async start(): Promise<void> {
    this.running = true;
    await this.redis.connect().catch(() => undefined);
    await this.check();
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.redis.disconnect();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    try {
      await withTimeout(this.redis.ping(), this.timeoutMs, `no PONG within ${this.timeoutMs} ms`);
      this.failures = 0;
      this.mark(true, null);
    } catch (err) {
      this.failures++;
      if (this.failures >= this.failuresToDown || this.first) this.mark(false, (err as Error).message);
    }
  }

  private mark(up: boolean, error: string | null): void {
    if (!this.running) return;
    if (this.first) {
      // The first answer sets the state; only a Redis missing at start is worth a line.
      this.first = false;
      this.state = { up, since: Date.now(), last_error: error };
      if (!up) this.opts.log.error({ redis: describeRedis(this.opts.url), error }, `[BUS] ${this.opts.name}: Redis unreachable at start (${error}); new orders are REFUSED (BUS_UNAVAILABLE) until it answers`);
      this.opts.onChange?.(this.state);
      return;
    }
    if (this.state.up === up) {
      if (!up) this.state = { ...this.state, last_error: error };
      return;
    }
    this.state = { up, since: Date.now(), last_error: error };
    if (up) this.opts.log.warn({ redis: describeRedis(this.opts.url) }, `[BUS] ${this.opts.name}: Redis reachable again; new orders accepted`);
    else this.opts.log.error({ redis: describeRedis(this.opts.url), error }, `[BUS] ${this.opts.name}: Redis unreachable (${error}); new orders are REFUSED (BUS_UNAVAILABLE) until it returns`);
    this.opts.onChange?.(this.state);
  }
}

/**
 * A control plane's event-id marks, loaded from and saved to its root (ops/bus_marks.json):
 * written atomically at most once per `everyMs` when something new was admitted, and on stop. A
 * crash loses at most that interval of marks; what it folded from those events is saved on its
 * own schedule (the tracker's), so the two can differ by that much after a crash.
 */
export class PersistedMarks {
  readonly marks = new ProducerMarks();
  private readonly timer: NodeJS.Timeout;
  private lastError: string | null = null;

  constructor(private readonly path: string, private readonly log: Logger, everyMs = 1_000) {
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch { /* first start */ }
    if (text !== null) {
      try {
        const n = this.marks.restore(JSON.parse(text));
        log.info({ producers: n }, `[BUS] event-id marks of ${n} producer(s) restored from ${path}`);
      } catch (err) {
        log.error({ path }, `[BUS] ${path} is not JSON (${(err as Error).message}); starting with no marks (a batch an engine re-sends may be taken twice)`);
      }
    }
    this.timer = setInterval(() => this.save(false), everyMs);
    this.timer.unref();
  }

  save(force: boolean): void {
    if (!this.marks.takeChanged() && !force) return;
    try {
      writeJsonAtomic(this.path, { ...this.marks.snapshot(), saved_at: new Date().toISOString() });
      this.lastError = null;
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.log.error({ path: this.path }, `[BUS] saving event-id marks to ${this.path} failed: ${msg}`);
      this.lastError = msg;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.save(true);
  }
}
