// A model's stage in its lifecycle (shadow → canary → live, or retired): the registry records
// it, the canary manager moves it, the leaderboard shows it. It lives in the lifecycle plane
// because every reader is here or above (ops routes), never below.

export type ModelStage = 'shadow' | 'canary' | 'live' | 'retired';

/** The stage a model's weight implies when no registry says otherwise (a bare Ops API). */
export function stageOf(weight: number): ModelStage {
  return weight > 0 ? 'live' : 'shadow';
}
