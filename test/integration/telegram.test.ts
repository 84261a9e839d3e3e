// Telegram alerts from a running stack to a local fake Bot API (TELEGRAM_API_BASE): kill and
// resume, governance actions, the test alert, a 429 with retry_after on the way; a rejected
// token is reported without the token; a missing token disables Telegram with one clear line;
// and the token never appears in ops.log or audit.jsonl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { startStack, type Stack } from '../../src/app/stack.js';
import { FakeTelegram } from '../support/fakeTelegram.js';

const OPS = 'test-token-0123456789abcdef';
const TG = '987654321:AAF-integration_test_token_abcdef';
const CHAT = '424242';
const fake = new FakeTelegram({ token: TG, chatId: CHAT });
const roots: string[] = [];
const stacks: Stack[] = [];

async function start(extra: Record<string, string>): Promise<Stack> {
  const root = mkdtempSync(join(tmpdir(), 'hmm-telegram-'));
  roots.push(root);
  // The shipped policy with a faster alert cadence (20 messages/min would make this test slow).
  mkdirSync(join(root, 'ops'), { recursive: true });
  const shipped = readFileSync(join(import.meta.dirname, '../../ops/policies.yaml'), 'utf8');
  const fast = shipped.replace('rate_limit_per_min: 20', 'rate_limit_per_min: 600').replace('coalesce_ms: 1000', 'coalesce_ms: 100');
  assert.notEqual(fast, shipped);
  writeFileSync(join(root, 'ops/policies.yaml'), fast);
  const s = await startStack({
    env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: OPS, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100', ...extra },
    stdout: false,
  });
  stacks.push(s);
  return s;
}

async function post(s: Stack, path: string, body?: unknown) {
  const res = await fetch(s.opsUrl + path, {
    method: 'POST', headers: { 'x-ops-token': OPS, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 8_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => { await fake.start(); });
after(async () => {
  for (const s of stacks) await s.stop();
  await fake.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

test('kill, resume, governance and test alerts reach Telegram, through a 429 retry_after', async () => {
  const s = await start({ TELEGRAM_TOKEN: TG, TELEGRAM_CHAT_ID: CHAT, TELEGRAM_API_BASE: fake.base });
  fake.reset();
  fake.rateLimitNext(1, 1);
  assert.equal((await post(s, '/kill', { enabled: false, reason: 'drill' })).status, 200);
  const [paused] = await waitFor('the kill message', () => (fake.messages.length >= 1 ? fake.messages : undefined));
  assert.match(paused!, /^🚨 Trading paused\n\[RISK\] Trading PAUSED \(kill switch\) by operator:[0-9a-f]{12}: drill$/);
  // The command bot long-polls getUpdates beside the alerts: only the sends are looked at here.
  const sends = fake.requests.filter((r) => r.method === 'sendMessage');
  assert.equal(sends[0]!.status, 429, 'the first attempt met the rate limit');
  assert.ok(sends[1]!.at - sends[0]!.at >= 950, 'and the retry waited retry_after');
  assert.equal(sends[1]!.path, `/bot${TG}/sendMessage`);
  assert.equal(String(sends[1]!.body?.chat_id), CHAT);

  await post(s, '/kill', { enabled: true, reason: 'drill over' });
  await post(s, '/bus/publish', { topic: 'metrics.update', payload: { pnl_unrealized: -150 } });
  await post(s, '/alerts/test', { message: 'is anyone there?' });
  await waitFor('four messages', () => (fake.messages.length >= 4 ? true : undefined)).catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(fake.requests.map((r) => [r.status, r.body?.text]))}`); });
  const all = fake.messages.join('\n---\n');
  assert.match(all, /ℹ️ Trading resumed/);
  assert.match(all, /⚠️ Exposure reduced\npnl_unrealized -150 < -100, rule loss_100/);
  assert.match(all, /⚠️ Test alert\nis anyone there\?/);

  // The token is in the URL Telegram needs, and nowhere in our files.
  s.log.info({ config: s.config, env: { TELEGRAM_TOKEN: TG } }, 'config as a careless caller might log it');
  s.log.flush();
  const logText = readFileSync(join(s.paths.root, 'ops/logs/ops.log'), 'utf8');
  const audit = readFileSync(join(s.paths.root, 'ops/logs/audit.jsonl'), 'utf8');
  assert.ok(logText.includes('config as a careless caller might log it'));
  for (const secret of [TG, TG.split(':')[1]!, OPS]) {
    assert.ok(!logText.includes(secret), 'ops.log leaks a token');
    assert.ok(!audit.includes(secret), 'audit.jsonl leaks a token');
  }
  assert.match(logText, /\[ALERT\] Telegram alerts to chat 424242/);
});

test('a token Telegram refuses: one ERROR per failed delivery, naming the status, never the token', async () => {
  const wrong = '987654321:AAF-revoked_token_0000000000';
  const s = await start({ TELEGRAM_TOKEN: wrong, TELEGRAM_CHAT_ID: CHAT, TELEGRAM_API_BASE: fake.base });
  fake.reset();
  await post(s, '/alerts/test', { message: 'will not arrive' });
  const logPath = join(s.paths.root, 'ops/logs/ops.log');
  const line = await waitFor('the delivery error', () => readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('[ALERT] telegram delivery failed')));
  assert.match(line, /"level":"ERROR"/);
  assert.match(line, /after 1 attempt\(s\): HTTP 401: Unauthorized/);
  assert.equal(fake.requests.filter((r) => r.method === 'sendMessage').length, 1, 'a 401 is not retried');
  // The command bot met the same 401 on getUpdates: it stops polling, saying why, without the token.
  await waitFor('the command bot\'s stop line', () => readFileSync(logPath, 'utf8').split('\n').find((l) => l.includes('[TELEGRAM] commands off: the Bot API refused the token')));
  assert.equal(fake.requests.filter((r) => r.method === 'getUpdates').length, 1, 'a refused token is not polled again');
  assert.ok(!readFileSync(logPath, 'utf8').includes(wrong.split(':')[1]!));
});

test('no TELEGRAM_TOKEN: Telegram is disabled with one clear log line, alerts still logged', async () => {
  const s = await start({});
  await post(s, '/alerts/test', { message: 'log only' });
  const logPath = join(s.paths.root, 'ops/logs/ops.log');
  await waitFor('the alert line', () => (readFileSync(logPath, 'utf8').includes('[ALERT] WARNING Test alert: log only') ? true : undefined));
  const disabled = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('Telegram disabled'));
  assert.equal(disabled.length, 1);
  assert.match(disabled[0]!, /\[ALERT\] Telegram disabled: TELEGRAM_TOKEN is not set; alerts are written to ops\/logs\/ops.log only/);
});

test('a malformed TELEGRAM_TOKEN stops start-up naming the key, not echoing the value', () => {
  assert.throws(() => loadConfig({ TELEGRAM_TOKEN: 'not-a-bot-token' }), (err: Error) => /TELEGRAM_TOKEN/.test(err.message) && !err.message.includes('not-a-bot-token'));
  assert.throws(() => loadConfig({ TELEGRAM_API_BASE: 'ftp://x' }), /TELEGRAM_API_BASE/);
  assert.throws(() => loadConfig({ OPS_API_TOKENS: 'long-enough-token-0123456789,short' }), (err: Error) => /OPS_API_TOKENS: token #2/.test(err.message) && !err.message.includes('short'));
  assert.throws(() => loadConfig({ EXPOSURE_CAP_SYMBOL_USD: '-1' }), /EXPOSURE_CAP_SYMBOL_USD/);
  assert.equal(loadConfig({ ENGINE_SIM_MIN_NOTIONAL_USDT: '25' }).engineMinNotionalUsdt.engine_sim, 2_500_000_000n);
});
