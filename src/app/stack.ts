// The composition root of the embedded stack: market data, models, the strategy router, the
// allocator, the engine for the sim venue and the Ops API in one process (`hmm up`, `npm
// start`). The same parts run as separate processes over HTTP and Redis (`hmm engine`, `hmm
// ops`; src/app/): app/controlPlane.ts wires the control plane for both, app/engineParts.ts
// builds the engine for both, and nothing here is special-cased.
//
// In phases: build every part, start them in order, listen, then let the market run; stop in
// reverse. One Clock (StartOptions.clock; WallClock by default) is handed to every part that
// decides by time, so a replay runs this same wiring on a SimClock.
import type { FastifyInstance } from 'fastify';
import { type StackConfig, loadConfig } from '../config/config.js';
import { type Clock, WallClock } from '../core/clock.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Bus } from '../bus/bus.js';
import type { Engine } from '../engine/engine.js';
import { createEngineServer, engineRoutes } from '../engine/engineApi.js';
import { LocalEngineHandle } from '../engine/engineHandle.js';
import { RotatingFile } from '../util/rotatingFile.js';
import { logRotationEvent, rotationOf } from '../ops/logsPolicy.js';
import { acquireLock, releaseLock, updateLock } from '../ops/stackLock.js';
import { clearRestoreMarker, readRestoreMarker } from '../ops/backup.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createMetrics, type Metrics } from '../obs/metrics.js';
import type { AuditLog } from '../ops/audit.js';
import type { OpsTokenRing } from '../ops/auth.js';
import type { AlertManager } from '../ops/alerts/alertManager.js';
import type { GovernanceDaemon } from '../ops/governance/daemon.js';
import type { TradingStates } from '../ops/governance/tradingStates.js';
import type { OpsContext } from '../ops/context.js';
import { stackPaths, type StackPaths } from '../ops/paths.js';
import { type ControlPlane, buildControlCore, buildControlPlane, ensureOperatorFiles } from './controlPlane.js';
import { buildEngine, openSimVenue } from './engineParts.js';
import { openBus } from './processBus.js';
import { type MarketSource, openMarketSource } from './marketSource.js';
import { StorageWatch } from './storageWatch.js';

export interface Stack {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly ops: FastifyInstance;
  readonly engineServer: FastifyInstance | null;
  readonly engine: Engine;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly context: OpsContext;
  /** Address the Ops API listens on, e.g. http://127.0.0.1:8002. */
  readonly opsUrl: string;
  readonly engineUrl: string | null;
  readonly tokenCreated: boolean;
  /** Whether the root's disk takes writes (a fault refuses new orders: STORAGE). */
  readonly storage: StorageWatch;
  /** Governance, graded trading states, alerts, audit trail and operator tokens. */
  readonly governance: {
    readonly daemon: GovernanceDaemon;
    readonly tradingStates: TradingStates;
    readonly alerts: AlertManager;
    readonly audit: AuditLog;
    readonly tokens: OpsTokenRing;
  };
  /** Model lifecycle: registry, runtime, shadow book, tracker, canary manager and the capital allocator. */
  readonly strategy: Pick<ControlPlane, 'registry' | 'runtime' | 'fleet' | 'shadow' | 'tracker' | 'canary' | 'allocator'>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Log to stdout as well as ops/logs/ops.log (default true). */
  readonly stdout?: boolean;
  /** The stack's one clock (default WallClock). A replay passes a SimClock and advances it. */
  readonly clock?: Clock;
  /** Bars from the caller instead of MARKET_DATA (a replay: its source's start() hands the
   *  replay the stack's own bar handler, which it drives step by step). */
  readonly market?: MarketSource;
  /** Listen on the Ops and engine ports (default true). A replay needs no port, and opening
   *  one would collide with a live stack on the same machine. */
  readonly listen?: boolean;
  /** Host ms between two writes of each exported state file (ControlPlaneDeps.exportPacingMs;
   *  default 0: every refresh is written). */
  readonly exportPacingMs?: number;
}

export async function startStack(opts: StartOptions = {}): Promise<Stack> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? new WallClock();
  const config = loadConfig(env);
  const paths = stackPaths(config.root);
  ensureOperatorFiles(paths);
  // ops.log rotates by size and day; ops/policies.yaml `logs:` retunes it once read.
  const opsLogFile = new RotatingFile(paths.opsLog, undefined, { onEvent: (e) => logRotationEvent(log, e) });
  const log = createLogger({ file: opsLogFile, level: config.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  // One process: the in-process bus (the embedded stack never joins a shared Redis bus).
  const bus = await openBus(null, 'stack', log, metrics);
  // A full or failing disk is a state (STORAGE), not a crash: every writer reports to this.
  const storage = new StorageWatch({ root: config.root, ...config.storage, name: 'hmm-stack', log, metrics, bus });
  const symbols = config.tradeSymbols.map(toSymbol);
  const startedAt = clock.now();
  // One stack per root (two would write one ledger and one ops/state.json); a lock left by a
  // dead run = a crash. Taken before anything writes to the root.
  const previousRun = acquireLock(config.root);
  // What a start-up that fails part-way undoes (then the lock is given back, so the next start
  // is not mistaken for the recovery from a crash).
  const undo: (() => unknown)[] = [() => storage.stop()];
  // The embedded stack's one engine: its ledger, venue books and market state are named after it.
  const engineName = 'engine_sim';
  try {
    // ---- build ----------------------------------------------------------------------------
    // Market data: history for warm-up, then one step of bars per symbol as the source emits
    // them (synthetic by default: a bar every MARKET_INTERVAL_MS spanning BAR_INTERVAL_MS of
    // market time, so a demo shows a day's movement in minutes; MARKET_DATA=binance: the
    // venue's bars).
    const market = opts.market ?? await openMarketSource({ config, env, symbols, log, now: startedAt, statePath: paths.marketState(engineName) });
    undo.push(() => market.close());
    const deps = { config, paths, log, opsLogFile, metrics, bus, clock, exportPacingMs: opts.exportPacingMs ?? 0 };
    const core = buildControlCore(deps);

    // Execution plane: the sim venue keeps its own books (as an exchange would) beside the
    // ledger; the engine starts under the trading state the core holds.
    const restoredFrom = readRestoreMarker(paths.engineStateDir);
    const venue = openSimVenue(config, paths, engineName, undefined, clock);
    const { engine, ledger, orderLog } = buildEngine({
      config, paths, name: engineName, venue, bus, log, metrics, clock, tradingEnabled: core.killSwitch.enabled,
      recoveryContext: { uncleanShutdown: previousRun ? { pid: previousRun.pid, started_at: previousRun.started_at } : null, restoredFrom },
      rotation: rotationOf(core.policies.current.logs), storage: storage.health,
    });
    storage.attach({ engines: [engine], tradingStates: core.tradingStates });
    core.policies.onChange((p) => orderLog.setRotation(rotationOf(p.logs)));
    core.engines.add(new LocalEngineHandle(engine));

    const cp: ControlPlane = await buildControlPlane(deps, core, { symbols, history: market.history, startedAt });
    undo.push(() => cp.alerts.stop(), () => cp.stop());
    // The engine's own API beside the Ops API (ENGINE_PORT; 0 = none unless asked for).
    let engineServer: FastifyInstance | null = null;
    if (config.enginePort !== 0 || env.ENGINE_PORT === '0') {
      engineServer = await createEngineServer({ log, token: core.token, onControlAction: core.audit.hook(engineName) });
      await engineServer.register(engineRoutes(engine, metrics.registry));
      const server = engineServer;
      undo.push(() => server.close());
    }

    // ---- start, in order ----------------------------------------------------------------
    await cp.startSafety();
    // The venue learns prices only now that the engine listens: resting orders a previous run
    // left may fill on these bars, and those fills must reach the ledger.
    for (const bar of market.history.slice(-symbols.length)) venue.onBar(bar);
    // Start-up reconciliation with the venue's own books before anything trades (the runbook's
    // "the reconciliation daemon auto-restores open orders").
    await engine.reconcile('startup');
    if (restoredFrom) clearRestoreMarker(paths.engineStateDir);
    await cp.start();
    engine.startReconcileDaemon();

    // ---- listen, then let the market run --------------------------------------------------
    const listen = opts.listen ?? true;
    const opsUrl = listen ? await cp.listen() : '';
    let engineUrl: string | null = null;
    if (engineServer && listen) {
      await engineServer.listen({ host: config.engineHost, port: config.enginePort });
      const a = engineServer.server.address();
      engineUrl = typeof a === 'object' && a ? `http://${config.engineHost}:${a.port}` : null;
    }
    updateLock(config.root, { ops_url: opsUrl, engine_url: engineUrl });
    storage.start();
    market.start((bars: readonly Bar[]) => {
      for (const bar of bars) venue.onBar(bar);
      engine.onMarketData();
      for (const bar of bars) {
        cp.noteBar(bar);
        bus.publish('market.bar', bar);
      }
    });

    log.info({ ops: opsUrl, engine: engineUrl, root: config.root }, `[OPS] hmm-stack up in ${config.mode} mode: ops ${opsUrl} (dashboard ${opsUrl}/pnl_dashboard.html), engine ${engineName}${engineUrl ? ` ${engineUrl}` : ''}, market data ${market.description}, trading ${cp.killSwitch.enabled ? 'ENABLED' : 'DISABLED'}`);

    let stopped = false;
    return {
      config, paths, ops: cp.ops, engineServer, engine, bus, log, metrics, context: cp.context, opsUrl, engineUrl, tokenCreated: cp.tokenCreated, storage,
      governance: { daemon: cp.governance, tradingStates: cp.tradingStates, alerts: cp.alerts, audit: cp.audit, tokens: cp.token },
      strategy: { registry: cp.registry, runtime: cp.runtime, fleet: cp.fleet, shadow: cp.shadow, tracker: cp.tracker, canary: cp.canary, allocator: cp.allocator },
      // In reverse: the market, the control plane, the engine's API, the engine and its books,
      // then the alerts (what closing said still goes out), the bus and the log.
      async stop() {
        if (stopped) return;
        stopped = true;
        storage.stop();
        await market.close();
        await cp.stop();
        await engineServer?.close();
        await engine.close();
        await venue.close();
        await ledger.closeAsync();
        await orderLog.settle();
        orderLog.close();
        await cp.alerts.stop();
        await bus.close();
        log.info('[OPS] hmm-stack stopped');
        log.flush();
        await opsLogFile.settle();
        opsLogFile.close();
        releaseLock(config.root);
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) await Promise.resolve().then(step).catch(() => undefined);
    releaseLock(config.root);
    throw err;
  }
}
