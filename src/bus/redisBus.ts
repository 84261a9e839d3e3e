// The event bus across processes: Redis Streams. Engines, ops replicas and the CLI each hold
// a RedisBus on the same stream and see each other's events. This module owns the stream's
// wire format, the reader loop and the publish path; delivery to subscribers is the same
// in-process dispatch as InProcessBus (a subscriber's exception reaches nobody else).
//
// Decisions:
//   - One stream for all topics (`<prefix>bus:events`), so a consumer sees one publisher's events
//     in the order they were published across topics (an order's fill before its FILLED
//     update); bounded with XADD MAXLEN ~ (trimmed by whole stream nodes: the length may run
//     up to one node, 100 entries by default, past the bound).
//   - XREAD from the last id seen, not consumer groups: every process needs every event (a
//     group would split them between replicas of a role like a work queue). After a dropped
//     connection the reader resumes from that id, so events published meanwhile are replayed;
//     events trimmed away before it read them are counted (Redis 7 entries-added) and logged.
//   - publish() stays synchronous (the Bus contract): local subscribers get the event at once,
//     the XADD goes out fire-and-forget; while Redis is unreachable the client queues it
//     (bounded by maxPendingPublishes, failures counted). Each entry names its publisher, and
//     a process skips its own events when they come back from the stream.
//   - Events that must not be lost (an engine's outbox, engine/outbox.ts) do not take that path:
//     appendEvents() writes a batch in one MULTI on a connection of its own that never queues
//     (no offline queue, no resend after a reconnect) and answers when Redis has it or fails, so
//     the outbox relay knows what to re-send. Such entries carry a stable id (`i`, eventIds.ts)
//     and a bus given `marks` admits each id once: a batch re-sent after a lost answer reaches
//     no subscriber twice.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../obs/logger.js';
import { type AnyBusHandler, type Bus, type BusHandler, type BusStats, InProcessBus } from './bus.js';
import { type BusTopics, type Topic, isTopic } from './topics.js';
import { withTimeout } from '../util/withTimeout.js';
import { type ProducerMarks, parseEventId } from './eventIds.js';
import { type RedisTarget, createRedis, describeRedis } from './redisConnection.js';

export interface RedisBusOptions {
  /** redis://[user:pass@]host:port[/db], or a Sentinel endpoint (redisConnection.ts). */
  readonly url: RedisTarget;
  /** Stack key prefix (shared with the leader lease); the stream is `<prefix>bus:events`. Default 'hmm:'. */
  readonly prefix?: string;
  /** Names this process in every entry it writes; default host:pid:random. */
  readonly processId?: string;
  /** Approximate bound on the stream's length; default 10000. */
  readonly maxLen?: number;
  /** Longest a blocking read waits before looping (and noticing close); default 1000. */
  readonly blockMs?: number;
  /** Entries per read; default 256. */
  readonly batch?: number;
  /** Publishes in flight (queued while Redis is unreachable) before new ones are dropped; default 10000. */
  readonly maxPendingPublishes?: number;
  /** Where reading starts: 'tail' (only new events, default) or a stream id ('0-0' = all retained). */
  readonly startFrom?: 'tail' | string;
  /** Connecting at start gives up after this long; default 5000. */
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
  readonly onHandlerError?: (topic: Topic, err: unknown) => void;
  /** Extra ioredis options (every connection). */
  readonly redisOptions?: RedisOptions;
  /** Admits each event id once (entries with an `i` field): consumers idempotent by event id. */
  readonly marks?: ProducerMarks;
  /** Before reading, raise `marks` to each producer's highest seq among the entries up to where
   *  reading starts (for a consumer whose saved marks are missing or damaged): a batch an engine
   *  re-sends is then still dropped. Reading from the tail, those entries are passed anyway. */
  readonly seedMarks?: boolean;
  /** A batch appendEvents() could not write within this fails (and is re-sent); default 5000. */
  readonly appendTimeoutMs?: number;
}

/** One event on its way from an outbox to the stream. */
export interface StreamEvent {
  /** Stable id `<producer>:<seq>` (eventIds.ts). */
  readonly id: string;
  readonly topic: Topic;
  /** The payload, already JSON. */
  readonly json: string;
}

export interface RedisBusStats extends BusStats {
  readonly processId: string;
  readonly stream: string;
  readonly received: number;
  readonly skippedOwn: number;
  readonly decodeErrors: number;
  readonly publishErrors: number;
  readonly dropped: number;
  readonly pendingPublishes: number;
  readonly reconnects: number;
  readonly gaps: number;
  /** Events trimmed from the stream before this process read them. */
  readonly lost: number;
  readonly lastId: string;
  /** Entries dropped because their event id was already admitted (a re-sent batch). */
  readonly duplicates: number;
  /** Events written by appendEvents(). */
  readonly appended: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RedisBus implements Bus {
  readonly processId: string;
  readonly stream: string;
  private readonly local: InProcessBus;
  private readonly publisher: Redis;
  private readonly reader: Redis;
  private readonly log: Logger | null;
  private readonly maxLen: number;
  private readonly blockMs: number;
  private readonly batch: number;
  private readonly maxPending: number;
  private lastId = '0-0';
  private closing = false;
  private loop: Promise<void> | null = null;
  private published = 0;
  private received = 0;
  private skippedOwn = 0;
  private decodeErrors = 0;
  private publishErrors = 0;
  private dropped = 0;
  private pending = 0;
  private reconnects = 0;
  private gaps = 0;
  private lost = 0;
  private readerWasReady = false;
  /** How many entries the stream had ever received up to the one we read last (Redis 7
   *  entries-added numbering); null when reading started at an arbitrary id. */
  private position: number | null = null;
  /** The position when the connection dropped: the gap check compares against it (the
   *  re-sent XREAD may already have moved past what was trimmed). */
  private gapCheckFrom: number | null = null;
  private lastGapCheckAt = 0;
  private reportedTrimmed = 0;
  private lastWarnAt = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly marks: ProducerMarks | null;
  private readonly url: RedisTarget;
  private readonly redisOptions: RedisOptions;
  private readonly appendTimeoutMs: number;
  private appender: Redis | null = null;
  private duplicates = 0;
  private appended = 0;

  /** Connects both connections, fixes where reading starts, and starts the reader. */
  static async connect(opts: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(opts);
    try {
      await bus.open(opts.startFrom ?? 'tail', opts.connectTimeoutMs ?? 5_000, opts.seedMarks ?? false);
    } catch (err) {
      bus.publisher.disconnect();
      bus.reader.disconnect();
      throw new Error(`[BUS] cannot reach Redis at ${describeRedis(opts.url)}: ${(err as Error).message}`);
    }
    return bus;
  }

  private constructor(opts: RedisBusOptions) {
    this.processId = opts.processId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.stream = `${opts.prefix ?? 'hmm:'}bus:events`;
    this.log = opts.logger ?? null;
    this.maxLen = opts.maxLen ?? 10_000;
    this.blockMs = opts.blockMs ?? 1_000;
    this.batch = opts.batch ?? 256;
    this.maxPending = opts.maxPendingPublishes ?? 10_000;
    this.marks = opts.marks ?? null;
    this.url = opts.url;
    this.redisOptions = opts.redisOptions ?? {};
    this.appendTimeoutMs = opts.appendTimeoutMs ?? 5_000;
    const onError = opts.onHandlerError ?? ((topic: Topic, err: unknown) => this.log?.error({ err, topic }, `[BUS] a ${topic} subscriber failed: ${(err as Error).message}`));
    this.local = new InProcessBus(onError);
    const common: RedisOptions = { lazyConnect: true, enableReadyCheck: true, ...opts.redisOptions };
    this.publisher = createRedis(opts.url, { ...common, connectionName: `hmm-bus-pub:${this.processId}` });
    // The reader blocks in XREAD: never give up on a command because of a reconnect.
    this.reader = createRedis(opts.url, { ...common, maxRetriesPerRequest: null, connectionName: `hmm-bus-read:${this.processId}` });
    // ioredis reports connection errors as events; the loop and publish path count them.
    this.publisher.on('error', (err: Error) => this.warn(`[BUS] Redis publisher: ${err.message}`));
    this.reader.on('error', (err: Error) => this.warn(`[BUS] Redis reader: ${err.message}`));
    this.reader.on('ready', () => {
      if (this.readerWasReady) {
        this.reconnects++;
        this.gapCheckFrom = this.position;
        this.log?.warn({ stream: this.stream, lastId: this.lastId }, `[BUS] reconnected to Redis; resuming ${this.stream} after ${this.lastId}`);
      }
      this.readerWasReady = true;
    });
  }

  private async open(startFrom: string, timeoutMs: number, seedMarks: boolean): Promise<void> {
    await withTimeout(Promise.all([this.publisher.connect(), this.reader.connect()]), timeoutMs, `no connection within ${timeoutMs} ms`);
    // Where the stream stands now: its last id (reading 'tail' starts there) and how many
    // entries it ever had (so the gap check can tell trimmed-before-read from trimmed-after).
    const info = await this.streamInfo();
    this.reportedTrimmed = info.trimmed ?? 0;
    if (startFrom === 'tail') {
      this.lastId = info.lastGenerated ?? '0-0';
      this.position = info.entriesAdded ?? 0;
    } else {
      this.lastId = startFrom;
      this.position = startFrom === '0-0' ? info.trimmed ?? 0 : null;
    }
    if (seedMarks && this.marks !== null) {
      const seeded = await this.seedMarksUpTo(this.lastId, this.marks);
      this.log?.info({ stream: this.stream, ...seeded, until: this.lastId }, `[BUS] event-id marks rebuilt from ${this.stream}: ${seeded.producers} producer(s) from ${seeded.entries} outbox event(s) up to ${this.lastId}`);
    }
    this.loop = this.readLoop();
  }

  /** Raises `marks` to each producer's highest seq among the entries up to `untilId`. */
  private async seedMarksUpTo(untilId: string, marks: ProducerMarks): Promise<{ producers: number; entries: number }> {
    const high: Record<string, number> = {};
    let entries = 0;
    for await (const [, fields] of this.entriesBetween('-', untilId)) {
      const id = fieldMap(fields)['i'];
      const e = id === undefined ? null : parseEventId(id);
      if (e === null) continue;
      entries++;
      if ((high[e.producer] ?? 0) < e.seq) high[e.producer] = e.seq;
    }
    return { producers: marks.restore({ marks: high }), entries };
  }

  /** The stream's raw entries from `from` (an XRANGE start: '-' or '(<id>') up to `untilId`
   *  inclusive, oldest first, read a page at a time. */
  private async *entriesBetween(from: string, untilId: string, pageSize = 1_000): AsyncGenerator<[string, string[]]> {
    for (;;) {
      const page = (await this.publisher.xrange(this.stream, from, untilId, 'COUNT', pageSize)) as [string, string[]][];
      yield* page;
      if (page.length < pageSize) return;
      from = `(${page[page.length - 1]![0]}`;
    }
  }

  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    this.published++;
    this.local.publish(topic, payload);
    if (this.closing) return;
    let json: string;
    try {
      json = JSON.stringify(payload);
    } catch (err) {
      this.publishErrors++;
      this.warn(`[BUS] ${topic} event not sent to Redis: not JSON (${(err as Error).message})`);
      return;
    }
    if (this.pending >= this.maxPending) {
      this.dropped++;
      this.warn(`[BUS] ${this.pending} events waiting for Redis; dropping new ones from the stream (local subscribers still get them)`);
      return;
    }
    this.pending++;
    const p = this.publisher
      .xadd(this.stream, 'MAXLEN', '~', String(this.maxLen), '*', 't', topic, 'o', this.processId, 'p', json)
      .catch((err: Error) => {
        this.publishErrors++;
        this.warn(`[BUS] ${topic} event not written to Redis: ${err.message}`);
      })
      .finally(() => {
        this.pending--;
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  /** Delivers to this process's subscribers only (the event reaches the stream another way:
   *  the engine's outbox relay, through appendEvents). */
  publishLocal<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    this.published++;
    this.local.publish(topic, payload);
  }

  /**
   * Writes a batch of events to the stream, in order, in one MULTI; resolves once Redis holds all
   * of them, rejects otherwise (Redis unreachable, no answer within appendTimeoutMs): the caller
   * re-sends the batch, and consumers drop the copies by id. Never queued while disconnected, so
   * nothing written here can arrive later behind a newer batch.
   */
  async appendEvents(events: readonly StreamEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.closing) throw new Error('the bus is closed');
    const conn = this.appenderConnection();
    if (conn.status === 'wait') await conn.connect();
    const multi = conn.multi();
    for (const e of events) multi.xadd(this.stream, 'MAXLEN', '~', String(this.maxLen), '*', 't', e.topic, 'o', this.processId, 'i', e.id, 'p', e.json);
    const res = await multi.exec();
    if (res === null) throw new Error('the MULTI was discarded');
    for (const [err] of res) if (err) throw err;
    this.appended += events.length;
  }

  private appenderConnection(): Redis {
    if (this.appender !== null) return this.appender;
    // No offline queue and no resend: a command either goes out on a live connection now or
    // fails now, so a batch the relay gave up on can never be written later, out of order.
    const conn = createRedis(this.url, {
      lazyConnect: true, enableReadyCheck: true, ...this.redisOptions,
      enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, commandTimeout: this.appendTimeoutMs,
      connectionName: `hmm-bus-append:${this.processId}`,
    });
    conn.on('error', (err: Error) => this.warn(`[BUS] Redis appender: ${err.message}`));
    this.appender = conn;
    return conn;
  }

  subscribe<T extends Topic>(topic: T, handler: BusHandler<T>): () => void {
    return this.local.subscribe(topic, handler);
  }

  /** The stream id of the last entry read (and delivered) from the stream. A subscriber that
   *  reads it while handling an event gets that event's id (delivery is synchronous). */
  get streamId(): string {
    return this.lastId;
  }

  /**
   * The entries after `afterId` (exclusive) up to `untilId` (inclusive; default the last one
   * this process has read), oldest first, every publisher's own included: what a process that
   * stopped folding at afterId has to fold to catch up. `trimmed` is true when entries after
   * afterId were already trimmed from the stream (the caller says what that costs).
   */
  async range(afterId: string, untilId: string = this.lastId, pageSize = 1_000): Promise<{ entries: StreamEntry[]; trimmed: boolean }> {
    const entries: StreamEntry[] = [];
    const first = (await this.publisher.xrange(this.stream, '-', '+', 'COUNT', 1)) as [string, string[]][];
    const trimmed = first.length > 0 && compareStreamIds(first[0]![0], afterId) > 0 && (await this.streamInfo()).trimmed !== 0;
    for await (const [id, fields] of this.entriesBetween(`(${afterId}`, untilId, pageSize)) {
      const e = decodeEntry(id, fields);
      if (e !== null) entries.push(e);
    }
    return { entries, trimmed };
  }

  subscribeAll(handler: AnyBusHandler): () => void {
    return this.local.subscribeAll(handler);
  }

  stats(): RedisBusStats {
    const l = this.local.stats();
    return {
      published: this.published, delivered: l.delivered, failed: l.failed, byTopic: l.byTopic,
      processId: this.processId, stream: this.stream, received: this.received, skippedOwn: this.skippedOwn,
      decodeErrors: this.decodeErrors, publishErrors: this.publishErrors, dropped: this.dropped, pendingPublishes: this.pending,
      reconnects: this.reconnects, gaps: this.gaps, lost: this.lost, lastId: this.lastId,
      duplicates: this.duplicates, appended: this.appended,
    };
  }

  /** Stops reading, lets queued publishes finish (up to 2 s), and closes both connections. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.reader.disconnect(); // interrupts the blocking XREAD
    await this.loop?.catch(() => undefined);
    const flushed = Promise.allSettled([...this.inflight]);
    await Promise.race([flushed, sleep(2_000)]);
    await this.publisher.quit().catch(() => this.publisher.disconnect());
    this.appender?.disconnect();
    await this.local.close();
  }

  private async readLoop(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      try {
        // After a reconnect, and every 10 s (a reader that falls behind the bound loses events too).
        if (this.gapCheckFrom !== null || Date.now() - this.lastGapCheckAt >= 10_000) await this.detectGap().catch(() => undefined);
        const res = (await this.reader.xread('COUNT', this.batch, 'BLOCK', this.blockMs, 'STREAMS', this.stream, this.lastId)) as
          | [string, [string, string[]][]][]
          | null;
        failures = 0;
        if (res === null) continue;
        for (const [, entries] of res) for (const [id, fields] of entries) this.deliver(id, fields);
      } catch (err) {
        if (this.closing) break;
        failures++;
        this.warn(`[BUS] reading ${this.stream} failed: ${(err as Error).message}; retrying`);
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private deliver(id: string, fields: string[]): void {
    this.lastId = id;
    if (this.position !== null) this.position++;
    const f = fieldMap(fields);
    if (f['o'] === this.processId) {
      this.skippedOwn++;
      return;
    }
    const topic = f['t'];
    if (topic === undefined || !isTopic(topic) || f['p'] === undefined) {
      this.decodeErrors++;
      return;
    }
    const eventId = f['i'];
    if (eventId !== undefined && this.marks !== null) {
      const admitted = this.marks.admit(eventId);
      if (admitted === 'duplicate') {
        this.duplicates++;
        return;
      }
      if (admitted === 'invalid') {
        this.decodeErrors++;
        return;
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(f['p']);
    } catch {
      this.decodeErrors++;
      return;
    }
    this.received++;
    this.local.publish(topic, payload as BusTopics[typeof topic]);
  }

  /** Were entries we had not read yet trimmed away? Trimmed = entries-added − length (Redis 7);
   *  more trimmed than we had read means the difference never reached us. */
  private async detectGap(): Promise<void> {
    const from = this.gapCheckFrom ?? this.position;
    this.gapCheckFrom = null;
    this.lastGapCheckAt = Date.now();
    if (from === null) return;
    const { trimmed } = await this.streamInfo();
    if (trimmed === null || trimmed <= from || trimmed <= this.reportedTrimmed) return;
    const lost = trimmed - Math.max(from, this.reportedTrimmed);
    this.gaps++;
    this.lost += lost;
    this.reportedTrimmed = trimmed;
    this.log?.error({ stream: this.stream, lost }, `[BUS] ${lost} events were trimmed from ${this.stream} before this process read them; they are lost to it — raise the bus maxLen if this recurs`);
  }

  private async streamInfo(): Promise<{ lastGenerated: string | null; entriesAdded: number | null; trimmed: number | null }> {
    let info: unknown[];
    try {
      info = (await this.reader.xinfo('STREAM', this.stream)) as unknown[];
    } catch {
      return { lastGenerated: null, entriesAdded: null, trimmed: null }; // no stream yet
    }
    const at = (name: string): unknown => {
      const i = info.indexOf(name);
      return i >= 0 ? info[i + 1] : undefined;
    };
    const lastGenerated = at('last-generated-id');
    const added = at('entries-added');
    const length = at('length');
    const entriesAdded = typeof added === 'number' ? added : null; // Redis < 7: unknown
    return {
      lastGenerated: typeof lastGenerated === 'string' ? lastGenerated : null,
      entriesAdded,
      trimmed: entriesAdded !== null && typeof length === 'number' ? entriesAdded - length : null,
    };
  }

  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < 10_000) return;
    this.lastWarnAt = now;
    this.log?.warn({ stream: this.stream }, message);
  }
}

/** One entry of the stream, decoded. */
export interface StreamEntry {
  readonly id: string;
  readonly topic: Topic;
  /** The publishing process's id. */
  readonly origin: string;
  readonly payload: unknown;
}

/** An entry's flat [name, value, name, value, …] list as a map. */
function fieldMap(fields: string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return f;
}

function decodeEntry(id: string, fields: string[]): StreamEntry | null {
  const f = fieldMap(fields);
  const topic = f['t'];
  if (topic === undefined || !isTopic(topic) || f['p'] === undefined) return null;
  try {
    return { id, topic, origin: f['o'] ?? '', payload: JSON.parse(f['p']) };
  } catch {
    return null;
  }
}

/** Orders two stream ids ("<ms>-<seq>"). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
