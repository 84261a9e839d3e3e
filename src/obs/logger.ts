// Operator logs: one JSON line per event in ops/logs/ops.log (and stdout), the level as a
// capitalised word so `grep ERROR` works, subsystem prefixes in messages ([GOV], [RISK],
// [RECON], [CANARY]). Secrets are redacted by key name wherever they appear. The file is a
// RotatingFile: it rotates by size and day under ops/policies.yaml `logs:` and every line is
// written whole, so `tail -n 50 ops/logs/ops.log | grep ERROR` always reads complete lines.
import pino, { type Logger } from 'pino';
import { RotatingFile } from '../util/rotatingFile.js';

export type { Logger };

const REDACT_PATHS = [
  'token', '*.token', 'opsToken', '*.opsToken', 'apiKey', '*.apiKey', 'secret', '*.secret',
  'password', '*.password', 'headers["x-ops-token"]', 'req.headers["x-ops-token"]', '*.headers["x-ops-token"]',
  'TELEGRAM_TOKEN', '*.TELEGRAM_TOKEN', 'OPS_API_TOKEN', '*.OPS_API_TOKEN',
  // The stack config carries tokens (config.opsApiToken(s), config.telegram.token) should it ever be logged.
  'opsApiToken', '*.opsApiToken', 'opsApiTokens', '*.opsApiTokens', '*.*.token', 'OPS_API_TOKENS', '*.OPS_API_TOKENS',
];

export interface LoggerOptions {
  /** A path (rotated with the default policy) or a RotatingFile the caller keeps to retune. */
  readonly file?: string | RotatingFile;
  readonly level?: string;
  readonly stdout?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const streams: pino.StreamEntry[] = [];
  if (opts.file) {
    const file = typeof opts.file === 'string' ? new RotatingFile(opts.file) : opts.file;
    // pino hands each log line to write() as one string: one line, one synchronous write.
    streams.push({ level: 'trace', stream: { write: (line: string) => file.write(line) } });
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
