// The control plane, wired once for both deployments: the kill switch, graded trading states,
// alerts, governance, the strategy plane (registry, runtime, fleet, shadow book, tracker,
// canary manager), weights, the capital allocator, the strategy router, the exposure collector
// and the Ops API. The embedded stack (`hmm up`, stack.ts) hands it a LocalEngineHandle; `hmm
// ops` (opsProcess.ts) hands it HttpEngineHandles and a Coordination. Nothing here knows which.
//
// In phases, as Fastify boots and NautilusTrader's kernel does: build every part (plain
// constructors, dependencies passed in), then start them in order, then listen; stop in
// reverse. The build is split once, at the engines: buildControlCore makes what an engine
// honours from its first order (the trading state, the policies, the operator tokens), the
// root builds its engines under it, and buildControlPlane makes the rest around those
// engines. Nothing is started while building, and the root decides when each phase runs.
//
// Leadership: the singleton daemons — allocator loop, governance daemon, canary manager — and
// the routing of model signals run only while this control plane leads. Without coordination
// (one process) it always leads and start() starts the daemons. With coordination the
// coordinator starts and stops `daemons` as the lease comes and goes; a follower keeps its
// models warm on the shared bars but publishes no signals of its own, routes only what its API
// is asked to, and sizes with the leader's allocations.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { StackConfig } from '../config/config.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { fx, toNumber } from '../core/decimal.js';
import type { Symbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { signalOrderId } from '../core/orderIds.js';
import type { Signal } from '../core/signal.js';
import type { Bus } from '../bus/bus.js';
import { RedisBus } from '../bus/redisBus.js';
import type { FillPayload } from '../bus/topics.js';
import { BusInputGuard } from '../bus/inputBounds.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { InstrumentView } from '../engine/views.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { aggregateExposure, aggregatePortfolio } from '../ops/aggregate.js';
import { type Allocator, CapitalAllocator } from '../portfolio/allocator.js';
import { ReplicatedAllocator } from '../portfolio/replicatedAllocator.js';
import { OpsTokenRing } from '../ops/auth.js';
import { AuditLog } from '../ops/audit.js';
import { AlertManager } from '../ops/alerts/alertManager.js';
import { TelegramChannel } from '../ops/alerts/telegram.js';
import { BotApi } from '../ops/telegram/botApi.js';
import { CommandBot } from '../ops/telegram/commandBot.js';
import { telegramOperator } from '../ops/telegram/operator.js';
import { dailyPnlFromLedgers } from '../ops/dailyPnl.js';
import { forceExit, type ForceExitDeps } from '../ops/forceExit.js';
import type { Coordination } from '../ops/cluster/coordinator.js';
import { GovernanceDaemon } from '../ops/governance/daemon.js';
import { TradingStates } from '../ops/governance/tradingStates.js';
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
import { engineStopRoutes } from '../ops/routes/engineStop.js';
import { strategyRoutes } from '../ops/routes/strategy.js';
import { streamRoutes } from '../ops/routes/stream.js';
import { dashboardPageRoutes } from '../ops/routes/dashboardPage.js';
import { tradingRoutes } from '../ops/routes/trading.js';
import { metricsCollectorPlugin } from '../ops/metricsCollector.js';
import { SignalGate } from '../portfolio/signalGate.js';
import { StrategyRouter } from '../portfolio/strategyRouter.js';
import { StrategyWeights } from '../portfolio/strategyWeights.js';
import { WatchedFile } from '../config/watchedFile.js';
import { CanaryManager } from '../lifecycle/canaryManager.js';
import { standingsOf } from '../lifecycle/allocationStanding.js';
import { attachLeaderboardSource, buildLeaderboard, modelStage } from '../lifecycle/leaderboard.js';
import { ShadowBook } from '../lifecycle/shadowBook.js';
import { DerivedFold, type FoldEvent } from '../lifecycle/derivedFold.js';
import { symbol as toSymbol } from '../core/ids.js';
import { DEFAULT_HMM_STORE_ID, ModelFleet, StrategyRegistry } from '../lifecycle/strategyRegistry.js';
import { Retrainer } from '../lifecycle/retrainer.js';
import { StrategyTracker } from '../lifecycle/strategyTracker.js';
import { StrategyRuntime } from '../strategy/runtime.js';
import type { RotatingFile } from '../util/rotatingFile.js';
import { ExportFile } from '../util/exportFile.js';
import { type LeaderDaemons, leaderDaemons } from './leaderDaemons.js';
import { LeaderOnlyChannel, MarkedBus } from './markedBus.js';

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
 * The engines a control plane drives. The root adds them once, in the build phase, between
 * buildControlCore and buildControlPlane: the trading state exists before the engines (an
 * engine is built under its decision) and reaches them through this set afterwards.
 */
export class EngineSet {
  private readonly handles: EngineHandle[] = [];

  add(...handles: readonly EngineHandle[]): void {
    this.handles.push(...handles);
  }

  readonly all = (): readonly EngineHandle[] => this.handles;
}

/** What every phase of the control plane is built from. */
export interface ControlPlaneDeps {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly log: Logger;
  readonly opsLogFile: RotatingFile;
  readonly metrics: Metrics;
  readonly bus: Bus;
  /** The one clock: WallClock live, SimClock in replay. */
  readonly clock: Clock;
  readonly coordination?: Coordination | null;
  /** Host ms between two writes of each exported state file (aggregate exposure, capital
   *  allocations and their history; util/exportFile.ts). 0 (default, live): every refresh is
   *  written. A replay paces them: decisions still run on every tick, only the files wait. */
  readonly exportPacingMs?: number;
}

/** The parts an engine honours from its first order; built before the engines. */
export interface ControlPlaneCore {
  readonly bus: MarkedBus;
  readonly engines: EngineSet;
  readonly token: OpsTokenRing;
  readonly tokenCreated: boolean;
  readonly audit: AuditLog;
  readonly policies: WatchedFile<Policies>;
  readonly capitalPolicy: WatchedFile<CapitalPolicy>;
  readonly killSwitch: KillSwitch;
  readonly tradingStates: TradingStates;
}

/** Phase 1a: operator tokens, audit, the policy files and the trading state. Reads files only. */
export function buildControlCore(d: ControlPlaneDeps): ControlPlaneCore {
  const { config, paths, log, metrics } = d;
  // Every event the control plane acts on is inside its documented ranges (bus/inputBounds.ts).
  const guard = new BusInputGuard({ log, onRefused: (topic) => metrics.busEventsRefused.inc({ topic }) });
  const bus = new MarkedBus(d.bus, undefined, null, guard);
  const engines = new EngineSet();
  // Several tokens may be valid at once (rotation without downtime); see ops/auth.ts.
  const token = new OpsTokenRing({
    envTokens: [...(config.opsApiToken ? [config.opsApiToken] : []), ...config.opsApiTokens],
    tokenFile: paths.tokenFile, tokensFile: paths.tokensFile, graceFile: paths.opsTokenGrace,
    graceMs: config.opsTokenGraceSec * 1000, log,
  });
  if (token.created) log.warn(`[AUTH] created ${paths.tokenFile} (mode 0600) with a new operator token; use it as X-OPS-TOKEN`);
  const audit = new AuditLog(paths.opsAudit, log, metrics);
  const policies = new WatchedFile<Policies>(paths.policies, config.root, parsePolicies, () => DEFAULT_POLICIES, log, metrics);
  d.opsLogFile.setPolicy(rotationOf(policies.current.logs));
  policies.onChange((p) => d.opsLogFile.setPolicy(rotationOf(p.logs)));
  const capitalPolicy = new WatchedFile<CapitalPolicy>(paths.capitalPolicy, config.root, parseCapitalPolicy, () => DEFAULT_CAPITAL_POLICY, log, metrics);

  // ── The one trading state (ops/governance/tradingStates.ts); the kill switch is its global HALTED.
  const tradingStates = new TradingStates({
    path: paths.tradingStates, legacyKillPath: paths.opsState, engines: engines.all, bus, log, metrics,
    tradingEnabledAtStart: config.tradingEnabled, replica: d.coordination?.tradingStateReplica ?? null, clock: d.clock,
  });
  const killSwitch = new KillSwitch(tradingStates);
  // ──

  return { bus, engines, token, tokenCreated: token.created, audit, policies, capitalPolicy, killSwitch, tradingStates };
}

/** What the model plane starts from: the symbols it trades and its warm-up bars. */
export interface MarketStart {
  readonly symbols: readonly Symbol[];
  /** Warm-up bars, oldest first. */
  readonly history: readonly Bar[];
  readonly startedAt: number;
}

export interface ControlPlane extends Omit<ControlPlaneCore, 'engines'> {
  readonly ops: FastifyInstance;
  readonly context: OpsContext;
  readonly alerts: AlertManager;
  readonly governance: GovernanceDaemon;
  readonly weights: StrategyWeights;
  readonly allocator: Allocator;
  /** The same allocator when replicated (with coordination), else null. */
  readonly replicatedAllocator: ReplicatedAllocator | null;
  readonly registry: StrategyRegistry;
  readonly runtime: StrategyRuntime;
  readonly fleet: ModelFleet;
  readonly shadow: ShadowBook;
  readonly tracker: StrategyTracker;
  /** The derived state (tracker, shadow book, stages) as one fold: live here, or the leader's. */
  readonly fold: DerivedFold;
  /** The stream after an id as fold events (a new leader's catch-up); [] on the in-process bus. */
  foldTail(after: string): Promise<readonly { id: string; e: FoldEvent }[]>;
  readonly canary: CanaryManager;
  readonly daemons: LeaderDaemons;
  /** The Ops API's address; null until listen(). */
  readonly opsUrl: string | null;
  engines(): readonly EngineHandle[];
  knownModels(): ReadonlySet<string>;
  /** Marks a bar as seen now (/status bar age); the embedded feed and remote bars both call it. */
  noteBar(bar: Bar): void;
  /** Models re-state their current targets (a new leader takes over the books). */
  restateTargets(): void;
  /** Phase 2a: alerts listen and the latched trading states reach the engines (before they
   *  reconcile or route anything). */
  startSafety(): Promise<void>;
  /** Phase 2b: every daemon, in the order the stack has always used. */
  start(): Promise<void>;
  /** Phase 3: the Ops API listens; resolves to its address. */
  listen(): Promise<string>;
  /** Stops what start() and listen() started, in reverse (not the bus, not the engines, not
   *  the alerts: the root stops those last). */
  stop(): Promise<void>;
}

/** Phase 1b: every other part, around the engines the root has added to core.engines. */
export async function buildControlPlane(d: ControlPlaneDeps, core: ControlPlaneCore, market: MarketStart): Promise<ControlPlane> {
  const { config, paths, log, metrics, clock } = d;
  const { bus, policies, capitalPolicy, killSwitch, tradingStates, audit, token } = core;
  const engines = core.engines.all;
  const coordination = d.coordination ?? null;
  const leads = (): boolean => coordination === null || coordination.leads();
  // A follower's models stay warm but say nothing: only the leader's signals are traded.
  const modelBus = bus.restricted((topic) => topic !== 'signal' || leads());

  // Governance, and the exposure multiplier it sets (a follower sizes with the leader's).
  const governance = new GovernanceDaemon({
    statePath: paths.governanceState, policy: () => policies.current.governance, bus, engines,
    tradingStates, log, metrics, audit, baselineEquity: toNumber(config.startingCashUsd) * engines().length,
    minNotionalUsd: toNumber(config.minNotionalUsdt), clock,
  });
  const multiplier = (): number => (coordination === null || leads() ? null : coordination.exposureMultiplier()) ?? governance.effectiveMultiplier();

  // Alerts: every alert is logged; Telegram only with both TELEGRAM_TOKEN and TELEGRAM_CHAT_ID.
  const telegram = config.telegram.token && config.telegram.chatId
    ? new TelegramChannel({ token: config.telegram.token, chatId: config.telegram.chatId, apiBase: config.telegram.apiBase })
    : null;
  if (!telegram) log.warn(`[ALERT] Telegram disabled: ${config.telegram.token ? 'TELEGRAM_CHAT_ID' : 'TELEGRAM_TOKEN'} is not set; alerts are written to ops/logs/ops.log only`);
  else log.info(`[ALERT] Telegram alerts to chat ${config.telegram.chatId} via ${config.telegram.apiBase}`);
  const alerts = new AlertManager({
    bus, log, metrics, policy: () => policies.current.alerting, channel: telegram && coordination ? new LeaderOnlyChannel(telegram, leads) : telegram,
    statePath: paths.alertState, clock,
    digestLines: async () => {
      const p = await aggregatePortfolio(engines(), () => toNumber(config.startingCashUsd));
      const st = tradingStates.current;
      const held = [...Object.entries(st.venues), ...Object.entries(st.models)].filter(([, e]) => e.state !== 'ACTIVE').map(([k, e]) => `${k} ${e.state}`);
      return [
        `Equity ${p.equity.toFixed(2)} USD (gain ${p.gain >= 0 ? '+' : ''}${p.gain.toFixed(2)}, ${p.gain_pct.toFixed(2)}%) · exposure ${p.exposure.toFixed(2)}`,
        `PnL realized ${p.realized_pnl.toFixed(2)} · unrealized ${p.unrealized_pnl.toFixed(2)} · fees ${p.fees.toFixed(2)}`,
        `Trading ${killSwitch.enabled ? 'enabled' : 'KILLED'} · state ${st.global.state}${held.length ? ` (${held.join(', ')})` : ''} · exposure multiplier ×${multiplier().toFixed(2)}`,
      ];
    },
  });

  // Strategy plane: every non-retired model in ops/strategy_registry.json runs (a fresh root
  // registers MA live, an HMM — trained now on the market's warm-up history if ops/models has none —
  // and their ensemble in shadow), warmed on the history.
  const { symbols, history } = market;
  const registry = new StrategyRegistry(paths.strategyRegistry, log, () => policies.current.canary.history_limit);
  const runtime = new StrategyRuntime(modelBus, log);
  const fleet = new ModelFleet({
    registry, runtime, modelsDir: paths.modelsDir, symbols, intervalMs: config.barIntervalMs, seed: config.marketSeed, log, now: () => clock.now(),
    minTrainingBars: policies.current.retrain.min_bars, historySource: config.marketData.source === 'binance' ? 'binance' : 'synthetic market',
  });
  fleet.bootstrap(history);
  fleet.buildAll();
  runtime.warmup(history);
  for (const bar of history) fleet.observe(bar);
  for (const m of runtime.list()) m.restateOnNextBar?.();
  const modelIds = () => runtime.list().map((m) => m.id as string);
  // A follower shows the leader's diagnostics: only the leader's models trade.
  const modelInfos = (): ModelInfo[] => runtime.list().map((m) => ({ id: m.id, kind: m.kind, symbols: m.symbols, diagnostics: fold.following?.diagnostics[m.id] ?? m.diagnostics?.() ?? {} }));
  const knownModels = () => new Set([...modelIds(), ...registry.entries().map((e) => e.id)]);

  // Weights follow the registry's stages for models the weights file does not name yet.
  const stageWeights = Object.fromEntries(registry.active().map((e) => [e.id, e.stage === 'live' ? policies.current.canary.live_weight : e.stage === 'canary' ? policies.current.canary.canary_weight : 0]));
  const weights = new StrategyWeights(paths.strategyWeights, config.root, knownModels, stageWeights, bus, log, metrics);
  const baselineEquity = toNumber(config.startingCashUsd);

  // The shadow book (weight-0 models, paper-filled on the sim venue's terms) and the tracker
  // come before the allocator, which tilts quotas by the tracker's figures; the shadow book
  // sizes by the allocator's quota through a function, read only once trading runs.
  const instrumentViews: InstrumentView[] = [];
  for (const e of engines()) for (const i of await e.instruments()) if (!instrumentViews.some((x) => x.symbol === i.symbol)) instrumentViews.push(i);
  const shadowInstruments = new Map(instrumentViews.map((i) => [i.symbol, { stepSize: fx(i.step_size), tickSize: fx(i.tick_size) }]));
  const quota = (m: string): number => allocator.quota(m);
  const shadow = new ShadowBook({
    path: paths.shadowBook, instruments: shadowInstruments,
    takerFeeBps: config.sim.takerBps, slippageBps: config.sim.slippageBps,
    minNotionalUsd: config.minNotionalUsdt, maxNotionalUsd: config.maxNotionalUsdt,
    quota, log, onFill: (m, f, r) => tracker.onShadowFill(m, f, r),
  });
  for (const bar of history) shadow.onBar(bar); // prices only: a bar fills nothing here
  const tracker = new StrategyTracker({
    engines, shadow, registry, weight: (m) => weights.weight(m), quota, models: modelIds,
    scoreMetric: () => policies.current.canary.score_metric, bus, log, evidencePolicy: () => policies.current.evidence, clock,
  });
  // The derived state is one fold over the bus: with coordination a replica starts following
  // (serving the leader's snapshots) and folds itself only while it leads (ops/cluster).
  const fold = new DerivedFold({
    tracker, shadow, log, mode: coordination === null ? 'live' : 'follow',
    position: () => (d.bus instanceof RedisBus ? d.bus.streamId : null),
    stages: () => Object.fromEntries(registry.entries().map((e) => [e.id, { stage: e.stage, stage_since: e.stage_since }])),
    applyStages: (stages) => {
      const differ = Object.entries(stages).filter(([id, s]) => { const e = registry.get(id); return e !== undefined && (e.stage !== s.stage || e.stage_since !== s.stage_since); });
      if (differ.length === 0) return;
      registry.commit((draft) => { for (const [id, st] of differ) StrategyRegistry.patch(draft, id, { stage: st.stage, stage_since: st.stage_since }); });
    },
    diagnostics: () => Object.fromEntries(runtime.list().map((m) => [m.id as string, m.diagnostics?.() ?? {}])),
  });
  const foldTail = async (after: string): Promise<{ id: string; e: FoldEvent }[]> => {
    if (!(d.bus instanceof RedisBus)) return [];
    const { entries, trimmed } = await d.bus.range(after);
    if (trimmed) log.error(`[OPS] the bus stream no longer holds every event after ${after} (trimmed): the derived state catches up from what is left — raise REDIS_BUS_MAXLEN if this recurs`);
    const out: { id: string; e: FoldEvent }[] = [];
    for (const en of entries) {
      if (en.topic === 'market.bar') {
        const bar = en.payload as Bar;
        out.push({ id: en.id, e: { kind: 'bar', bar: { ...bar, symbol: toSymbol(bar.symbol) } } });
      } else if (en.topic === 'trade.fill') {
        out.push({ id: en.id, e: { kind: 'fill', fill: en.payload as FillPayload } });
      } else if (en.topic === 'signal') {
        // The predecessor's model signals: a shadow model's is paper-filled (once, by its id).
        const signal = en.payload as Signal;
        if (runtime.get(signal.model) !== undefined && weights.weight(signal.model) <= 0 && !(signal.action === 'HOLD' && signal.targetExposure === undefined)) {
          out.push({ id: en.id, e: { kind: 'shadow_signal', signal, id: signalOrderId(signal) } });
        }
      }
    }
    return out;
  };
  // The first allocation step of a process counts no performance (the tracker has not sampled
  // yet); every later one tilts by the tracker's figures.
  let trackerSampled = false;
  const allocatorArgs: ConstructorParameters<typeof CapitalAllocator> = [paths.capitalAllocations, () => capitalPolicy.current, modelIds,
    async () => (await Promise.all(engines().map((e) => e.valuation()))).reduce((a, v) => a + v.equity, 0), log, metrics, {
      // Live or not, and the evidence behind each model (none before the tracker's first sample).
      standings: () => standingsOf(modelIds(), (m) => (trackerSampled ? tracker.evidence(m) : null), (m) => registry.get(m)?.stage === 'live'),
      clock,
      historyPath: paths.capitalAllocationsHistory,
      historyLimit: () => policies.current.allocation_history_limit,
      exportPacingMs: d.exportPacingMs ?? 0,
    }];
  const replicatedAllocator = coordination
    ? new ReplicatedAllocator(allocatorArgs, coordination.allocationReplication)
    : null;
  const allocator: Allocator = replicatedAllocator ?? new CapitalAllocator(...allocatorArgs);

  const router = new StrategyRouter({
    engines,
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
  const canary = new CanaryManager({
    registry, weights, tracker, shadow, policy: () => policies.current.canary, engines,
    lastSignals: (m) => runtime.lastSignals(m), retire: (m) => { runtime.remove(m); }, maxNotionalUsd: config.maxNotionalUsdt, bus: modelBus, log, clock,
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

  let lastBarTs: number | null = null;
  const noteBar = (bar: Bar) => {
    lastBarTs = clock.now();
    metrics.lastBarAge.set({ symbol: bar.symbol }, lastBarTs / 1000);
  };
  const context: OpsContext = {
    config, paths, bus, log, metrics, engines, killSwitch, weights, allocator, policies, capitalPolicy,
    router, signalGate, models: modelInfos, hasModel: (id) => runtime.get(id) !== undefined, startedAt: market.startedAt, lastBarTs: () => lastBarTs, baselineEquity: () => baselineEquity,
  };

  // The Ops API: routes are registered now, the server listens in phase 3.
  const ops = await createOpsServer({ log, token, onControlAction: audit.hook('ops') });
  // Each route plugin gets only what it declares (its *RouteOptions).
  const leaderboard = () => buildLeaderboard(context);
  await ops.register(readRoutes, {
    engines, baselineEquity: () => baselineEquity, mode: config.mode, marketIntervalMs: config.marketIntervalMs, lastBarTs: () => lastBarTs,
    startedAt: market.startedAt, killSwitch, tradingStates: () => tradingStates.view, exposureMultiplier: () => multiplier(), weights, models: modelInfos,
    quota: (m) => allocator.quota(m), stageOf: (m) => modelStage(context, m), leaderboard, registry: metrics.registry,
    asOf: () => ({ seq: fold.seq, stream_id: fold.position }),
  });
  await ops.register(governanceRoutes, { tradingStates, governance, tokens: token, alerts, bus, engineNames: () => engines().map((e) => e.name), modelIds });
  await ops.register(reconcileRoutes, { engines, log });
  // What a force-exit uses, from the API (POST /positions/force-exit) and from Telegram alike.
  const exitDeps: ForceExitDeps = { engines, maxNotionalUsd: config.maxNotionalUsdt, log, now: () => clock.now() };
  await ops.register(tradingRoutes, exitDeps);
  await ops.register(engineStopRoutes, { engines, log });
  await ops.register(controlRoutes, { killSwitch, exposure: governance, weights, modelIds, hasModel: (id) => runtime.get(id) !== undefined, router, signalGate, bus });
  await ops.register(streamRoutes, {
    bus, engines, baselineEquity: () => baselineEquity, leaderboard, tradingEnabled: () => killSwitch.enabled,
    refreshSec: () => policies.current.dashboard_refresh_sec, sseClients: metrics.sseClients, log, mode: config.mode, startedAt: market.startedAt,
    historyPath: paths.dashboardHistory, retentionHours: () => policies.current.metrics_retention_hours, modelPnlReady: () => tracker.hasSampled,
  });
  await ops.register(dashboardPageRoutes, {});
  await ops.register(metricsCollectorPlugin(context));
  await ops.register(strategyRoutes, { registry, canary, allocator });
  if (coordination?.routes) await ops.register(coordination.routes.bind(coordination));
  attachLeaderboardSource(context, () => ({
    reports: tracker.reports(), scoreMetric: policies.current.canary.score_metric, evidencePolicy: policies.current.evidence,
    stage: (m) => registry.get(m)?.stage ?? 'shadow', stageSince: (m) => registry.get(m)?.stage_since ?? null,
    kind: (m) => registry.get(m)?.kind ?? runtime.get(m)?.kind ?? 'unknown', weight: (m) => weights.weight(m), quota: (m) => allocator.quota(m),
  }));

  // Telegram commands: the same services the routes above call, for the configured chats only;
  // polled by the leader alone (Telegram answers a second poller of one bot with 409).
  const commandBot = config.telegram.token && config.telegram.commands && config.telegram.commandChatIds.length > 0
    ? new CommandBot({
      api: new BotApi({ token: config.telegram.token, apiBase: config.telegram.apiBase }),
      chats: new Set(config.telegram.commandChatIds), statePath: paths.telegramState,
      audit, log, metrics, leads, pollTimeoutSec: config.telegram.pollTimeoutSec, confirmTtlMs: config.telegram.confirmTtlSec * 1000,
      operator: telegramOperator({
        engines, baselineEquity: () => baselineEquity, killSwitch, tradingStates: () => tradingStates.current, exposureMultiplier: multiplier,
        weights, modelIds, stageOf: (m) => modelStage(context, m), quota: (m) => allocator.quota(m), leaderboard,
        promote: (m, stage, actor, reason) => canary.promote(m, stage as Parameters<CanaryManager['promote']>[1], actor, reason),
        rollback: (m, actor, reason) => canary.rollback(m, actor, reason),
        forceExit: (model, symbol, actor, reason) => forceExit(exitDeps, { model, symbol, actor, reason }),
        dailyPnl: (days) => dailyPnlFromLedgers(paths, days, Date.now()),
        startedAt: market.startedAt, lastBarTs: () => lastBarTs, now: () => Date.now(),
      }),
    })
    : null;
  if (config.telegram.token && config.telegram.commands && !commandBot) log.warn('[TELEGRAM] commands off: no numeric chat id in TELEGRAM_COMMAND_CHAT_IDS or TELEGRAM_CHAT_ID');

  // The singleton daemons, started by start() when alone or by the coordinator while leading.
  const daemons = leaderDaemons({ allocator, governance, canary, tradingStates, log, coordinated: coordination !== null });

  // Every model states its current view to its book once warm (a live model with a position
  // already at target trades nothing: targets are idempotent).
  const restateTargets = () => {
    for (const m of runtime.list()) {
      if (m.restateOnNextBar) continue; // re-states on its next bar
      for (const sig of runtime.lastSignals(m.id)) if (sig.targetExposure !== undefined) modelBus.publish('signal', { ...sig, ts: clock.now() });
    }
  };

  // Signals on the bus are routed by the leader only (its own models', and any an operator or
  // another process published); a follower's API still routes what it is asked to directly.
  const routeSignal = (signal: Signal): void => {
    if (!leads()) return;
    signalGate.run(() => router.route(signal, { clientOrderId: signalOrderId(signal) })).then((r) => {
      if (r.outcome === 'shadow') fold.take({ kind: 'shadow_signal', signal, id: signalOrderId(signal) });
      else if (r.outcome === 'routed') log.info({ model: r.model, order: r.order?.client_order_id, notional: r.notional_usd }, `[STRAT] ${r.model} ${signal.action} ${signal.symbol} → ${r.order?.status} ${r.order?.filled_qty} @ ${r.order?.avg_price ?? '-'} (${r.routing_time_ms?.toFixed(3)} ms)`);
      else if (r.outcome === 'rejected') log.warn({ model: r.model, reason: r.reason }, `[RISK] ${r.model} ${signal.action} ${signal.symbol} rejected: ${r.reason} ${r.message ?? ''}`);
    }, (err: Error) => log.error({ err }, `[STRAT] routing a ${signal.model} signal failed: ${err.message}`));
  };
  const exposureFile = new ExportFile(paths.aggregateExposure, d.exportPacingMs ?? 0, (err) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
  // Paced, a collection that would not be written is not even made (the held render runs once).
  const collectExposure = (): Promise<void> => exposureFile.refresh(async () => JSON.stringify(await aggregateExposure(engines()), null, 2) + '\n');

  // What start() and listen() start, undone in reverse by stop().
  const undo: (() => unknown)[] = [];
  // Both loops look at the state as it is now (exposure, models on disk): on a clock that
  // jumps a bar at a time they run once per jump, not once per period jumped over.
  const every = (ms: number, fn: () => void): void => {
    const h: TimerHandle = clock.setInterval(fn, ms, { coalesce: true });
    undo.push(() => clock.clear(h));
  };
  let opsUrl: string | null = null;
  let listening = false;
  let stopped = false;

  return {
    ...core, ops, context, alerts, governance, weights, allocator, replicatedAllocator, registry, runtime, fleet, shadow, tracker, fold, foldTail, canary, daemons,
    get opsUrl() {
      return opsUrl;
    },
    engines, knownModels, noteBar, restateTargets,

    async startSafety() {
      // Alerts are stopped by the root, last: what the engines say while closing still goes out.
      alerts.start();
      // Latched trading states (REDUCING / HALTED) apply before the engines route anything. With
      // coordination the leader pushes them when it takes over: a follower's copy may be older.
      if (coordination === null) await tradingStates.pushAll();
    },

    async start() {
      // The leader's first step comes with the daemons; a follower takes the leader's quotas.
      if (coordination === null) await allocator.step();
      trackerSampled = true;
      undo.push(bus.subscribe('signal', routeSignal));
      await Promise.all([policies.watch(), capitalPolicy.watch(), weights.watch()]);
      undo.push(() => Promise.all([policies.close(), capitalPolicy.close(), weights.close()]));
      undo.push(() => daemons.stop());
      if (coordination === null) await daemons.start();
      policies.onChange(() => {
        governance.onPolicyChanged();
        alerts.policyChanged();
      });
      every(2000, () => {
        collectExposure().catch((err: Error) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
      });
      try {
        await collectExposure();
      } catch (err) {
        // An engine in another process may be slow to answer at start; the timer retries.
        if (coordination === null) throw err;
        log.warn(`[OPS] exposure collection at start failed: ${(err as Error).message}; retrying every 2 s`);
      }
      // The tracker and the shadow book take bars and fills through the fold (which knows
      // whether this replica folds them); the models and the retrainer take bars directly.
      await tracker.start({ subscribe: false });
      undo.push(bus.subscribe('trade.fill', (f) => fold.take({ kind: 'fill', fill: f })));
      undo.push(bus.subscribe('market.bar', (bar) => fold.take({ kind: 'bar', bar })));
      undo.push(() => shadow.close(), () => tracker.stop(), () => canary.stop());
      if (coordination === null) canary.start();
      // Models trained while running (`hmm train-hmm`) join as shadow without a restart.
      every(10_000, () => {
        try { fleet.scanIfChanged(); } catch (err) { log.error({ err }, `[CANARY] model scan failed: ${(err as Error).message}`); }
      });
      undo.push(bus.subscribe('market.bar', (bar) => { fleet.observe(bar); retrainer.onBar(bar); }));
      // A refit in progress finishes saving before the rest stops.
      undo.push(() => retrainer.stop());
      restateTargets();
      runtime.start();
      undo.push(() => runtime.stop());
    },

    async listen() {
      await ops.listen({ host: config.opsHost, port: config.opsPort });
      listening = true;
      undo.push(() => ops.close());
      const addr = ops.server.address();
      opsUrl = typeof addr === 'object' && addr ? `http://${config.opsHost}:${addr.port}` : `http://${config.opsHost}:${config.opsPort}`;
      // The operator's other surface opens with the API (a replay, which never listens, never polls).
      if (commandBot) {
        commandBot.start();
        undo.push(() => commandBot.stop());
      }
      return opsUrl;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const step of undo.splice(0).reverse()) {
        try {
          await step();
        } catch (err) {
          log.error({ err }, `[OPS] stopping the control plane: ${(err as Error).message}`);
        }
      }
      allocator.stop();
      await allocator.flush();
      await exposureFile.close().catch((err: Error) => log.error({ err }, `[OPS] exposure collection failed: ${err.message}`));
      // A control plane that never listened (a replay) still closes what its API built: the
      // dashboard history writes what it holds and closes its database.
      if (!listening) await ops.close().catch((err: Error) => log.error({ err }, `[OPS] stopping the control plane: ${err.message}`));
      tradingStates.close();
    },
  };
}
