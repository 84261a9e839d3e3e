// The control plane, wired once for both deployments: the kill switch, graded trading states,
// alerts, governance, the strategy plane (registry, runtime, fleet, shadow book, tracker,
// canary manager), weights, the capital allocator, the strategy router, the exposure collector
// and the Ops API. The embedded stack (`hmm up`, stack.ts) hands it a LocalEngineHandle; `hmm
// ops` (opsProcess.ts) hands it HttpEngineHandles and a leadership. Nothing here knows which.
//
// Leadership: the singleton daemons — allocator loop, governance daemon, canary manager — and
// the routing of model signals run only while this control plane leads. Without coordination
// (one process) it always leads, and everything starts in the order the embedded stack has
// always used. With coordination the caller starts and stops `daemons` as the lease comes and
// goes; a follower keeps its models warm on the shared bars but publishes no signals of its
// own, routes only what its API is asked to, and sizes with the leader's allocations.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { StackConfig } from '../config/config.js';
import { fx, toNumber } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';
import type { Bus, BusHandler, AnyBusHandler, BusStats } from '../bus/bus.js';
import type { BusTopics, Topic } from '../bus/topics.js';
import type { EngineHandle, InstrumentView } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { aggregateExposure, aggregatePortfolio } from '../ops/aggregate.js';
import { CapitalAllocator } from '../portfolio/allocator.js';
import { OpsTokenRing } from '../ops/auth.js';
import { AuditLog } from '../ops/audit.js';
import { AlertManager } from '../ops/alerts/alertManager.js';
import { type AlertChannel, TelegramChannel } from '../ops/alerts/telegram.js';
import { GovernanceDaemon } from '../ops/governance/daemon.js';
import { TradingStates, type TradingStateReplica } from '../ops/governance/tradingStates.js';
import { DEFAULT_CAPITAL_POLICY, parseCapitalPolicy, type CapitalPolicy } from '../portfolio/capitalPolicy.js';
import type { ModelInfo, OpsContext } from '../ops/context.js';
import { KillSwitch } from '../ops/killSwitch.js';
import { rotationOf } from '../ops/logsPolicy.js';
import { createOpsServer } from '../ops/opsApi.js';
import type { StackPaths } from '../ops/paths.js';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from '../ops/policies.js';
import { controlRoutes } from '../ops/routes/control.js';
import { governanceRoutes } from '../ops/routes/governance.js';
import { readRoutes } from '../ops/routes/read.js';
import { reconcileRoutes } from '../ops/routes/reconcile.js';
import { strategyRoutes } from '../ops/routes/strategy.js';
import { streamRoutes } from '../ops/routes/stream.js';
import { metricsCollectorPlugin } from '../ops/metricsCollector.js';
import { SignalGate } from '../portfolio/signalGate.js';
import { StrategyRouter } from '../portfolio/strategyRouter.js';
import { StrategyWeights } from '../portfolio/strategyWeights.js';
import { WatchedFile } from '../config/watchedFile.js';
import { CanaryManager } from '../lifecycle/canaryManager.js';
import { attachLeaderboardSource } from '../lifecycle/leaderboard.js';
import { ShadowBook } from '../lifecycle/shadowBook.js';
import { DEFAULT_HMM_STORE_ID, ModelFleet, StrategyRegistry } from '../lifecycle/strategyRegistry.js';
import { Retrainer } from '../lifecycle/retrainer.js';
import { StrategyTracker } from '../lifecycle/strategyTracker.js';
import { MaCrossoverModel } from '../strategy/ma/maCrossover.js';
import { StrategyRuntime } from '../strategy/runtime.js';
import type { RotatingFile } from '../util/rotatingFile.js';
import { writeJsonAtomic } from '../util/atomicFile.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Operator files the control plane reads: a root without them gets the shipped defaults. */
export function ensureOperatorFiles(paths: StackPaths): void {
  for (const [target, name] of [[paths.policies, 'policies.yaml'], [paths.capitalPolicy, 'capital_policy.json']] as const) {
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(repoRoot, 'ops', name), target);
  }
}

/**
 * A view of the bus that remembers what this process published (so a subscriber can tell its
 * own events from another replica's, which arrive as fresh objects), and that can refuse
 * topics (a follower's models publish no signals).
 */
export class MarkedBus implements Bus {
  private readonly own = new WeakSet<object>();

  constructor(private readonly inner: Bus, private readonly admit: (topic: Topic) => boolean = () => true, private readonly parent: MarkedBus | null = null) {}

  /** The same marks, refusing the topics `admit` refuses. */
  restricted(admit: (topic: Topic) => boolean): MarkedBus {
    return new MarkedBus(this.inner, admit, this);
  }

  isOwn(payload: unknown): boolean {
    if (payload === null || typeof payload !== 'object') return false;
    return (this.parent ?? this).own.has(payload);
  }

  publish<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    if (!this.admit(topic)) return;
    if (payload !== null && typeof payload === 'object') (this.parent ?? this).own.add(payload);
    this.inner.publish(topic, payload);
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

  /** The underlying bus is closed by whoever opened it. */
  async close(): Promise<void> {}
}

/**
 * The client order id of a model signal's order: deterministic (the same signal seen twice is
 * one order at the engine, whichever replica routes it) and within every venue's limits —
 * Binance takes at most 36 of [A-Za-z0-9_-], which `<model>-<symbol>-<ms>` already exceeds
 * for ma_crossover_v1 on BTCUSDT. The time goes in base 36; a name too long for that is hashed.
 */
export function signalOrderId(signal: Pick<Signal, 'model' | 'symbol' | 'ts'>): string {
  const readable = `${signal.model}-${signal.symbol}-${Math.floor(signal.ts).toString(36)}`;
  if (readable.length <= 36 && /^[A-Za-z0-9_-]+$/.test(readable)) return readable;
  const digest = createHash('sha256').update(`${signal.model}|${signal.symbol}|${signal.ts}`).digest('base64url').replace(/[^A-Za-z0-9]/g, '').slice(0, 20);
  return `${signal.model.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 14)}-${digest}`;
}

/** Delivers alerts only while this control plane leads: one Telegram message per alert, not one
 *  per replica. A follower's skipped deliveries count under `<channel>_follower`. */
class LeaderOnlyChannel implements AlertChannel {
  constructor(private readonly inner: AlertChannel, private readonly leads: () => boolean) {}
  get name(): string {
    return this.leads() ? this.inner.name : `${this.inner.name}_follower`;
  }
  async send(text: string) {
    if (!this.leads()) return { ok: true, attempts: 0, status: null, error: null };
    return this.inner.send(text);
  }
}

/** What attachEngines receives: the pieces the engines must honour from their first order. */
export interface ControlPlaneCore {
  readonly killSwitch: KillSwitch;
  readonly tradingStates: TradingStates;
  readonly alerts: AlertManager;
  readonly policies: WatchedFile<Policies>;
  readonly token: OpsTokenRing;
  readonly audit: AuditLog;
}

/** Leadership as the control plane sees it; absent = this process alone (always leads). */
export interface Coordination {
  leads(): boolean;
  /** The leader's exposure multiplier (followers size with it), or null to use our own. */
  exposureMultiplier(): number | null;
  /** Builds the allocator from CapitalAllocator's arguments (a replicated one, sharing the leader's quotas). */
  makeAllocator(args: ConstructorParameters<typeof CapitalAllocator>): CapitalAllocator;
  /** Extra Ops API routes (GET /cluster). */
  routes?(app: FastifyInstance): Promise<void>;
  /** Where trading-state changes get their version when replicas share the document. */
  readonly tradingStateReplica?: TradingStateReplica;
}

export interface ControlPlaneOptions {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly log: Logger;
  readonly opsLogFile: RotatingFile;
  readonly metrics: Metrics;
  readonly bus: Bus;
  /** Market symbols the models trade. */
  readonly symbols: readonly Symbol[];
  /** Warm-up bars, oldest first. */
  readonly history: readonly Bar[];
  readonly startedAt: number;
  /** Wires the engines once the kill switch, trading states and alerts exist. */
  readonly attachEngines: (core: ControlPlaneCore) => Promise<readonly EngineHandle[]>;
  /** After governance exists, before the strategy plane (the embedded start-up reconciliation). */
  readonly beforeStrategy?: () => Promise<void>;
  /** After the Ops API listens (the embedded engine API, the root lock's addresses). */
  readonly afterListen?: (opsUrl: string, core: ControlPlaneCore) => Promise<void>;
  /** After the governance daemon's first tick (the embedded reconciliation daemon). */
  readonly afterGovernance?: () => void;
  readonly coordination?: Coordination | null;
}

export interface LeaderDaemons {
  readonly running: boolean;
  /** Starts the allocator loop, governance and the canary manager (idempotent). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlane extends ControlPlaneCore {
  readonly ops: FastifyInstance;
  readonly opsUrl: string;
  readonly context: OpsContext;
  readonly bus: MarkedBus;
  readonly engines: () => readonly EngineHandle[];
  readonly tokenCreated: boolean;
  readonly governance: GovernanceDaemon;
  readonly weights: StrategyWeights;
  readonly allocator: CapitalAllocator;
  readonly registry: StrategyRegistry;
  readonly runtime: StrategyRuntime;
  readonly fleet: ModelFleet;
  readonly shadow: ShadowBook;
  readonly tracker: StrategyTracker;
  readonly canary: CanaryManager;
  readonly daemons: LeaderDaemons;
  /** Marks a bar as seen now (/status bar age); the embedded feed and remote bars both call it. */
  noteBar(bar: Bar): void;
  /** Models re-state their current targets (a new leader takes over the books). */
  restateTargets(): void;
  /** Stops everything the control plane started (not the bus, not the engines). */
  stop(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const { config, paths, log, metrics } = o;
  const coordination = o.coordination ?? null;
  const leads = (): boolean => coordination === null || coordination.leads();
  const bus = new MarkedBus(o.bus);
  // A follower's models stay warm but say nothing: only the leader's signals are traded.
  const modelBus = bus.restricted((topic) => topic !== 'signal' || leads());

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
  o.opsLogFile.setPolicy(rotationOf(policies.current.logs));
  const capitalPolicy = new WatchedFile<CapitalPolicy>(paths.capitalPolicy, config.root, parseCapitalPolicy, () => DEFAULT_CAPITAL_POLICY, log, metrics);
  policies.onChange((p) => o.opsLogFile.setPolicy(rotationOf(p.logs)));

  // Alerts: every alert is logged; Telegram only with both TELEGRAM_TOKEN and TELEGRAM_CHAT_ID.
  const telegram = config.telegram.token && config.telegram.chatId
    ? new TelegramChannel({ token: config.telegram.token, chatId: config.telegram.chatId, apiBase: config.telegram.apiBase })
    : null;
  if (!telegram) log.warn(`[ALERT] Telegram disabled: ${config.telegram.token ? 'TELEGRAM_CHAT_ID' : 'TELEGRAM_TOKEN'} is not set; alerts are written to ops/logs/ops.log only`);
  else log.info(`[ALERT] Telegram alerts to chat ${config.telegram.chatId} via ${config.telegram.apiBase}`);

  let engines: readonly EngineHandle[] = [];
  // ── The one trading state (ops/governance/tradingStates.ts); the kill switch is its global HALTED.
  const tradingStates = new TradingStates({
    path: join(config.root, 'ops/trading_states.json'), legacyKillPath: paths.opsState, engines: () => engines, bus, log, metrics,
    tradingEnabledAtStart: config.tradingEnabled, replica: coordination?.tradingStateReplica ?? null,
  });
  const killSwitch = new KillSwitch(tradingStates);
  // ──
  let governance: GovernanceDaemon | null = null;
  const alerts = new AlertManager({
    bus, log, metrics, policy: () => policies.current.alerting, channel: telegram && coordination ? new LeaderOnlyChannel(telegram, leads) : telegram,
    statePath: join(config.root, 'ops/alert_state.json'),
    digestLines: async () => {
      const p = await aggregatePortfolio(engines, () => toNumber(config.startingCashUsd));
      const st = tradingStates.current;
      const held = [...Object.entries(st.venues), ...Object.entries(st.models)].filter(([, e]) => e.state !== 'ACTIVE').map(([k, e]) => `${k} ${e.state}`);
      return [
        `Equity ${p.equity.toFixed(2)} USD (gain ${p.gain >= 0 ? '+' : ''}${p.gain.toFixed(2)}, ${p.gain_pct.toFixed(2)}%) · exposure ${p.exposure.toFixed(2)}`,
        `PnL realized ${p.realized_pnl.toFixed(2)} · unrealized ${p.unrealized_pnl.toFixed(2)} · fees ${p.fees.toFixed(2)}`,
        `Trading ${killSwitch.enabled ? 'enabled' : 'KILLED'} · state ${st.global.state}${held.length ? ` (${held.join(', ')})` : ''} · exposure multiplier ×${multiplier().toFixed(2)}`,
      ];
    },
  });
  alerts.start();
  const core: ControlPlaneCore = { killSwitch, tradingStates, alerts, policies, token, audit };
  engines = [...await o.attachEngines(core)];
  // Latched trading states (REDUCING / HALTED) apply before the engines route anything. With
  // coordination the leader pushes them when it takes over: a follower's copy may be older.
  if (coordination === null) await tradingStates.pushAll();
  const gov = new GovernanceDaemon({
    statePath: join(config.root, 'ops/governance_state.json'), policy: () => policies.current.governance, bus, engines: () => engines,
    tradingStates, log, metrics, audit, baselineEquity: toNumber(config.startingCashUsd) * engines.length,
    minNotionalUsd: toNumber(config.minNotionalUsdt),
  });
  governance = gov;
  function multiplier(): number {
    if (leads() || coordination === null) return governance?.effectiveMultiplier() ?? 1;
    return coordination.exposureMultiplier() ?? governance?.effectiveMultiplier() ?? 1;
  }
  await o.beforeStrategy?.();

  // Strategy plane: every non-retired model in ops/strategy_registry.json runs (a fresh root
  // registers MA live, an HMM — trained now on the market's warm-up history if ops/models has none —
  // and their ensemble in shadow).
  const symbols = o.symbols;
  const history = o.history;
  const registry = new StrategyRegistry(paths.strategyRegistry, log, () => policies.current.canary.history_limit);
  const runtime = new StrategyRuntime(modelBus, log);
  const fleet = new ModelFleet({
    registry, runtime, modelsDir: paths.modelsDir, symbols, intervalMs: config.barIntervalMs, seed: config.marketSeed, log,
    minTrainingBars: policies.current.retrain.min_bars, historySource: config.marketData.source === 'binance' ? 'binance' : 'synthetic market',
  });
  fleet.bootstrap(history);
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
  const allocatorArgs: ConstructorParameters<typeof CapitalAllocator> = [paths.capitalAllocations, () => capitalPolicy.current, modelIds,
    async () => (await Promise.all(engines.map((e) => e.valuation()))).reduce((a, v) => a + v.equity, 0), log, metrics, {
      performance: () => Object.fromEntries((tracker?.reports() ?? []).map((r) => [r.model, { sharpe: r.total.sharpe, return_pct: r.total.return_pct, samples: r.total.samples }])),
      historyPath: paths.capitalAllocations.replace(/\.json$/, '_history.json'),
      historyLimit: () => policies.current.allocation_history_limit,
    }];
  const allocator = coordination ? coordination.makeAllocator(allocatorArgs) : new CapitalAllocator(...allocatorArgs);
  // The leader's first step comes with the daemons; a follower takes the leader's quotas.
  if (coordination === null) await allocator.step();

  const router = new StrategyRouter({
    engines: () => engines,
    weight: (m) => weights.weight(m),
    // Governance's exposure multiplier shrinks every new order's budget (quota × weight × strength).
    quota: (m) => allocator.quota(m) * multiplier(),
    liveModels: modelIds,
    minNotionalUsd: config.minNotionalUsdt,
    maxNotionalUsd: config.maxNotionalUsdt,
    log,
    metrics,
    seed: config.marketSeed,
  });
  await router.indexEngines();

  // Shadow book (weight-0 models, paper-filled on the sim venue's terms), tracker, canary manager.
  const instrumentViews: InstrumentView[] = [];
  for (const e of engines) for (const i of await e.instruments()) if (!instrumentViews.some((x) => x.symbol === i.symbol)) instrumentViews.push(i);
  const shadowInstruments = new Map(instrumentViews.map((i) => [i.symbol, { stepSize: fx(i.step_size), tickSize: fx(i.tick_size) }]));
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
    lastSignals: (m) => runtime.lastSignals(m), retire: (m) => { runtime.remove(m); }, maxNotionalUsd: config.maxNotionalUsdt, bus: modelBus, log,
  });
  // --- retrainer (market-hmm): walk-forward HMM refits on bar events, leader only ---
  const retrainer = new Retrainer({
    fleet, registry, modelsDir: paths.modelsDir, storeId: DEFAULT_HMM_STORE_ID, symbol: symbols[0]!, policy: () => policies.current.retrain,
    retire: (m, reason) => canary.transition({ action: 'retire', changes: [{ model: m, to: 'retired' }], counterpart: null, actor: 'retrainer', reason }),
    log, seed: config.marketSeed + 2000, leads,
  });
  retrainer.seed(history);
  // --- end retrainer ---
  const signalGate = new SignalGate(() => ({ maxConcurrent: policies.current.max_concurrent_signals, queueSize: policies.current.signal_queue_size }));
  // Signals on the bus are routed by the leader only (its own models', and any an operator or
  // another process published); a follower's API still routes what it is asked to directly.
  bus.subscribe('signal', (signal) => {
    if (!leads()) return;
    signalGate.run(() => router.route(signal, { clientOrderId: signalOrderId(signal) })).then((r) => {
      if (r.outcome === 'shadow') {
        const paper = shadow.execute(signal);
        if (paper.outcome === 'filled') log.debug({ model: r.model, fills: paper.fills.length }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} paper-filled in the shadow book`);
      } else if (r.outcome === 'routed') log.info({ model: r.model, order: r.order?.client_order_id, notional: r.notional_usd }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} → ${r.order?.status} ${r.order?.filled_qty} @ ${r.order?.avg_price ?? '-'} (${r.routing_time_ms?.toFixed(3)} ms)`);
      else if (r.outcome === 'rejected') log.warn({ model: r.model, reason: r.reason }, `[RISK] ${r.model} ${signal.action} ${signal.symbol} rejected: ${r.reason} ${r.message ?? ''}`);
    }, (err: Error) => log.error({ err }, `[STRAT] routing a ${signal.model} signal failed: ${err.message}`));
  });

  let lastBarTs: number | null = null;
  const noteBar = (bar: Bar) => {
    lastBarTs = Date.now();
    metrics.lastBarAge.set({ symbol: bar.symbol }, lastBarTs / 1000);
  };
  const context: OpsContext = {
    config, paths, bus, log, metrics, engines: () => engines, killSwitch, weights, allocator, policies, capitalPolicy,
    router, signalGate, models: modelInfos, hasModel: (id) => runtime.get(id) !== undefined, startedAt: o.startedAt, lastBarTs: () => lastBarTs, baselineEquity: () => baselineEquity,
  };

  const ops = await createOpsServer({ log, token, onControlAction: audit.hook('ops') });
  await ops.register(readRoutes(context, { tradingStates: () => tradingStates.current, exposureMultiplier: () => multiplier() }));
  await ops.register(governanceRoutes(context, { tradingStates, governance: gov, tokens: token, alerts }));
  await ops.register(reconcileRoutes(context));
  await ops.register(controlRoutes(context));
  await ops.register(streamRoutes(context));
  await ops.register(metricsCollectorPlugin(context));
  await ops.register(strategyRoutes(context, { registry, canary, allocator }));
  if (coordination?.routes) await ops.register(coordination.routes.bind(coordination));
  attachLeaderboardSource(context, () => ({
    reports: tracker!.reports(), scoreMetric: policies.current.canary.score_metric,
    stage: (m) => registry.get(m)?.stage ?? 'shadow', stageSince: (m) => registry.get(m)?.stage_since ?? null,
    kind: (m) => registry.get(m)?.kind ?? runtime.get(m)?.kind ?? 'unknown', weight: (m) => weights.weight(m), quota: (m) => allocator.quota(m),
  }));
  await ops.listen({ host: config.opsHost, port: config.opsPort });
  const opsAddr = ops.server.address();
  const opsUrl = typeof opsAddr === 'object' && opsAddr ? `http://${config.opsHost}:${opsAddr.port}` : `http://${config.opsHost}:${config.opsPort}`;
  await o.afterListen?.(opsUrl, core);

  // Daemons. Without coordination they start here, in the order the embedded stack always used;
  // with it, `daemons` is started by whoever holds the lease.
  await Promise.all([policies.watch(), capitalPolicy.watch(), weights.watch()]);
  let daemonsRunning = false;
  let daemonChain: Promise<unknown> = Promise.resolve();
  const daemons: LeaderDaemons = {
    get running() {
      return daemonsRunning;
    },
    start() {
      const run = daemonChain.then(async () => {
        if (daemonsRunning) return;
        daemonsRunning = true;
        if (coordination !== null) await tradingStates.pushAll().catch((err: Error) => log.error({ err }, `[GOV] pushing trading states to the engines failed: ${err.message}`));
        allocator.start();
        gov.start();
        await gov.tick();
        if (coordination !== null) canary.start();
      });
      daemonChain = run.catch(() => undefined);
      return run;
    },
    stop() {
      const run = daemonChain.then(async () => {
        if (!daemonsRunning) return;
        daemonsRunning = false;
        canary.stop();
        allocator.stop();
        await gov.stop();
      });
      daemonChain = run.catch(() => undefined);
      return run;
    },
  };
  if (coordination === null) await daemons.start();
  policies.onChange(() => {
    gov.onPolicyChanged();
    alerts.policyChanged();
  });
  o.afterGovernance?.();
  const exposureTimer = setInterval(() => {
    aggregateExposure(engines).then((x) => writeJsonAtomic(paths.aggregateExposure, x), (err: Error) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
  }, 2000);
  exposureTimer.unref();
  try {
    writeJsonAtomic(paths.aggregateExposure, await aggregateExposure(engines));
  } catch (err) {
    // An engine in another process may be slow to answer at start; the timer retries.
    if (coordination === null) throw err;
    log.warn(`[OPS] exposure collection at start failed: ${(err as Error).message}; retrying every 2 s`);
  }

  await tracker.start();
  if (coordination === null) canary.start();
  // Models trained while running (`hmm train-hmm`) join as shadow without a restart.
  const fleetTimer = setInterval(() => {
    try { fleet.scan(); } catch (err) { log.error({ err }, `[CANARY] model scan failed: ${(err as Error).message}`); }
  }, 10_000);
  fleetTimer.unref();
  bus.subscribe('market.bar', (bar) => { shadow.onBar(bar); fleet.observe(bar); retrainer.onBar(bar); /* retrainer (market-hmm) */ });
  // Every model states its current view to its book once warm (a live model with a position
  // already at target trades nothing: targets are idempotent).
  const restateTargets = () => {
    for (const m of runtime.list()) {
      if (m instanceof MaCrossoverModel) continue; // re-announces on its next bar
      for (const sig of runtime.lastSignals(m.id)) if (sig.targetExposure !== undefined) modelBus.publish('signal', { ...sig, ts: Date.now() });
    }
  };
  restateTargets();
  runtime.start();

  let stopped = false;
  return {
    ...core, ops, opsUrl, context, bus, engines: () => engines, tokenCreated, governance: gov, weights, allocator, registry, runtime, fleet, shadow,
    tracker, canary, daemons, noteBar, restateTargets,
    async stop() {
      if (stopped) return;
      stopped = true;
      runtime.stop();
      clearInterval(fleetTimer);
      await retrainer.stop(); // retrainer (market-hmm): a refit in progress finishes saving
      await daemons.stop();
      canary.stop();
      tracker!.stop();
      shadow.close();
      allocator.stop();
      clearInterval(exposureTimer);
      tradingStates.close();
      await ops.close();
      await Promise.all([policies.close(), capitalPolicy.close(), weights.close()]);
    },
  };
}
