// Telegram commands against a running stack and a fake Bot API that speaks the wire protocol
// (getUpdates with offset and long polling, sendMessage with inline keyboards, callback
// queries, editMessageText, answerCallbackQuery, 429 with retry_after): a conversation that
// uses every command, each change confirmed (or cancelled) by button and checked through the
// Ops API and the audit log; a chat that is not configured is never answered; a 429 on
// getUpdates is waited out; and a restart in the middle of a conversation runs nothing twice
// while the pending confirmation survives (and a second press is refused in place).
import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';
import type { PositionRow } from '../../src/ops/routes/trading.js';
import { fmt } from '../../src/ops/telegram/commands.js';
import { FakeTelegram, type BotMessage } from '../support/fakeTelegram.js';

const OPS = 'test-token-0123456789abcdef';
const TG = '987654321:AAF-commands_test_token_abcdef';
const CHAT = '515151';
const INTRUDER = '666';
// One fake per test: a stopped stack's last update (confirmed only by its next poll) stays
// with the fake it was sent to.
let fake: FakeTelegram;
const fakes: FakeTelegram[] = [];
const roots: string[] = [];
const stacks: Stack[] = [];

function newRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'hmm-tgcmd-'));
  roots.push(root);
  mkdirSync(join(root, 'ops'), { recursive: true });
  // The shipped policy, alerts faster (they share the chat with the replies).
  const shipped = readFileSync(join(import.meta.dirname, '../../ops/policies.yaml'), 'utf8');
  writeFileSync(join(root, 'ops/policies.yaml'), shipped.replace('rate_limit_per_min: 20', 'rate_limit_per_min: 600').replace('coalesce_ms: 1000', 'coalesce_ms: 100'));
  return root;
}

async function start(root: string): Promise<Stack> {
  const s = await startStack({
    env: {
      HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: OPS, WARMUP_BARS: '100',
      // No new bar during the test: positions change only by what the test does.
      MARKET_INTERVAL_MS: '600000',
      TELEGRAM_TOKEN: TG, TELEGRAM_CHAT_ID: CHAT, TELEGRAM_API_BASE: fake.base, TELEGRAM_POLL_TIMEOUT_SEC: '5',
    },
    stdout: false,
  });
  stacks.push(s);
  return s;
}

async function api(s: Stack, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(s.opsUrl + path, {
    method, headers: { 'x-ops-token': OPS, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers are read field by field
  return { status: res.status, json: await res.json() as Record<string, any> };
}

/** The user sends `text`; resolves to the first new bot message in the chat matching `reply`. */
async function ask(text: string, reply: RegExp): Promise<BotMessage> {
  const seen = fake.sentTo(CHAT).length;
  fake.userSends(CHAT, text);
  return fake.waitUntil(`a reply to ${text} matching ${reply}`, () => fake.sentTo(CHAT).slice(seen).find((m) => reply.test(m.text)));
}

/** Presses a button of a confirmation; resolves once the message is edited with the outcome. */
async function press(m: BotMessage, button: 'ok:' | 'no:', outcome: RegExp): Promise<string> {
  const edits = m.edits;
  fake.userPresses(m, button);
  return fake.waitUntil(`the outcome of ${m.text}`, () => (m.edits > edits && outcome.test(m.text) ? m.text : undefined));
}

interface AuditLine { server: string; action: string; result: string; actor: string; token_fp: string | null }
function audit(s: Stack): AuditLine[] {
  return readFileSync(join(s.paths.root, 'ops/logs/audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditLine).filter((e) => e.server === 'telegram');
}

beforeEach(async () => {
  fake = new FakeTelegram({ token: TG, chatId: CHAT });
  fakes.push(fake);
  await fake.start();
});
after(async () => {
  for (const s of stacks) await s.stop();
  for (const f of fakes) await f.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

test('a conversation with every command; changes asked, confirmed or cancelled, done through the Ops API services and audited', async () => {
  const s = await start(newRoot());
  const models = (await api(s, 'GET', '/strategy/status')).json.models as { id: string; stage: string }[];
  const live = models.find((m) => m.stage === 'live')!.id;
  const shadow = models.find((m) => m.stage === 'shadow')!.id;

  const help = await ask('/help', /hmm-stack commands/);
  for (const c of ['status', 'balance', 'profit', 'daily', 'positions', 'leaderboard', 'pause', 'resume', 'weights', 'promote', 'rollback', 'forceexit', 'help']) assert.ok(help.text.includes(`/${c}`), `/help names /${c}`);
  assert.match((await ask('/status', /<b>Status<\/b>/)).text, /trading\s+ENABLED \(ACTIVE\)[\s\S]*engine_sim\s+trading/);
  assert.match((await ask('/frobnicate', /Unknown command/)).text, /Known: \/status .*\/forceexit \/help/);

  // A position to look at and to exit: one external buy for the live model.
  const buy = await api(s, 'POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', model: live, quote_usd: 300 });
  assert.equal(buy.status, 200, JSON.stringify(buy.json));
  const positions = (await ask('/positions', /<b>Positions<\/b>/)).text;
  assert.match(positions, new RegExp(`${live}\\s+BTCUSDT\\s+0\\.`));
  // The same rows and numbers as GET /positions (no bar arrives in between to move the marks).
  const apiRows = (await api(s, 'GET', '/positions')).json.positions as PositionRow[];
  assert.ok(apiRows.length > 0);
  const shown = (/<pre>([\s\S]*)<\/pre>/.exec(positions)?.[1] ?? '').split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(shown, apiRows.map((r) => [r.model, r.symbol, fmt(r.qty), fmt(r.avg_price), r.last_price === null ? '-' : fmt(r.last_price), fmt(r.value_usd), fmt(r.unrealized_pnl)]));
  assert.match((await ask('/balance', /<b>Balance/)).text, /engine_sim\s+[0-9.]+[\s\S]*total/);
  const profit = await ask('/profit', /<b>Profit, since/);
  assert.match(profit.text, /trades\s+[1-9]/);
  assert.match((await ask('/profit 0', /❌/)).text, /days must be a whole number from 1 to 3650/);
  const daily = await ask('/daily 3', /Daily PnL/);
  assert.equal(daily.text.split('\n').filter((l) => /^\d{4}-\d{2}-\d{2}/.test(l)).length, 3);
  assert.match((await ask('/leaderboard', /<b>Leaderboard<\/b>/)).text, new RegExp(`1\\s+\\S+\\s+(live|shadow|canary)`));
  assert.match((await ask('/weights', /<b>Weights/)).text, new RegExp(`${live}\\s+live\\s+1`));

  // Weights: asked, confirmed, written by the weights service (as POST /strategy/weights).
  const w = await ask(`/weights ${live}=0.8`, /❓ Set weights/);
  assert.deepEqual(w.keyboard!.flat().map((b) => b.text), ['✅ Confirm', '✖ Cancel']);
  assert.match(await press(w, 'ok:', /✅/), new RegExp(`${live}=0.8`));
  assert.equal(w.keyboard, null, 'the decision removes the buttons');
  assert.equal((await api(s, 'GET', '/strategy/weights')).json.weights[live], 0.8);
  assert.match((await ask('/weights nosuch=0.5', /❓/)).text, /nosuch → 0.5/);
  const refusedW = fake.sentTo(CHAT).at(-1)!;
  assert.match(await press(refusedW, 'ok:', /❌/), /HMM_HTTP_BAD_REQUEST.*unknown model "nosuch"/);

  // Pause: cancelled first (nothing happens), then confirmed.
  const p1 = await ask('/pause drill', /❓ Pause trading/);
  assert.match(await press(p1, 'no:', /✖ Cancelled/), /Pause trading/);
  assert.equal((await api(s, 'GET', '/status')).json.state.trading_enabled, true, 'a cancelled pause pauses nothing');
  const p2 = await ask('/pause drill', /❓ Pause trading/);
  assert.match(await press(p2, 'ok:', /✅/), /Trading paused \(drill\)/);
  assert.equal((await api(s, 'GET', '/status')).json.state.trading_enabled, false);
  // While paused the rails refuse the force-exit's sell like any order: the refusal is the answer.
  const fx1 = await ask(`/forceexit ${live} btcusdt`, /❓ Sell/);
  assert.match(await press(fx1, 'ok:', /❌/), /Refused \(HMM_OPS_FORCE_EXIT_REFUSED\)/);
  const r = await ask('/resume', /❓ Resume trading/);
  assert.match(await press(r, 'ok:', /✅/), /Trading enabled/);
  assert.equal((await api(s, 'GET', '/status')).json.state.trading_enabled, true);

  // Force-exit: sells the whole position through the engine.
  const fx2 = await ask(`/forceexit ${live} BTCUSDT`, /❓ Sell/);
  assert.match(await press(fx2, 'ok:', /✅/), /force-exit .* BTCUSDT: sold (0\.\d+) of \1/);
  assert.doesNotMatch((await ask('/positions', /<b>Positions<\/b>/)).text, new RegExp(`${live}\\s+BTCUSDT`));

  // Rollback with nothing to roll back to is refused; after a promotion to live it restores.
  const rb1 = await ask('/rollback', /❓ Roll back/);
  assert.match(await press(rb1, 'ok:', /❌/), /HMM_LIFECYCLE_STAGE_CONFLICT.*replaced no model/);
  const pr = await ask(`/promote ${shadow} live`, /❓ Move/);
  assert.match(await press(pr, 'ok:', /✅/), new RegExp(`promote: ${shadow} shadow → live \\(${live} replaced\\)`));
  const rb2 = await ask('/rollback', /❓ Roll back/);
  assert.match(await press(rb2, 'ok:', /✅/), new RegExp(`rollback: ${shadow} live → shadow; ${live} live again`));
  const stages = Object.fromEntries(((await api(s, 'GET', '/strategy/status')).json.models as { id: string; stage: string }[]).map((m) => [m.id, m.stage]));
  assert.equal(stages[live], 'live');
  assert.equal(stages[shadow], 'shadow');

  // Every decided change is one audit line, named as the API names it, by the chat.
  const lines = audit(s);
  assert.deepEqual(lines.map((e) => `${e.action}:${e.result}`), [
    'weights.set:ok', 'weights.set:rejected', 'trading.kill:ok', 'POST /positions/force-exit:denied', 'trading.resume:ok',
    'POST /positions/force-exit:ok', 'POST /strategy/rollback:rejected', 'POST /strategy/promote:ok', 'POST /strategy/rollback:ok',
  ]);
  assert.ok(lines.every((e) => e.actor === `telegram:${CHAT}` && e.token_fp === null));
  const log = readFileSync(join(s.paths.root, 'ops/logs/ops.log'), 'utf8');
  assert.ok(!log.includes(TG.split(':')[1]!), 'the bot token is never logged');
  await s.stop();
});

test('a chat that is not configured is never answered, and its words are not logged', async () => {
  const s = await start(newRoot());
  fake.userSends(INTRUDER, '/pause intruder-secret-words');
  await ask('/status', /<b>Status<\/b>/); // handled after the intruder's update
  assert.equal(fake.sentTo(INTRUDER).length, 0);
  assert.equal((await api(s, 'GET', '/status')).json.state.trading_enabled, true);
  const log = readFileSync(join(s.paths.root, 'ops/logs/ops.log'), 'utf8');
  assert.match(log, /\[TELEGRAM\] ignored an update from chat 666: not in TELEGRAM_COMMAND_CHAT_IDS/);
  assert.ok(!log.includes('intruder-secret-words'));
  const metrics = await (await fetch(`${s.opsUrl}/metrics`)).text();
  assert.match(metrics, /hmm_telegram_updates_total\{result="unauthorized"\} 1/);
  await s.stop();
});

test('429 on getUpdates: the bot waits retry_after before polling again', async () => {
  const s = await start(newRoot());
  await ask('/status', /<b>Status<\/b>/);
  fake.reset();
  fake.rateLimitNext(1, 2, 'getUpdates');
  // The next poll (after the one in flight returns) meets the 429.
  await ask('/help', /hmm-stack commands/);
  await ask('/status', /<b>Status<\/b>/);
  const polls = fake.requests.filter((q) => q.method === 'getUpdates');
  const i = polls.findIndex((q) => q.status === 429);
  assert.ok(i >= 0, 'a poll met the rate limit');
  assert.ok(polls[i + 1]!.at - polls[i]!.at >= 1950, `polled again after ${polls[i + 1]!.at - polls[i]!.at} ms, Telegram asked for 2 s`);
  await s.stop();
});

test('a restart in the middle of a conversation: nothing runs twice, the pending confirmation survives, a second press is refused', async () => {
  const root = newRoot();
  const a = await start(root);
  await ask('/status', /<b>Status<\/b>/);
  const pause = await ask('/pause before restart', /❓ Pause trading/);
  await a.stop();
  // Sent while the stack is down: answered once by the next run.
  const seen = fake.sentTo(CHAT).length;
  fake.userSends(CHAT, '/balance');

  const b = await start(root);
  await fake.waitUntil('the /balance reply', () => fake.sentTo(CHAT).slice(seen).find((m) => /<b>Balance/.test(m.text)));
  const pressed = pause.keyboard!.flat().find((k) => k.callback_data.startsWith('ok:'))!.callback_data;
  assert.match(await press(pause, 'ok:', /✅/), /Trading paused \(before restart\)/);
  assert.equal((await api(b, 'GET', '/status')).json.state.trading_enabled, false);
  // The same button again (a double tap, or Telegram re-sending): refused in place, not run.
  const answers = fake.callbackAnswers.length;
  fake.pressData(pause, pressed);
  await fake.waitUntil('the refusal', () => fake.callbackAnswers.length > answers);
  assert.match(fake.callbackAnswers.at(-1)!.text!, /no longer pending/);
  await ask('/status', /<b>Status<\/b>/);

  const statusReplies = fake.sentTo(CHAT).filter((m) => /<b>Status<\/b>/.test(m.text)).length;
  assert.equal(statusReplies, 2, 'each /status answered once across the restart');
  assert.equal(fake.sentTo(CHAT).filter((m) => /<b>Balance/.test(m.text)).length, 1);
  assert.deepEqual(audit(b).map((e) => e.action), ['trading.kill'], 'the confirmed pause ran exactly once');
  const state = JSON.parse(readFileSync(join(root, 'ops/telegram_state.json'), 'utf8')) as { offset: number; pending: Record<string, unknown> };
  assert.deepEqual(state.pending, {});
  await b.stop();
});
