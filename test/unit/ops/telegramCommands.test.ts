// The command bot's parts: parsing and planning (what is read, what is asked, what is refused
// naming what would be valid), the monospace tables, daily PnL from fills, the Bot API
// client's 429 (waits retry_after) and 401 (a coded error without the token), and the bot's
// confirmation that expires, and a state file it cannot read (set aside, old updates not run).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fx } from '../../../src/core/decimal.js';
import type { Fill } from '../../../src/core/order.js';
import { createLogger, type Logger } from '../../../src/obs/logger.js';
import { dailyPnl } from '../../../src/ops/dailyPnl.js';
import { BotApi, BotApiError } from '../../../src/ops/telegram/botApi.js';
import { CommandBot, type BotOperator } from '../../../src/ops/telegram/commandBot.js';
import { parseCommand, planCommand, table, type ParsedCommand } from '../../../src/ops/telegram/commands.js';
import { FakeTelegram } from '../../support/fakeTelegram.js';

const TOKEN = '123456789:AAH-unit_commands_token_0123456789';
const CHAT = '4242';
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const plan = (text: string) => planCommand(parseCommand(text) as ParsedCommand);

test('parse and plan: reads, confirmations, and refusals that say what is valid', () => {
  assert.equal(parseCommand('hello'), null, 'ordinary chat is not a command');
  assert.deepEqual(parseCommand('/nope'), { unknown: 'nope' });
  assert.deepEqual(parseCommand('/Status@hmm_bot'), { name: 'status', args: [] });
  assert.deepEqual(plan('/profit'), { type: 'read', name: 'profit', days: null });
  assert.deepEqual(plan('/profit 30'), { type: 'read', name: 'profit', days: 30 });
  assert.deepEqual(plan('/daily'), { type: 'read', name: 'daily', days: 7 });
  assert.match((plan('/daily 99') as { message: string }).message, /from 1 to 60/);
  assert.deepEqual(plan('/weights'), { type: 'read', name: 'weights', days: null });
  const w = plan('/weights a=0.5 b=0');
  assert.equal(w.type, 'confirm');
  assert.deepEqual((w as { action: unknown }).action, { kind: 'weights', weights: { a: 0.5, b: 0 } });
  assert.match((plan('/weights a=2') as { message: string }).message, /within \[0, 1\]/);
  assert.match((plan('/weights a') as { message: string }).message, /model=weight/);
  assert.match((plan('/promote') as { message: string }).message, /name a registered model/);
  assert.match((plan('/promote m1 gold') as { message: string }).message, /one of shadow, canary, live, retired/);
  assert.deepEqual((plan('/forceexit m1 btcusdt') as { action: unknown }).action, { kind: 'forceexit', model: 'm1', symbol: 'BTCUSDT' });
  assert.match((plan('/forceexit m1') as { message: string }).message, /name the model and the symbol/);
  assert.match((plan('/status now') as { message: string }).message, /at most 0 arguments/);
  assert.equal(plan('/pause').type, 'confirm');
});

test('tables: padded columns, numbers right-aligned', () => {
  assert.equal(table(['m', 'pnl'], [['ma', 12.5], ['hmm_long', -3]]), 'm          pnl\nma       12.50\nhmm_long -3.00');
});

test('daily PnL: realized per UTC day from one replay of the fills, empty days at zero', () => {
  const day = 86_400_000;
  const t0 = Date.parse('2025-03-01T10:00:00Z');
  const fill = (side: 'BUY' | 'SELL', qty: string, price: string, ts: number, i: number): Fill => ({
    tradeId: `t${i}`, clientOrderId: `c${i}` as Fill['clientOrderId'], venue: 'sim' as Fill['venue'], symbol: 'BTCUSDT' as Fill['symbol'], side,
    qty: fx(qty), price: fx(price), fee: fx('0.1'), liquidity: 'TAKER', model: 'ma' as Fill['model'], ts,
  });
  const rows = dailyPnl([fill('BUY', '1', '100', t0, 1), fill('SELL', '0.5', '110', t0 + day, 2), fill('SELL', '0.5', '90', t0 + 3 * day, 3)], null, t0 + 3 * day);
  assert.deepEqual(rows.map((r) => [r.day, r.realized, r.trades]), [['2025-03-01', 0, 1], ['2025-03-02', 5, 1], ['2025-03-03', 0, 0], ['2025-03-04', -5, 1]]);
  assert.equal(dailyPnl([], 3, t0).length, 3);
});

test('Bot API: 429 waits parameters.retry_after; a bad token is a coded error without the token', async () => {
  const fake = new FakeTelegram({ token: TOKEN, chatId: CHAT });
  await fake.start();
  try {
    fake.rateLimitNext(1, 1, 'sendMessage');
    const t0 = Date.now();
    await new BotApi({ token: TOKEN, apiBase: fake.base }).sendMessage(CHAT, 'hi');
    assert.ok(Date.now() - t0 >= 950, 'waited retry_after');
    assert.deepEqual(fake.requests.map((r) => r.status), [429, 200]);
    const wrong = '123456789:AAH-revoked_token_000000000000';
    await assert.rejects(new BotApi({ token: wrong, apiBase: fake.base }).getUpdates(null, 0), (err: BotApiError) => err.code === 'HMM_OPS_TELEGRAM_UNAUTHORIZED' && err.status === 401 && !err.message.includes('revoked_token'));
  } finally {
    await fake.stop();
  }
});

async function runBot(statePath: string, fake: FakeTelegram, now: () => number, acted: string[], log: Logger = createLogger({ stdout: false, level: 'silent' })) {
  const operator: BotOperator = {
    read: async (name) => `<b>${name}</b>`,
    act: async (a) => { acted.push(a.kind); return 'done'; },
  };
  const bot = new CommandBot({
    api: new BotApi({ token: TOKEN, apiBase: fake.base }), chats: new Set([CHAT]), statePath, operator,
    audit: { record: (e) => ({ ...e, ts: '' }) }, log, pollTimeoutSec: 1, confirmTtlMs: 60_000, now,
  });
  bot.start();
  return bot;
}

test('a confirmation pressed after its time is refused in place and not run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-tgbot-'));
  dirs.push(dir);
  const fake = new FakeTelegram({ token: TOKEN, chatId: CHAT });
  await fake.start();
  let clock = Date.now();
  const acted: string[] = [];
  const bot = await runBot(join(dir, 'state.json'), fake, () => clock, acted);
  try {
    fake.userSends(CHAT, '/pause');
    const q = await fake.waitUntil('the question', () => fake.sentTo(CHAT).find((m) => m.keyboard !== null));
    clock += 61_000;
    fake.userPresses(q, 'ok:');
    await fake.waitUntil('the refusal', () => (/expired/.test(q.text) ? true : undefined));
    assert.deepEqual(acted, []);
    assert.match(fake.callbackAnswers.at(-1)!.text!, /expired/);
  } finally {
    await bot.stop();
    await fake.stop();
  }
});

test('an unreadable state file is set aside beside an earlier one; messages sent before the start are not run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-tgbot-'));
  dirs.push(dir);
  const statePath = join(dir, 'state.json');
  // An earlier damaged state is evidence too: this start's must not replace it.
  writeFileSync(`${statePath}.damaged`, '{"earlier"');
  writeFileSync(statePath, '{"offset": "x"');
  const fake = new FakeTelegram({ token: TOKEN, chatId: CHAT });
  await fake.start();
  const acted: string[] = [];
  const errors: string[] = [];
  const log = { info: () => undefined, warn: () => undefined, error: (a: unknown, b?: string) => errors.push(typeof a === 'string' ? a : b ?? '') } as unknown as Logger;
  // The bot starts two minutes after the user wrote.
  fake.userSends(CHAT, '/status');
  const bot = await runBot(statePath, fake, () => Date.now() + 120_000, acted, log);
  try {
    fake.userSends(CHAT, '/help'); // dated "before" too (the fake stamps real time): skipped as well
    await fake.waitUntil('both acknowledged', () => (existsSync(statePath) && (JSON.parse(readFileSync(statePath, 'utf8')) as { offset: number }).offset >= 1002 ? true : undefined));
    assert.equal(readFileSync(`${statePath}.damaged`, 'utf8'), '{"earlier"', 'the earlier evidence is kept');
    assert.equal(readFileSync(`${statePath}.damaged.2`, 'utf8'), '{"offset": "x"', 'this start\'s damaged state is kept beside it');
    assert.ok(errors.some((m) => m.startsWith('[TELEGRAM]') && m.includes(`moved to ${statePath}.damaged.2;`)), errors.join('\n'));
    assert.equal(fake.sentTo(CHAT).length, 0, 'nothing from before the start is answered');
  } finally {
    await bot.stop();
    await fake.stop();
  }
});
