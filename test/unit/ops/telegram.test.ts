// Telegram delivery against a local fake Bot API over real HTTP: path, token and payload;
// 429 with parameters.retry_after honoured; 5xx retried with backoff; bad token not retried;
// the token scrubbed from every error. And the alert manager around it: a storm of one event
// is one message with a count, repeats are summarised per window, sends are rate-limited,
// severities filtered, high-frequency mode shortens the intervals, the digest is scheduled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '../../../src/bus/bus.js';
import { createLogger } from '../../../src/obs/logger.js';
import { createMetrics } from '../../../src/obs/metrics.js';
import { AlertManager, digestDue, promotionAlert } from '../../../src/ops/alerts/alertManager.js';
import { DEFAULT_ALERTING_POLICY, type AlertingPolicy, effectiveAlerting, parseAlertingPolicy } from '../../../src/ops/alerts/policy.js';
import { TelegramChannel } from '../../../src/ops/alerts/telegram.js';
import { FakeTelegram } from '../../support/fakeTelegram.js';

const TOKEN = '123456789:AAH-fake_token_for_tests_0123456789';
const CHAT = '-1001234567890';
const fake = new FakeTelegram({ token: TOKEN, chatId: CHAT });
const dirs: string[] = [];
before(async () => { await fake.start(); });
after(async () => {
  await fake.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const channel = (over: Partial<ConstructorParameters<typeof TelegramChannel>[0]> = {}) =>
  new TelegramChannel({ token: TOKEN, chatId: CHAT, apiBase: fake.base, backoffMs: 20, ...over });

test('sendMessage: POST {base}/bot<token>/sendMessage with chat_id and text', async () => {
  fake.reset();
  const r = await channel().send('hello from hmm-stack');
  assert.deepEqual(r, { ok: true, attempts: 1, status: 200, error: null });
  const req = fake.requests[0]!;
  assert.equal(req.path, `/bot${TOKEN}/sendMessage`);
  assert.equal(req.body?.chat_id, CHAT);
  assert.equal(req.body?.text, 'hello from hmm-stack');
  // Over-long texts are cut to Telegram's 4096-character limit instead of being refused.
  const long = await channel().send('x'.repeat(5000));
  assert.equal(long.ok, true);
  assert.equal(String(fake.requests.at(-1)!.body?.text).length, 4096);
});

test('429 with parameters.retry_after: waits that long, then delivers', async () => {
  fake.reset();
  fake.rateLimitNext(1, 1);
  const t0 = Date.now();
  const r = await channel().send('after a rate limit');
  const waited = Date.now() - t0;
  assert.equal(r.ok, true);
  assert.equal(r.attempts, 2);
  assert.deepEqual(fake.requests.map((q) => q.status), [429, 200]);
  assert.ok(waited >= 950, `waited ${waited} ms, Telegram asked for 1 s`);
  // A retry_after beyond what we accept gives up instead of blocking alerts for minutes.
  fake.rateLimitNext(1, 3600);
  const r2 = await channel({ maxRetryAfterSec: 60 }).send('too long to wait');
  assert.equal(r2.ok, false);
  assert.equal(r2.status, 429);
});

test('5xx is retried with backoff; 401 (bad token) and 400 (bad chat) are not', async () => {
  fake.reset();
  fake.failNext(2, 502);
  const r = await channel().send('through a flaky gateway');
  assert.equal(r.ok, true);
  assert.equal(r.attempts, 3);
  fake.failNext(3, 503);
  const gaveUp = await channel({ maxAttempts: 3 }).send('never');
  assert.deepEqual([gaveUp.ok, gaveUp.attempts, gaveUp.status], [false, 3, 503]);

  fake.reset();
  const wrongToken = new TelegramChannel({ token: '123456789:wrong-token-xyz-0123456789', chatId: CHAT, apiBase: fake.base, backoffMs: 20 });
  const unauthorized = await wrongToken.send('x');
  assert.deepEqual([unauthorized.ok, unauthorized.attempts, unauthorized.status], [false, 1, 401]);
  assert.match(unauthorized.error!, /HTTP 401: Unauthorized/);
  const wrongChat = await new TelegramChannel({ token: TOKEN, chatId: '42', apiBase: fake.base }).send('x');
  assert.deepEqual([wrongChat.ok, wrongChat.attempts, wrongChat.status], [false, 1, 400]);
  assert.match(wrongChat.error!, /chat not found/);
});

test('network errors are retried and the token never appears in the error text', async () => {
  const closed = new FakeTelegram({ token: TOKEN, chatId: CHAT });
  const base = await closed.start();
  await closed.stop(); // nothing listens there any more
  const seen: string[] = [];
  const r = await new TelegramChannel({
    token: TOKEN, chatId: CHAT, apiBase: base, backoffMs: 5, maxAttempts: 3,
    // A fetch that fails the way undici does, with the URL (and so the token) in the message.
    fetch: async (url) => { seen.push(String(url)); throw new TypeError(`fetch failed for ${String(url)}`); },
  }).send('x');
  assert.equal(r.ok, false);
  assert.equal(r.attempts, 3);
  assert.ok(seen[0]!.includes(TOKEN), 'the request did carry the token in its path');
  assert.ok(!r.error!.includes(TOKEN), r.error!);
  assert.match(r.error!, /\[REDACTED\]/);
});

function manager(policy: Partial<AlertingPolicy> = {}, withChannel = true) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-alerts-'));
  dirs.push(dir);
  const logPath = join(dir, 'ops.log');
  const log = createLogger({ file: logPath, stdout: false });
  const bus = new InProcessBus();
  const metrics = createMetrics({ collectProcess: false });
  let p: AlertingPolicy = { ...DEFAULT_ALERTING_POLICY, coalesce_ms: 100, rate_limit_per_min: 600, ...policy };
  const m = new AlertManager({ bus, log, metrics, policy: () => p, channel: withChannel ? channel() : null, digestLines: async () => ['Equity 10000.00 USD'] });
  m.start();
  return { m, bus, metrics, logPath, setPolicy: (q: Partial<AlertingPolicy>) => { p = { ...p, ...q }; }, logText: () => readFileSync(logPath, 'utf8') };
}

const alert = (key: string, severity: 'INFO' | 'WARNING' | 'CRITICAL' = 'WARNING', message = 'something happened') =>
  ({ severity, title: `Alert ${key}`, message, key, ts: Date.now() });

test('a storm of the same event sends one message with a count', async () => {
  fake.reset();
  const a = manager({ dedupe_window_sec: 60 });
  for (let i = 0; i < 50; i++) a.bus.publish('alert', alert('venue_error:engine_sim'));
  await fake.waitForMessages(1);
  await new Promise((r) => setTimeout(r, 300));
  await a.m.idle();
  assert.equal(fake.messages.length, 1, JSON.stringify(fake.messages));
  assert.match(fake.messages[0]!, /^⚠️ Alert venue_error:engine_sim\nsomething happened \(×50\)$/);
  assert.match(a.logText(), /\[ALERT\] WARNING Alert venue_error:engine_sim: something happened \(×50\)/);
  assert.match(await a.metrics.registry.metrics(), /hmm_alert_deliveries_total\{channel="telegram",result="sent"\} 1/);
  // Two different keys are two messages.
  a.bus.publish('alert', alert('k1'));
  a.bus.publish('alert', alert('k2'));
  await fake.waitForMessages(3);
  await a.m.stop();
});

test('repeats after the first message are summarised once per dedupe window (high_frequency shortens it)', async () => {
  fake.reset();
  const a = manager({ dedupe_window_sec: 1 });
  a.bus.publish('alert', alert('repeat'));
  await fake.waitForMessages(1);
  for (let i = 0; i < 7; i++) a.bus.publish('alert', alert('repeat'));
  await fake.waitForMessages(2, 3000);
  assert.match(fake.messages[1]!, /\(×7 more in the last 1 s\)$/);
  // A quiet window ends the key: the next occurrence is a fresh first message.
  await new Promise((r) => setTimeout(r, 1300));
  a.bus.publish('alert', alert('repeat'));
  await fake.waitForMessages(3, 3000);
  assert.doesNotMatch(fake.messages[2]!, /more in the last/);
  await a.m.stop();

  const normal = effectiveAlerting(DEFAULT_ALERTING_POLICY);
  const hf = effectiveAlerting({ ...DEFAULT_ALERTING_POLICY, high_frequency: true });
  assert.ok(hf.dedupeWindowMs < normal.dedupeWindowMs && hf.coalesceMs < normal.coalesceMs && hf.minIntervalMs < normal.minIntervalMs);
  assert.equal(hf.dedupeWindowMs, 30_000);
  assert.equal(hf.digestEveryMs, 3_600_000);
  assert.equal(normal.digestEveryMs, null);
});

test('rate limit spaces messages; a 429 pauses the queue behind it', async () => {
  fake.reset();
  const a = manager({ rate_limit_per_min: 300, coalesce_ms: 0 }); // ≥ 200 ms apart
  fake.rateLimitNext(1, 1);
  for (let i = 0; i < 4; i++) a.bus.publish('alert', alert(`r${i}`));
  await fake.waitForMessages(4, 8000);
  const ok = fake.requests.filter((r) => r.status === 200).map((r) => r.at);
  for (let i = 1; i < ok.length; i++) assert.ok(ok[i]! - ok[i - 1]! >= 190, `messages ${i - 1} and ${i} were ${ok[i]! - ok[i - 1]!} ms apart`);
  assert.ok(ok[0]! - fake.requests[0]!.at >= 950, 'the first message waited out retry_after');
  await a.m.stop();
});

test('min_severity filters what reaches Telegram (everything is still logged); no channel = log only', async () => {
  fake.reset();
  const a = manager({ min_severity: 'CRITICAL' });
  a.bus.publish('alert', alert('info-1', 'INFO'));
  a.bus.publish('alert', alert('crit-1', 'CRITICAL', 'trading paused'));
  await fake.waitForMessages(1);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(fake.messages.length, 1);
  assert.match(fake.messages[0]!, /^🚨 Alert crit-1/);
  assert.match(a.logText(), /"level":"INFO".*\[ALERT\] INFO Alert info-1/);
  assert.match(a.logText(), /"level":"ERROR".*\[ALERT\] CRITICAL Alert crit-1: trading paused/);
  await a.m.stop();

  const quiet = manager({}, false);
  quiet.bus.publish('alert', alert('x'));
  await new Promise((r) => setTimeout(r, 250));
  assert.match(quiet.logText(), /\[ALERT\] WARNING Alert x/);
  await quiet.m.stop();
});

test('promotions and rollbacks (strategy.promoted) become alerts; the digest counts the day', async () => {
  fake.reset();
  const a = manager();
  a.bus.publish('strategy.promoted', { model: 'hmm_regime_v1', action: 'promote', from: 'canary', to: 'live', actor: 'canary', reason: 'sharpe 1.4 beats 0.9', weights: { hmm_regime_v1: 1 } });
  a.bus.publish('strategy.promoted', { model: 'hmm_regime_v1', action: 'rollback', from: 'live', to: 'shadow', actor: 'canary', reason: 'drawdown 13%' });
  a.bus.publish('trade.fill', { venue: 'engine_sim', tradeId: 't', clientOrderId: 'c', model: null, symbol: 'BTCUSDT', side: 'BUY', qty: '1', price: '1', fee: '0', liquidity: 'TAKER', ts: 0 });
  a.bus.publish('risk.rejected', { venue: 'engine_sim', clientOrderId: 'c', model: null, symbol: 'BTCUSDT', side: 'BUY', reason: 'MIN_NOTIONAL', message: '', ts: 0 });
  await fake.waitForMessages(2);
  assert.ok(fake.messages.includes('ℹ️ Model promoted: hmm_regime_v1\nhmm_regime_v1 canary → live by canary: sharpe 1.4 beats 0.9'), JSON.stringify(fake.messages));
  assert.ok(fake.messages.includes('⚠️ Model rolled back: hmm_regime_v1\nhmm_regime_v1 live → shadow by canary: drawdown 13%'));
  const text = await a.m.sendDigest('daily');
  assert.match(text, /daily digest/);
  assert.match(text, /Equity 10000\.00 USD/);
  assert.match(text, /1 fills · 1 rejections \(MIN_NOTIONAL 1\)/);
  await fake.waitForMessages(3);
  await a.m.stop();
  assert.equal(promotionAlert({ model_id: 'x', rollback: true }, 0).severity, 'WARNING');
});

test('the daily digest goes out once a day, and a restart does not send it again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-digest-'));
  dirs.push(dir);
  const statePath = join(dir, 'alert_state.json');
  const texts: string[] = [];
  const mk = () => new AlertManager({
    bus: new InProcessBus(), log: createLogger({ stdout: false }), metrics: null, policy: () => DEFAULT_ALERTING_POLICY, statePath,
    channel: { name: 'memory', send: async (t) => { texts.push(t); return { ok: true, attempts: 1, status: 200, error: null }; } },
    now: () => Date.parse('2026-03-04T08:05:00Z'),
  });
  const first = mk();
  await first.checkDigest();
  await first.checkDigest();
  await first.idle();
  assert.equal(texts.length, 1);
  assert.match(texts[0]!, /daily digest — 2026-03-04 08:05 UTC/);
  assert.deepEqual(JSON.parse(readFileSync(statePath, 'utf8')), { last_daily_digest: '2026-03-04' });
  const restarted = mk();
  await restarted.checkDigest();
  await restarted.idle();
  assert.equal(texts.length, 1);
});

test('digestDue: once a day after the configured UTC time', () => {
  const at = (iso: string) => Date.parse(iso);
  assert.equal(digestDue(at('2026-01-02T07:59:00Z'), '08:00', null), false);
  assert.equal(digestDue(at('2026-01-02T08:00:00Z'), '08:00', null), true);
  assert.equal(digestDue(at('2026-01-02T20:00:00Z'), '08:00', '2026-01-02'), false);
  assert.equal(digestDue(at('2026-01-03T08:01:00Z'), '08:00', '2026-01-02'), true);
  assert.equal(digestDue(at('2026-01-03T08:01:00Z'), null, null), false);
});

test('alerting policy: defaults, and refusals that name the key', () => {
  assert.deepEqual(parseAlertingPolicy(null), DEFAULT_ALERTING_POLICY);
  assert.equal(parseAlertingPolicy({ high_frequency: true, min_severity: 'critical' }).min_severity, 'CRITICAL');
  assert.throws(() => parseAlertingPolicy({ high_frequency: 'on' }), /alerting\.high_frequency must be true or false/);
  assert.throws(() => parseAlertingPolicy({ daily_digest_utc: '25:00' }), /alerting\.daily_digest_utc must be HH:MM/);
  assert.throws(() => parseAlertingPolicy({ chanels: [] }), /alerting: unknown key "chanels"/);
});
