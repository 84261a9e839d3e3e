// ops/capital_policy.json: the allocator's bounds. Operator-edited, reloaded on change.
import { ValidationError } from './watchedFile.js';

export interface CapitalPolicy {
  readonly refresh_sec: number;
  /** Share of equity the allocator may hand out across all models. */
  readonly max_deployable_frac: number;
  readonly min_quota_usd: number;
  readonly max_quota_usd: number;
  /** Largest relative change of one model's quota per allocation step. */
  readonly max_step_pct: number;
  readonly cooldown_sec: number;
  /** ISO time until which quotas are frozen (market disruption), or null. */
  readonly freeze_until: string | null;
}

export const DEFAULT_CAPITAL_POLICY: CapitalPolicy = {
  refresh_sec: 5,
  max_deployable_frac: 0.8,
  min_quota_usd: 250,
  max_quota_usd: 25_000,
  max_step_pct: 0.25,
  cooldown_sec: 0,
  freeze_until: null,
};

export function parseCapitalPolicy(text: string): CapitalPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ValidationError('expected a JSON object');
  const d = doc as Record<string, unknown>;
  const out: Record<string, unknown> = { ...DEFAULT_CAPITAL_POLICY };
  const num = (key: string, lo: number, hi: number) => {
    if (!(key in d)) return;
    const v = d[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new ValidationError(`${key} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    out[key] = v;
  };
  num('refresh_sec', 1, 86_400);
  num('max_deployable_frac', 0, 1);
  num('min_quota_usd', 0, 1e12);
  num('max_quota_usd', 0, 1e12);
  num('max_step_pct', 0, 10);
  num('cooldown_sec', 0, 30 * 86_400);
  if ('freeze_until' in d && d.freeze_until !== null) {
    if (typeof d.freeze_until !== 'string' || Number.isNaN(Date.parse(d.freeze_until))) throw new ValidationError('freeze_until must be an ISO date-time or null');
    out.freeze_until = d.freeze_until;
  }
  if ((out.min_quota_usd as number) > (out.max_quota_usd as number)) throw new ValidationError('min_quota_usd must not exceed max_quota_usd');
  return out as unknown as CapitalPolicy;
}
