// The canary rules as one pure decision: which shadow model enters canary, which canary is
// promoted to live or returns to shadow, which promoted live model is rolled back. Every rule
// reads evidence in market time (ModelEvidence: bars, trades, market ms, per-bar returns and
// the per-bar difference against live, all net of fees), never a bare score; windows and
// cooldowns compare the stack's Clock (`now`) with when a stage began. CanaryManager is the
// shell that gathers the inputs and applies the actions.
//
// The significance test is looked at on every evaluation, for as long as a model waits. A
// fixed "probability ≥ 0.95" checked every half hour of a two-day window would pass a model
// with no edge about one time in five; the bar a candidate must clear therefore rises slowly
// with the bars observed (Robbins' normal-mixture boundary), so that the chance a model with
// no edge is ever judged better — however often it is asked — stays near 1 − confidence.
import { edgeOver, normalCdf, type EdgeTest, type ModelEvidence, type Moments } from './evidence.js';
import type { CanaryPolicy, StageRule } from './canaryPolicy.js';

/** Stages a running model can be in (a retired model does not run and is never a candidate). */
export type CandidateStage = 'shadow' | 'canary' | 'live';

export interface CanaryCandidate {
  readonly id: string;
  readonly stage: CandidateStage;
  /** Evidence since the model's current stage began; null before the first bar. */
  readonly evidence: ModelEvidence | null;
  /** Largest drawdown (percent) since the current stage began. */
  readonly drawdownPct: number;
  /** When the current stage began, on the stack's clock (epoch ms); null when unknown. */
  readonly stageSince: number | null;
  /** For a live model: the model it replaced, if that one can still be restored. */
  readonly restorable: string | null;
  /** When the model last dropped to shadow by a demotion or rollback (clock ms). */
  readonly demotedAt: number | null;
}

export type CanaryAction =
  | { readonly action: 'promote'; readonly model: string; readonly from: 'shadow'; readonly to: 'canary'; readonly reason: string }
  | { readonly action: 'promote'; readonly model: string; readonly from: 'canary'; readonly to: 'live'; readonly replaces: readonly string[]; readonly reason: string }
  | { readonly action: 'demote'; readonly model: string; readonly from: 'canary'; readonly to: 'shadow'; readonly reason: string }
  | { readonly action: 'rollback'; readonly model: string; readonly from: 'live'; readonly to: 'shadow'; readonly restore: string; readonly reason: string }
  | { readonly action: 'degraded'; readonly model: string; readonly reason: string };

/** Bars around which the sequential test is most sensitive (the mixing variance of Robbins'
 *  boundary is 1/MIXING_BARS). At 100 the bar is flat from 12 to 60 market hours of minute
 *  bars (z ≈ 2.8–2.9 at 0.95) and rises only with the log of the bars after that. */
export const MIXING_BARS = 100;

export interface EdgeVerdict extends EdgeTest {
  /** The probability `probability` must reach for "beats" after n bars at this confidence. */
  readonly required: number;
  /** The candidate beats its benchmark with the policy's confidence. */
  readonly beats: boolean;
  /** The benchmark beats the candidate with the policy's confidence. */
  readonly trails: boolean;
}

/**
 * The probability the edge test must reach after n paired bars so that, looked at after every
 * bar for ever, a candidate with no edge passes with a chance of about 1 − confidence. The
 * two-sided normal-mixture boundary at 2(1 − confidence): P(|S_n| ever crosses) ≤ 2(1 − c),
 * one side of it about half that; simulated over two weeks of minute bars with a look every
 * 30 bars, a no-edge model passes about 2 % of the time at confidence 0.95
 * (test/unit/lifecycle/canaryDecision.test.ts checks the rate on seeded runs).
 */
export function requiredProbability(n: number, confidence: number): number {
  if (!(n >= 1)) return 1;
  const alpha = Math.min(1, 2 * (1 - confidence));
  const z = Math.sqrt((1 + MIXING_BARS / n) * (Math.log(1 + n / MIXING_BARS) + 2 * Math.log(1 / alpha)));
  return Math.max(confidence, normalCdf(z));
}

/** The sequential edge test of per-bar differences (candidate − benchmark) at `confidence`. */
export function edgeVerdict(diff: Moments, confidence: number): EdgeVerdict {
  const t = edgeOver(diff);
  const required = requiredProbability(t.n, confidence);
  return { ...t, required, beats: t.probability !== null && t.probability >= required, trails: t.probability !== null && t.probability <= 1 - required };
}

/**
 * Beating live is not enough: a live model that bleeds fees is beaten by one that merely trades
 * less. The candidate's own per-bar returns must also beat zero, by the same sequential bar
 * (replay, seed 1, MARKET_DRIFT=0: without this rule an HMM with negative PnL went live).
 */
function earnsOnItsOwn(ev: ModelEvidence, confidence: number): boolean {
  return edgeVerdict(ev.returns, confidence).beats;
}

const HOUR_MS = 3_600_000;
const f2 = (x: number): string => (Math.round(x * 100) / 100).toString();
const p4 = (x: number | null): string => (x === null ? '—' : x.toFixed(4));
const hours = (ms: number): string => f2(ms / HOUR_MS);

/** Why a model's evidence is not yet enough for a stage rule; null when it is. */
function shortOf(ev: ModelEvidence | null, rule: StageRule): string | null {
  if (ev === null) return 'no evidence yet';
  if (ev.marketMs < rule.min_market_hours * HOUR_MS) return `${hours(ev.marketMs)} of ${rule.min_market_hours} market hours`;
  if (ev.trades < rule.min_trades) return `${ev.trades} of ${rule.min_trades} trades`;
  return null;
}

function evidenceLine(ev: ModelEvidence, drawdownPct: number, v: EdgeVerdict, against: string): string {
  return `${ev.trades} trades over ${hours(ev.marketMs)} market h (${ev.bars} bars), drawdown ${f2(drawdownPct)}%, ` +
    `P(beats ${against}) ${p4(v.probability)} ≥ ${p4(v.required)} required after ${v.n} bars`;
}

export function decideCanary(models: readonly CanaryCandidate[], policy: CanaryPolicy, now: number): CanaryAction[] {
  const out: CanaryAction[] = [];
  const byId = new Map(models.map((m) => [m.id, m]));
  const live = models.filter((m) => m.stage === 'live');
  const liveNames = live.map((m) => m.id);
  const conf = policy.confidence;
  // With no live model there is nothing to beat but cash: the benchmark is a zero return.
  const against = live.length > 0 ? 'live' : 'cash';
  const edgeOf = (ev: ModelEvidence): EdgeVerdict => edgeVerdict(live.length > 0 ? ev.vsLive : ev.returns, conf);

  // Rollback: a promoted live model past its drawdown cap, or that the model it replaced now
  // beats with the policy's confidence (that model's vsLive covers the bars since promotion).
  const rb = policy.rollback;
  for (const m of live) {
    if (shortOf(m.evidence, rb) !== null) continue;
    let why: string | null = null;
    if (m.drawdownPct > rb.max_drawdown_pct) why = `drawdown ${f2(m.drawdownPct)}% since promotion > ${rb.max_drawdown_pct}%`;
    else if (m.restorable !== null) {
      const prev = byId.get(m.restorable);
      if (prev?.evidence) {
        const v = edgeVerdict(prev.evidence.vsLive, conf);
        if (v.beats) why = `the model it replaced beats it since promotion: P ${p4(v.probability)} ≥ ${p4(v.required)} after ${v.n} bars (confidence ${conf})`;
      }
    }
    if (why === null) continue;
    if (m.restorable !== null) out.push({ action: 'rollback', model: m.id, from: 'live', to: 'shadow', restore: m.restorable, reason: why });
    else out.push({ action: 'degraded', model: m.id, reason: `${why}, but it replaced no model that can be restored` });
  }
  const rolledBack = new Set(out.filter((a) => a.action === 'rollback').map((a) => a.model));

  // Canaries: out on drawdown, on time (clock), or when live significantly beats them; in when
  // their canary-stage evidence is long enough and significantly better than live.
  let canaries = models.filter((m) => m.stage === 'canary').length;
  const p = policy.promote;
  const qualified: { m: CanaryCandidate; ev: ModelEvidence; v: EdgeVerdict }[] = [];
  for (const m of models) {
    if (m.stage !== 'canary') continue;
    const ev = m.evidence;
    const v = ev ? edgeOf(ev) : null;
    let demote: string | null = null;
    if (m.drawdownPct > p.max_drawdown_pct) demote = `drawdown as canary ${f2(m.drawdownPct)}% > ${p.max_drawdown_pct}%`;
    else if (p.max_hours > 0 && m.stageSince !== null && now - m.stageSince > p.max_hours * HOUR_MS) demote = `did not qualify for live within ${p.max_hours} h as canary`;
    else if (v?.trails) demote = `${against} beats it as canary: P(beats ${against}) ${p4(v.probability)} ≤ ${p4(1 - v.required)} after ${v.n} bars (confidence ${conf})`;
    if (demote !== null) {
      out.push({ action: 'demote', model: m.id, from: 'canary', to: 'shadow', reason: demote });
      canaries--;
    } else if (ev && v && shortOf(ev, p) === null && v.beats && earnsOnItsOwn(ev, conf)) {
      qualified.push({ m, ev, v });
    }
  }
  // One promotion to live per evaluation, and none while a rollback is under way.
  if (qualified.length > 0 && rolledBack.size === 0) {
    const best = qualified.sort((a, b) => (b.v.probability ?? 0) - (a.v.probability ?? 0) || a.m.id.localeCompare(b.m.id))[0]!;
    out.push({
      action: 'promote', model: best.m.id, from: 'canary', to: 'live', replaces: liveNames,
      reason: `as canary: ${evidenceLine(best.ev, best.m.drawdownPct, best.v, against)} (confidence ${conf})`,
    });
    canaries--;
  }

  if (policy.auto_canary && canaries < policy.max_canaries) {
    const e = policy.enter;
    const cooldownMs = policy.cooldown_hours * HOUR_MS;
    const eligible: { m: CanaryCandidate; ev: ModelEvidence; v: EdgeVerdict }[] = [];
    for (const m of models) {
      if (m.stage !== 'shadow' || rolledBack.has(m.id) || m.evidence === null) continue;
      if (m.demotedAt !== null && now - m.demotedAt < cooldownMs) continue;
      if (shortOf(m.evidence, e) !== null || m.drawdownPct > e.max_drawdown_pct) continue;
      const v = edgeOf(m.evidence);
      if (v.beats && earnsOnItsOwn(m.evidence, conf)) eligible.push({ m, ev: m.evidence, v });
    }
    eligible.sort((a, b) => (b.v.probability ?? 0) - (a.v.probability ?? 0) || a.m.id.localeCompare(b.m.id));
    for (const { m, ev, v } of eligible.slice(0, policy.max_canaries - canaries)) {
      out.push({ action: 'promote', model: m.id, from: 'shadow', to: 'canary', reason: `in shadow: ${evidenceLine(ev, m.drawdownPct, v, against)} (confidence ${conf})` });
    }
  }
  return out;
}
