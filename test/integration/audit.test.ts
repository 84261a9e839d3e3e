// Security on a running stack: every control action on the Ops API and the engine API lands
// in ops/logs/audit.jsonl with a token fingerprint (never the token), refused attempts too;
// risk limits change live on the engine; the operator token rotates without downtime (old
// token valid for the grace period, then refused; .ops_tokens edits apply without a restart).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tokenFingerprint } from '../../src/ops/auth.js';
import { startStack, type Stack } from '../../src/app/stack.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '../..');
let root: string;
let stack: Stack;
let token: string;

async function call(base: string, method: string, path: string, body: unknown, tok: string | null) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(tok ? { 'x-ops-token': tok } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

interface AuditLine { ts: string; server: string; action: string; route: string; token_fp: string | null; actor: string; status: number; result: string; body: Record<string, unknown> }
const auditLines = (): AuditLine[] => readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditLine);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-audit-'));
  // No OPS_API_TOKEN: the token lives in .ops_token, as the runbook's `$(cat .ops_token)` expects.
  stack = await startStack({ env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100', OPS_TOKEN_GRACE_SEC: '2' }, stdout: false });
  token = readFileSync(join(root, '.ops_token'), 'utf8').trim();
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('control actions on the Ops API and the engine API are audited with fingerprints; refusals too', async () => {
  const fp = tokenFingerprint(token);
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: false, reason: 'audit drill' }, token)).status, 200);
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, 'not-the-token-0123456789')).status, 401);
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true, reason: 'drill over' }, token)).status, 200);
  assert.equal((await call(stack.opsUrl, 'POST', '/strategy/weights', { weights: { ma_crossover_v1: 2 } }, token)).status, 400);
  assert.equal((await call(stack.engineUrl!, 'POST', '/orders', { client_order_id: 'audited-1', symbol: 'BTCUSDT', side: 'BUY', quote_usd: 20 }, token)).status, 201);
  assert.equal((await call(stack.engineUrl!, 'POST', '/orders', { client_order_id: 'forged-1', symbol: 'BTCUSDT', side: 'BUY', quote_usd: 20 }, 'forged-token-0123456789')).status, 401);

  const lines = auditLines();
  const kill = lines.find((l) => l.action === 'trading.kill')!;
  assert.deepEqual([kill.server, kill.route, kill.token_fp, kill.actor, kill.status, kill.result], ['ops', '/kill', fp, `token:${fp}`, 200, 'ok']);
  assert.deepEqual(kill.body, { enabled: false, reason: 'audit drill' });
  assert.ok(!Number.isNaN(Date.parse(kill.ts)));
  const denied = lines.find((l) => l.result === 'denied')!;
  assert.deepEqual([denied.action, denied.status, denied.token_fp, denied.body], ['trading.kill_switch', 401, tokenFingerprint('not-the-token-0123456789'), null]);
  assert.ok(lines.some((l) => l.action === 'trading.resume' && l.result === 'ok'));
  assert.ok(lines.some((l) => l.action === 'weights.set' && l.result === 'rejected' && l.status === 400));
  // Orders are data plane (thousands a second): only refused tokens are audited there.
  assert.ok(!lines.some((l) => l.action === 'order.submit' && l.body?.client_order_id === 'audited-1'));
  const forged = lines.find((l) => l.action === 'order.submit' && l.result === 'denied')!;
  assert.deepEqual([forged.server, forged.status, forged.token_fp], ['engine_sim', 401, tokenFingerprint('forged-token-0123456789')]);
  const file = readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8');
  assert.ok(!file.includes(token), 'the token itself is never written');
  assert.ok(!readFileSync(join(root, 'ops/logs/ops.log'), 'utf8').includes(token));
});

test('engine risk limits change while running (market disruption), validated and audited', async () => {
  const before = await call(stack.engineUrl!, 'GET', '/risk/limits', undefined, null);
  assert.equal(before.json.exposure_cap_symbol_usd, '5000');
  assert.equal(before.json.price_band_pct, 5);
  const bad = await call(stack.engineUrl!, 'POST', '/risk/limits', { max_notional_usdt: '1', min_notional_usdt: '5' }, token);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, 'max_notional_usdt');
  assert.equal((await call(stack.engineUrl!, 'POST', '/risk/limits', { min_notional_usdt: 'lots' }, token)).json.field, 'min_notional_usdt');
  assert.equal((await call(stack.engineUrl!, 'POST', '/risk/limits', {}, token)).status, 400);
  const set = await call(stack.engineUrl!, 'POST', '/risk/limits', { min_notional_usdt: '25', exposure_cap_symbol_usd: '0', reason: 'disruption' }, token);
  assert.equal(set.status, 200, JSON.stringify(set.json));
  assert.equal(set.json.limits.min_notional_usdt, '25');
  assert.equal(set.json.limits.exposure_cap_symbol_usd, null, '0 turns the rail off');
  const small = await call(stack.engineUrl!, 'POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 20 }, token);
  assert.deepEqual([small.status, small.json.error], [422, 'MIN_NOTIONAL']);
  assert.ok(auditLines().some((l) => l.action === 'risk_limits.set' && l.server === 'engine_sim' && l.result === 'ok'));
  await call(stack.engineUrl!, 'POST', '/risk/limits', { min_notional_usdt: '10', exposure_cap_symbol_usd: '5000' }, token);
});

test('token rotation without downtime: new token at once, old one for the grace period, then refused', async () => {
  const old = token;
  const rotated = await call(stack.opsUrl, 'POST', '/auth/rotate', undefined, old);
  assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
  const fresh = rotated.json.token as string;
  assert.equal(readFileSync(join(root, '.ops_token'), 'utf8').trim(), fresh);
  assert.equal(rotated.json.retired[0].fingerprint, tokenFingerprint(old));
  // Both work now, on both servers.
  for (const t of [old, fresh]) {
    assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, t)).status, 200);
    assert.equal((await call(stack.engineUrl!, 'POST', '/orders', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 20 }, t)).status, 201);
  }
  const list = await call(stack.opsUrl, 'GET', '/auth/tokens', undefined, fresh);
  assert.deepEqual(list.json.tokens.map((t: { status: string }) => t.status).sort(), ['active', 'retiring']);
  assert.ok(!JSON.stringify(list.json).includes(fresh));
  // The CLI reads .ops_token: it picks up the new token with nothing to restart.
  const { stdout } = await run(process.execPath, [join(repo, 'bin/hmm.mjs'), '--url', stack.opsUrl, '--root', root, 'resume', '--reason', 'cli after rotation'],
    { cwd: root, env: { ...process.env, OPS_API_TOKEN: '' } });
  assert.equal(JSON.parse(stdout).ok, true);
  // After the grace period the old token is refused.
  await new Promise((r) => setTimeout(r, 2_200));
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, old)).status, 401);
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, fresh)).status, 200);
  assert.ok(auditLines().some((l) => l.action === 'auth.rotate' && l.token_fp === tokenFingerprint(old) && l.result === 'ok'));
  assert.ok(!readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8').includes(fresh), 'the rotate response is not audited');
  token = fresh;
});

test('.ops_tokens: a second token for a CI client works as soon as the file is written', async () => {
  const ci = 'ci-client-token-0123456789abcdef';
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, ci)).status, 401);
  writeFileSync(join(root, '.ops_tokens'), `# CI\n${ci}\n`, { mode: 0o600 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, ci)).status, 200);
  assert.equal((await call(stack.opsUrl, 'POST', '/kill', { enabled: true }, token)).status, 200, 'the primary token still works');
});
