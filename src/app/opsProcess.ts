// `hmm ops`: the control plane in its own process, against engines in theirs (HMM_ENGINES,
// reached through HttpEngineHandle), on the Redis bus they all share. Several replicas may run;
// they agree through Redis:
//   - one leader at a time (LeaderLease, TTL HMM_LEADER_TTL_MS) runs the singleton daemons —
//     allocator, governance, canary manager — and routes model signals; when it dies the lease
//     expires and another replica takes over within about one TTL;
//   - the trading state (the kill switch is its global HALTED) is one versioned document in Redis:
//     a change is committed there atomically and gets the next version; the bus event carries it
//     to the other replicas and the engines, which apply each version once. POST /kill on any
//     replica stops every engine before it answers, because every replica reaches every engine;
//   - the weights are replicated last-writer-wins (bus events for speed, a Redis key for
//     replicas that missed them or start later);
//   - the leader's allocations and exposure multiplier are published fenced (ops/replication.ts),
//     and followers size orders with them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig, type StackConfig } from '../config/config.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Bus } from '../bus/bus.js';
import { loadRedisConfig, type RedisDeploymentConfig } from '../bus/redisConfig.js';
import type { RedisBus } from '../bus/redisBus.js';
import { HttpEngineHandle } from '../engine/httpEngineHandle.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createMetrics, type Metrics } from '../obs/metrics.js';
import type { CapitalAllocator } from '../portfolio/allocator.js';
import { LeaderLease, type Leadership } from '../ops/leaderLease.js';
import { logRotationEvent } from '../ops/logsPolicy.js';
import { stackPaths, type StackPaths } from '../ops/paths.js';
import { acquireLock, releaseLock, updateLock } from '../ops/stackLock.js';
import { RotatingFile } from '../util/rotatingFile.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import { type ControlPlane, type Coordination, ensureOperatorFiles, startControlPlane } from './controlPlane.js';
import { OpsStateStore, ReplicatedAllocator, type MultiplierDoc } from '../ops/replication.js';
import type { TradingStateReplica } from '../ops/governance/tradingStates.js';
import { parseTradingStateDocument } from '../core/tradingState.js';
import { openBus, processIdFor } from './processBus.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface OpsProcessOptions {
  readonly env?: Env;
  /** Log to stdout as well as ops/logs/ops.log (default true). */
  readonly stdout?: boolean;
}

export interface OpsProcess {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly bus: Bus;
  readonly controlPlane: ControlPlane;
  readonly opsUrl: string;
  readonly replicaId: string;
  readonly coordinator: OpsCoordinator | null;
  stop(): Promise<void>;
}

/** The lease the ops daemons run under (keys `<prefix>leader:ops-daemons`, `…:fence`). */
export const OPS_LEASE_NAME = 'ops-daemons';
/** How often a replica reads the replicated state (a fallback to the bus events, and followers' allocations). */
const POLL_MS = 1_000;

export async function startOpsProcess(opts: OpsProcessOptions = {}): Promise<OpsProcess> {
  const env = opts.env ?? process.env;
  const base = loadConfig(env);
  if (base.distributed.engines.length === 0) {
    throw new ConfigError('HMM_ENGINES', 'name the engines this control plane drives, e.g. engine_sim=http://127.0.0.1:8101,engine_binance=http://127.0.0.1:8102');
  }
  const redis = loadRedisConfig(env);
  const paths = stackPaths(base.root);
  ensureOperatorFiles(paths);
  const opsLogFile = new RotatingFile(paths.opsLog, undefined, { onEvent: (e) => logRotationEvent(log, e) });
  const log = createLogger({ file: opsLogFile, level: base.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  // One control plane per root: two replicas on one root would write the same ops/ files.
  acquireLock(base.root);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const bus = await openBus(redis, 'ops', log, metrics);
    cleanup.push(() => bus.close());
    if (redis === null) log.warn('[OPS] REDIS_URL is not set: this control plane shares no bus with its engines (no bars, fills or rejections reach it) and cannot run beside another replica');
    const replicaId = base.distributed.replicaId ?? processIdFor('ops');

    let store: OpsStateStore | null = null;
    let lease: LeaderLease | null = null;
    let coordinator: OpsCoordinator | null = null;
    if (redis !== null) {
      coordinator = new OpsCoordinator(redis, replicaId, paths, log, metrics);
      store = coordinator.store;
      lease = coordinator.lease;
      await store.connect();
      cleanup.push(() => store!.close());
      await coordinator.adoptBeforeStart();
    }

    const token = base.opsApiToken ?? readTokenFile(paths.tokenFile);
    if (token === null) log.warn(`[OPS] no OPS_API_TOKEN and no ${paths.tokenFile} yet: the engines will refuse this control plane's orders (401) until it is given their token`);
    const engines = base.distributed.engines.map((e) => new HttpEngineHandle({ name: e.name, url: e.url, token }));
    await waitForEngines(engines, base.distributed.enginesWaitSec, log);

    // The models trade what the engines list, warmed on the bars the engines have seen.
    const symbols: string[] = [];
    for (const e of engines) for (const i of await e.instruments()) if (!symbols.includes(i.symbol)) symbols.push(i.symbol);
    const config: StackConfig = { ...base, tradeSymbols: symbols };
    const history = await engineHistory(base.distributed.engines, base.warmupBars, log);

    const cp = await startControlPlane({
      config, paths, log, opsLogFile, metrics, bus, symbols: symbols.map(toSymbol), history, startedAt: Date.now(), coordination: coordinator,
      attachEngines: async (core) => {
        // The cluster's trading state holds on every engine from the start (an engine that
        // already applied this version ignores it; one that stopped itself stays stopped).
        await core.tradingStates.pushAll(engines);
        return engines;
      },
      afterListen: async (opsUrl) => updateLock(config.root, { ops_url: opsUrl, engine_url: null }),
    });
    cleanup.unshift(() => cp.stop());
    bus.subscribe('market.bar', (bar) => cp.noteBar(bar));
    if (coordinator !== null) {
      await coordinator.start(cp);
      cleanup.unshift(() => coordinator!.stop());
    }

    log.info({ ops: cp.opsUrl, engines: engines.map((e) => e.name), replica: replicaId }, `[OPS] hmm ops up: ${cp.opsUrl} (dashboard ${cp.opsUrl}/pnl_dashboard.html), engines ${base.distributed.engines.map((e) => `${e.name} ${e.url}`).join(', ')}, replica ${replicaId}${lease ? ` (${lease.isLeader() ? 'LEADER' : 'follower'})` : ''}, trading ${cp.killSwitch.enabled ? 'ENABLED' : 'DISABLED'}`);

    let stopped = false;
    return {
      config, paths, log, metrics, bus, controlPlane: cp, opsUrl: cp.opsUrl, replicaId, coordinator,
      async stop() {
        if (stopped) return;
        stopped = true;
        for (const c of cleanup.splice(0)) await c().catch((err: Error) => log.error({ err }, `[OPS] stopping: ${err.message}`));
        await cp.alerts.stop();
        log.info('[OPS] hmm ops stopped');
        log.flush();
        await opsLogFile.settle();
        opsLogFile.close();
        releaseLock(base.root);
      },
    };
  } catch (err) {
    for (const c of cleanup.splice(0)) await c().catch(() => undefined);
    releaseLock(base.root);
    log.flush();
    opsLogFile.close();
    throw err;
  }
}

function readTokenFile(path: string): string | null {
  if (!existsSync(path)) return null;
  const t = readFileSync(path, 'utf8').trim();
  return t === '' ? null : t;
}

/** Every engine answers /health under the name HMM_ENGINES gives it, or start-up fails naming it. */
async function waitForEngines(engines: readonly HttpEngineHandle[], waitSec: number, log: Logger): Promise<void> {
  const deadline = Date.now() + waitSec * 1000;
  for (const e of engines) {
    for (let attempt = 0; ; attempt++) {
      try {
        const h = await e.health();
        if (h.venue !== e.name) throw new ConfigError('HMM_ENGINES', `${e.name} points at an engine that calls itself ${h.venue}`);
        break;
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        if (Date.now() >= deadline) throw new Error(`[OPS] engine ${e.name} did not answer within HMM_ENGINES_WAIT_SEC=${waitSec}: ${(err as Error).message}`);
        if (attempt % 10 === 0) log.warn(`[OPS] waiting for engine ${e.name}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

/** The engines' recent bars (GET /bars), merged oldest first: the models' warm-up. */
async function engineHistory(endpoints: readonly { name: string; url: string }[], limit: number, log: Logger): Promise<Bar[]> {
  const seen = new Map<string, Bar>();
  if (limit <= 0) return [];
  for (const e of endpoints) {
    try {
      const res = await fetch(`${e.url}/bars?limit=${Math.min(10_000, limit * 4)}`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { bars?: Bar[] };
      for (const b of body.bars ?? []) seen.set(`${b.symbol}|${b.ts}`, { ...b, symbol: toSymbol(b.symbol) });
    } catch (err) {
      log.warn(`[OPS] no warm-up bars from ${e.name} (${(err as Error).message}): its models start cold`);
    }
  }
  return [...seen.values()].sort((a, b) => a.ts - b.ts || (a.symbol < b.symbol ? -1 : 1));
}

/**
 * Leadership and replication for one replica: the lease, the Redis state store, and the rules
 * that apply another replica's kill and weights and a leader's allocations here.
 */
export class OpsCoordinator implements Coordination {
  readonly store: OpsStateStore;
  readonly lease: LeaderLease;
  private allocator: ReplicatedAllocator | null = null;
  private cp: ControlPlane | null = null;
  private multiplierDoc: MultiplierDoc | null = null;
  private lastMultiplierWritten: number | null = null;
  private fenced = false;
  private weightsTs = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private leadershipChain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];
  private lastPollError = 0;
  /** Fail-overs seen by this replica (acquisitions after the first). */
  acquisitions = 0;

  constructor(private readonly redis: RedisDeploymentConfig, readonly replicaId: string, private readonly paths: StackPaths, private readonly log: Logger, private readonly metrics: Metrics) {
    this.lease = new LeaderLease({
      url: redis.url, name: OPS_LEASE_NAME, prefix: redis.prefix, holderId: replicaId, ttlMs: redis.leaderTtlMs, logger: log,
      onAcquired: (l) => this.onAcquired(l),
      onLost: (reason) => this.onLost(reason),
    });
    this.store = new OpsStateStore(redis.url, redis.prefix, this.lease.fenceKey, `hmm-ops-state:${replicaId}`);
  }

  leads(): boolean {
    return !this.fenced && this.lease.isLeader();
  }

  exposureMultiplier(): number | null {
    return this.multiplierDoc?.multiplier ?? null;
  }

  makeAllocator(args: ConstructorParameters<typeof CapitalAllocator>): CapitalAllocator {
    this.allocator = new ReplicatedAllocator(args, {
      store: this.store, holder: this.replicaId, path: this.paths.capitalAllocations, policy: args[1], log: this.log, metrics: this.metrics,
      onFenced: () => this.onFenced(),
    });
    return this.allocator;
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
    const path = this.tradingStatesPath();
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

  private tradingStatesPath(): string {
    return join(this.paths.root, 'ops/trading_states.json');
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
      schema: { summary: 'This ops replica, the lease holder, the leader\'s last allocation write and the shared bus', response: { 200: { type: 'object', additionalProperties: true } } },
    }, async () => {
      const holder = await this.store.leaseHolder(this.lease.key).catch(() => null);
      const l = this.lease.leadership();
      const a = this.allocator?.replicated ?? null;
      const busStats = this.cp?.bus.stats() as Partial<ReturnType<RedisBus['stats']>> | undefined;
      return {
        replica: this.replicaId,
        leader: this.leads(),
        leadership: l ? { token: l.token, since: new Date(l.since).toISOString() } : null,
        lease: { key: this.lease.key, holder: holder?.holder ?? null, token: holder?.token ?? null, ttl_ms: this.redis.leaderTtlMs },
        daemons_running: this.cp?.daemons.running ?? false,
        allocations: a ? { token: a.token, holder: a.holder, ts: new Date(a.ts).toISOString(), writes_here: this.allocator!.writes, refused_here: this.allocator!.refused } : null,
        exposure_multiplier: this.multiplierDoc?.multiplier ?? null,
        engines: this.cp?.engines().map((e) => e.name) ?? [],
        bus: busStats ? { stream: busStats.stream, received: busStats.received, published: busStats.published, reconnects: busStats.reconnects, lost: busStats.lost } : null,
      };
    });
  }

  async start(cp: ControlPlane): Promise<void> {
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
    const known = new Set([...cp.context.models().map((m) => m.id), ...cp.registry.entries().map((e) => e.id)]);
    const diff: Record<string, number> = {};
    for (const [m, w] of Object.entries(remote)) if (known.has(m) && cp.weights.weight(m) !== w) diff[m] = w;
    if (Object.keys(diff).length === 0) return;
    try {
      cp.weights.update(diff, actor);
    } catch (err) {
      this.log.error({ err }, `[GOV] replicated weights refused: ${(err as Error).message}`);
    }
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
      } else {
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
