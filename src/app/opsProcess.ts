// `hmm ops`: the control plane in its own process, against engines in theirs (HMM_ENGINES,
// reached through HttpEngineHandle), on the Redis bus they all share. Several replicas may run;
// they agree through Redis (ops/cluster/: the lease, the replicated documents, and the
// coordinator that applies them): one leader at a time runs the singleton daemons and routes
// model signals; the trading state (the kill switch is its global HALTED) is one versioned
// document there, applied once per version by every engine; POST /kill on any replica stops
// every engine before it answers, because every replica reaches every engine; the weights are
// replicated last-writer-wins;
// the leader's allocations and exposure multiplier are published fenced, and followers size
// orders with them. In phases, as the embedded stack: build, start in order, listen, and only
// then take part in leadership.
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, loadConfig, type StackConfig } from '../config/config.js';
import { type Clock, WallClock } from '../core/clock.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Bus } from '../bus/bus.js';
import { loadRedisConfig } from '../bus/redisConfig.js';
import { HttpEngineHandle } from '../engine/httpEngineHandle.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createMetrics, type Metrics } from '../obs/metrics.js';
import { OpsCoordinator } from '../ops/cluster/coordinator.js';
import { logRotationEvent } from '../ops/logsPolicy.js';
import { stackPaths, type StackPaths } from '../ops/paths.js';
import { acquireLock, releaseLock, updateLock } from '../ops/stackLock.js';
import { RotatingFile } from '../util/rotatingFile.js';
import { type ControlPlane, buildControlCore, buildControlPlane, ensureOperatorFiles } from './controlPlane.js';
import { PersistedMarks, openBus, processIdFor } from './processBus.js';
import { StorageWatch } from './storageWatch.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface OpsProcessOptions {
  readonly env?: Env;
  /** Log to stdout as well as ops/logs/ops.log (default true). */
  readonly stdout?: boolean;
  /** The control plane's one clock (default WallClock). */
  readonly clock?: Clock;
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
  /** Whether this replica's root takes writes (its own STORAGE condition). */
  readonly storage: StorageWatch;
  stop(): Promise<void>;
}

export async function startOpsProcess(opts: OpsProcessOptions = {}): Promise<OpsProcess> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? new WallClock();
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
    // Every consumer here is idempotent by event id: the bus admits an engine's event once.
    const marks = redis === null ? null : new PersistedMarks(paths.busMarks, log);
    const bus = await openBus(redis, 'ops', log, metrics, marks ?? undefined);
    cleanup.push(async () => {
      await bus.close();
      marks?.stop();
    });
    if (redis === null) log.warn('[OPS] neither REDIS_URL nor REDIS_SENTINELS is set: this control plane shares no bus with its engines (no bars, fills or rejections reach it) and cannot run beside another replica');
    const replicaId = base.distributed.replicaId ?? processIdFor('ops');
    // This replica's own disk (ops/ files, logs, exports): the same watch as `hmm up`'s, its
    // condition named after the replica. The engines watch theirs; followEngines shows them.
    const storage = new StorageWatch({ root: base.root, ...base.storage, name: replicaId, log, metrics, bus });
    cleanup.push(async () => storage.stop());

    // Leadership and replication (Redis only): the cluster's kill decision and allocations
    // replace older local copies before the control plane reads its files.
    let coordinator: OpsCoordinator | null = null;
    if (redis !== null) {
      const c = new OpsCoordinator(redis, replicaId, paths, log, metrics);
      coordinator = c;
      await c.store.connect();
      cleanup.push(() => c.store.close());
      await c.adoptBeforeStart();
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

    // ---- build ------------------------------------------------------------------------------
    const deps = { config, paths, log, opsLogFile, metrics, bus, clock, coordination: coordinator };
    const core = buildControlCore(deps);
    core.engines.add(...engines);
    const cp = await buildControlPlane(deps, core, { symbols: symbols.map(toSymbol), history, startedAt: clock.now() });
    cleanup.unshift(() => cp.stop());
    storage.attach({ tradingStates: core.tradingStates });
    await storage.followEngines(engines);

    // ---- start, in order --------------------------------------------------------------------
    await cp.startSafety();
    // The cluster's trading state holds on every engine from the start (an engine that
    // already applied this version ignores it; one that stopped itself stays stopped).
    await core.tradingStates.pushAll(engines);
    await cp.start();
    // Through the control plane's view: a bar out of bounds (inputBounds.ts) is not a sign of life.
    core.bus.subscribe('market.bar', (bar) => cp.noteBar(bar));

    // ---- listen, then take part in leadership -------------------------------------------------
    const opsUrl = await cp.listen();
    updateLock(config.root, { ops_url: opsUrl, engine_url: null });
    storage.start();
    if (coordinator !== null) {
      const c = coordinator;
      await c.start(cp);
      cleanup.unshift(() => c.stop());
    }

    log.info({ ops: opsUrl, engines: engines.map((e) => e.name), replica: replicaId }, `[OPS] hmm ops up: ${opsUrl} (dashboard ${opsUrl}/pnl_dashboard.html), engines ${base.distributed.engines.map((e) => `${e.name} ${e.url}`).join(', ')}, replica ${replicaId}${coordinator ? ` (${coordinator.lease.isLeader() ? 'LEADER' : 'follower'})` : ''}, trading ${cp.killSwitch.enabled ? 'ENABLED' : 'DISABLED'}`);

    let stopped = false;
    return {
      config, paths, log, metrics, bus, controlPlane: cp, opsUrl, replicaId, coordinator, storage,
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
