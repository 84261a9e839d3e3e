// Ensemble: a weighted vote of member models. Each member keeps a stance per symbol (the
// exposure its last signal asked for; a HOLD keeps the previous stance), and the ensemble
// asks for the weighted mean of the stances of the members that have spoken, quantised to
// `resolution` so a small wobble in one member's confidence does not churn orders. It emits
// only when that target changes. The members are the ensemble's own instances — fed by it,
// never shared with the standalone models of the same kind, whose state would otherwise be
// advanced twice per bar.
import type { ModelId, Symbol } from '../../core/ids.js';
import type { Bar } from '../../core/marketData.js';
import type { Signal } from '../../core/signal.js';
import type { Model } from '../model.js';
import { InvalidValueError } from '../../core/errors.js';

export interface EnsembleMember {
  readonly model: Model;
  /** Voting weight (> 0). Weights are normalised over the members that have a stance. */
  readonly weight: number;
}

export interface EnsembleConfig {
  /** Target exposure step, in (0, 1]; default 0.05. */
  readonly resolution?: number;
  /** Share of the weight of the members trading a symbol that must have a stance before the
   *  ensemble speaks for it, in (0, 1]; default 0.5 (half the vote). */
  readonly quorum?: number;
}

/** Stance of one signal: the exposure it asks for, or undefined for "keep what you had". */
export function stanceOf(signal: Signal): number | undefined {
  if (signal.targetExposure !== undefined) return Math.max(-1, Math.min(1, signal.targetExposure));
  if (signal.action === 'BUY') return Math.max(0, Math.min(1, signal.strength));
  if (signal.action === 'SELL') return 0;
  return undefined;
}

export class EnsembleModel implements Model {
  readonly kind = 'ensemble' as const;
  readonly symbols: readonly Symbol[];
  private readonly members: readonly EnsembleMember[];
  private readonly resolution: number;
  private readonly quorum: number;
  /** Total weight of the members that trade each symbol (the quorum's denominator). */
  private readonly totalWeight = new Map<string, number>();
  /** stances[memberIndex] per symbol; NaN = no stance yet. */
  private readonly stances = new Map<string, Float64Array>();
  private readonly announced = new Map<string, number>();

  constructor(readonly id: ModelId, members: readonly EnsembleMember[], config: EnsembleConfig = {}) {
    if (members.length === 0) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', 'an ensemble needs at least one member');
    const ids = new Set<string>();
    for (const m of members) {
      if (!(m.weight > 0) || !Number.isFinite(m.weight)) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', `member ${m.model.id} weight must be a positive number, got ${m.weight}`);
      if (ids.has(m.model.id)) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', `member ${m.model.id} is listed twice`);
      ids.add(m.model.id);
    }
    this.members = members;
    this.resolution = config.resolution ?? 0.05;
    if (!(this.resolution > 0 && this.resolution <= 1)) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', `resolution must be in (0, 1], got ${this.resolution}`);
    this.quorum = config.quorum ?? 0.5;
    if (!(this.quorum > 0 && this.quorum <= 1)) throw new InvalidValueError('HMM_MODEL_INVALID_CONFIG', `quorum must be in (0, 1], got ${this.quorum}`);
    const symbols = new Set<Symbol>();
    for (const m of members) {
      for (const s of m.model.symbols) {
        symbols.add(s);
        this.totalWeight.set(s, (this.totalWeight.get(s) ?? 0) + m.weight);
      }
    }
    this.symbols = [...symbols];
    for (const s of this.symbols) this.stances.set(s, new Float64Array(members.length).fill(NaN));
  }

  onBar(bar: Bar): Signal | null {
    const stances = this.stances.get(bar.symbol);
    if (stances === undefined) return null;
    let reasons: string[] | null = null; // made on the first member's signal: most bars have none
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i]!.model;
      if (!m.symbols.includes(bar.symbol)) continue;
      const s = m.onBar(bar);
      if (s === null) continue;
      const stance = stanceOf(s);
      if (stance !== undefined) {
        stances[i] = stance;
        (reasons ??= []).push(`${m.id} ${s.action}`);
      }
    }
    let voted = 0;
    let sum = 0;
    for (let i = 0; i < stances.length; i++) {
      const st = stances[i]!;
      if (Number.isNaN(st)) continue;
      const w = this.members[i]!.weight;
      voted += w;
      sum += w * st;
    }
    const total = this.totalWeight.get(bar.symbol)!;
    if (voted === 0 || voted < this.quorum * total - 1e-12) return null;
    const target = Math.round(sum / voted / this.resolution) * this.resolution;
    const clean = Math.round(target * 1e9) / 1e9;
    const previous = this.announced.get(bar.symbol);
    if (previous !== undefined && Math.abs(previous - clean) < this.resolution / 2) return null;
    this.announced.set(bar.symbol, clean);
    return {
      model: this.id,
      symbol: bar.symbol,
      action: previous === undefined ? (clean > 0 ? 'BUY' : 'SELL') : clean > previous ? 'BUY' : 'SELL',
      strength: Math.abs(clean),
      targetExposure: clean,
      ts: bar.ts,
      reason: `vote ${(clean * 100).toFixed(0)}% long with ${(voted / total * 100).toFixed(0)}% of the weight voting${reasons !== null ? ` (${reasons.join(', ')})` : ''}`,
    };
  }

  /** Forget what was announced, so the next bar with a quorum re-states the target. */
  reannounce(): void {
    this.announced.clear();
  }

  diagnostics(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [s, stances] of this.stances) {
      // A member without a stance yet is left out (JSON has no NaN, and −1 is a valid short stance).
      for (let i = 0; i < stances.length; i++) if (!Number.isNaN(stances[i]!)) out[`stance_${this.members[i]!.model.id}_${s}`] = stances[i]!;
      const a = this.announced.get(s);
      if (a !== undefined) out[`target_${s}`] = a;
    }
    return out;
  }
}
