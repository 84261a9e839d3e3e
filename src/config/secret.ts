// Credentials read at start-up — a venue's API key and secret (venues/ccxt/ccxtConfig.ts), the
// Redis primary's and sentinels' passwords (bus/redisConfig.ts) — and the one type that carries
// them. A credential comes from KEY in the environment or from the file KEY_FILE names (a mounted
// secret: Docker, Kubernetes), never both. The value is trimmed (a file's trailing newline, a
// pasted space) and must not be empty. A refusal names the key and, for a file, its path: never
// the value. Secret prints as [REDACTED] however it is logged or serialised, so a config object
// that holds one can be logged whole; only the client that authenticates calls reveal(). A
// password inside REDIS_URL is not a Secret: it stays in the URL string, which describeRedis
// redacts for log lines — do not log a URL endpoint whole.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError } from './config.js';

/** A credential: usable by the client that authenticates with it, unprintable everywhere else. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[REDACTED]';
  }
  toJSON(): string {
    return '[REDACTED]';
  }
  [inspect.custom](): string {
    return '[REDACTED]';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The value of `key`, or undefined when it is unset or empty (an empty variable is unset). */
export function present(env: Env, key: string): string | undefined {
  const v = env[key];
  return v === undefined || v === '' ? undefined : v;
}

/** KEY, or the contents of the file KEY_FILE names; not both. null when neither is set. */
export function readSecret(env: Env, key: string): Secret | null {
  const direct = present(env, key);
  const file = present(env, `${key}_FILE`);
  if (direct !== undefined && file !== undefined) throw new ConfigError(key, `set either ${key} or ${key}_FILE, not both`);
  if (direct !== undefined) {
    const value = direct.trim();
    if (value === '') throw new ConfigError(key, 'is only white space');
    return new Secret(value);
  }
  if (file === undefined) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}_FILE`, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const value = text.trim();
  if (value === '') throw new ConfigError(`${key}_FILE`, `${file} is empty`);
  return new Secret(value);
}
