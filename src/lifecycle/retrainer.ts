// Owns walk-forward retraining of the stack's HMM: counts bars of its symbol as they arrive
// (market time: a replay refits exactly as a live run does, and a wall-clock pause refits
// nothing), and every retrain.every_bars fits a new version on the last retrain.window_bars
// bars, saves it through the model store with its parent in the sidecar, and lets the fleet
// register it in shadow with its lineage, so the leaderboard and the canary judge it before it
// trades. It also retires the oldest unpromoted refits beyond retrain.max_shadow_versions.
// The decisions (refit now? which refits retire?) are pure functions; the class does the I/O.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Bar } from '../core/marketData.js';
import type { Logger } from '../obs/logger.js';
import { listHmmModelVersions } from '../strategy/hmm/modelStore.js';
import { trainAndSaveInSteps, type TrainedAndSaved } from '../strategy/hmm/trainingMeta.js';
import { isStorageFault } from '../util/storageHealth.js';
import type { EnsembleSpec, HmmSpec } from '../strategy/modelSpec.js';
import type { RetrainPolicy } from './retrainPolicy.js';
import type { HistoryEntry, ModelFleet, RegistryEntry, StrategyRegistry } from './strategyRegistry.js';

export type RetrainDecision =
  | { readonly kind: 'fit'; readonly bars: number }
  | { readonly kind: 'wait'; readonly reason: 'disabled' | 'not_due' | 'busy' | 'too_few_bars' };

/** Whether to refit now: due every every_bars bars since the last fit, on at most window_bars
 *  bars, and never on fewer than min_bars. A due refit that has too few bars waits for more. */
export function decideRetrain(p: RetrainPolicy, s: { readonly barsSinceFit: number; readonly barsHeld: number; readonly busy: boolean }): RetrainDecision {
  if (!p.enabled) return { kind: 'wait', reason: 'disabled' };
  if (s.barsSinceFit < p.every_bars) return { kind: 'wait', reason: 'not_due' };
  if (s.busy) return { kind: 'wait', reason: 'busy' };
  if (s.barsHeld < p.min_bars) return { kind: 'wait', reason: 'too_few_bars' };
  return { kind: 'fit', bars: Math.min(s.barsHeld, p.window_bars) };
}

/** Refits of `storeId` to retire so at most `limit` unpromoted ones stay in shadow: the oldest
 *  first. A refit that was ever a canary or live, or that an ensemble names, is never chosen
 *  (the first is evidence an operator may want, the second would break the ensemble). */
export function refitsToRetire(
  entries: readonly RegistryEntry[], history: readonly HistoryEntry[], storeId: string, limit: number,
): string[] {
  const promoted = new Set(history.filter((h) => h.to === 'canary' || h.to === 'live').map((h) => h.model));
  const members = new Set(entries.filter((e) => e.kind === 'ensemble' && e.stage !== 'retired')
    .flatMap((e) => (e.params as EnsembleSpec['params']).members.map((m) => m.id)));
  const refits = entries
    .filter((e) => e.kind === 'hmm' && e.stage === 'shadow' && (e.params as HmmSpec['params']).store_id === storeId
      && e.lineage?.source === 'retrain' && !promoted.has(e.id) && !members.has(e.id))
    .sort((a, b) => a.version - b.version);
  return refits.slice(0, Math.max(0, refits.length - limit)).map((e) => e.id);
}

export interface RetrainerOptions {
  readonly fleet: ModelFleet;
  readonly registry: StrategyRegistry;
  /** ops/models */
  readonly modelsDir: string;
  /** The store id refits are saved under (the default HMM's). */
  readonly storeId: string;
  /** The symbol the HMM trades and is refitted on. */
  readonly symbol: string;
  readonly policy: () => RetrainPolicy;
  /** Retires a model through the canary manager (registry, weights and runtime together). */
  readonly retire: (model: string, reason: string) => Promise<unknown>;
  readonly log: Logger;
  readonly seed?: number;
  /** Whether this process leads (refits are saved by one replica only); default always. A
   *  follower keeps counting bars, so a replica that takes over refits when one is due. */
  readonly leads?: () => boolean;
  /** Lets the event loop through between fit restarts; default one setImmediate. */
  readonly pause?: () => Promise<void>;
}

export class Retrainer {
  /** The last bars of the symbol, oldest first; at most the policy's window_bars. */
  private bars: Bar[] = [];
  private barsSinceFit = 0;
  private running: Promise<TrainedAndSaved | null> | null = null;
  private stopped = false;
  private lastTs = -Infinity;

  constructor(private readonly opts: RetrainerOptions) {}

  /** Takes the warm-up history. Its bars after the newest version's training window count
   *  toward the next refit, so a restart does not postpone a refit that was nearly due. */
  seed(history: readonly Bar[]): void {
    const newest = this.newestVersion();
    const trainedTo = newest === null ? -Infinity : Date.parse(this.entryOf(newest)?.lineage?.window_last_ts ?? '') || -Infinity;
    for (const bar of history) {
      if (bar.symbol !== this.opts.symbol || !(bar.ts > this.lastTs)) continue;
      this.push(bar);
      if (bar.ts > trainedTo) this.barsSinceFit++;
    }
  }

  /** One bar from the feed; starts a refit when one is due (never awaited here: the bar loop
   *  goes on while the fit yields between restarts). */
  onBar(bar: Bar): void {
    if (this.stopped || bar.symbol !== this.opts.symbol || !(bar.ts > this.lastTs)) return;
    this.push(bar);
    this.barsSinceFit++;
    if (this.opts.leads && !this.opts.leads()) return;
    const decision = decideRetrain(this.opts.policy(), { barsSinceFit: this.barsSinceFit, barsHeld: this.bars.length, busy: this.running !== null });
    if (decision.kind !== 'fit') return;
    this.barsSinceFit = 0;
    const window = this.bars.slice(-decision.bars);
    this.running = this.refit(window).finally(() => { this.running = null; });
  }

  /** The refit in progress, if any (tests and stop wait on it). */
  idle(): Promise<TrainedAndSaved | null> {
    return this.running ?? Promise.resolve(null);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  private push(bar: Bar): void {
    this.lastTs = bar.ts;
    this.bars.push(bar);
    const keep = this.opts.policy().window_bars;
    // Trimmed in batches: one splice per `keep` bars rather than a shift per bar.
    if (this.bars.length > 2 * keep) this.bars.splice(0, this.bars.length - keep);
  }

  private newestVersion(): number | null {
    return listHmmModelVersions(this.opts.modelsDir, this.opts.storeId).at(-1) ?? null;
  }

  private entryOf(version: number): RegistryEntry | undefined {
    const id = this.opts.fleet.idOfStored(this.opts.storeId, version);
    return id === undefined ? undefined : this.opts.registry.get(id);
  }

  private async refit(window: readonly Bar[]): Promise<TrainedAndSaved | null> {
    const { log, storeId, symbol } = this.opts;
    const parent = this.newestVersion();
    try {
      const t = await trainAndSaveInSteps(this.opts.modelsDir, window, {
        id: storeId, symbol, source: 'retrain', detail: `walk-forward on the last ${window.length} bars`, parent,
        ...(this.opts.seed !== undefined ? { seed: this.opts.seed } : {}),
      }, this.opts.pause ?? (() => nextTurn()));
      if (this.stopped) return t;
      // The fleet registers the version in shadow with its lineage and starts it warmed.
      this.opts.fleet.scan();
      const id = this.opts.fleet.idOfStored(storeId, t.model.version) ?? `${storeId}_v${t.model.version}`;
      log.info({ model: id, parent, bars: t.meta.bars, ms: Math.round(t.seconds * 1000), logLikelihood: t.model.fit.logLikelihood },
        `[CANARY] walk-forward refit ${id} on ${t.meta.bars} ${symbol} bars to ${new Date(window.at(-1)!.ts).toISOString()} in ${Math.round(t.seconds * 1000)} ms (parent v${parent ?? '-'}, log-likelihood ${t.model.fit.logLikelihood.toFixed(1)}): in shadow until the canary judges it`);
      await this.retireExcess();
      return t;
    } catch (err) {
      if (isStorageFault(err)) {
        // The disk refuses writes (the STORAGE condition says so): this round is skipped whole,
        // nothing half-saved; the next refit trains on the bars it has then.
        log.warn({ code: (err as { code?: string }).code }, `[CANARY] walk-forward refit of ${storeId} skipped: the models directory refuses writes (${(err as Error).message}); the next refit tries again`);
        return null;
      }
      log.error({ err }, `[CANARY] walk-forward refit of ${storeId} on ${window.length} ${symbol} bars failed: ${(err as Error).message}`);
      return null;
    }
  }

  private async retireExcess(): Promise<void> {
    const { registry, storeId } = this.opts;
    const limit = this.opts.policy().max_shadow_versions;
    for (const id of refitsToRetire(registry.entries(), registry.current.history, storeId, limit)) {
      try {
        await this.opts.retire(id, `more than retrain.max_shadow_versions (${limit}) unpromoted refits in shadow: the oldest retires`);
      } catch (err) {
        this.opts.log.error({ err, model: id }, `[CANARY] retiring refit ${id} failed: ${(err as Error).message}`);
      }
    }
  }
}
