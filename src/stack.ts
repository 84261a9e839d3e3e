// The composition root: wires market data, models, the strategy router, the allocator, the
// engine for the sim venue and the Ops API into one process (`hmm up`, `npm start`).
// Separate processes wire the same pieces over HTTP and Redis; nothing here is special-cased.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type StackConfig, loadConfig, minNotionalFor } from './config.js';
import { fx, toNumber, toDecimalString } from './core/decimal.js';
import { symbol as toSymbol } from './core/ids.js';
import type { Bar } from './core/marketData.js';
import { InProcessBus, type Bus } from './bus/bus.js';
import { Engine } from './engine/engine.js';
import { engineRoutes } from './engine/engineApi.js';
import { LocalEngineHandle, type EngineHandle } from './engine/engineHandle.js';
import { Ledger } from './engine/ledger.js';
import { OrderLog } from './engine/orderLog.js';
import { RotatingFile } from './util/rotatingFile.js';
import { logRotationEvent, rotationOf } from './ops/logsPolicy.js';
import { acquireLock, releaseLock, updateLock } from './ops/stackLock.js';
import { clearRestoreMarker, readRestoreMarker } from './ops/backup.js';
import { reconcileRoutes } from './ops/routes/reconcile.js';
import { SyntheticFeed, SyntheticMarket } from './market/synthetic.js';
import { createLogger, type Logger } from './obs/logger.js';
import { createMetrics, type Metrics } from './obs/metrics.js';
import { aggregateExposure } from './ops/aggregate.js';
import { CapitalAllocator } from './ops/allocator.js';
import { OpsTokenRing } from './ops/auth.js';
import { AuditLog } from './ops/audit.js';
import { AlertManager } from './ops/alerts/alertManager.js';
import { TelegramChannel } from './ops/alerts/telegram.js';
import { GovernanceDaemon } from './ops/governance/daemon.js';
import { TradingStates } from './ops/governance/tradingStates.js';
import { governanceRoutes } from './ops/routes/governance.js';
import { aggregatePortfolio } from './ops/aggregate.js';
import { DEFAULT_CAPITAL_POLICY, parseCapitalPolicy, type CapitalPolicy } from './ops/capitalPolicy.js';
import type { ModelInfo, OpsContext } from './ops/context.js';
import { KillSwitch } from './ops/killSwitch.js';
import { createOpsServer } from './ops/opsApi.js';
import { stackPaths, type StackPaths } from './ops/paths.js';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from './ops/policies.js';
import { controlRoutes } from './ops/routes/control.js';
import { readRoutes } from './ops/routes/read.js';
import { streamRoutes } from './ops/routes/stream.js';
import { metricsCollectorPlugin } from './ops/metricsCollector.js';
import { instrumentVenue } from './obs/venueMetrics.js';
import { SignalGate } from './ops/signalGate.js';
import { StrategyRouter } from './ops/strategyRouter.js';
import { StrategyWeights } from './ops/strategyWeights.js';
import { WatchedFile } from './ops/watchedFile.js';
import { MaCrossoverModel } from './strategy/ma/maCrossover.js';
import { StrategyRuntime } from './strategy/runtime.js';
import { CanaryManager } from './ops/canaryManager.js';
import { attachLeaderboardSource } from './ops/leaderboard.js';
import { strategyRoutes } from './ops/routes/strategy.js';
import { ShadowBook } from './ops/shadowBook.js';
import { ModelFleet, StrategyRegistry } from './ops/strategyRegistry.js';
import { StrategyTracker } from './ops/strategyTracker.js';
import { SimVenue } from './venues/sim/simVenue.js';
import { writeJsonAtomic } from './util/atomicFile.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

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

/** Operator files the stack reads: a root without them gets the shipped defaults. */
function ensureOperatorFiles(paths: StackPaths): void {
  for (const [target, name] of [[paths.policies, 'policies.yaml'], [paths.capitalPolicy, 'capital_policy.json']] as const) {
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(repoRoot, 'ops', name), target);
  }
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
  const config = loadConfig(opts.env ?? process.env);
  const paths = stackPaths(config.root);
  ensureOperatorFiles(paths);
  // ops.log rotates by size and day; ops/policies.yaml `logs:` retunes it once read (below).
  const opsLogFile = new RotatingFile(paths.opsLog, undefined, { onEvent: (e) => logRotationEvent(log, e) });
  const log = createLogger({ file: opsLogFile, level: config.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  const bus: Bus = new InProcessBus((topic, err) => log.error({ err, topic }, `[BUS] a ${topic} subscriber failed: ${(err as Error).message}`));
  bus.subscribeAll((_p, topic) => metrics.busEvents.inc({ topic }));

  // Several tokens may be valid at once (rotation without downtime); see ops/auth.ts.
  const token = new OpsTokenRing({
    envTokens: [...(config.opsApiToken ? [config.opsApiToken] : []), ...config.opsApiTokens],
    tokenFile: paths.tokenFile, tokensFile: join(config.root, '.ops_tokens'), graceFile: join(config.root, 'ops/token_grace.json'),
    graceMs: config.opsTokenGraceSec * 1000, log,
  });
  const tokenCreated = token.created;
  const audit = new AuditLog(join(paths.opsLogsDir, 'audit.jsonl'), log, metrics);
  if (tokenCreated) log.warn(`[AUTH] created ${paths.tokenFile} (mode 0600) with a new operator token; use it as X-OPS-TOKEN`);

  const policies = new WatchedFile<Policies>(paths.policies, config.root, parsePolicies, () => DEFAULT_POLICIES, log, metrics);
  opsLogFile.setPolicy(rotationOf(policies.current.logs));
  const capitalPolicy = new WatchedFile<CapitalPolicy>(paths.capitalPolicy, config.root, parseCapitalPolicy, () => DEFAULT_CAPITAL_POLICY, log, metrics);

  // Alerts: every alert is logged; Telegram only with both TELEGRAM_TOKEN and TELEGRAM_CHAT_ID.
  const telegram = config.telegram.token && config.telegram.chatId
    ? new TelegramChannel({ token: config.telegram.token, chatId: config.telegram.chatId, apiBase: config.telegram.apiBase })
    : null;
  if (!telegram) log.warn(`[ALERT] Telegram disabled: ${config.telegram.token ? 'TELEGRAM_CHAT_ID' : 'TELEGRAM_TOKEN'} is not set; alerts are written to ops/logs/ops.log only`);
  else log.info(`[ALERT] Telegram alerts to chat ${config.telegram.chatId} via ${config.telegram.apiBase}`);

  // Market data: history for warm-up, then one bar per symbol every MARKET_INTERVAL_MS. Bars
  // span BAR_INTERVAL_MS of simulated market time, so a demo shows a day's movement in minutes.
  const symbols = config.tradeSymbols.map(toSymbol);
  const now = Date.now();
  const market = new SyntheticMarket({ seed: config.marketSeed, symbols, intervalMs: config.barIntervalMs, startTs: now - config.warmupBars * config.barIntervalMs });
  const history: Bar[] = [];
  for (let i = 0; i < config.warmupBars; i++) history.push(...market.nextBars());

  // Execution plane: the sim venue keeps its own books (as an exchange would) beside the ledger.
  const engineName = 'engine_sim';
  // One stack per root (two would write one ledger); a lock left by a dead run = a crash.
  const previousRun = acquireLock(config.root);
  started.lockedRoot = config.root;
  const restoredFrom = readRestoreMarker(paths.engineStateDir);
  let venue: SimVenue;
  try {
    venue = new SimVenue({
      id: 'sim',
      startingBalances: { USDT: toDecimalString(config.startingCashUsd) },
      takerFeeBps: config.sim.takerBps,
      makerFeeBps: config.sim.makerBps,
      slippageBps: config.sim.slippageBps,
      seed: config.sim.seed,
      statePath: paths.simVenueState(engineName),
      now: Date.now,
    });
  } catch (err) {
    // A damaged venue book must name its file (SQLite's own message does not).
    throw new Error(`sim venue books ${paths.simVenueState(engineName)} cannot be opened: ${(err as Error).message}. Move the file aside and restore the last backup (\`hmm restore FILE\`)`);
  }
  let engines: EngineHandle[] = [];
  const killSwitch = new KillSwitch(paths.opsState, () => engines, bus, log, metrics, config.tradingEnabled);
  const tradingStates = new TradingStates(join(config.root, 'ops/trading_states.json'), () => engines, bus, log, metrics);
  const alerts = new AlertManager({
    bus, log, metrics, policy: () => policies.current.alerting, channel: telegram, statePath: join(config.root, 'ops/alert_state.json'),
    digestLines: async () => {
      const p = await aggregatePortfolio(engines, () => toNumber(config.startingCashUsd));
      const st = tradingStates.current;
      const held = [...Object.entries(st.venues), ...Object.entries(st.models)].filter(([, e]) => e.state !== 'ACTIVE').map(([k, e]) => `${k} ${e.state}`);
      return [
        `Equity ${p.equity.toFixed(2)} USD (gain ${p.gain >= 0 ? '+' : ''}${p.gain.toFixed(2)}, ${p.gain_pct.toFixed(2)}%) · exposure ${p.exposure.toFixed(2)}`,
        `PnL realized ${p.realized_pnl.toFixed(2)} · unrealized ${p.unrealized_pnl.toFixed(2)} · fees ${p.fees.toFixed(2)}`,
        `Trading ${killSwitch.enabled ? 'enabled' : 'KILLED'} · state ${st.global.state}${held.length ? ` (${held.join(', ')})` : ''} · exposure multiplier ×${governance.effectiveMultiplier().toFixed(2)}`,
      ];
    },
  });
  alerts.start();
  const ledger = new Ledger(paths.ledger(engineName), config.ledgerSync, { backgroundCheckpoints: true });
  const orderLog = new OrderLog(paths.orderLog, rotationOf(policies.current.logs), { onEvent: (e) => logRotationEvent(log, e) });
  policies.onChange((p) => {
    opsLogFile.setPolicy(rotationOf(p.logs));
    orderLog.setRotation(rotationOf(p.logs));
  });
  const engine = new Engine({
    name: engineName,
    venue: instrumentVenue(venue, metrics, engineName),
    ledger,
    orderLog,
    snapshotPath: paths.portfolioSnapshot,
    recoveryContext: {
      uncleanShutdown: previousRun ? { pid: previousRun.pid, started_at: previousRun.started_at } : null,
      restoredFrom,
    },
    startingCash: config.startingCashUsd,
    limits: {
      tradeSymbols: new Set(config.tradeSymbols),
      minNotionalUsdt: minNotionalFor(config, engineName),
      maxNotionalUsdt: config.maxNotionalUsdt,
      maxOrdersPerMin: config.maxOrdersPerMin,
      exposureCapSymbolUsd: config.risk.exposureCapSymbolUsd,
      exposureCapTotalUsd: config.risk.exposureCapTotalUsd,
      equityFloorUsd: config.risk.equityFloorUsd,
      maxDrawdownPct: config.risk.maxDrawdownPct,
      lossStreakLimit: config.risk.lossStreakLimit,
      lossStreakCooldownMs: config.risk.lossStreakCooldownSec * 1000,
      priceBandPct: config.risk.priceBandPct,
      maxOpenOrders: config.risk.maxOpenOrders,
    },
    tradingEnabled: killSwitch.enabled,
    bus,
    logger: log,
    metrics,
  });
  engines = [new LocalEngineHandle(engine)];
  // The venue learns prices only now that the engine listens: resting orders a previous run
  // left may fill on these bars, and those fills must reach the ledger.
  for (const bar of history.slice(-symbols.length)) venue.onBar(bar);
  // Latched trading states (REDUCING / HALTED) apply before the engine routes anything.
  await tradingStates.pushAll();
  const governance = new GovernanceDaemon({
    statePath: join(config.root, 'ops/governance_state.json'), policy: () => policies.current.governance, bus, engines: () => engines,
    tradingStates, log, metrics, audit, baselineEquity: toNumber(config.startingCashUsd) * engines.length,
    minNotionalUsd: toNumber(config.minNotionalUsdt),
  });
  // Start-up reconciliation with the venue's own books before anything trades (the runbook's
  // "the reconciliation daemon auto-restores open orders").
  await engine.reconcile('startup');
  if (restoredFrom) clearRestoreMarker(paths.engineStateDir);

  // Strategy plane: every non-retired model in ops/strategy_registry.json runs (a fresh root
  // registers MA live, an HMM — trained now from synthetic history if ops/models has none —
  // and their ensemble in shadow).
  const registry = new StrategyRegistry(paths.strategyRegistry, log, () => policies.current.canary.history_limit);
  const runtime = new StrategyRuntime(bus, log);
  const fleet = new ModelFleet({ registry, runtime, modelsDir: paths.modelsDir, symbols, intervalMs: config.barIntervalMs, seed: config.marketSeed, log });
  fleet.bootstrap();
  fleet.buildAll();
  runtime.warmup(history);
  for (const bar of history) fleet.observe(bar);
  for (const m of runtime.list()) if (m instanceof MaCrossoverModel) m.reannounce();
  const modelIds = () => runtime.list().map((m) => m.id as string);
  const modelInfos = (): ModelInfo[] => runtime.list().map((m) => ({ id: m.id, kind: m.kind, symbols: m.symbols, diagnostics: m.diagnostics?.() ?? {} }));

  // Weights follow the registry's stages for models the weights file does not name yet.
  const stageWeights = Object.fromEntries(registry.active().map((e) => [e.id, e.stage === 'live' ? policies.current.canary.live_weight : e.stage === 'canary' ? policies.current.canary.canary_weight : 0]));
  const knownModels = () => new Set([...modelIds(), ...registry.entries().map((e) => e.id)]);
  const weights = new StrategyWeights(paths.strategyWeights, config.root, knownModels, stageWeights, bus, log, metrics);
  const baselineEquity = toNumber(config.startingCashUsd);
  let tracker: StrategyTracker | null = null;
  const allocator = new CapitalAllocator(paths.capitalAllocations, () => capitalPolicy.current, modelIds,
    async () => (await Promise.all(engines.map((e) => e.valuation()))).reduce((a, v) => a + v.equity, 0), log, metrics, {
      performance: () => Object.fromEntries((tracker?.reports() ?? []).map((r) => [r.model, { sharpe: r.total.sharpe, return_pct: r.total.return_pct, samples: r.total.samples }])),
      historyPath: paths.capitalAllocations.replace(/\.json$/, '_history.json'),
      historyLimit: () => policies.current.allocation_history_limit,
    });
  await allocator.step();

  const router = new StrategyRouter({
    engines: () => engines,
    weight: (m) => weights.weight(m),
    // Governance's exposure multiplier shrinks every new order's budget (quota × weight × strength).
    quota: (m) => allocator.quota(m) * governance.effectiveMultiplier(),
    liveModels: modelIds,
    minNotionalUsd: config.minNotionalUsdt,
    maxNotionalUsd: config.maxNotionalUsdt,
    log,
    metrics,
    seed: config.marketSeed,
  });
  await router.indexEngines();

  // Shadow book (weight-0 models, paper-filled on the sim venue's terms), tracker, canary manager.
  const shadowInstruments = new Map((await engines[0]!.instruments()).map((i) => [i.symbol, { stepSize: fx(i.step_size), tickSize: fx(i.tick_size) }]));
  const shadow = new ShadowBook({
    path: join(config.root, 'ops/shadow_book.json'), instruments: shadowInstruments,
    takerFeeBps: config.sim.takerBps, slippageBps: config.sim.slippageBps,
    minNotionalUsd: config.minNotionalUsdt, maxNotionalUsd: config.maxNotionalUsdt,
    quota: (m) => allocator.quota(m), log, onFill: (m, f, r) => tracker?.onShadowFill(m, f, r),
  });
  for (const bar of history) shadow.onBar(bar);
  tracker = new StrategyTracker({
    engines: () => engines, shadow, registry, weight: (m) => weights.weight(m), quota: (m) => allocator.quota(m), models: modelIds,
    scoreMetric: () => policies.current.canary.score_metric, bus, log, sampleEveryMs: config.marketIntervalMs,
  });
  const canary = new CanaryManager({
    registry, weights, tracker, shadow, policy: () => policies.current.canary, engines: () => engines,
    lastSignals: (m) => runtime.lastSignals(m), retire: (m) => { runtime.remove(m); }, maxNotionalUsd: config.maxNotionalUsdt, bus, log,
  });
  const signalGate = new SignalGate(() => ({ maxConcurrent: policies.current.max_concurrent_signals, queueSize: policies.current.signal_queue_size }));
  bus.subscribe('signal', (signal) => {
    signalGate.run(() => router.route(signal)).then((r) => {
      if (r.outcome === 'shadow') {
        const paper = shadow.execute(signal);
        if (paper.outcome === 'filled') log.debug({ model: r.model, fills: paper.fills.length }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} paper-filled in the shadow book`);
      } else if (r.outcome === 'routed') log.info({ model: r.model, order: r.order?.client_order_id, notional: r.notional_usd }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} → ${r.order?.status} ${r.order?.filled_qty} @ ${r.order?.avg_price ?? '-'} (${r.routing_time_ms?.toFixed(3)} ms)`);
      else if (r.outcome === 'rejected') log.warn({ model: r.model, reason: r.reason }, `[RISK] ${r.model} ${signal.action} ${signal.symbol} rejected: ${r.reason} ${r.message ?? ''}`);
    }, (err: Error) => log.error({ err }, `[STRAT] routing a ${signal.model} signal failed: ${err.message}`));
  });

  let lastBarTs: number | null = null;
  const context: OpsContext = {
    config, paths, bus, log, metrics, engines: () => engines, killSwitch, weights, allocator, policies, capitalPolicy,
    router, signalGate, models: modelInfos, startedAt: now, lastBarTs: () => lastBarTs, baselineEquity: () => baselineEquity,
  };

  const ops = await createOpsServer({ log, token, onControlAction: audit.hook('ops') });
  await ops.register(readRoutes(context, { tradingStates: () => tradingStates.current, exposureMultiplier: () => governance.effectiveMultiplier() }));
  await ops.register(governanceRoutes(context, { tradingStates, governance, tokens: token, alerts }));
  await ops.register(reconcileRoutes(context));
  await ops.register(controlRoutes(context));
  await ops.register(streamRoutes(context));
  await ops.register(metricsCollectorPlugin(context));
  await ops.register(strategyRoutes(context, { registry, canary, allocator }));
  attachLeaderboardSource(context, () => ({
    reports: tracker!.reports(), scoreMetric: policies.current.canary.score_metric,
    stage: (m) => registry.get(m)?.stage ?? 'shadow', stageSince: (m) => registry.get(m)?.stage_since ?? null,
    kind: (m) => registry.get(m)?.kind ?? runtime.get(m)?.kind ?? 'unknown', weight: (m) => weights.weight(m), quota: (m) => allocator.quota(m),
  }));
  await ops.listen({ host: config.opsHost, port: config.opsPort });
  const opsAddr = ops.server.address();
  const opsUrl = typeof opsAddr === 'object' && opsAddr ? `http://${config.opsHost}:${opsAddr.port}` : `http://${config.opsHost}:${config.opsPort}`;

  let engineServer: FastifyInstance | null = null;
  let engineUrl: string | null = null;
  if (config.enginePort !== 0 || opts.env?.ENGINE_PORT === '0') {
    engineServer = await createOpsServer({ log, token, onControlAction: audit.hook(engineName) });
    await engineServer.register(engineRoutes(engine, metrics.registry));
    await engineServer.listen({ host: config.engineHost, port: config.enginePort });
    const a = engineServer.server.address();
    engineUrl = typeof a === 'object' && a ? `http://${config.engineHost}:${a.port}` : null;
  }

  updateLock(config.root, { ops_url: opsUrl, engine_url: engineUrl });

  // Daemons.
  await Promise.all([policies.watch(), capitalPolicy.watch(), weights.watch()]);
  allocator.start();
  governance.start();
  policies.onChange(() => {
    governance.onPolicyChanged();
    alerts.policyChanged();
  });
  await governance.tick();
  engine.startReconcileDaemon();
  const exposureTimer = setInterval(() => {
    aggregateExposure(engines).then((x) => writeJsonAtomic(paths.aggregateExposure, x), (err: Error) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
  }, 2000);
  exposureTimer.unref();
  writeJsonAtomic(paths.aggregateExposure, await aggregateExposure(engines));

  await tracker.start();
  canary.start();
  // Models trained while running (`hmm train-hmm`) join as shadow without a restart.
  const fleetTimer = setInterval(() => {
    try { fleet.scan(); } catch (err) { log.error({ err }, `[CANARY] model scan failed: ${(err as Error).message}`); }
  }, 10_000);
  fleetTimer.unref();
  bus.subscribe('market.bar', (bar) => { shadow.onBar(bar); fleet.observe(bar); });
  // Every model states its current view to its book once warm (a live model with a position
  // already at target trades nothing: targets are idempotent).
  for (const m of runtime.list()) {
    if (m instanceof MaCrossoverModel) continue; // re-announces on its next bar
    for (const sig of runtime.lastSignals(m.id)) if (sig.targetExposure !== undefined) bus.publish('signal', { ...sig, ts: Date.now() });
  }

  runtime.start();
  const feed = new SyntheticFeed({ market, emitEveryMs: config.marketIntervalMs });
  const onBars = (bars: readonly Bar[]) => {
    for (const bar of bars) venue.onBar(bar);
    engine.onMarketData();
    for (const bar of bars) {
      lastBarTs = Date.now();
      metrics.lastBarAge.set({ symbol: bar.symbol }, lastBarTs / 1000);
      bus.publish('market.bar', bar);
    }
  };
  feed.start(onBars);
  onBars(market.nextBars());

  log.info({ ops: opsUrl, engine: engineUrl, root: config.root }, `[OPS] hmm-stack up in ${config.mode} mode: ops ${opsUrl} (dashboard ${opsUrl}/pnl_dashboard.html), engine ${engineName}${engineUrl ? ` ${engineUrl}` : ''}, trading ${killSwitch.enabled ? 'ENABLED' : 'DISABLED'}`);

  let stopped = false;
  return {
    config, paths, ops, engineServer, engine, bus, log, metrics, context, opsUrl, engineUrl, tokenCreated,
    governance: { daemon: governance, tradingStates, alerts, audit, tokens: token },
    strategy: { registry, runtime, fleet, shadow, tracker, canary },
    async stop() {
      if (stopped) return;
      stopped = true;
      feed.stop();
      runtime.stop();
      clearInterval(fleetTimer);
      canary.stop();
      tracker!.stop();
      shadow.close();
      allocator.stop();
      await governance.stop();
      clearInterval(exposureTimer);
      await ops.close();
      await engineServer?.close();
      await Promise.all([policies.close(), capitalPolicy.close(), weights.close()]);
      await engine.close();
      await venue.close();
      await ledger.closeAsync();
      await orderLog.settle();
      orderLog.close();
      await alerts.stop();
      await bus.close();
      log.info('[OPS] hmm-stack stopped');
      log.flush();
      await opsLogFile.settle();
      opsLogFile.close();
      releaseLock(config.root);
    },
  };
}
