// The composition root of the embedded stack: market data, models, the strategy router, the
// allocator, the engine for the sim venue and the Ops API in one process (`hmm up`, `npm
// start`). The same parts run as separate processes over HTTP and Redis (`hmm engine`, `hmm
// ops`; src/app/): app/controlPlane.ts wires the control plane for both, app/engineParts.ts
// builds the engine for both, and nothing here is special-cased.
import type { FastifyInstance } from 'fastify';
import { type StackConfig, loadConfig } from '../config/config.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Bus } from '../bus/bus.js';
import type { Engine } from '../engine/engine.js';
import { engineRoutes } from '../engine/engineApi.js';
import { LocalEngineHandle } from '../engine/engineHandle.js';
import type { Ledger } from '../engine/ledger.js';
import type { OrderLog } from '../engine/orderLog.js';
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
import { createOpsServer } from '../ops/opsApi.js';
import { stackPaths, type StackPaths } from '../ops/paths.js';
import type { CanaryManager } from '../lifecycle/canaryManager.js';
import type { ShadowBook } from '../lifecycle/shadowBook.js';
import type { ModelFleet, StrategyRegistry } from '../lifecycle/strategyRegistry.js';
import type { StrategyTracker } from '../lifecycle/strategyTracker.js';
import type { StrategyRuntime } from '../strategy/runtime.js';
import type { SimVenue } from '../venues/sim/simVenue.js';
import { ensureOperatorFiles, startControlPlane } from './controlPlane.js';
import { buildEngine, openSimVenue } from './engineParts.js';
import { openBus } from './processBus.js';
import { openMarketSource } from './marketSource.js';

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
  /** Governance, graded trading states, alerts, audit trail and operator tokens. */
  readonly governance: {
    readonly daemon: GovernanceDaemon;
    readonly tradingStates: TradingStates;
    readonly alerts: AlertManager;
    readonly audit: AuditLog;
    readonly tokens: OpsTokenRing;
  };
  /** Model lifecycle: registry, runtime, shadow book, tracker and canary manager. */
  readonly strategy: {
    readonly registry: StrategyRegistry;
    readonly runtime: StrategyRuntime;
    readonly fleet: ModelFleet;
    readonly shadow: ShadowBook;
    readonly tracker: StrategyTracker;
    readonly canary: CanaryManager;
  };
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Log to stdout as well as ops/logs/ops.log (default true). */
  readonly stdout?: boolean;
}

export async function startStack(opts: StartOptions = {}): Promise<Stack> {
  const started: { lockedRoot: string | null } = { lockedRoot: null };
  try {
    return await assembleStack(opts, started);
  } catch (err) {
    // A start-up that fails after taking the root's lock gives it back, so the next start is
    // not mistaken for the recovery from a crash.
    if (started.lockedRoot) releaseLock(started.lockedRoot);
    throw err;
  }
}

async function assembleStack(opts: StartOptions, started: { lockedRoot: string | null }): Promise<Stack> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env);
  const paths = stackPaths(config.root);
  ensureOperatorFiles(paths);
  // ops.log rotates by size and day; ops/policies.yaml `logs:` retunes it once read.
  const opsLogFile = new RotatingFile(paths.opsLog, undefined, { onEvent: (e) => logRotationEvent(log, e) });
  const log = createLogger({ file: opsLogFile, level: config.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  // One process: the in-process bus (the embedded stack never joins a shared Redis bus).
  const bus = await openBus(null, 'stack', log, metrics);

  // Market data: history for warm-up, then one step of bars per symbol as the source emits them
  // (synthetic by default: a bar every MARKET_INTERVAL_MS spanning BAR_INTERVAL_MS of market
  // time, so a demo shows a day's movement in minutes; MARKET_DATA=binance: the venue's bars).
  const symbols = config.tradeSymbols.map(toSymbol);
  const now = Date.now();
  // One stack per root (two would write one ledger and one ops/state.json); a lock left by a
  // dead run = a crash. Taken before anything writes to the root.
  const previousRun = acquireLock(config.root);
  started.lockedRoot = config.root;
  const market = await openMarketSource({ config, env, symbols, log, statePath: paths.marketState('engine_sim') });
  const history = market.history;

  // Execution plane: the sim venue keeps its own books (as an exchange would) beside the ledger.
  const engineName = 'engine_sim';
  // Filled in as the control plane calls back (closures: a holder, not narrowed locals).
  const w: {
    venue: SimVenue | null; parts: { engine: Engine; ledger: Ledger; orderLog: OrderLog } | null;
    restoredFrom: Readonly<Record<string, unknown>> | null; engineServer: FastifyInstance | null; engineUrl: string | null;
  } = { venue: null, parts: null, restoredFrom: null, engineServer: null, engineUrl: null };
  try {
    const cp = await startControlPlane({
      config, paths, log, opsLogFile, metrics, bus, symbols, history, startedAt: now,
      attachEngines: async (core) => {
        const restoredFrom = readRestoreMarker(paths.engineStateDir);
        w.restoredFrom = restoredFrom;
        const venue = openSimVenue(config, paths, engineName);
        w.venue = venue;
        const parts = buildEngine({
          config, paths, name: engineName, venue, bus, log, metrics, tradingEnabled: core.killSwitch.enabled,
          recoveryContext: { uncleanShutdown: previousRun ? { pid: previousRun.pid, started_at: previousRun.started_at } : null, restoredFrom },
          rotation: rotationOf(core.policies.current.logs),
        });
        w.parts = parts;
        const orderLog = parts.orderLog;
        core.policies.onChange((p) => orderLog.setRotation(rotationOf(p.logs)));
        // The venue learns prices only now that the engine listens: resting orders a previous run
        // left may fill on these bars, and those fills must reach the ledger.
        for (const bar of history.slice(-symbols.length)) venue.onBar(bar);
        return [new LocalEngineHandle(parts.engine)];
      },
      // Start-up reconciliation with the venue's own books before anything trades (the runbook's
      // "the reconciliation daemon auto-restores open orders").
      beforeStrategy: async () => {
        await w.parts!.engine.reconcile('startup');
        if (w.restoredFrom) clearRestoreMarker(paths.engineStateDir);
      },
      afterListen: async (opsUrl, core) => {
        if (config.enginePort !== 0 || env.ENGINE_PORT === '0') {
          const server = await createOpsServer({ log, token: core.token, onControlAction: core.audit.hook(engineName) });
          w.engineServer = server;
          await server.register(engineRoutes(w.parts!.engine, metrics.registry));
          await server.listen({ host: config.engineHost, port: config.enginePort });
          const a = server.server.address();
          w.engineUrl = typeof a === 'object' && a ? `http://${config.engineHost}:${a.port}` : null;
        }
        updateLock(config.root, { ops_url: opsUrl, engine_url: w.engineUrl });
      },
      afterGovernance: () => w.parts!.engine.startReconcileDaemon(),
    });
    const { engine, ledger, orderLog } = w.parts!;
    const simVenue = w.venue!;
    const { engineServer: server, engineUrl } = w;
    const onBars = (bars: readonly Bar[]) => {
      for (const bar of bars) simVenue.onBar(bar);
      engine.onMarketData();
      for (const bar of bars) {
        cp.noteBar(bar);
        bus.publish('market.bar', bar);
      }
    };
    market.start(onBars);

    log.info({ ops: cp.opsUrl, engine: engineUrl, root: config.root }, `[OPS] hmm-stack up in ${config.mode} mode: ops ${cp.opsUrl} (dashboard ${cp.opsUrl}/pnl_dashboard.html), engine ${engineName}${engineUrl ? ` ${engineUrl}` : ''}, market data ${market.description}, trading ${cp.killSwitch.enabled ? 'ENABLED' : 'DISABLED'}`);

    let stopped = false;
    return {
      config, paths, ops: cp.ops, engineServer: server, engine, bus, log, metrics, context: cp.context, opsUrl: cp.opsUrl, engineUrl, tokenCreated: cp.tokenCreated,
      governance: { daemon: cp.governance, tradingStates: cp.tradingStates, alerts: cp.alerts, audit: cp.audit, tokens: cp.token },
      strategy: { registry: cp.registry, runtime: cp.runtime, fleet: cp.fleet, shadow: cp.shadow, tracker: cp.tracker, canary: cp.canary },
      async stop() {
        if (stopped) return;
        stopped = true;
        await market.close();
        await cp.stop();
        await server?.close();
        await engine.close();
        await simVenue.close();
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
    await market.close().catch(() => undefined);
    throw err;
  }
}
