// The `logs:` section of ops/policies.yaml: how engine/logs/orders.jsonl and
// ops/logs/ops.log rotate (size, day), whether rotated files are gzipped, and how long they
// are kept. Validated key by key like the rest of the file; an unknown key is refused.
import type { Logger } from '../obs/logger.js';
import { DEFAULT_ROTATION, type RotationEvent, type RotationPolicy } from '../util/rotatingFile.js';
import { ValidationError } from '../config/watchedFile.js';

export interface LogsPolicy {
  readonly rotate_max_mb: number;
  readonly rotate_daily: boolean;
  readonly compress: boolean;
  readonly retention_days: number;
  readonly max_files: number;
}

export const DEFAULT_LOGS_POLICY: LogsPolicy = {
  rotate_max_mb: DEFAULT_ROTATION.maxBytes / (1024 * 1024),
  rotate_daily: DEFAULT_ROTATION.daily,
  compress: DEFAULT_ROTATION.compress,
  retention_days: DEFAULT_ROTATION.retentionDays,
  max_files: DEFAULT_ROTATION.maxFiles,
};

const NUMBER_KEYS: Record<string, { min: number; max: number; integer: boolean }> = {
  rotate_max_mb: { min: 0, max: 1_000_000, integer: false },
  retention_days: { min: 0, max: 36_500, integer: true },
  max_files: { min: 0, max: 1_000_000, integer: true },
};
const BOOLEAN_KEYS = ['rotate_daily', 'compress'];

export function parseLogsPolicy(value: unknown): LogsPolicy {
  if (value === null || value === undefined) return DEFAULT_LOGS_POLICY;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('logs must be a mapping');
  const out: Record<string, unknown> = { ...DEFAULT_LOGS_POLICY };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const range = NUMBER_KEYS[key];
    if (range) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < range.min || v > range.max || (range.integer && !Number.isInteger(v))) {
        throw new ValidationError(`logs.${key} must be ${range.integer ? 'an integer' : 'a number'} in [${range.min}, ${range.max}], got ${JSON.stringify(v)}`);
      }
      out[key] = v;
    } else if (BOOLEAN_KEYS.includes(key)) {
      if (typeof v !== 'boolean') throw new ValidationError(`logs.${key} must be true or false, got ${JSON.stringify(v)}`);
      out[key] = v;
    } else {
      throw new ValidationError(`unknown key "logs.${key}" (known: ${[...Object.keys(NUMBER_KEYS), ...BOOLEAN_KEYS].join(', ')})`);
    }
  }
  return out as unknown as LogsPolicy;
}

export function rotationOf(p: LogsPolicy): RotationPolicy {
  return {
    maxBytes: Math.round(p.rotate_max_mb * 1024 * 1024),
    daily: p.rotate_daily,
    compress: p.compress,
    retentionDays: p.retention_days,
    maxFiles: p.max_files,
  };
}

/** Reports a rotation event in ops.log (called on a later tick, so ops.log's own events are safe). */
export function logRotationEvent(log: Logger, e: RotationEvent): void {
  switch (e.kind) {
    case 'rotated':
      log.info({ file: e.file, to: e.to, reason: e.reason }, `[OPS] rotated ${e.file} → ${e.to} (${e.reason})`);
      break;
    case 'compressed':
      log.debug({ file: e.file, to: e.to }, `[OPS] compressed ${e.to}`);
      break;
    case 'deleted':
      log.info({ file: e.file, reason: e.reason }, `[OPS] deleted ${e.file} (${e.reason === 'max_files' ? 'logs.max_files' : 'logs.retention_days'})`);
      break;
    case 'repaired':
      log.warn({ file: e.file, bytes: e.bytes, kept_in: e.keptIn }, `[RECON] ${e.file} ended with a torn line (${e.bytes} bytes, a crash mid-write); cut off and kept in ${e.keptIn}`);
      break;
    case 'quarantined':
      // The owner names each line (file and line number) in its own [RECON] ERROR lines.
      log.warn({ file: e.file, lines: e.lines, kept_in: e.keptIn }, `[RECON] ${e.file}: ${e.lines} damaged line(s) moved to ${e.keptIn}; the file reads back whole again`);
      break;
    case 'error':
      log.error({ file: e.file }, `[OPS] log rotation: ${e.message}`);
      break;
  }
}
