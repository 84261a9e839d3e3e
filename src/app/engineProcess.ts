// `hmm engine --venue sim|binance`: one engine in its own process — its ledger, venue books,
// snapshot and audit log under HMM_ROOT (ledger and venue files named after the engine), its
// HTTP API on ENGINE_PORT (what `hmm ops` reaches through HttpEngineHandle), its venue's market
// data, and its events on the bus (the shared Redis bus when REDIS_URL is set).
//
// Fail-safe on the bus: with REDIS_URL set, an engine whose Redis is unreachable, or whose
// outbox holds an event older than HMM_OUTBOX_MAX_LAG_MS that the stream has not taken yet,
// refuses new orders (BUS_UNAVAILABLE, HTTP 403) — its fills and rejections would reach the
// control plane's governance and collectors late — and takes them again once Redis answers and
// the outbox has caught up. Nothing it publishes is lost meanwhile: every event is a row of its
// ledger (engine/outbox.ts) until the stream holds it. Cancels and reads keep working. An engine starting while the cluster is halted starts halted: the
// cluster's trading-state document is read from Redis and applied before the first order.
//
// In phases, as the other roots: build (bus, venue, market source, engine, API routes), start
// in order (start-up reconciliation, then the bus watch), listen, then let the market run.
import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import { ConfigError, loadConfig, type StackConfig } from '../config/config.js';
import { type Clock, WallClock } from '../core/clock.js';
import { toDecimalString } from '../core/decimal.js';
import { type Symbol, symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import type { Bus } from '../bus/bus.js';
import { loadRedisConfig } from '../bus/redisConfig.js';
import type { RedisBus } from '../bus/redisBus.js';
import type { Engine } from '../engine/engine.js';
import { createEngineServer, engineRoutes, type AdmissionRefusal } from '../engine/engineApi.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createMetrics, type Metrics } from '../obs/metrics.js';
import { OpsTokenRing } from '../ops/auth.js';
import { AuditLog } from '../ops/audit.js';
import { clearRestoreMarker, readRestoreMarker } from '../ops/backup.js';
import { logRotationEvent, rotationOf } from '../ops/logsPolicy.js';
import { stackPaths, type StackPaths } from '../ops/paths.js';
import { DEFAULT_POLICIES, parsePolicies, type Policies } from '../ops/policies.js';
import { acquireLock, releaseLock, updateLock } from '../ops/stackLock.js';
import { WatchedFile } from '../config/watchedFile.js';
import { RotatingFile } from '../util/rotatingFile.js';
import { DEFAULT_SIM_INSTRUMENTS, type SimVenue } from '../venues/sim/simVenue.js';
import type { Venue } from '../venues/venue.js';
import { buildEngine, openSimVenue } from './engineParts.js';
import { Outbox, OutboxBus, OutboxRelay } from '../engine/outbox.js';
import { type MarketSource, RecentBars, openMarketSource, venueSource } from './marketSource.js';
import { readClusterTradingState } from '../ops/cluster/stateStore.js';
import type { TradingStateDocument } from '../core/tradingState.js';
import { RedisReachability, openBus } from './processBus.js';
import { StorageWatch } from './storageWatch.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface EngineProcessOptions {
  readonly env?: Env;
  /** Log to stdout as well as engine/logs/<name>.log (default true). */
  readonly stdout?: boolean;
  /** The engine's clock (default WallClock). */
  readonly clock?: Clock;
}

export interface EngineProcess {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly name: string;
  readonly engine: Engine;
  readonly venue: Venue;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly server: FastifyInstance;
  readonly url: string;
  readonly market: MarketSource;
  /** Redis reachability (null without REDIS_URL). */
  readonly busWatch: RedisReachability | null;
  /** Whether this engine's root takes writes (a fault refuses its new orders: STORAGE). */
  readonly storage: StorageWatch;
  /** The outbox relay (null without REDIS_URL: the in-process bus needs none). */
  readonly relay: OutboxRelay | null;
  stop(): Promise<void>;
}

export const BUS_UNAVAILABLE = 'BUS_UNAVAILABLE';

export async function startEngineProcess(opts: EngineProcessOptions = {}): Promise<EngineProcess> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? new WallClock();
  const config = loadConfig(env);
  const redis = loadRedisConfig(env);
  const name = config.distributed.engineName;
  const paths = stackPaths(config.root);
  mkdirSync(paths.engineLogsDir, { recursive: true });
  const logFile = new RotatingFile(paths.engineLog(name), undefined, { onEvent: (e) => logRotationEvent(log, e) });
  const log = createLogger({ file: logFile, level: config.logLevel, stdout: opts.stdout ?? true });
  const metrics = createMetrics();
  // One engine per root: two would write one snapshot and one orders.jsonl.
  const previousRun = acquireLock(config.root);
  // Undone last-made-first: the feed, the API, the engine and its ledger, then the venue, the bus.
  const cleanup: (() => Promise<void> | void)[] = [];
  try {
    // ---- build --------------------------------------------------------------------------------
    const bus = await openBus(redis, name, log, metrics);
    cleanup.push(() => bus.close());
    // A full or failing disk is a state (STORAGE), not a crash: the same watch as `hmm up`'s.
    // This engine refuses its own orders while it stands, resyncs its books when it clears, and
    // the control plane shows it from the bus.
    const storage = new StorageWatch({ root: config.root, ...config.storage, name, log, metrics, bus });
    cleanup.push(() => storage.stop());
    const token = new OpsTokenRing({
      envTokens: [...(config.opsApiToken ? [config.opsApiToken] : []), ...config.opsApiTokens],
      tokenFile: paths.tokenFile, tokensFile: paths.tokensFile, graceFile: paths.engineTokenGrace,
      graceMs: config.opsTokenGraceSec * 1000, log,
    });
    if (token.created) log.warn(`[AUTH] created ${paths.tokenFile} (mode 0600): give the control plane this token (OPS_API_TOKEN) or it cannot drive ${name}`);
    const audit = new AuditLog(paths.engineAudit, log, metrics);
    // Only the log rotation is read from ops/policies.yaml here (when the root has one).
    const policies = new WatchedFile<Policies>(paths.policies, config.root, parsePolicies, () => DEFAULT_POLICIES, log, metrics);
    cleanup.push(() => policies.close());
    logFile.setPolicy(rotationOf(policies.current.logs));

    // The venue, and the market data that goes with it.
    const symbols = config.tradeSymbols.map(toSymbol);
    const { venue, sim, market } = await openVenueAndMarket({ config, env, paths, name, symbols, log, clock, cleanup });

    // The cluster's trading state applies before the first order: an engine (re)starting while
    // trading is halted must not trade. Redis unreadable at start = fail safe: stopped until the
    // first document reaches it (the control plane's push or the bus). TRADING_ENABLED=false
    // stops it until an operator resumes after this start.
    let clusterState: TradingStateDocument | null = null;
    let startStop: { reason: string; until: 'resume' | 'document' } | undefined = config.tradingEnabled === false ? { reason: 'TRADING_ENABLED=false', until: 'resume' } : undefined;
    let enabledBecause = config.tradingEnabled === null ? 'default' : 'TRADING_ENABLED';
    if (redis !== null) {
      try {
        clusterState = await readClusterTradingState(redis.endpoint, redis.prefix);
        if (clusterState !== null && startStop === undefined) enabledBecause = `the cluster's trading state v${clusterState.version} (global ${clusterState.global.state} by ${clusterState.global.actor}: ${clusterState.global.reason})`;
      } catch (err) {
        startStop ??= { reason: `the cluster's trading state could not be read (${(err as Error).message})`, until: 'document' };
        enabledBecause = startStop.reason;
      }
    }

    const restoredFrom = readRestoreMarker(paths.engineStateDir);
    // On the shared bus every event the engine publishes is a row of its ledger first (outbox.ts).
    let outbox = null as Outbox | null; // set by busFor (TS cannot see the call)
    const parts = buildEngine({
      config, paths, name, venue, bus, log, metrics, clock, tradingEnabled: startStop === undefined, startStop,
      recoveryContext: { uncleanShutdown: previousRun ? { pid: previousRun.pid, started_at: previousRun.started_at } : null, restoredFrom },
      rotation: rotationOf(policies.current.logs), storage: storage.health,
      busFor: redis === null ? undefined : (ledger) => {
        outbox = new Outbox(ledger, { engine: name, restored: restoredFrom !== null, now: () => clock.now() });
        return new OutboxBus(bus as RedisBus, outbox, ledger, log);
      },
    });
    const { engine, ledger, orderLog } = parts;
    storage.attach({ engines: [engine] });
    const relay = outbox === null ? null : new OutboxRelay({ outbox, ledger, send: (events) => (bus as RedisBus).appendEvents(events), log, name });
    policies.onChange((p) => {
      logFile.setPolicy(rotationOf(p.logs));
      orderLog.setRotation(rotationOf(p.logs));
    });
    cleanup.push(async () => {
      await engine.close();
      await ledger.closeAsync();
      await orderLog.settle();
      orderLog.close();
    });

    const recent = new RecentBars(Math.max(500, config.warmupBars) * symbols.length);
    recent.push(...market.history);
    // The bus's health decides whether new orders are taken (Redis only).
    const busUp = new client.Gauge({ name: 'hmm_engine_bus_up', help: '1 while this engine reaches the shared Redis bus (new orders are refused at 0)', labelNames: ['venue'], registers: [metrics.registry] });
    busUp.set({ venue: name }, 1);
    const busWatch = redis === null ? null : new RedisReachability({ url: redis.endpoint, log, name, onChange: (s) => busUp.set({ venue: name }, s.up ? 1 : 0) });
    const box: Outbox | null = outbox;
    if (box !== null) {
      new client.Gauge({
        name: 'hmm_engine_outbox_backlog', help: 'Events in this engine\'s outbox the Redis stream does not hold yet', labelNames: ['venue'], registers: [metrics.registry],
        collect() { this.set({ venue: name }, box.state().backlog); },
      });
      new client.Gauge({
        name: 'hmm_engine_outbox_lag_seconds', help: 'Age of the oldest event not yet on the Redis stream (new orders are refused past HMM_OUTBOX_MAX_LAG_MS)', labelNames: ['venue'], registers: [metrics.registry],
        collect() { this.set({ venue: name }, box.lagMs() / 1000); },
      });
    }
    const maxLagMs = redis?.outboxMaxLagMs ?? 0;
    const admission = (): AdmissionRefusal | null => {
      if (busWatch !== null && !busWatch.up) return { reason: BUS_UNAVAILABLE, message: `the event bus (Redis) is unreachable since ${new Date(busWatch.current.since).toISOString()}: new orders are refused until it returns` };
      const lag = box === null ? 0 : box.lagMs();
      if (lag > maxLagMs) return { reason: BUS_UNAVAILABLE, message: `${box!.state().backlog} event(s) have waited ${(lag / 1000).toFixed(1)} s for the event bus (limit ${maxLagMs / 1000} s): new orders are refused until the outbox has caught up` };
      return null;
    };

    const server = await createEngineServer({ log, token, onControlAction: audit.hook(name) });
    await server.register(engineRoutes(engine, metrics.registry, {
      admission,
      onRefused: (o, r) => {
        metrics.ordersRejected.inc({ venue: name, reason: r.reason });
        orderLog.append({
          ts: new Date(o.created_at).toISOString(), event: 'order.rejected', venue: name, client_order_id: o.client_order_id, model: o.model, symbol: o.symbol,
          side: o.side, type: o.type, status: 'REJECTED', qty: o.qty, price: o.price, filled_qty: '0', avg_price: null, fees: '0', reason: r.reason, message: r.message,
        });
        log.warn({ engine: name, clientOrderId: o.client_order_id, reason: r.reason }, `[RISK] ${name} refused ${o.side} ${o.qty} ${o.symbol}: ${r.reason} (${r.message})`);
      },
      recentBars: (n) => recent.last(n),
      healthExtra: () => ({
        bus: busWatch === null ? { kind: 'in-process', up: true } : { kind: 'redis', stream: (bus as RedisBus).stream, ...busWatch.current, since: new Date(busWatch.current.since).toISOString(), outbox: relay?.state() ?? null },
        market_data: market.description,
      }),
    }));
    cleanup.push(() => server.close());

    // ---- start, in order ----------------------------------------------------------------------
    if (clusterState !== null) await engine.applyTradingState(clusterState);
    // The venue learns prices only now that the engine listens (resting orders of a previous
    // run may fill on these bars, and those fills must reach the ledger).
    if (sim) for (const bar of market.history.slice(-symbols.length)) sim.onBar(bar);
    await engine.reconcile('startup');
    if (restoredFrom) clearRestoreMarker(paths.engineStateDir);
    if (relay !== null) {
      // Events of a previous run the stream never took go first (in seq order, before new ones).
      relay.start();
      cleanup.push(() => relay.stop());
    }
    if (busWatch !== null) {
      await busWatch.start();
      cleanup.push(() => busWatch.stop());
      // The control plane pushes the trading state over HTTP before it answers; the bus event
      // reaches an engine the push could not (restarting, briefly unreachable, in no replica's
      // HMM_ENGINES). A version already applied (the push came first) is ignored.
      bus.subscribe('trading.state', (p) => {
        engine.applyTradingState(p.document).catch((err: Error) => log.error({ err }, `[RISK] ${name} applying trading state v${p.document.version} from the bus failed: ${err.message}`));
      });
    }

    // ---- listen, then let the market run ------------------------------------------------------
    await server.listen({ host: config.engineHost, port: config.enginePort });
    const addr = server.server.address();
    const url = typeof addr === 'object' && addr ? `http://${config.engineHost}:${addr.port}` : `http://${config.engineHost}:${config.enginePort}`;
    updateLock(config.root, { ops_url: null, engine_url: url });
    engine.startReconcileDaemon();
    storage.start();

    market.start((bars: readonly Bar[]) => {
      if (sim) for (const bar of bars) sim.onBar(bar);
      engine.onMarketData();
      recent.push(...bars);
      for (const bar of bars) {
        metrics.lastBarAge.set({ symbol: bar.symbol }, clock.now() / 1000);
        bus.publish('market.bar', bar);
      }
    });
    cleanup.push(() => market.close());

    log.info({ engine: name, url, venue: venue.id, root: config.root }, `[ENGINE] ${name} up: API ${url}, venue ${venue.id}, market data ${market.description}, bus ${redis ? 'Redis' : 'in-process'}, starting cash ${toDecimalString(config.startingCashUsd)}, trading ${engine.tradingEnabled ? 'ENABLED' : 'DISABLED'} (${enabledBecause})`);

    let stopped = false;
    return {
      config, paths, name, engine, venue, bus, log, metrics, server, url, market, busWatch, storage, relay,
      async stop() {
        if (stopped) return;
        stopped = true;
        await runCleanup(cleanup, log);
        log.info(`[ENGINE] ${name} stopped`);
        log.flush();
        await logFile.settle();
        logFile.close();
        releaseLock(config.root);
      },
    };
  } catch (err) {
    await runCleanup(cleanup, log);
    releaseLock(config.root);
    log.flush();
    logFile.close();
    throw err;
  }
}

/** The engine's venue and the market data that goes with it (the sim venue's is MARKET_DATA's;
 *  a live venue's is its own bars). What it opens is added to `cleanup`. */
async function openVenueAndMarket(o: {
  readonly config: StackConfig;
  readonly env: Env;
  readonly paths: StackPaths;
  readonly name: string;
  readonly symbols: readonly Symbol[];
  readonly log: Logger;
  readonly clock: Clock;
  readonly cleanup: (() => Promise<void> | void)[];
}): Promise<{ venue: Venue; sim: SimVenue | null; market: MarketSource }> {
  const { config, env, paths, name, symbols, log, clock, cleanup } = o;
  if (config.distributed.engineVenue === 'sim') {
    const instruments = DEFAULT_SIM_INSTRUMENTS.filter((i) => config.tradeSymbols.includes(i.symbol));
    const missing = config.tradeSymbols.filter((s) => !instruments.some((i) => i.symbol === s));
    if (missing.length > 0) throw new ConfigError('TRADE_SYMBOLS', `the sim venue lists ${DEFAULT_SIM_INSTRUMENTS.map((i) => i.symbol).join(', ')}; not ${missing.join(', ')}`);
    const market = await openMarketSource({ config, env, symbols, log, now: clock.now(), statePath: paths.marketState(name) });
    cleanup.push(() => market.close());
    const sim = openSimVenue(config, paths, name, instruments, clock);
    cleanup.push(() => sim.close());
    return { venue: sim, sim, market };
  }
  // Loaded only for a live venue's engine (ccxt is about 75 MB resident).
  const { loadCcxtVenueConfig } = await import('../venues/ccxt/ccxtConfig.js');
  const { CcxtVenue } = await import('../venues/ccxt/ccxtVenue.js');
  const ccxtVenue = await CcxtVenue.fromConfig(loadCcxtVenueConfig('binance', env), log);
  cleanup.push(() => ccxtVenue.close());
  if (config.marketData.source === 'synthetic') log.info(`[MARKET] ${name}: bars come from the venue itself (MARKET_DATA=synthetic applies to sim engines)`);
  // The venue's own ccxt instance: one request throttle for orders and bars.
  const market = await venueSource({ config, env, exchangeId: 'binance', symbols, log, exchange: ccxtVenue.exchange });
  cleanup.push(() => market.close());
  return { venue: ccxtVenue, sim: null, market };
}

async function runCleanup(steps: (() => Promise<void> | void)[], log: Logger): Promise<void> {
  for (const step of steps.splice(0).reverse()) {
    try {
      await step();
    } catch (err) {
      log.error({ err }, `[ENGINE] stopping: ${(err as Error).message}`);
    }
  }
}
