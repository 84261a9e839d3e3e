// The capital allocator of a replicated control plane, beside the allocator it replicates.
// While leading it runs a CapitalAllocator rebuilt from the mirrored file at each takeover (so
// the step limit and cooldowns continue from the last leader's quotas) and publishes every
// step through a fenced store; while following it serves the leader's quotas and mirrors them
// to ops/capital_allocations.json.
//
// The store is an interface declared here and implemented over Redis in ops/cluster/
// (stateStore.ts): the portfolio plane sits below ops in the layer order, and the Redis
// documents of every replicated decision (kill, weights, trading states, allocations) share
// one connection and one key scheme there. What is replicated and how a follower serves it
// is the allocator's business; where the bytes go is the cluster's.
import { type Clock, type TimerHandle, WallClock } from '../core/clock.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { type AllocationHistoryEntry, type Allocator, type AllocationsFile, CapitalAllocator } from './allocator.js';
import type { CapitalPolicy } from './capitalPolicy.js';
import { writeJsonAtomic } from '../util/atomicFile.js';

/** One published allocation: the leader's fencing token, who wrote it and when. */
export interface AllocationsDoc {
  readonly token: number;
  readonly holder: string;
  readonly ts: number;
  readonly file: AllocationsFile;
}

/** Where a leader publishes its allocations: refused ('fenced') when a later leader exists. */
export interface AllocationStore {
  writeAllocations(doc: AllocationsDoc): Promise<'written' | 'fenced'>;
}

/** What a replicated allocator needs from its cluster. */
export interface AllocationReplication {
  readonly store: AllocationStore;
  /** This replica's id (the `holder` of what it writes). */
  readonly holder: string;
  /** A write refused by fencing: this replica is a stale leader. */
  onFenced(token: number): void;
}

/** The lease as the allocator sees it: the fencing token its writes carry. */
export interface AllocationLeadership {
  readonly token: number;
}

/** Wraps, does not extend: while leading it delegates to the CapitalAllocator it holds (made
 *  anew at each takeover); while following it answers from the mirror. */
export class ReplicatedAllocator implements Allocator {
  private inner: CapitalAllocator;
  private readonly make: () => CapitalAllocator;
  private mirror: AllocationsDoc | null = null;
  private leadership: AllocationLeadership | null = null;
  /** The allocator's own file, policy, log, gauges and clock (its arguments): the file a
   *  follower mirrors to, the loop's period, the published time. */
  private readonly path: string;
  private readonly policy: () => CapitalPolicy;
  private readonly log: Logger;
  private readonly metrics: Metrics | null;
  private readonly clock: Clock;
  private loopTimer: TimerHandle | null = null;
  private looping = false;
  writes = 0;
  refused = 0;

  constructor(args: ConstructorParameters<typeof CapitalAllocator>, private readonly r: AllocationReplication) {
    const [path, policy, , , log, metrics, extras] = args;
    this.path = path;
    this.policy = policy;
    this.log = log;
    this.metrics = metrics;
    this.clock = extras?.clock ?? new WallClock();
    this.make = () => new CapitalAllocator(...args);
    this.inner = this.make();
  }

  /** Set before the daemons start (leading) and after they stop (null). */
  setLeadership(l: AllocationLeadership | null): void {
    this.leadership = l;
    if (l !== null) this.inner = this.make(); // resume from the mirrored file: the last leader's state
  }

  get replicated(): AllocationsDoc | null {
    return this.mirror;
  }

  quota(model: string): number {
    if (this.leadership === null && this.mirror !== null) return this.mirror.file.capital_quota_usd[model] ?? 0;
    return this.inner.quota(model);
  }

  all(): Readonly<Record<string, number>> {
    if (this.leadership === null && this.mirror !== null) return this.mirror.file.capital_quota_usd;
    return this.inner.all();
  }

  recentHistory(limit = 100): AllocationHistoryEntry[] {
    return this.inner.recentHistory(limit);
  }

  /** Leader: one allocation step, published fenced. Follower: the leader's last allocation. */
  async step(now = this.clock.now()): Promise<AllocationsFile> {
    const l = this.leadership;
    if (l === null) {
      if (this.mirror) return this.mirror.file;
      throw new Error('no allocation yet: this replica follows and the leader has not published one');
    }
    const file = await this.inner.step(now);
    const doc: AllocationsDoc = { token: l.token, holder: this.r.holder, ts: this.clock.now(), file };
    if ((await this.r.store.writeAllocations(doc)) === 'fenced') {
      this.refused++;
      this.log.error({ fencing_token: l.token }, `[ALLOC] allocation write REFUSED by fencing: token ${l.token} is no longer the latest (another replica leads); this replica stops allocating`);
      this.r.onFenced(l.token);
      return file;
    }
    this.writes++;
    this.mirror = doc;
    return file;
  }

  /** A follower takes the leader's allocation: in memory, in the mirror file, in the gauges. */
  applyReplicated(doc: AllocationsDoc): void {
    if (this.leadership !== null) return;
    if (this.mirror !== null && this.mirror.ts >= doc.ts) return;
    this.mirror = doc;
    writeJsonAtomic(this.path, doc.file);
    for (const [m, q] of Object.entries(doc.file.capital_quota_usd)) this.metrics?.capitalQuota.set({ model: m }, q);
  }

  start(): void {
    if (this.looping) return;
    this.looping = true;
    const tick = () => {
      if (!this.looping) return;
      this.step().catch((err) => this.log.error({ err }, `[ALLOC] allocation step failed: ${(err as Error).message}`)).finally(() => {
        if (!this.looping) return;
        this.loopTimer = this.clock.setTimeout(tick, this.policy().refresh_sec * 1000);
      });
    };
    tick();
  }

  async flush(): Promise<void> {
    await this.inner.flush();
  }

  stop(): void {
    this.looping = false;
    this.clock.clear(this.loopTimer);
    this.loopTimer = null;
  }
}
