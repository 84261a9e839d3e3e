// The `alerting:` section of ops/policies.yaml: which alerts reach Telegram and how often.
// `high_frequency: true` is the runbook's "enable high-frequency alerting" during a market
// disruption: repeats are summarised every 30 s instead of every 5 min, messages go out almost
// at once, and an hourly digest joins the daily one.
import { ValidationError } from '../../config/watchedFile.js';

export type Severity = 'INFO' | 'WARNING' | 'CRITICAL';
export const SEVERITIES: readonly Severity[] = ['INFO', 'WARNING', 'CRITICAL'];

export interface AlertingPolicy {
  readonly enabled: boolean;
  /** Alerts below this severity are logged but not sent to Telegram. */
  readonly min_severity: Severity;
  /** Repeats of one alert (same key) within this window are sent as one summary with a count. */
  readonly dedupe_window_sec: number;
  /** How long the first occurrence waits for repeats, so a storm becomes one message. */
  readonly coalesce_ms: number;
  /** Messages per minute to Telegram at most (the Bot API allows ~20/min into one group). */
  readonly rate_limit_per_min: number;
  readonly high_frequency: boolean;
  /** UTC time (HH:MM) of the daily digest, or null for none. */
  readonly daily_digest_utc: string | null;
}

export const DEFAULT_ALERTING_POLICY: AlertingPolicy = {
  enabled: true,
  min_severity: 'INFO',
  dedupe_window_sec: 300,
  coalesce_ms: 1000,
  rate_limit_per_min: 20,
  high_frequency: false,
  daily_digest_utc: '08:00',
};

/** The intervals actually in force (high_frequency shortens them). */
export interface EffectiveAlerting {
  readonly dedupeWindowMs: number;
  readonly coalesceMs: number;
  readonly minIntervalMs: number;
  /** Extra digest every this many ms (high-frequency mode), or null. */
  readonly digestEveryMs: number | null;
}

export function effectiveAlerting(p: AlertingPolicy): EffectiveAlerting {
  const hf = p.high_frequency;
  return {
    dedupeWindowMs: (hf ? Math.min(p.dedupe_window_sec, 30) : p.dedupe_window_sec) * 1000,
    coalesceMs: hf ? Math.min(p.coalesce_ms, 250) : p.coalesce_ms,
    minIntervalMs: 60_000 / (hf ? Math.max(p.rate_limit_per_min, 30) : p.rate_limit_per_min),
    digestEveryMs: hf ? 3_600_000 : null,
  };
}

export function parseAlertingPolicy(value: unknown): AlertingPolicy {
  if (value === null || value === undefined) return DEFAULT_ALERTING_POLICY;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('alerting must be a mapping');
  const out: Record<string, unknown> = { ...DEFAULT_ALERTING_POLICY };
  const num = (k: string, v: unknown, min: number, max: number) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new ValidationError(`alerting.${k} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v;
  };
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    switch (k) {
      case 'enabled':
      case 'high_frequency':
        if (typeof v !== 'boolean') throw new ValidationError(`alerting.${k} must be true or false, got ${JSON.stringify(v)}`);
        out[k] = v;
        break;
      case 'min_severity':
        if (typeof v !== 'string' || !(SEVERITIES as readonly string[]).includes(v.toUpperCase())) throw new ValidationError(`alerting.min_severity must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(v)}`);
        out[k] = v.toUpperCase();
        break;
      case 'dedupe_window_sec':
        out[k] = num(k, v, 1, 86_400);
        break;
      case 'coalesce_ms':
        out[k] = num(k, v, 0, 60_000);
        break;
      case 'rate_limit_per_min':
        out[k] = num(k, v, 1, 600);
        break;
      case 'daily_digest_utc':
        if (v !== null && (typeof v !== 'string' || !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(v))) throw new ValidationError(`alerting.daily_digest_utc must be HH:MM (UTC) or null, got ${JSON.stringify(v)}`);
        out[k] = v;
        break;
      default:
        throw new ValidationError(`alerting: unknown key ${JSON.stringify(k)} (known: ${Object.keys(DEFAULT_ALERTING_POLICY).join(', ')})`);
    }
  }
  return out as unknown as AlertingPolicy;
}
