// Operator tokens for the mutating routes (X-OPS-TOKEN). Several tokens may be valid at once so
// they can be rotated without downtime:
//   - OPS_API_TOKEN and OPS_API_TOKENS (comma-separated) from the environment, or, when neither
//     is set, the file `.ops_token` (created with mode 0600 on first start; the runbook reads it
//     with `$(cat .ops_token)`);
//   - the file `.ops_tokens` (one token per line, `#` comments), re-read when it changes.
// A token that disappears from a file stays valid for a grace period (OPS_TOKEN_GRACE_SEC), then
// is retired; that memory is kept (as SHA-256 digests only) in ops/token_grace.json so a restart
// inside the grace period does not cut a client off. `rotate()` writes a new `.ops_token` and
// starts the old one's grace period. Tokens are compared in constant time over SHA-256
// digests, so neither content nor length leaks through timing. Never logged: only fingerprints.
// The ring is a TokenSource: the HTTP layer's token check (src/http/auth.ts) asks it, and knows
// nothing of the files behind it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import type { Logger } from '../obs/logger.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomicFile.js';
import { tokenFingerprint, type TokenSource } from '../http/auth.js';
import { OpsError } from './errors.js';

export { tokenFingerprint, type TokenSource };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const MIN_LENGTH = 16;

export interface TokenInfo {
  readonly fingerprint: string;
  readonly source: 'env' | '.ops_token' | '.ops_tokens' | 'grace';
  readonly status: 'active' | 'retiring';
  readonly retires_at: string | null;
}

interface Held {
  readonly digest: Buffer;
  readonly fingerprint: string;
  readonly source: TokenInfo['source'];
  /** Epoch ms after which a retiring token is refused; null while active. */
  readonly until: number | null;
}

export interface TokenRingOptions {
  readonly envTokens: readonly string[];
  /** `.ops_token`: the primary token when no env token is set. */
  readonly tokenFile: string;
  /** `.ops_tokens`: extra tokens, one per line, re-read on change. */
  readonly tokensFile: string;
  /** Where retiring tokens' digests are remembered across restarts. */
  readonly graceFile: string;
  readonly graceMs: number;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Least time between two reads of the token files (verify() is on every request). */
  readonly recheckMs?: number;
}

/** POST /auth/rotate when the tokens come from the environment: no file to rotate (409). */
export class RotateUnavailable extends OpsError {
  constructor(message: string) {
    super('HMM_OPS_ROTATE_UNAVAILABLE', message, { httpStatus: 409 });
  }
}

export class OpsTokenRing implements TokenSource {
  readonly origin: 'env' | 'file';
  readonly created: boolean;
  private active: Held[] = [];
  private retiring: Held[] = [];
  private stamps = '';
  private lastCheck = 0;
  private readonly now: () => number;

  constructor(private readonly opts: TokenRingOptions) {
    this.now = opts.now ?? Date.now;
    this.origin = opts.envTokens.length > 0 ? 'env' : 'file';
    let created = false;
    if (this.origin === 'file' && !existsSync(opts.tokenFile)) {
      const token = randomBytes(24).toString('base64url');
      writeFileSync(opts.tokenFile, token + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(opts.tokenFile, 0o600);
      created = true;
    }
    this.created = created;
    this.loadGrace();
    this.refresh(true);
    // At start-up a bad primary token stops the stack (as any bad configuration does).
    if (this.origin === 'file' && !this.active.some((h) => h.source === '.ops_token')) {
      throw new OpsError('HMM_OPS_TOKEN_TOO_SHORT', `${opts.tokenFile}: token must be at least ${MIN_LENGTH} characters`);
    }
  }

  verify(presented: string | undefined): boolean {
    if (presented === undefined || presented.length === 0) return false;
    this.refresh(false);
    const d = digest(presented);
    const now = this.now();
    let ok = false;
    // Compare against every held digest (no early exit), so timing says nothing about which matched.
    for (const h of this.active) ok = timingSafeEqual(d, h.digest) || ok;
    for (const h of this.retiring) ok = (timingSafeEqual(d, h.digest) && h.until !== null && now < h.until) || ok;
    return ok;
  }

  fingerprint(presented: string): string {
    return tokenFingerprint(presented);
  }

  list(): TokenInfo[] {
    this.refresh(false);
    const now = this.now();
    return [
      ...this.active.map((h) => ({ fingerprint: h.fingerprint, source: h.source, status: 'active' as const, retires_at: null })),
      ...this.retiring.filter((h) => h.until !== null && h.until > now).map((h) => ({ fingerprint: h.fingerprint, source: 'grace' as const, status: 'retiring' as const, retires_at: new Date(h.until!).toISOString() })),
    ];
  }

  /** Writes a new `.ops_token`; the previous one stays valid for the grace period. */
  rotate(actor: string): { token: string; fingerprint: string; retired: { fingerprint: string; retires_at: string }[] } {
    if (this.origin === 'env') {
      throw new RotateUnavailable('the operator token comes from OPS_API_TOKEN/OPS_API_TOKENS: add the new token to .ops_tokens (or OPS_API_TOKENS), move clients over, then remove the old one — it stays valid for OPS_TOKEN_GRACE_SEC');
    }
    const token = randomBytes(24).toString('base64url');
    writeFileAtomic(this.opts.tokenFile, token + '\n', 0o600);
    chmodSync(this.opts.tokenFile, 0o600);
    const before = this.retiring.length;
    this.refresh(true);
    const retired = this.retiring.slice(before).map((h) => ({ fingerprint: h.fingerprint, retires_at: new Date(h.until!).toISOString() }));
    this.opts.log?.warn({ actor, fingerprint: tokenFingerprint(token), retired }, `[AUTH] operator token rotated by ${actor}: new ${tokenFingerprint(token)}; ${retired.map((r) => `${r.fingerprint} valid until ${r.retires_at}`).join(', ') || 'no previous token'}`);
    return { token, fingerprint: tokenFingerprint(token), retired };
  }

  /** Re-reads the token files when they changed; tokens that vanished start their grace period. */
  private refresh(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastCheck < (this.opts.recheckMs ?? 250)) return;
    this.lastCheck = now;
    // Content, not mtime: two edits within one timestamp tick must both be seen. The files are tiny.
    const stamps = createHash('sha256').update([this.opts.tokenFile, this.opts.tokensFile].map((p) => readOrNull(p) ?? '\u0000').join('\u0001')).digest('hex');
    const expired = this.retiring.some((h) => h.until !== null && h.until <= now);
    if (!force && stamps === this.stamps && !expired) return;
    this.stamps = stamps;

    const next: Held[] = [];
    const add = (token: string, source: Held['source']) => {
      if (token.length < MIN_LENGTH) {
        this.opts.log?.error(`[AUTH] ignoring a token in ${source} shorter than ${MIN_LENGTH} characters (fingerprint ${tokenFingerprint(token)})`);
        return;
      }
      if (next.some((h) => h.fingerprint === tokenFingerprint(token))) return;
      next.push({ digest: digest(token), fingerprint: tokenFingerprint(token), source, until: null });
    };
    for (const t of this.opts.envTokens) add(t, 'env');
    if (this.origin === 'file') {
      const primary = readOrNull(this.opts.tokenFile)?.trim();
      if (primary) add(primary, '.ops_token');
      else if (this.active.length > 0) this.opts.log?.error(`[AUTH] ${this.opts.tokenFile} is missing or empty; its token enters its grace period`);
    }
    for (const line of (readOrNull(this.opts.tokensFile) ?? '').split('\n')) {
      const t = line.replace(/#.*/, '').trim();
      if (t) add(t, '.ops_tokens');
    }

    const gone = this.active.filter((h) => !next.some((n) => n.fingerprint === h.fingerprint));
    const retiring = this.retiring.filter((h) => h.until !== null && h.until > now && !next.some((n) => n.fingerprint === h.fingerprint));
    for (const h of gone) {
      retiring.push({ ...h, source: 'grace', until: now + this.opts.graceMs });
      this.opts.log?.warn(`[AUTH] token ${h.fingerprint} removed from ${h.source}: valid for ${Math.round(this.opts.graceMs / 1000)} s more, then retired`);
    }
    const added = next.filter((n) => !this.active.some((h) => h.fingerprint === n.fingerprint));
    if (this.active.length > 0) for (const h of added) this.opts.log?.info(`[AUTH] token ${h.fingerprint} from ${h.source} is now valid`);
    const changed = gone.length > 0 || retiring.length !== this.retiring.length;
    this.active = next;
    this.retiring = retiring;
    if (changed) this.saveGrace();
    if (this.active.length === 0 && this.retiring.length === 0) {
      this.opts.log?.error('[AUTH] no valid operator token: every mutating route will answer 401 until .ops_token or .ops_tokens holds one');
    }
  }

  private loadGrace(): void {
    const text = readOrNull(this.opts.graceFile);
    if (!text) return;
    try {
      const doc = JSON.parse(text) as { retiring?: { sha256: string; fingerprint: string; until: number }[] };
      const now = this.now();
      this.retiring = (doc.retiring ?? [])
        .filter((r) => typeof r.sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.sha256) && typeof r.until === 'number' && r.until > now)
        .map((r) => ({ digest: Buffer.from(r.sha256, 'hex'), fingerprint: String(r.fingerprint), source: 'grace' as const, until: r.until }));
    } catch (err) {
      this.opts.log?.error(`[AUTH] ${this.opts.graceFile} unreadable (${(err as Error).message}); retiring tokens are refused from now`);
    }
  }

  private saveGrace(): void {
    const retiring = this.retiring.map((h) => ({ sha256: h.digest.toString('hex'), fingerprint: h.fingerprint, until: h.until }));
    try {
      writeJsonAtomic(this.opts.graceFile, { retiring }, 0o600);
    } catch (err) {
      this.opts.log?.error(`[AUTH] cannot write ${this.opts.graceFile}: ${(err as Error).message}`);
    }
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The single-token source of the first version, kept for callers that only need one token. */
export function loadOpsToken(envToken: string | null, tokenFile: string): { source: TokenSource; created: boolean } {
  const ring = new OpsTokenRing({
    envTokens: envToken ? [envToken] : [],
    tokenFile,
    tokensFile: `${tokenFile}s`,
    graceFile: `${tokenFile}.grace.json`,
    graceMs: 0,
  });
  return { source: ring, created: ring.created };
}
