// The singleton daemons of a control plane — the allocator loop, the governance daemon (its
// first round at once) and the canary manager — started and stopped together, one change at
// a time: by the control plane's start() when it runs alone, by the cluster coordinator as the
// leader lease comes and goes when several replicas share the engines.
import type { Logger } from '../obs/logger.js';
import type { GovernanceDaemon } from '../ops/governance/daemon.js';
import type { TradingStates } from '../ops/governance/tradingStates.js';
import type { Allocator } from '../portfolio/allocator.js';
import type { CanaryManager } from '../lifecycle/canaryManager.js';

export interface LeaderDaemons {
  readonly running: boolean;
  /** Starts the allocator loop, governance and the canary manager (idempotent). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The leader's daemons: allocator loop, governance (first tick at once) and canary manager. */
export function leaderDaemons(o: {
  readonly allocator: Allocator;
  readonly governance: GovernanceDaemon;
  readonly canary: CanaryManager;
  readonly tradingStates: TradingStates;
  readonly log: Logger;
  /** Coordinated: a new leader pushes the trading states and runs the canary manager itself. */
  readonly coordinated: boolean;
}): LeaderDaemons {
  let running = false;
  let chain: Promise<unknown> = Promise.resolve();
  const serially = (fn: () => Promise<void>): Promise<void> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  return {
    get running() {
      return running;
    },
    start: () => serially(async () => {
      if (running) return;
      running = true;
      if (o.coordinated) await o.tradingStates.pushAll().catch((err: Error) => o.log.error({ err }, `[GOV] pushing trading states to the engines failed: ${err.message}`));
      o.allocator.start();
      o.governance.start();
      await o.governance.tick();
      if (o.coordinated) o.canary.start();
    }),
    stop: () => serially(async () => {
      if (!running) return;
      running = false;
      o.canary.stop();
      o.allocator.stop();
      await o.governance.stop();
    }),
  };
}
