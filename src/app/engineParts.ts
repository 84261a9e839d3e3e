// The pieces of one engine, shared by the embedded stack (stack.ts) and `hmm engine`
// (engineProcess.ts): its risk limits from the configuration, the sim venue with its own books,
// and the engine with its ledger and audit log. One way to build an engine, so an engine in its
// own process behaves exactly like the one inside `hmm up`.
import type { StackConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { minNotionalFor } from '../config/config.js';
import { toDecimalString } from '../core/decimal.js';
import type { Instrument } from '../core/instrument.js';
import type { Bus } from '../bus/bus.js';
import { Engine, type EngineOptions, type RecoveryContext } from '../engine/engine.js';
import { Ledger } from '../engine/ledger.js';
import { OrderLog } from '../engine/orderLog.js';
import type { RiskLimits } from '../engine/riskRails.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { instrumentVenue } from '../venues/venueMetrics.js';
import { logRotationEvent } from '../ops/logsPolicy.js';
import type { StackPaths } from '../ops/paths.js';
import type { RotationPolicy } from '../util/rotatingFile.js';
import { SimVenue } from '../venues/sim/simVenue.js';
import type { Venue } from '../venues/venue.js';

/** The risk rails an engine enforces, from the stack's configuration. */
export function engineLimits(config: StackConfig, engineName: string): Omit<RiskLimits, 'tradingEnabled'> {
  return {
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
  };
}

/** The sim venue: it keeps its own books (as an exchange would) beside the engine's ledger.
 *  Its time is the stack's clock (the host's when none is given). */
export function openSimVenue(config: StackConfig, paths: StackPaths, engineName: string, instruments?: readonly Instrument[], clock?: Clock): SimVenue {
  try {
    return new SimVenue({
      id: 'sim',
      startingBalances: { USDT: toDecimalString(config.startingCashUsd) },
      takerFeeBps: config.sim.takerBps,
      makerFeeBps: config.sim.makerBps,
      slippageBps: config.sim.slippageBps,
      seed: config.sim.seed,
      statePath: paths.simVenueState(engineName),
      now: clock ? () => clock.now() : Date.now,
      ...(instruments ? { instruments } : {}),
    });
  } catch (err) {
    // A damaged venue book must name its file (SQLite's own message does not).
    throw new Error(`sim venue books ${paths.simVenueState(engineName)} cannot be opened: ${(err as Error).message}. Move the file aside and restore the last backup (\`hmm restore FILE\`)`);
  }
}

export interface EngineParts {
  readonly engine: Engine;
  readonly ledger: Ledger;
  readonly orderLog: OrderLog;
}

export function buildEngine(o: {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly name: string;
  readonly venue: Venue;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly tradingEnabled: boolean;
  readonly startStop?: EngineOptions['startStop'];
  readonly recoveryContext: RecoveryContext;
  readonly rotation: RotationPolicy;
  /** The stack's clock (the engine's own default, the host's, when absent). */
  readonly clock?: Clock;
  /** The root's storage health: new orders are refused while it holds a fault. */
  readonly storage?: EngineOptions['storage'];
  /** The bus the engine publishes on, given its ledger (an engine on the shared bus publishes
   *  through its outbox: engine/outbox.ts); default `bus`. */
  readonly busFor?: (ledger: Ledger) => Bus;
}): EngineParts {
  const { config, paths, name, log, metrics, clock } = o;
  const ledger = new Ledger(paths.ledger(name), config.ledgerSync, { backgroundCheckpoints: true });
  const orderLog = new OrderLog(paths.orderLog, o.rotation, { onEvent: (e) => logRotationEvent(log, e) });
  const engine = new Engine({
    name,
    venue: instrumentVenue(o.venue, metrics, name),
    ledger,
    orderLog,
    snapshotPath: paths.portfolioSnapshot,
    recoveryContext: o.recoveryContext,
    startingCash: config.startingCashUsd,
    limits: engineLimits(config, name),
    tradingEnabled: o.tradingEnabled,
    startStop: o.startStop,
    bus: o.busFor ? o.busFor(ledger) : o.bus,
    stopFile: paths.engineStop(name),
    logger: log,
    metrics,
    storage: o.storage ?? null,
    ...(clock ? { now: () => clock.now() } : {}),
  });
  return { engine, ledger, orderLog };
}
