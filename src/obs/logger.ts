// Operator logs: one JSON line per event in ops/logs/ops.log (and stdout), the level as a
// capitalised word so `grep ERROR` works, subsystem prefixes in messages ([GOV], [RISK],
// [RECON], [CANARY]). Secrets are redacted by key name wherever they appear.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT_PATHS = [
  'token', '*.token', 'opsToken', '*.opsToken', 'apiKey', '*.apiKey', 'secret', '*.secret',
  'password', '*.password', 'headers["x-ops-token"]', 'req.headers["x-ops-token"]', '*.headers["x-ops-token"]',
  'TELEGRAM_TOKEN', '*.TELEGRAM_TOKEN', 'OPS_API_TOKEN', '*.OPS_API_TOKEN',
];

export interface LoggerOptions {
  readonly file?: string;
  readonly level?: string;
  readonly stdout?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const streams: pino.StreamEntry[] = [];
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    streams.push({ level: 'trace', stream: pino.destination({ dest: opts.file, append: true, sync: true }) });
  }
  if (opts.stdout ?? true) streams.push({ level: 'trace', stream: process.stdout });
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    },
    pino.multistream(streams),
  );
}

/** A logger that discards everything (unit tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
