// The capital allocator: sets each model's capital quota (USD) from equity and
// ops/capital_policy.json, and rewrites ops/capital_allocations.json. The decision is a
// pure function; the loop around it only reads equity and writes the file.
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { writeJsonAtomic } from '../util/atomicFile.js';
import type { CapitalPolicy } from './capitalPolicy.js';

export interface AllocationInput {
  readonly equityUsd: number;
  readonly models: readonly string[];
  readonly previous: Readonly<Record<string, number>>;
  readonly lastChangeAt: Readonly<Record<string, number>>;
  readonly now: number;
}

/** Equal shares of deployable equity, clamped to [min, max], moved at most max_step_pct per
 *  step, unchanged during cooldown or freeze; the total never exceeds deployable equity. */
export function allocateCapital(input: AllocationInput, policy: CapitalPolicy): Record<string, number> {
  const { models, equityUsd, previous, lastChangeAt, now } = input;
  const out: Record<string, number> = {};
  if (models.length === 0) return out;
  const deployable = Math.max(0, equityUsd) * policy.max_deployable_frac;
  const frozen = policy.freeze_until !== null && Date.parse(policy.freeze_until) > now;
  const target = Math.min(policy.max_quota_usd, Math.max(policy.min_quota_usd, deployable / models.length));
  for (const m of models) {
    const prev = previous[m];
    if (prev === undefined) {
      out[m] = target;
      continue;
    }
    const cooling = now - (lastChangeAt[m] ?? 0) < policy.cooldown_sec * 1000;
    if (frozen || cooling) {
      out[m] = prev;
      continue;
    }
    const maxStep = Math.max(prev * policy.max_step_pct, 1);
    out[m] = Math.min(prev + maxStep, Math.max(prev - maxStep, target));
  }
  // Scale down if the sum would exceed what may be deployed (the floor can push it over).
  const total = Object.values(out).reduce((a, b) => a + b, 0);
  if (total > deployable && total > 0) for (const m of models) out[m] = (out[m]! * deployable) / total;
  for (const m of models) out[m] = Math.floor(out[m]! * 100) / 100;
  return out;
}

export interface AllocationsFile {
  readonly capital_quota_usd: Record<string, number>;
  readonly updated_at: Record<string, number>;
  readonly equity_usd: number;
  readonly ts: string;
  readonly frozen_until: string | null;
}

export class CapitalAllocator {
  private quotas: Record<string, number> = {};
  private changedAt: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly policy: () => CapitalPolicy,
    private readonly models: () => readonly string[],
    private readonly equity: () => Promise<number>,
    private readonly log: Logger,
    private readonly metrics: Metrics | null,
  ) {}

  quota(model: string): number {
    return this.quotas[model] ?? 0;
  }

  all(): Readonly<Record<string, number>> {
    return this.quotas;
  }

  async step(now = Date.now()): Promise<AllocationsFile> {
    const equityUsd = await this.equity();
    const next = allocateCapital({ equityUsd, models: this.models(), previous: this.quotas, lastChangeAt: this.changedAt, now }, this.policy());
    for (const [m, q] of Object.entries(next)) {
      if (this.quotas[m] !== q) this.changedAt[m] = now;
      this.metrics?.capitalQuota.set({ model: m }, q);
    }
    this.quotas = next;
    const file: AllocationsFile = {
      capital_quota_usd: next,
      updated_at: Object.fromEntries(Object.keys(next).map((m) => [m, Math.floor((this.changedAt[m] ?? now) / 1000)])),
      equity_usd: Math.round(equityUsd * 100) / 100,
      ts: new Date(now).toISOString(),
      frozen_until: this.policy().freeze_until,
    };
    writeJsonAtomic(this.path, file);
    return file;
  }

  start(): void {
    const tick = () => {
      this.step().catch((err) => this.log.error({ err }, `[ALLOC] allocation step failed: ${(err as Error).message}`));
      this.timer = setTimeout(tick, this.policy().refresh_sec * 1000);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
