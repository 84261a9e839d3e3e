// The operator token for mutating Ops API routes: from OPS_API_TOKEN, else the file
// `.ops_token` (created with mode 0600 on first start). Compared in constant time over
// SHA-256 digests, so neither content nor length leaks through timing. Never logged.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';

export interface TokenSource {
  readonly origin: 'env' | 'file';
  verify(presented: string | undefined): boolean;
  /** Short, non-reversible fingerprint for audit lines. */
  fingerprint(presented: string): string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function loadOpsToken(envToken: string | null, tokenFile: string): { source: TokenSource; created: boolean } {
  let token = envToken;
  let origin: 'env' | 'file' = 'env';
  let created = false;
  if (!token) {
    origin = 'file';
    if (existsSync(tokenFile)) {
      token = readFileSync(tokenFile, 'utf8').trim();
      if (token.length < 16) throw new Error(`${tokenFile}: token must be at least 16 characters`);
    } else {
      token = randomBytes(24).toString('base64url');
      writeFileSync(tokenFile, token + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(tokenFile, 0o600);
      created = true;
    }
  }
  const expected = digest(token);
  return {
    created,
    source: {
      origin,
      verify: (presented) => presented !== undefined && presented.length > 0 && timingSafeEqual(digest(presented), expected),
      fingerprint: (presented) => digest(presented).toString('hex').slice(0, 12),
    },
  };
}
