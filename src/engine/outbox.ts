// The engine's transactional outbox: every event an engine on the shared bus publishes is a row
// of its ledger, written in the same SQLite transaction as the ledger change that caused it, with
// a stable id `<engine>~<epoch>:<seq>` (bus/eventIds.ts). A relay loop copies committed rows to
// the Redis stream in seq order, at least once, and marks them relayed; consumers drop the
// copies by id. Whatever Redis does — down for a second or an hour — an event is either still in
// the outbox or on the stream, and the relay catches up in order when Redis answers.
//
// Decisions:
//   - seq is assigned here, not by SQLite's rowid: pruning relayed rows may empty the table, and
//     a rowid would then start again at 1 and every consumer would take the new events for
//     repeats. The next seq is above both the highest row and the relayed mark.
//   - "Relayed" is one high-water mark in the ledger's meta table, not a flag per row: one small
//     write per batch instead of one per event. Relayed rows are pruned, keeping the last
//     `keepRelayed` for inspection.
//   - Only committed rows leave: the relay notes the highest seq, waits for the ledger's group
//     commit, then reads up to that seq. A commit that fails rolls its rows back before the relay
//     could see them, and the next append numbers from what the ledger holds.
//   - The epoch changes with the ledger's life (created, or restored from a backup): a restored
//     ledger numbers from an older seq, which consumers would otherwise drop as repeats.
//   - The embedded stack has no outbox: its bus is in-process, there is nothing to relay and
//     nothing to lose to an outage, and its order path stays as fast as it was.
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { AnyBusHandler, Bus, BusHandler, BusStats } from '../bus/bus.js';
import { formatEventId, producerOf } from '../bus/eventIds.js';
import type { StreamEvent } from '../bus/redisBus.js';
import type { BusTopics, Topic } from '../bus/topics.js';
import type { Logger } from '../obs/logger.js';
import type { Ledger } from './ledger.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  ts INTEGER NOT NULL
);`;

interface OutboxRow {
  seq: bigint;
  topic: string;
  payload: string;
  ts: bigint;
}

export interface OutboxOptions {
  /** The engine's name: the first part of every event id. */
  readonly engine: string;
  /** The ledger was restored from a backup: its events get a new epoch. */
  readonly restored?: boolean;
  /** Relayed rows kept after pruning (default 10000). */
  readonly keepRelayed?: number;
  readonly now?: () => number;
}

/** A row on its way to the stream. */
export interface OutboxEvent extends StreamEvent {
  readonly seq: number;
}

export interface OutboxState {
  readonly producer: string;
  /** Highest seq written (committed or about to be). */
  readonly last_seq: number;
  /** Highest seq the stream holds (the relay's mark). */
  readonly relayed_seq: number;
  /** Events written and not relayed yet. */
  readonly backlog: number;
  /** Age of the oldest event not relayed yet (0 when none). */
  readonly lag_ms: number;
}

export class Outbox {
  readonly producer: string;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly keepRelayed: number;
  private readonly stmts;
  private nextSeq: number;
  private relayed: number;
  /** Wall time of the oldest event above the relayed mark (null: none). */
  private oldestPendingAt: number | null = null;
  private failuresSeen: number;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly ledger: Ledger, opts: OutboxOptions) {
    this.db = ledger.db;
    this.now = opts.now ?? Date.now;
    this.keepRelayed = opts.keepRelayed ?? 10_000;
    this.db.exec(SCHEMA);
    let epoch = ledger.getMeta('outbox_epoch');
    if (epoch === null || opts.restored === true) {
      epoch = `${new Date(this.now()).toISOString().slice(0, 10).replaceAll('-', '')}${randomBytes(3).toString('hex')}`;
      ledger.setMeta('outbox_epoch', epoch);
    }
    this.producer = producerOf(opts.engine, epoch);
    this.stmts = {
      insert: this.db.prepare('INSERT INTO outbox (seq, topic, payload, ts) VALUES (?, ?, ?, ?)'),
      maxSeq: this.db.prepare<[], { m: bigint | null }>('SELECT MAX(seq) AS m FROM outbox'),
      pending: this.db.prepare<[number, number, number], OutboxRow>('SELECT seq, topic, payload, ts FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      firstPendingTs: this.db.prepare<[number], { ts: bigint }>('SELECT ts FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1'),
      prune: this.db.prepare('DELETE FROM outbox WHERE seq <= ?'),
    };
    this.relayed = Number(ledger.getMeta('outbox_relayed') ?? 0);
    this.failuresSeen = ledger.commitFailures;
    this.nextSeq = this.highestOnRecord() + 1;
    this.oldestPendingAt = this.firstPendingAfter(this.relayed);
  }

  /** Wall time of the first row above `seq` (null: none). */
  private firstPendingAfter(seq: number): number | null {
    const first = this.stmts.firstPendingTs.get(seq);
    return first === undefined ? null : Number(first.ts);
  }

  private highestOnRecord(): number {
    return Math.max(Number(this.stmts.maxSeq.get()?.m ?? 0n), this.relayed);
  }

  /** The event as a row of the current ledger transaction (its own transaction when none is
   *  open: inside the turn's group commit). Returns its id. */
  append<T extends Topic>(topic: T, payload: BusTopics[T]): string {
    // A failed commit rolled back rows numbered from nextSeq: number from what the ledger holds.
    if (this.ledger.commitFailures !== this.failuresSeen) {
      this.failuresSeen = this.ledger.commitFailures;
      this.nextSeq = this.highestOnRecord() + 1;
      this.oldestPendingAt = this.firstPendingAfter(this.relayed);
    }
    const json = JSON.stringify(payload);
    const seq = this.nextSeq;
    const ts = this.now();
    this.ledger.transaction(() => this.stmts.insert.run(seq, topic, json, ts));
    this.nextSeq = seq + 1;
    this.oldestPendingAt ??= ts;
    for (const l of this.listeners) l();
    return formatEventId(this.producer, seq);
  }

  /** Called after each append (the relay wakes up). */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get relayedSeq(): number {
    return this.relayed;
  }

  /** Rows above the relayed mark up to `upTo` (committed ones: see OutboxRelay), in seq order. */
  unrelayed(upTo: number, limit: number): OutboxEvent[] {
    return this.stmts.pending.all(this.relayed, upTo, limit).map((r) => ({ id: formatEventId(this.producer, Number(r.seq)), topic: r.topic as Topic, json: r.payload, seq: Number(r.seq) }));
  }

  /** The stream holds everything up to `seq`: moves the mark (committed with the ledger's next
   *  group commit; a crash before it re-sends those rows, which consumers drop by id). */
  markRelayed(seq: number): void {
    if (seq <= this.relayed) return;
    this.relayed = seq;
    this.ledger.setMeta('outbox_relayed', String(seq));
    this.oldestPendingAt = seq >= this.lastSeq ? null : this.firstPendingAfter(seq);
  }

  /** Deletes relayed rows but the last keepRelayed; returns how many went. */
  prune(): number {
    const upTo = Math.min(this.relayed, this.lastSeq - this.keepRelayed);
    if (upTo <= 0) return 0;
    return this.ledger.transaction(() => this.stmts.prune.run(upTo).changes);
  }

  /** Age of the oldest event not relayed yet (0 when the stream has everything). */
  lagMs(now = this.now()): number {
    return this.oldestPendingAt === null ? 0 : Math.max(0, now - this.oldestPendingAt);
  }

  state(): OutboxState {
    return {
      producer: this.producer, last_seq: this.lastSeq, relayed_seq: this.relayed,
      backlog: Math.max(0, this.lastSeq - this.relayed), lag_ms: this.lagMs(),
    };
  }
}

export interface OutboxRelayOptions {
  readonly outbox: Outbox;
  readonly ledger: Ledger;
  /** Writes a batch to the stream in order; resolves once it is there (RedisBus.appendEvents). */
  readonly send: (events: readonly StreamEvent[]) => Promise<void>;
  readonly log: Logger;
  readonly name: string;
  /** Events per write; default 500. */
  readonly batch?: number;
  /** Longest wait before looking again without being woken; default 1000. */
  readonly idleMs?: number;
  /** Longest pause between two failed attempts; default 1000. */
  readonly maxBackoffMs?: number;
}

export interface RelayState extends OutboxState {
  readonly relayed_total: number;
  readonly failures: number;
  readonly last_error: string | null;
}


/**
 * Copies committed outbox rows to the stream, oldest first, forever: a failed write is retried
 * from the same row (no limit on how long: the rows stay in the ledger meanwhile), one batch at a
 * time so the stream receives them in seq order.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private relayedTotal = 0;
  private failures = 0;
  private consecutive = 0;
  private lastError: string | null = null;
  private lastWarnAt = 0;
  private sincePrune = 0;
  private readonly batch: number;
  private readonly idleMs: number;
  private readonly maxBackoffMs: number;
  private readonly unlisten: () => void;

  constructor(private readonly o: OutboxRelayOptions) {
    this.batch = o.batch ?? 500;
    this.idleMs = o.idleMs ?? 1_000;
    this.maxBackoffMs = o.maxBackoffMs ?? 1_000;
    this.unlisten = o.outbox.onAppend(() => this.wake?.());
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the batch in hand; unrelayed rows stay in the ledger for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.unlisten();
    this.wake?.();
    await this.loop;
  }

  state(): RelayState {
    return { ...this.o.outbox.state(), relayed_total: this.relayedTotal, failures: this.failures, last_error: this.lastError };
  }

  private async run(): Promise<void> {
    const { outbox, ledger } = this.o;
    while (this.running) {
      const upTo = outbox.lastSeq;
      if (upTo <= outbox.relayedSeq) {
        await this.idle(this.idleMs);
        continue;
      }
      try {
        // Rows up to upTo were written before this call: once it resolves they are committed.
        await ledger.durable();
      } catch {
        continue; // that commit failed and rolled them back; lastSeq is corrected on the next append
      }
      const events = outbox.unrelayed(upTo, this.batch);
      if (events.length === 0) {
        await this.idle(this.idleMs);
        continue;
      }
      try {
        await this.o.send(events);
      } catch (err) {
        this.failures++;
        this.consecutive++;
        this.lastError = (err as Error).message;
        this.warn(`[BUS] ${this.o.name} outbox: ${outbox.state().backlog} event(s) wait for Redis (${this.lastError}); retrying, nothing is dropped`);
        await this.idle(Math.min(this.maxBackoffMs, 25 * 2 ** Math.min(this.consecutive, 6)));
        continue;
      }
      const last = events[events.length - 1]!.seq;
      outbox.markRelayed(last);
      this.relayedTotal += events.length;
      if (this.consecutive > 0) {
        this.o.log.warn({ engine: this.o.name, backlog: outbox.state().backlog }, `[BUS] ${this.o.name} outbox: Redis takes events again; relaying the backlog in order (${outbox.state().backlog} left)`);
        this.consecutive = 0;
        this.lastError = null;
      }
      this.sincePrune += events.length;
      if (this.sincePrune >= 1_000) {
        this.sincePrune = 0;
        try {
          outbox.prune();
        } catch (err) {
          this.warn(`[BUS] ${this.o.name} outbox: pruning relayed rows failed: ${(err as Error).message}`);
        }
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < 10_000) return;
    this.lastWarnAt = now;
    this.o.log.warn({ engine: this.o.name }, message);
  }
}

/** What the outbox bus needs of the shared bus: local delivery without the stream, and the
 *  ordinary publish for events that take no outbox row. */
export interface LocalDeliveryBus extends Bus {
  publishLocal<T extends Topic>(topic: T, payload: BusTopics[T]): void;
}

/**
 * The bus an engine on the shared bus publishes through: its own process's subscribers get the
 * event at once, and the stream gets it from the outbox. Market bars take the ordinary path
 * (perishable: a bar relayed a minute late would drive models on an old price), and so does
 * anything published while the ledger cannot commit (the alert saying so among them).
 */
export class OutboxBus implements Bus {
  constructor(
    private readonly inner: LocalDeliveryBus,
    private readonly outbox: Outbox,
    private readonly ledger: Ledger,
    private readonly log: Logger,
  ) {}

  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    if (topic === 'market.bar' || this.ledger.failing) {
      this.inner.publish(topic, payload);
      return;
    }
    try {
      this.outbox.append(topic, payload);
    } catch (err) {
      // Not on record: send it the ordinary way rather than not at all.
      this.log.error({ err, topic }, `[BUS] outbox write failed (${(err as Error).message}); ${topic} sent without it`);
      this.inner.publish(topic, payload);
      return;
    }
    this.inner.publishLocal(topic, payload);
  }

  subscribe<T extends Topic>(topic: T, handler: BusHandler<T>): () => void {
    return this.inner.subscribe(topic, handler);
  }

  subscribeAll(handler: AnyBusHandler): () => void {
    return this.inner.subscribeAll(handler);
  }

  stats(): BusStats {
    return this.inner.stats();
  }

  /** The shared bus is closed by whoever opened it. */
  async close(): Promise<void> {}
}
