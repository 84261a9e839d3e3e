// The bus a process runs on, and whether it can trust it: the in-process bus when REDIS_URL is
// unset (one process, `hmm up`), the Redis Streams bus shared by every engine, ops replica and
// the CLI when it is set. RedisReachability watches the Redis connection for an engine, which
// fails safe on it: an engine whose events cannot reach the control plane (fills, rejections,
// the governance daemon's inputs) takes no new orders until Redis answers again.
// PersistedMarks keeps a control plane's event-id high-water marks (bus/eventIds.ts) in its root,
// so an engine's outbox re-sending a batch after this process restarted is still dropped by id;
// a damaged marks file is set aside and the marks rebuilt from the stream, an unreadable one
// stops start-up.
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
import { quarantineFile } from '../util/quarantine.js';
import { StackError } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { withTimeout } from '../util/withTimeout.js';

/** "<role>:<host>:<pid>:<random>": who wrote an entry on the shared stream. */
export function processIdFor(role: string): string {
  return `${role}:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** A consumer's event-id marks, and whether the bus rebuilds them from the stream first. */
export interface BusMarks {
  readonly marks: ProducerMarks;
  readonly seedFromStream: boolean;
}

export async function openBus(redis: RedisDeploymentConfig | null, role: string, log: Logger, metrics: Metrics | null, marks?: BusMarks): Promise<Bus> {
  const bus: Bus = redis === null
    ? new InProcessBus((topic, err) => log.error({ err, topic }, `[BUS] a ${topic} subscriber failed: ${(err as Error).message}`))
    : await RedisBus.connect({
      url: redis.endpoint, prefix: redis.prefix, maxLen: redis.busMaxLen, processId: processIdFor(role), logger: log,
      ...(marks ? { marks: marks.marks, seedMarks: marks.seedFromStream } : {}),
    });
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

/** ops/bus_marks.json exists but cannot be read (EACCES, EIO, …): start-up stops. Starting
 *  without the marks would take again events already taken; the file may well be sound. */
export class BusMarksUnreadableError extends StackError {
  constructor(readonly path: string, readonly errorCode: string, cause: string) {
    super('HMM_BUS_MARKS_UNREADABLE', `${path} cannot be read (${cause}): the control plane does not start without the event-id marks it holds (engine events already taken would be taken again). Fix the file's permissions or the disk and start again; if the file itself is beyond repair, move it aside and the marks are rebuilt from the bus stream`);
  }
}

/** What the marks file held at start: nothing (first start), marks, or damage set aside. */
export type MarksLoad =
  | { readonly kind: 'missing' }
  | { readonly kind: 'restored'; readonly producers: number }
  | { readonly kind: 'damaged'; readonly reason: string; readonly movedTo: string | null };

/** Why a parsed marks file is not one PersistedMarks wrote, or null when it is. Stricter than
 *  ProducerMarks.restore (which skips a bad entry): a file with one bad entry is not trusted. */
function marksFileProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const marks = (v as { marks?: unknown }).marks;
  if (typeof marks !== 'object' || marks === null || Array.isArray(marks)) return '"marks" is not an object';
  for (const [producer, seq] of Object.entries(marks)) {
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return `the mark of ${JSON.stringify(producer.slice(0, 80))} is ${JSON.stringify(seq)}, not a whole number >= 0`;
  }
  return null;
}

/**
 * A control plane's event-id marks, loaded from and saved to its root (ops/bus_marks.json):
 * written atomically at most once per `everyMs` when something new was admitted, and on stop. A
 * crash loses at most that interval of marks; what it folded from those events is saved on its
 * own schedule (the tracker's), so the two can differ by that much after a crash.
 *
 * At start: no file is a first start. A file that does not parse or is not a marks document is
 * damage: moved to `.damaged` (util/quarantine.ts), an ERROR, and the marks are rebuilt from
 * the bus stream (`seedFromStream`, RedisBus seedMarks): every producer's highest seq the stream
 * still holds counts as taken. That is the safest state of the two the file could not tell
 * apart: with no marks at all a batch an engine re-sends after this start would be taken twice
 * (an alert sent twice, a governance input counted twice), while what the stream holds is
 * behind a tail-reading consumer anyway (the derived fold catches up on it by stream id). A file
 * that exists but cannot be read (EACCES, EIO) stops start-up (BusMarksUnreadableError).
 */
export class PersistedMarks {
  readonly marks = new ProducerMarks();
  readonly loaded: MarksLoad;
  private readonly timer: NodeJS.Timeout;
  private lastError: string | null = null;

  constructor(private readonly path: string, private readonly log: Logger, everyMs = 1_000) {
    this.loaded = this.load();
    this.timer = setInterval(() => this.save(false), everyMs);
    this.timer.unref();
  }

  /** Whether the bus should rebuild the marks from the stream: the file gave none. */
  get seedFromStream(): boolean {
    return this.loaded.kind !== 'restored';
  }

  private load(): MarksLoad {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'EIO';
      if (code === 'ENOENT') return { kind: 'missing' };
      throw new BusMarksUnreadableError(this.path, code, (err as Error).message);
    }
    let reason: string | null;
    let doc: unknown = null;
    try {
      doc = JSON.parse(text);
      reason = marksFileProblem(doc);
    } catch (err) {
      reason = `not JSON: ${(err as Error).message}`;
    }
    if (reason === null) {
      const n = this.marks.restore(doc);
      this.log.info({ producers: n }, `[BUS] event-id marks of ${n} producer(s) restored from ${this.path}`);
      return { kind: 'restored', producers: n };
    }
    let movedTo: string | null = null;
    let moveError = '';
    try {
      movedTo = quarantineFile(this.path);
    } catch (err) {
      moveError = (err as Error).message;
    }
    const where = movedTo !== null ? `moved to ${movedTo}` : `could not be moved aside (${moveError}); it is replaced at the next save`;
    this.log.error({ path: this.path, reason, moved_to: movedTo }, `[BUS] ${this.path} is damaged (${reason}); ${where}; the event-id marks are rebuilt from the bus stream (every engine event the stream still holds counts as taken)`);
    return { kind: 'damaged', reason, movedTo };
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
