// The control plane's derived state — the strategy tracker (live books, per-bar evidence), the
// shadow book, the stages the canary manager sets — as one fold over the bus's events, and the
// one switch that says whether this process folds them or mirrors someone who does.
//
// Why a switch: with several ops replicas the derived state is OWNED BY THE LEADER and
// replicated through Redis (ops/cluster/coordinator.ts publishes snapshot(), fenced by the lease
// token; docs/ARCHITECTURE.md "Replicas agree" says why that and not every replica folding).
//   - 'live'      this process folds every bar, fill and shadow signal (the embedded stack, a
//                 leader);
//   - 'follow'    it folds nothing and serves the leader's last snapshot (a follower): two
//                 replicas answer /strategy/status from the same state, not two partial views;
//   - 'catching_up' a new leader between restoring the last snapshot and having replayed the
//                 stream after the snapshot's position: live events wait in a queue, so none
//                 is lost and none overtakes the replay.
// Every step is idempotent by event id (the tracker books a fill once, the shadow book executes
// a signal id once, a bar at or before the last sampled one only marks), so the overlap between
// a snapshot, the replayed tail and the live events counts each event once.
import type { Bar } from '../core/marketData.js';
import type { Signal } from '../core/signal.js';
import type { FillPayload } from '../bus/topics.js';
import type { Logger } from '../obs/logger.js';
import type { ShadowBook, ShadowSnapshot } from './shadowBook.js';
import type { StrategyTracker, TrackerSnapshot } from './strategyTracker.js';
import type { ModelStage } from './modelStage.js';

export type FoldMode = 'live' | 'follow' | 'catching_up';

/** One event of the stream, as the fold takes it. */
export type FoldEvent =
  | { readonly kind: 'bar'; readonly bar: Bar }
  | { readonly kind: 'fill'; readonly fill: FillPayload }
  /** A shadow model's signal and its id (signalOrderId): paper-filled once. */
  | { readonly kind: 'shadow_signal'; readonly signal: Signal; readonly id: string };

/** The derived state at one point of the stream, as the leader publishes it. */
export interface DerivedSnapshot {
  readonly format: 1;
  /** How many changes the fold has taken (monotonic across leaders: a new leader continues it). */
  readonly seq: number;
  /** The last bus stream id folded into it; null on the in-process bus. */
  readonly position: string | null;
  readonly tracker: TrackerSnapshot;
  readonly shadow: ShadowSnapshot;
  /** Stages as the leader's canary manager set them (a follower mirrors them into its registry). */
  readonly stages: Readonly<Record<string, { stage: ModelStage; stage_since: string }>>;
  /** The leader's models' diagnostics (only the leader's models trade; a follower shows them). */
  readonly diagnostics: Readonly<Record<string, Record<string, number>>>;
}

export interface DerivedFoldDeps {
  readonly tracker: StrategyTracker;
  readonly shadow: ShadowBook;
  /** Where the bus stands now (the id of the stream entry being delivered); null in-process. */
  readonly position: () => string | null;
  readonly stages: () => DerivedSnapshot['stages'];
  /** Mirrors another replica's stages into this one's registry. */
  readonly applyStages: (stages: DerivedSnapshot['stages']) => void;
  readonly diagnostics: () => DerivedSnapshot['diagnostics'];
  readonly log: Logger;
  readonly mode: FoldMode;
}

export class DerivedFold {
  private modeNow: FoldMode;
  private queue: { e: FoldEvent; position: string | null }[] = [];
  private seqNow = 0;
  private positionNow: string | null = null;
  private followed: DerivedSnapshot | null = null;

  constructor(private readonly deps: DerivedFoldDeps) {
    this.modeNow = deps.mode;
  }

  get mode(): FoldMode {
    return this.modeNow;
  }

  /** Changes taken so far (a snapshot is worth publishing when this moved). */
  get seq(): number {
    return this.seqNow;
  }

  get position(): string | null {
    return this.positionNow;
  }

  /** The leader's snapshot this follower serves (null while folding itself). */
  get following(): DerivedSnapshot | null {
    return this.modeNow === 'follow' ? this.followed : null;
  }

  /** A live event from the bus: folded, queued or ignored by mode. */
  take(e: FoldEvent): void {
    if (this.modeNow === 'follow') return;
    const position = this.deps.position();
    if (this.modeNow === 'catching_up') this.queue.push({ e, position });
    else this.apply(e, position);
  }

  private apply(e: FoldEvent, position: string | null): void {
    let changed = true;
    switch (e.kind) {
      case 'bar':
        this.deps.tracker.onBar(e.bar);
        this.deps.shadow.onBar(e.bar);
        break;
      case 'fill':
        changed = this.deps.tracker.onLiveFill(e.fill);
        break;
      case 'shadow_signal': {
        const r = this.deps.shadow.execute(e.signal, e.id);
        changed = r.outcome !== 'skipped' || r.reason !== 'DUPLICATE';
        break;
      }
    }
    if (changed) this.seqNow++;
    if (position !== null) this.positionNow = position;
  }

  snapshot(): DerivedSnapshot {
    return {
      format: 1, seq: this.seqNow, position: this.positionNow, tracker: this.deps.tracker.snapshot(), shadow: this.deps.shadow.snapshot(),
      stages: this.deps.stages(), diagnostics: this.deps.diagnostics(),
    };
  }

  /** A follower takes the leader's snapshot (ignored while this process folds itself). */
  follow(s: DerivedSnapshot): void {
    if (this.modeNow !== 'follow') return;
    this.restore(s);
    this.followed = s;
  }

  /** This replica stops folding (it lost the lease): it serves the next leader's snapshots. */
  stopFolding(): void {
    this.modeNow = 'follow';
    this.queue = [];
  }

  /**
   * A new leader: restores the last published snapshot (when newer than what it holds), replays
   * the stream after the snapshot's position, then the live events that came meanwhile, and
   * folds live from then on. `tail(after)` reads the stream after an id (oldest first).
   */
  async lead(latest: DerivedSnapshot | null, tail: (after: string) => Promise<readonly { id: string; e: FoldEvent }[]>): Promise<{ restored: boolean; replayed: number }> {
    if (this.modeNow === 'live') return { restored: false, replayed: 0 };
    this.modeNow = 'catching_up';
    let replayed = 0;
    let restored = false;
    try {
      if (latest !== null && latest.seq >= this.seqNow) {
        this.restore(latest);
        restored = true;
      }
      const from = this.positionNow;
      if (from !== null) {
        for (const { id, e } of await tail(from)) {
          this.apply(e, id);
          replayed++;
        }
      }
    } finally {
      // Whatever the replay managed, the queued live events follow it in order.
      for (const q of this.queue.splice(0)) this.apply(q.e, q.position);
      this.modeNow = 'live';
    }
    return { restored, replayed };
  }

  private restore(s: DerivedSnapshot): void {
    this.deps.tracker.restore(s.tracker);
    this.deps.shadow.restore(s.shadow);
    this.deps.applyStages(s.stages);
    this.seqNow = s.seq;
    this.positionNow = s.position;
  }
}
