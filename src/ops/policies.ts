// ops/policies.yaml: governance and tuning keys (the runbook's Performance Tuning section).
// Validated key by key; an unknown key is refused so a typo never silently does nothing.
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../config/watchedFile.js';
import { DEFAULT_LOGS_POLICY, type LogsPolicy, parseLogsPolicy } from './logsPolicy.js';
import { DEFAULT_GOVERNANCE_POLICY, type GovernancePolicy, parseGovernancePolicy } from './governance/policy.js';
import { DEFAULT_ALERTING_POLICY, type AlertingPolicy, parseAlertingPolicy } from './alerts/policy.js';
import { DEFAULT_CANARY_POLICY, type CanaryPolicy, parseCanaryPolicy } from '../lifecycle/canaryPolicy.js';
import { DEFAULT_EVIDENCE_POLICY, type EvidencePolicy, parseEvidencePolicy } from '../lifecycle/evidencePolicy.js';
import { DEFAULT_RETRAIN_POLICY, type RetrainPolicy, parseRetrainPolicy } from '../lifecycle/retrainPolicy.js';

export interface Policies {
  readonly max_concurrent_signals: number;
  readonly worker_threads: number;
  readonly signal_queue_size: number;
  readonly metrics_retention_hours: number;
  readonly allocation_history_limit: number;
  readonly dashboard_refresh_sec: number;
  /** Sections owned by later subsystems (governance rules, canary rules, alerting, log rotation). */
  /** Governance daemon rules (governance/policy.ts). */
  readonly governance: GovernancePolicy;
  /** Promotion and rollback rules (lifecycle/canaryPolicy.ts). */
  readonly canary: CanaryPolicy;
  /** Bars and trades before a model's Sharpe counts and it ranks by evidence (evidencePolicy.ts). */
  readonly evidence: EvidencePolicy;
  /** Alert delivery: severity filter, de-duplication, rate, digest (alerts/policy.ts). */
  readonly alerting: AlertingPolicy;
  /** Log rotation and retention (logsPolicy.ts). */
  readonly logs: LogsPolicy;
  /** Walk-forward HMM refits (lifecycle/retrainPolicy.ts). */
  readonly retrain: RetrainPolicy;
}

export const DEFAULT_POLICIES: Policies = {
  max_concurrent_signals: 50,
  worker_threads: 8,
  signal_queue_size: 1000,
  metrics_retention_hours: 24,
  allocation_history_limit: 100,
  dashboard_refresh_sec: 10,
  governance: DEFAULT_GOVERNANCE_POLICY,
  canary: DEFAULT_CANARY_POLICY,
  evidence: DEFAULT_EVIDENCE_POLICY,
  alerting: DEFAULT_ALERTING_POLICY,
  logs: DEFAULT_LOGS_POLICY,
  retrain: DEFAULT_RETRAIN_POLICY,
};

const INTEGER_KEYS: Record<string, [number, number]> = {
  max_concurrent_signals: [1, 100_000],
  worker_threads: [1, 256],
  signal_queue_size: [1, 10_000_000],
  metrics_retention_hours: [1, 24 * 365],
  allocation_history_limit: [1, 1_000_000],
  dashboard_refresh_sec: [1, 3600],
};
const SECTION_KEYS = ['governance', 'canary', 'evidence', 'alerting', 'logs', 'retrain'];

export function parsePolicies(text: string): Policies {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ValidationError(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ValidationError('expected a mapping of keys at the top level');
  const out: Record<string, unknown> = { ...DEFAULT_POLICIES };
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const range = INTEGER_KEYS[key];
    if (range) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) {
        throw new ValidationError(`${key} must be an integer in [${range[0]}, ${range[1]}], got ${JSON.stringify(value)}`);
      }
      out[key] = value;
    } else if (key === 'canary') {
      out[key] = parseCanaryPolicy(value);
    } else if (key === 'evidence') {
      out[key] = parseEvidencePolicy(value);
    } else if (key === 'logs') {
      out[key] = parseLogsPolicy(value);
    } else if (key === 'governance') {
      out[key] = parseGovernancePolicy(value);
    } else if (key === 'alerting') {
      out[key] = parseAlertingPolicy(value);
    } else if (key === 'retrain') {
      out[key] = parseRetrainPolicy(value);
    } else if (SECTION_KEYS.includes(key)) {
      if (value !== null && (typeof value !== 'object' || Array.isArray(value))) throw new ValidationError(`${key} must be a mapping`);
      out[key] = value ?? {};
    } else {
      throw new ValidationError(`unknown key ${JSON.stringify(key)} (known: ${[...Object.keys(INTEGER_KEYS), ...SECTION_KEYS].join(', ')})`);
    }
  }
  return out as unknown as Policies;
}
