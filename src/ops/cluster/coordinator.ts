// Leadership and replication for one ops replica (`hmm ops` with REDIS_URL): the lease, the
// Redis state store, and the rules that apply another replica's trading state and weights and
// a leader's allocations here. It drives a control plane it is handed once that plane is built
// and started (ReplicatedControlPlane: what it reads and starts there), and the control plane
// asks it only what Coordination says: does this replica lead, the leader's multiplier, and
// where allocations are replicated.
//   - one leader at a time (LeaderLease, TTL HMM_LEADER_TTL_MS) runs the singleton daemons —
//     allocator, governance, canary manager — and routes model signals; when it dies the lease
//     expires and another replica takes over within about one TTL;
//   - the trading state (the kill switch is its global HALTED) is one versioned document in Redis:
//     a change is committed there atomically and gets the next version; the bus event carries it
//     to the other replicas and the engines, which apply each version once;
//   - the weights are replicated last-writer-wins (bus events for speed, a Redis key for
//     replicas that missed them or start later);
//   - the leader's allocations and exposure multiplier are published fenced (stateStore.ts),
//     and followers size orders with them;
//   - the derived state (strategy tracker, shadow book, stages: lifecycle/derivedFold.ts) is the
//     leader's: it folds the bus and publishes a snapshot with its stream position, fenced, each
//     poll it changed; followers fold nothing and serve the latest snapshot, so every replica
//     answers /strategy/status from the same state. A replica that takes the lease restores the
//     latest snapshot and replays the stream after its position before its daemons start, so it
//     decides from the whole history, not from what it happened to see.
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Bus } from '../../bus/bus.js';
import type { RedisDeploymentConfig } from '../../bus/redisConfig.js';
import type { RedisBus } from '../../bus/redisBus.js';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import type { AllocationReplication, ReplicatedAllocator } from '../../portfolio/replicatedAllocator.js';
import { withTimeout } from '../../util/withTimeout.js';
import type { StrategyWeights } from '../../portfolio/strategyWeights.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { parseTradingStateDocument } from '../../core/tradingState.js';
import type { TradingStateReplica, TradingStates } from '../governance/tradingStates.js';
import type { KillSwitch } from '../killSwitch.js';
import type { StackPaths } from '../paths.js';
import { LeaderLease, type Leadership } from './leaderLease.js';
import { OpsStateStore, type DerivedDoc, type MultiplierDoc } from './stateStore.js';
import type { DerivedFold, FoldEvent } from '../../lifecycle/derivedFold.js';

/** The lease the ops daemons run under (keys `<prefix>leader:ops-daemons`, `…:fence`). */
export const OPS_LEASE_NAME = 'ops-daemons';
/** How often a replica reads the replicated state (a fallback to the bus events, and followers' allocations). */
const POLL_MS = 1_000;
/** Longest GET /cluster waits for Redis before answering without the lease holder. */
const CLUSTER_READ_MS = 1_000;

type Bounded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** A read that answers within `ms` either way (the read itself is left to finish or fail). */
function boundedRead<T>(p: Promise<T>, ms: number): Promise<Bounded<T>> {
  return withTimeout(p, ms, `no answer from Redis within ${ms} ms`)
    .then((value): Bounded<T> => ({ ok: true, value }), (err: Error): Bounded<T> => ({ ok: false, error: err.message }));
}

/** Leadership as the control plane sees it; absent = this process alone (always leads). */
export interface Coordination {
  leads(): boolean;
  /** The leader's exposure multiplier (followers size with it), or null to use our own. */
  exposureMultiplier(): number | null;
  /** Where the leader's allocations are published (the control plane builds a ReplicatedAllocator on it). */
  readonly allocationReplication: AllocationReplication;
  /** Extra Ops API routes (GET /cluster). */
  routes?(app: FastifyInstance): Promise<void>;
  /** Where trading-state changes get their version when replicas share the document. */
  readonly tradingStateReplica?: TradingStateReplica;
}

/** What the coordinator reads and drives on a built, started control plane. */
export interface ReplicatedControlPlane {
  readonly bus: Bus & { isOwn(payload: unknown): boolean };
  readonly killSwitch: KillSwitch;
  readonly tradingStates: TradingStates;
  readonly weights: StrategyWeights;
  readonly governance: { effectiveMultiplier(): number };
  readonly daemons: { readonly running: boolean; start(): Promise<void>; stop(): Promise<void> };
  readonly replicatedAllocator: ReplicatedAllocator | null;
  /** Models that run here or are registered (another replica's weights for others are skipped). */
  knownModels(): ReadonlySet<string>;
  engines(): readonly { readonly name: string }[];
  /** Models re-state their current targets (a new leader takes over the books). */
  restateTargets(): void;
  /** The derived state: folded here while leading, the leader's snapshot while following. */
  readonly fold: DerivedFold;
  /** The bus stream after an id, as fold events (a new leader's catch-up). */
  foldTail(after: string): Promise<readonly { id: string; e: FoldEvent }[]>;
}

/**
 * Leadership and replication for one replica: the lease, the Redis state store, and the rules
 * that apply another replica's trading state and weights and a leader's allocations here.
 */
export class OpsCoordinator implements Coordination {
  readonly store: OpsStateStore;
  readonly lease: LeaderLease;
  readonly allocationReplication: AllocationReplication;
  private cp: ReplicatedControlPlane | null = null;
  private multiplierDoc: MultiplierDoc | null = null;
  private lastMultiplierWritten: number | null = null;
  private fenced = false;
  private weightsTs = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private leadershipChain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];
  private lastPollError = 0;
  /** The derived snapshot last written (leader) or taken (follower): token, then seq. A leader
   *  has nothing new to write while it holds its own token and the fold's seq. */
  private derivedAt: { token: number; seq: number } | null = null;
  /** Fail-overs seen by this replica (acquisitions after the first). */
  acquisitions = 0;

  constructor(private readonly redis: RedisDeploymentConfig, readonly replicaId: string, private readonly paths: StackPaths, private readonly log: Logger, private readonly metrics: Metrics) {
    this.lease = new LeaderLease({
      url: redis.endpoint, name: OPS_LEASE_NAME, prefix: redis.prefix, holderId: replicaId, ttlMs: redis.leaderTtlMs, logger: log,
      onAcquired: (l) => this.onAcquired(l),
      onLost: (reason) => this.onLost(reason),
    });
    this.store = new OpsStateStore(redis.endpoint, redis.prefix, this.lease.fenceKey, `hmm-ops-state:${replicaId}`);
    this.allocationReplication = { store: this.store, holder: replicaId, onFenced: () => this.onFenced() };
  }

  /** The control plane's replicated allocator (it builds one from allocationReplication). */
  private get allocator(): ReplicatedAllocator | null {
    return this.cp?.replicatedAllocator ?? null;
  }

  leads(): boolean {
    return !this.fenced && this.lease.isLeader();
  }

  exposureMultiplier(): number | null {
    return this.multiplierDoc?.multiplier ?? null;
  }

  /** Commits a trading-state change to the shared document (TradingStates asks it for versions). */
  readonly tradingStateReplica: TradingStateReplica = {
    commit: (scope, target, entry, base, nowMs) => this.store.commitTradingState(scope, target, entry, base, nowMs),
  };

  /** Before the control plane reads its files: the cluster's trading state and allocations
   *  replace older local copies (weights are applied after start, against the known models). */
  async adoptBeforeStart(): Promise<void> {
    const alloc = await this.store.readAllocations();
    if (alloc !== null) writeJsonAtomic(this.paths.capitalAllocations, alloc.file);
    // A later document in Redis replaces this replica's copy, so a replica that leads next pushes
    // the cluster's state (a HALT it missed included), not its own. A damaged local file is left
    // to TradingStates, which fails safe on it (HALTED) and says so.
    const shared = await this.store.readTradingState();
    const path = this.paths.tradingStates;
    let localVersion = -1;
    if (existsSync(path)) {
      try {
        localVersion = parseTradingStateDocument(JSON.parse(readFileSync(path, 'utf8'))).version;
      } catch {
        localVersion = Number.MAX_SAFE_INTEGER;
      }
    }
    if (shared !== null && shared.version > localVersion) {
      writeJsonAtomic(path, shared);
      this.log.info({ version: shared.version }, `[OPS] trading state taken from the cluster (v${shared.version}): global ${shared.global.state} by ${shared.global.actor} (${shared.global.reason})`);
    }
  }

  /** Takes a later document from Redis (a bus event missed); stores ours if Redis is behind (a
   *  change decided while Redis was away). */
  private async syncTradingState(): Promise<void> {
    const ts = this.cp?.tradingStates;
    if (!ts) return;
    const shared = await this.store.readTradingState();
    if (shared !== null && shared.version > ts.current.version) await ts.adopt(shared, 'Redis');
    else if (shared === null || shared.version < ts.current.version) await this.store.writeTradingStateIfNewer(ts.current);
  }

  async routes(app: FastifyInstance): Promise<void> {
    app.get('/cluster', {
      schema: { summary: 'This ops replica, the lease holder, the leader\'s last allocation write, the cluster\'s fenced-refusal counts and the shared bus', response: { 200: { type: 'object', additionalProperties: true } } },
    }, async () => {
      // Bounded: cut off from Redis (a partition holds the connection open, unanswered) this
      // page must still answer, saying that it could not read the lease or the refusal counts.
      // Both reads run at once, so a cut costs one CLUSTER_READ_MS, not two.
      const [read, refusals] = await Promise.all([
        boundedRead(this.store.leaseHolder(this.lease.key), CLUSTER_READ_MS),
        boundedRead(this.store.fencedRefusals(), CLUSTER_READ_MS),
      ]);
      const holder = read.ok ? read.value : null;
      const l = this.lease.leadership();
      const a = this.allocator?.replicated ?? null;
      const busStats = this.cp?.bus.stats() as Partial<ReturnType<RedisBus['stats']>> | undefined;
      return {
        replica: this.replicaId,
        leader: this.leads(),
        leadership: l ? { token: l.token, since: new Date(l.since).toISOString() } : null,
        lease: { key: this.lease.key, holder: holder?.holder ?? null, token: holder?.token ?? null, ttl_ms: this.redis.leaderTtlMs, ...(read.ok ? {} : { read_error: read.error }) },
        daemons_running: this.cp?.daemons.running ?? false,
        allocations: a ? { token: a.token, holder: a.holder, ts: new Date(a.ts).toISOString(), writes_here: this.allocator!.writes, refused_here: this.allocator!.refused } : null,
        exposure_multiplier: this.multiplierDoc?.multiplier ?? null,
        // Cluster-wide (Redis counters), unlike refused_here: every stale leader's refused writes.
        fenced_refusals: refusals.ok ? refusals.value : { allocations: null, exposure_multiplier: null, derived: null, read_error: refusals.error },
        engines: this.cp?.engines().map((e) => e.name) ?? [],
        bus: busStats ? { stream: busStats.stream, received: busStats.received, published: busStats.published, reconnects: busStats.reconnects, lost: busStats.lost } : null,
      };
    });
  }

  async start(cp: ReplicatedControlPlane): Promise<void> {
    this.cp = cp;
    this.weightsTs = Date.parse(cp.weights.current.updated_at) || 0;
    const bus = cp.bus;
    this.unsubscribe.push(
      bus.subscribe('trading.state', (p) => {
        if (!bus.isOwn(p)) void cp.tradingStates.adopt(p.document, 'another ops replica').catch((err: Error) => this.log.error({ err }, `[GOV] taking a replicated trading state failed: ${err.message}`));
      }),
      bus.subscribe('strategy.weights_updated', (p) => {
        if (bus.isOwn(p)) {
          this.weightsTs = Math.max(this.weightsTs, p.ts);
          void this.store.writeWeights({ weights: p.weights, updated_by: cp.weights.current.updated_by, ts: p.ts, by: this.replicaId }).catch((err: Error) => this.pollFailed(err));
        } else {
          this.applyWeights(p.weights, p.ts, 'ops replica');
        }
      }),
    );
    await this.poll();
    await this.lease.start();
    const loop = () => {
      this.pollTimer = setTimeout(() => {
        this.polling = this.poll().finally(() => {
          this.polling = null;
          if (this.pollTimer !== null) loop();
        });
      }, POLL_MS);
      this.pollTimer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    await this.polling;
    // The next leader starts from everything this one folded.
    if (this.leads()) await this.publishDerived().catch((err: Error) => this.pollFailed(err));
    // Release: the next replica takes over at its next attempt, not after a TTL.
    await this.lease.stop({ release: true });
    await this.leadershipChain;
  }

  private onAcquired(l: Leadership): void {
    this.fenced = false;
    this.acquisitions++;
    this.allocator?.setLeadership(l);
    const cp = this.cp;
    this.leadershipChain = this.leadershipChain.then(async () => {
      if (!cp || !this.lease.isLeader()) return;
      this.log.warn({ fencing_token: l.token }, `[OPS] ${this.replicaId} leads (token ${l.token}): allocator, governance and canary manager start here`);
      await this.takeOverDerived(cp);
      await cp.daemons.start();
      cp.restateTargets();
      await this.publishMultiplier();
    }).catch((err: Error) => this.log.error({ err }, `[OPS] starting the leader daemons failed: ${err.message}`));
  }

  private onLost(reason: string): void {
    this.allocator?.setLeadership(null);
    const cp = this.cp;
    this.leadershipChain = this.leadershipChain.then(async () => {
      if (!cp) return;
      await cp.daemons.stop();
      cp.fold.stopFolding();
      this.log.warn(`[OPS] ${this.replicaId} follows (${reason}): leader daemons stopped here`);
    }).catch((err: Error) => this.log.error({ err }, `[OPS] stopping the leader daemons failed: ${err.message}`));
  }

  /** A fenced write: another replica leads already. Stop at once; the lease notices at its next renewal. */
  private onFenced(): void {
    if (this.fenced) return;
    this.fenced = true;
    this.onLost('a write was refused by fencing');
  }

  /** Another replica's weights, if later than ours; models this replica does not know are skipped. */
  private applyWeights(remote: Readonly<Record<string, number>>, ts: number, actor: string): void {
    const cp = this.cp;
    if (!cp || ts <= this.weightsTs) return;
    this.weightsTs = ts;
    const known = cp.knownModels();
    const diff: Record<string, number> = {};
    for (const [m, w] of Object.entries(remote)) if (known.has(m) && cp.weights.weight(m) !== w) diff[m] = w;
    if (Object.keys(diff).length === 0) return;
    try {
      cp.weights.update(diff, actor);
    } catch (err) {
      this.log.error({ err }, `[GOV] replicated weights refused: ${(err as Error).message}`);
    }
  }

  /** Before a new leader's daemons decide anything: the latest published derived state, then
   *  the stream after its position (read failures leave what this replica holds, said so). */
  private async takeOverDerived(cp: ReplicatedControlPlane): Promise<void> {
    let latest: DerivedDoc | null = null;
    try {
      latest = await this.store.readDerived();
    } catch (err) {
      this.log.error({ err }, `[OPS] the last leader's derived state could not be read (${(err as Error).message}); continuing from this replica's own`);
    }
    try {
      const r = await cp.fold.lead(latest?.snapshot ?? null, (after) => cp.foldTail(after));
      this.log.info({ seq: cp.fold.seq, stream_id: cp.fold.position, restored: r.restored, replayed: r.replayed }, `[OPS] derived state taken over: ${r.restored ? `the last leader's snapshot (seq ${latest?.snapshot.seq}, ${latest?.holder})` : 'this replica\'s own'} + ${r.replayed} events replayed from the bus stream`);
    } catch (err) {
      this.log.error({ err }, `[OPS] replaying the bus stream after the last snapshot failed (${(err as Error).message}); folding live from here`);
    }
  }

  /** Leader: the derived state, when it changed since the last write, fenced. */
  private async publishDerived(): Promise<void> {
    const cp = this.cp;
    const l = this.lease.leadership();
    if (!cp || !l || this.fenced || cp.fold.mode !== 'live') return;
    if (this.derivedAt?.token === l.token && this.derivedAt.seq === cp.fold.seq) return;
    const snapshot = cp.fold.snapshot();
    if ((await this.store.writeDerived({ token: l.token, holder: this.replicaId, ts: Date.now(), snapshot })) === 'written') {
      this.derivedAt = { token: l.token, seq: snapshot.seq };
    } else this.onFenced();
  }

  /** Follower: the leader's latest derived state, if later than the one served here. */
  private async followDerived(): Promise<void> {
    const cp = this.cp;
    if (!cp || cp.fold.mode !== 'follow') return;
    const doc = await this.store.readDerived();
    if (doc === null) return;
    const at = this.derivedAt;
    if (at !== null && (doc.token < at.token || (doc.token === at.token && doc.snapshot.seq <= at.seq))) return;
    cp.fold.follow(doc.snapshot);
    this.derivedAt = { token: doc.token, seq: doc.snapshot.seq };
  }

  private async publishMultiplier(): Promise<void> {
    const cp = this.cp;
    const l = this.lease.leadership();
    if (!cp || !l || this.fenced) return;
    const m = cp.governance.effectiveMultiplier();
    if (m === this.lastMultiplierWritten) return;
    if ((await this.store.writeMultiplier({ multiplier: m, token: l.token, holder: this.replicaId, ts: Date.now() })) === 'written') this.lastMultiplierWritten = m;
    else this.onFenced();
  }

  private async poll(): Promise<void> {
    const cp = this.cp;
    if (!cp) return;
    try {
      const w = await this.store.readWeights();
      if (w !== null) this.applyWeights(w.weights, w.ts, w.updated_by);
      await this.syncTradingState();
      if (this.leads()) {
        await this.publishMultiplier();
        await this.publishDerived();
      } else {
        await this.followDerived();
        this.lastMultiplierWritten = null;
        const a = await this.store.readAllocations();
        if (a !== null) this.allocator?.applyReplicated(a);
        this.multiplierDoc = await this.store.readMultiplier();
      }
    } catch (err) {
      this.pollFailed(err as Error);
    }
  }

  private pollFailed(err: Error): void {
    const now = Date.now();
    if (now - this.lastPollError < 10_000) return;
    this.lastPollError = now;
    this.log.warn(`[OPS] replicated state unavailable (${err.message}); retrying every ${POLL_MS} ms`);
  }
}
