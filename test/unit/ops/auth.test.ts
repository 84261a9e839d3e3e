// Operator tokens: several valid at once, files re-read on change, a removed token valid for a
// grace period and then retired (also across a restart), rotation of .ops_token, and the audit
// log's secret-free body summaries.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpsTokenRing, RotateUnavailable, tokenFingerprint } from '../../../src/ops/auth.js';
import { AuditLog, actionFor, resultFor, summarizeBody } from '../../../src/ops/audit.js';
import { createLogger } from '../../../src/obs/logger.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hmm-auth-'));
  dirs.push(d);
  return d;
};
const A = 'token-A-0123456789abcdef';
const B = 'token-B-0123456789abcdef';
const C = 'token-C-0123456789abcdef';

function ring(dir: string, envTokens: string[], clock: { now: number }, graceMs = 60_000) {
  return new OpsTokenRing({
    envTokens, tokenFile: join(dir, '.ops_token'), tokensFile: join(dir, '.ops_tokens'), graceFile: join(dir, 'ops/token_grace.json'),
    graceMs, now: () => clock.now, recheckMs: 0,
  });
}

test('no env token: .ops_token is created (mode 0600) and is the token; env tokens replace it', () => {
  const dir = tmp();
  const clock = { now: 0 };
  const r = ring(dir, [], clock);
  assert.equal(r.created, true);
  assert.equal(r.origin, 'file');
  const t = readFileSync(join(dir, '.ops_token'), 'utf8').trim();
  assert.equal(statSync(join(dir, '.ops_token')).mode & 0o777, 0o600);
  assert.ok(r.verify(t));
  assert.ok(!r.verify(t + 'x') && !r.verify('') && !r.verify(undefined));
  const e = ring(dir, [A, B], clock);
  assert.equal(e.origin, 'env');
  assert.ok(e.verify(A) && e.verify(B));
  assert.ok(!e.verify(t), 'with env tokens set, a stale .ops_token is not accepted');
  writeFileSync(join(dir, '.ops_token'), 'short\n');
  assert.throws(() => ring(dir, [], clock), /at least 16 characters/);
});

test('.ops_tokens is re-read on change; a removed token is valid for the grace period, then retired', () => {
  const dir = tmp();
  const clock = { now: 1_000 };
  const r = ring(dir, [A], clock, 60_000);
  assert.ok(!r.verify(B));
  writeFileSync(join(dir, '.ops_tokens'), `# rotation in progress\n${B}\n${C}  # ci\n`);
  assert.ok(r.verify(B) && r.verify(C), 'new tokens work without a restart');
  clock.now += 10;
  writeFileSync(join(dir, '.ops_tokens'), `${C}\n`);
  assert.ok(r.verify(B), 'B is in its grace period');
  assert.deepEqual(r.list().map((t) => [t.fingerprint, t.status]), [[tokenFingerprint(A), 'active'], [tokenFingerprint(C), 'active'], [tokenFingerprint(B), 'retiring']]);
  // A restart inside the grace period keeps B valid (digest remembered in ops/token_grace.json, never the token).
  const grace = readFileSync(join(dir, 'ops/token_grace.json'), 'utf8');
  assert.ok(!grace.includes(B));
  assert.equal(statSync(join(dir, 'ops/token_grace.json')).mode & 0o777, 0o600);
  const restarted = ring(dir, [A], clock, 60_000);
  assert.ok(restarted.verify(B));
  clock.now += 60_000;
  assert.ok(!r.verify(B) && !restarted.verify(B), 'retired after the grace period');
  assert.ok(r.verify(A) && r.verify(C));
  // Putting a retired token back makes it valid again: the file is the operator's word.
  writeFileSync(join(dir, '.ops_tokens'), `${C}\n${B}\n`);
  assert.ok(r.verify(B));
});

test('rotate(): a new .ops_token, the old one valid for the grace period; not available with env tokens', () => {
  const dir = tmp();
  const clock = { now: 0 };
  const r = ring(dir, [], clock, 5_000);
  const old = readFileSync(join(dir, '.ops_token'), 'utf8').trim();
  const out = r.rotate('operator:test');
  const now = readFileSync(join(dir, '.ops_token'), 'utf8').trim();
  assert.equal(now, out.token);
  assert.notEqual(now, old);
  assert.equal(statSync(join(dir, '.ops_token')).mode & 0o777, 0o600);
  assert.equal(out.fingerprint, tokenFingerprint(now));
  assert.deepEqual(out.retired.map((x) => x.fingerprint), [tokenFingerprint(old)]);
  assert.ok(r.verify(now) && r.verify(old));
  clock.now += 5_001;
  assert.ok(r.verify(now) && !r.verify(old));
  assert.throws(() => ring(tmp(), [A], clock).rotate('x'), RotateUnavailable);
});

test('the audit log: one JSON line per action, fingerprints only, secret-looking fields redacted', () => {
  const dir = tmp();
  const path = join(dir, 'logs/audit.jsonl');
  const audit = new AuditLog(path, createLogger({ stdout: false }));
  const hook = audit.hook('ops');
  hook({ route: '/kill', method: 'POST', fingerprint: tokenFingerprint(A), status: 200, body: { enabled: false, reason: 'drill' } });
  hook({ route: '/auth/rotate', method: 'POST', fingerprint: null, status: 401, body: { token: A, nested: { api_key: 'k', ok: 1 } } });
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.deepEqual({ ...lines[0], ts: undefined }, {
    ts: undefined, server: 'ops', action: 'trading.kill', method: 'POST', route: '/kill', token_fp: tokenFingerprint(A),
    actor: `token:${tokenFingerprint(A)}`, status: 200, result: 'ok', body: { enabled: false, reason: 'drill' },
  });
  assert.equal(lines[1]!.result, 'denied');
  assert.deepEqual(lines[1]!.body, { token: '[REDACTED]', nested: { api_key: '[REDACTED]', ok: 1 } });
  assert.ok(!readFileSync(path, 'utf8').includes(A));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  // Bounded: long strings and big objects are summarised.
  const big = summarizeBody({ s: 'y'.repeat(1000), list: Array.from({ length: 50 }, (_, i) => i) }) as { s: string; list: unknown[] };
  assert.ok(big.s.length < 200 && big.list.length === 11);
  assert.equal(actionFor('POST', '/kill', { enabled: true }), 'trading.resume');
  assert.equal(actionFor('POST', '/bus/publish', { topic: 'metrics.update' }), 'bus.publish:metrics.update');
  assert.equal(actionFor('POST', '/trading/state', { scope: 'venue' }), 'trading_state.set:venue');
  assert.deepEqual([resultFor(200), resultFor(401), resultFor(422), resultFor(500)], ['ok', 'denied', 'rejected', 'error']);
  assert.ok(existsSync(path));
});
