// The composition root: wires market data, models, the strategy router, the allocator, the
// engine for the sim venue and the Ops API into one process (`hmm up`, `npm start`).
// Separate processes wire the same pieces over HTTP and Redis; nothing here is special-cased.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type StackConfig, loadConfig } from './config.js';
import { toNumber, toDecimalString } from './core/decimal.js';
import { modelId, symbol as toSymbol } from './core/ids.js';
import type { Bar } from './core/marketData.js';
import { InProcessBus, type Bus } from './bus/bus.js';
import { Engine } from './engine/engine.js';
import { engineRoutes } from './engine/engineApi.js';
import { LocalEngineHandle, type EngineHandle } from './engine/engineHandle.js';
import { Ledger } from './engine/ledger.js';
import { OrderLog } from './engine/orderLog.js';
import { SyntheticFeed, SyntheticMarket } from './market/synthetic.js';
import { createLogger, type Logger } from './obs/logger.js';
import { createMetrics, type Metrics } from './obs/metrics.js';
import { aggregateExposure } from './ops/aggregate.js';
import { CapitalAllocator } from './ops/allocator.js';
import { loadOpsToken } from './ops/auth.js';
import { DEFAULT_CAPITAL_POLICY, parseCapitalPolicy, type CapitalPolicy } from './ops/capitalPolicy.js';
import type { ModelInfo, OpsContext } from './ops/context.js';
import { KillSwitch } from './ops/killSwitch.js';
import { createOpsServer } from './ops/opsApi.js';
import { stackPaths, type StackPaths } from './ops/paths.js';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from './ops/policies.js';
import { controlRoutes } from './ops/routes/control.js';
import { readRoutes } from './ops/routes/read.js';
import { streamRoutes } from './ops/routes/stream.js';
import { SignalGate } from './ops/signalGate.js';
import { StrategyRouter } from './ops/strategyRouter.js';
import { StrategyWeights } from './ops/strategyWeights.js';
import { WatchedFile } from './ops/watchedFile.js';
import { MaCrossoverModel } from './strategy/ma/maCrossover.js';
import type { Model } from './strategy/model.js';
import { StrategyRuntime } from './strategy/runtime.js';
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
  const config = loadConfig(opts.env ?? process.env);
  const paths = stackPaths(config.root);
  ensureOperatorFiles(paths);
  const log = createLogger({ file: paths.opsLog, level: config.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  const bus: Bus = new InProcessBus((topic, err) => log.error({ err, topic }, `[BUS] a ${topic} subscriber failed: ${(err as Error).message}`));
  bus.subscribeAll((_p, topic) => metrics.busEvents.inc({ topic }));

  const { source: token, created: tokenCreated } = loadOpsToken(config.opsApiToken, paths.tokenFile);
  if (tokenCreated) log.warn(`[AUTH] created ${paths.tokenFile} (mode 0600) with a new operator token; use it as X-OPS-TOKEN`);

  const policies = new WatchedFile<Policies>(paths.policies, config.root, parsePolicies, () => DEFAULT_POLICIES, log, metrics);
  const capitalPolicy = new WatchedFile<CapitalPolicy>(paths.capitalPolicy, config.root, parseCapitalPolicy, () => DEFAULT_CAPITAL_POLICY, log, metrics);

  // Market data: history for warm-up, then one bar per symbol every MARKET_INTERVAL_MS. Bars
  // span BAR_INTERVAL_MS of simulated market time, so a demo shows a day's movement in minutes.
  const symbols = config.tradeSymbols.map(toSymbol);
  const now = Date.now();
  const market = new SyntheticMarket({ seed: config.marketSeed, symbols, intervalMs: config.barIntervalMs, startTs: now - config.warmupBars * config.barIntervalMs });
  const history: Bar[] = [];
  for (let i = 0; i < config.warmupBars; i++) history.push(...market.nextBars());

  // Execution plane: the sim venue keeps its own books (as an exchange would) beside the ledger.
  const engineName = 'engine_sim';
  const venue = new SimVenue({
    id: 'sim',
    startingBalances: { USDT: toDecimalString(config.startingCashUsd) },
    takerFeeBps: config.sim.takerBps,
    makerFeeBps: config.sim.makerBps,
    slippageBps: config.sim.slippageBps,
    seed: config.sim.seed,
    statePath: paths.simVenueState(engineName),
    now: Date.now,
  });
  const lastHistory = history.slice(-symbols.length);
  for (const bar of lastHistory) venue.onBar(bar);

  let engines: EngineHandle[] = [];
  const killSwitch = new KillSwitch(paths.opsState, () => engines, bus, log, metrics, config.tradingEnabled);
  const ledger = new Ledger(paths.ledger(engineName), config.ledgerSync);
  const orderLog = new OrderLog(paths.orderLog);
  const engine = new Engine({
    name: engineName,
    venue,
    ledger,
    orderLog,
    snapshotPath: paths.portfolioSnapshot,
    startingCash: config.startingCashUsd,
    limits: {
      tradeSymbols: new Set(config.tradeSymbols),
      minNotionalUsdt: config.minNotionalUsdt,
      maxNotionalUsdt: config.maxNotionalUsdt,
      maxOrdersPerMin: config.maxOrdersPerMin,
    },
    tradingEnabled: killSwitch.enabled,
    bus,
    logger: log,
    metrics,
  });
  engines = [new LocalEngineHandle(engine)];

  // Strategy plane.
  const runtime = new StrategyRuntime(bus, log);
  const models: Model[] = [new MaCrossoverModel(modelId('ma_crossover_v1'), symbols)];
  for (const m of models) runtime.add(m);
  runtime.warmup(history);
  for (const m of models) if (m instanceof MaCrossoverModel) m.reannounce();
  const modelIds = () => runtime.list().map((m) => m.id as string);
  const modelInfos = (): ModelInfo[] => runtime.list().map((m) => ({ id: m.id, kind: m.kind, symbols: m.symbols, diagnostics: m.diagnostics?.() ?? {} }));

  const weights = new StrategyWeights(paths.strategyWeights, config.root, () => new Set(modelIds()), { ma_crossover_v1: 1 }, bus, log, metrics);
  const baselineEquity = toNumber(config.startingCashUsd);
  const allocator = new CapitalAllocator(paths.capitalAllocations, () => capitalPolicy.current, modelIds,
    async () => (await Promise.all(engines.map((e) => e.valuation()))).reduce((a, v) => a + v.equity, 0), log, metrics);
  await allocator.step();

  const router = new StrategyRouter({
    engines: () => engines,
    weight: (m) => weights.weight(m),
    quota: (m) => allocator.quota(m),
    liveModels: modelIds,
    minNotionalUsd: config.minNotionalUsdt,
    maxNotionalUsd: config.maxNotionalUsdt,
    log,
    metrics,
    seed: config.marketSeed,
  });
  await router.indexEngines();
  const signalGate = new SignalGate(() => ({ maxConcurrent: policies.current.max_concurrent_signals, queueSize: policies.current.signal_queue_size }));
  bus.subscribe('signal', (signal) => {
    signalGate.run(() => router.route(signal)).then((r) => {
      if (r.outcome === 'routed') log.info({ model: r.model, order: r.order?.client_order_id, notional: r.notional_usd }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} → ${r.order?.status} ${r.order?.filled_qty} @ ${r.order?.avg_price ?? '-'} (${r.routing_time_ms?.toFixed(3)} ms)`);
      else if (r.outcome === 'rejected') log.warn({ model: r.model, reason: r.reason }, `[RISK] ${r.model} ${signal.action} ${signal.symbol} rejected: ${r.reason} ${r.message ?? ''}`);
    }, (err: Error) => log.error({ err }, `[STRAT] routing a ${signal.model} signal failed: ${err.message}`));
  });

  let lastBarTs: number | null = null;
  const context: OpsContext = {
    config, paths, bus, log, metrics, engines: () => engines, killSwitch, weights, allocator, policies, capitalPolicy,
    router, signalGate, models: modelInfos, startedAt: now, lastBarTs: () => lastBarTs, baselineEquity: () => baselineEquity,
  };

  const ops = await createOpsServer({ log, token });
  await ops.register(readRoutes(context));
  await ops.register(controlRoutes(context));
  await ops.register(streamRoutes(context));
  await ops.listen({ host: config.opsHost, port: config.opsPort });
  const opsAddr = ops.server.address();
  const opsUrl = typeof opsAddr === 'object' && opsAddr ? `http://${config.opsHost}:${opsAddr.port}` : `http://${config.opsHost}:${config.opsPort}`;

  let engineServer: FastifyInstance | null = null;
  let engineUrl: string | null = null;
  if (config.enginePort !== 0 || opts.env?.ENGINE_PORT === '0') {
    engineServer = await createOpsServer({ log, token });
    await engineServer.register(engineRoutes(engine, metrics.registry));
    await engineServer.listen({ host: config.engineHost, port: config.enginePort });
    const a = engineServer.server.address();
    engineUrl = typeof a === 'object' && a ? `http://${config.engineHost}:${a.port}` : null;
  }

  // Daemons.
  await Promise.all([policies.watch(), capitalPolicy.watch(), weights.watch()]);
  allocator.start();
  const exposureTimer = setInterval(() => {
    aggregateExposure(engines).then((x) => writeJsonAtomic(paths.aggregateExposure, x), (err: Error) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
  }, 2000);
  exposureTimer.unref();
  writeJsonAtomic(paths.aggregateExposure, await aggregateExposure(engines));

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
    async stop() {
      if (stopped) return;
      stopped = true;
      feed.stop();
      runtime.stop();
      allocator.stop();
      clearInterval(exposureTimer);
      await ops.close();
      await engineServer?.close();
      await Promise.all([policies.close(), capitalPolicy.close(), weights.close()]);
      await engine.close();
      await venue.close();
      ledger.close();
      orderLog.close();
      await bus.close();
      log.info('[OPS] hmm-stack stopped');
      log.flush();
    },
  };
}
