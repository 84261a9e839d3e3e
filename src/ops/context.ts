// Everything the Ops API's routes and daemons need, wired once by the stack.
import type { StackConfig } from '../config/config.js';
import type { Bus } from '../bus/bus.js';
import type { EngineHandle } from '../engine/engineHandle.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { Allocator } from '../portfolio/allocator.js';
import type { CapitalPolicy } from '../portfolio/capitalPolicy.js';
import type { KillSwitch } from './killSwitch.js';
import type { StackPaths } from './paths.js';
import type { Policies } from './policies.js';
import type { StrategyRouter } from '../portfolio/strategyRouter.js';
import type { StrategyWeights } from '../portfolio/strategyWeights.js';
import type { WatchedFile } from '../config/watchedFile.js';
import type { SignalGate } from '../portfolio/signalGate.js';

// Re-exported for the routes that still read it here; the stage belongs to the lifecycle plane.
export { type ModelStage, stageOf } from '../lifecycle/modelStage.js';

export interface ModelInfo {
  readonly id: string;
  readonly kind: string;
  readonly symbols: readonly string[];
  readonly diagnostics: Record<string, number>;
}

export interface OpsContext {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly engines: () => readonly EngineHandle[];
  readonly killSwitch: KillSwitch;
  readonly weights: StrategyWeights;
  readonly allocator: Allocator;
  readonly policies: WatchedFile<Policies>;
  readonly capitalPolicy: WatchedFile<CapitalPolicy>;
  readonly router: StrategyRouter;
  readonly signalGate: SignalGate;
  readonly models: () => readonly ModelInfo[];
  /** Whether a model runs here (without building every model's diagnostics, as models() does). */
  readonly hasModel: (id: string) => boolean;
  readonly startedAt: number;
  readonly lastBarTs: () => number | null;
  readonly baselineEquity: (engine: string) => number;
}
