// The Telegram command bot: long-polls getUpdates, answers the configured chats only, runs
// read commands at once and asks for a confirmation (an inline keyboard) before a command that
// changes the stack; a confirmed change is carried out by the operator surface (operator.ts,
// the same services the Ops API routes call) and written to ops/logs/audit.jsonl as the API
// would write it.
//
// At most once, across restarts: ops/telegram_state.json holds the update offset and the
// pending confirmations, written atomically. An update's offset is saved before it is acted on
// (a crash in between loses the command — the operator sees no answer and asks again — rather
// than running it twice), and a confirmation leaves the pending set in the same write that
// moves the offset past the button press. A pending confirmation survives a restart until it
// expires; one that is unknown (already decided) or expired is refused in place, saying so.
//
// Messages from any other chat are dropped unread: counted, and the chat id (never the text)
// logged once per chat. The token is never logged (BotApi scrubs it from every error).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import { answerFor } from '../../http/errors.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { quarantineFile } from '../../util/quarantine.js';
import { actionFor, resultFor, type AuditLog } from '../audit.js';
import { type BotApi, BotApiError, type TgCallbackQuery, type TgMessage, type TgUpdate, sleepUnless } from './botApi.js';
import { type CommandName, type PlannedAction, COMMAND_NAMES, escapeHtml, helpText, parseCommand, planCommand } from './commands.js';

/** What the bot asks of the stack: replies to reads, and changes carried out as confirmed. */
export interface BotOperator {
  /** The reply (HTML) to a read command. */
  read(name: CommandName, days: number | null): Promise<string>;
  /** Carries out a confirmed change; resolves to one line saying what happened, throws a coded
   *  error (with an HTTP status, as the API answers it) when the stack refuses. */
  act(action: PlannedAction, actor: string): Promise<string>;
}

interface Pending {
  readonly chat: string;
  readonly action: PlannedAction;
  readonly question: string;
  readonly created_at: number;
  message_id: number | null;
}

interface BotState {
  offset: number | null;
  pending: Record<string, Pending>;
}

export interface CommandBotOptions {
  readonly api: BotApi;
  /** Chat ids answered (as strings); every other chat is ignored. */
  readonly chats: ReadonlySet<string>;
  readonly statePath: string;
  readonly operator: BotOperator;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly log: Logger;
  readonly metrics?: Pick<Metrics, 'telegramUpdates'>;
  /** Only the leader polls (two pollers of one bot get 409 from Telegram). */
  readonly leads?: () => boolean;
  readonly pollTimeoutSec?: number;
  /** How long a confirmation may wait for its button (wall time: the operator's clock). */
  readonly confirmTtlMs?: number;
  readonly now?: () => number;
}

/** What each change is audited as: the Ops API route that does the same, and its body. */
function auditShape(a: PlannedAction): { route: string; body: Record<string, unknown> } {
  switch (a.kind) {
    case 'pause': return { route: '/kill', body: { enabled: false, reason: a.reason } };
    case 'resume': return { route: '/kill', body: { enabled: true, reason: a.reason } };
    case 'weights': return { route: '/strategy/weights', body: { weights: a.weights } };
    case 'promote': return { route: '/strategy/promote', body: { model: a.model, ...(a.stage ? { stage: a.stage } : {}) } };
    case 'rollback': return { route: '/strategy/rollback', body: a.model ? { model: a.model } : {} };
    case 'forceexit': return { route: '/positions/force-exit', body: { model: a.model, symbol: a.symbol } };
  }
}

export class CommandBot {
  private state: BotState = { offset: null, pending: {} };
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly warnedChats = new Set<string>();
  private readonly now: () => number;
  private readonly startedAt: number;
  /** No offset saved (first start, or a state file that could not be read): updates older
   *  than the start are acknowledged unanswered, never acted on. */
  private skipOld = false;

  constructor(private readonly o: CommandBotOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    this.load();
  }

  start(): void {
    if (this.loop) return;
    this.o.log.info(`[TELEGRAM] commands on: answering chat${this.o.chats.size === 1 ? '' : 's'} ${[...this.o.chats].join(', ')}; ${Object.keys(this.state.pending).length} confirmation(s) pending from before`);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.loop = null;
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.o.statePath, 'utf8');
    } catch {
      this.skipOld = true;
      return;
    }
    try {
      const doc = JSON.parse(text) as Partial<BotState>;
      if (doc.offset !== null && (typeof doc.offset !== 'number' || !Number.isInteger(doc.offset))) throw new Error('offset is not an integer');
      if (typeof doc.pending !== 'object' || doc.pending === null) throw new Error('pending is not an object');
      this.state = { offset: doc.offset ?? null, pending: doc.pending };
      this.skipOld = this.state.offset === null;
    } catch (err) {
      // Kept for a look (beside any earlier quarantine, never over it), and replaced: updates
      // from before this start are not acted on.
      let where: string;
      try {
        where = `moved to ${quarantineFile(this.o.statePath)}`;
      } catch (moveErr) {
        where = `could not be moved aside (${(moveErr as Error).message}); it is replaced at the next save`;
      }
      this.o.log.error(`[TELEGRAM] ${this.o.statePath} unreadable (${(err as Error).message}); ${where}; pending confirmations are dropped and updates sent before this start are not acted on`);
      this.skipOld = true;
    }
  }

  private save(): void {
    writeJsonAtomic(this.o.statePath, this.state, 0o600);
  }

  private count(result: string): void {
    this.o.metrics?.telegramUpdates.inc({ result });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const timeout = this.o.pollTimeoutSec ?? 25;
    while (!signal.aborted) {
      if (this.o.leads && !this.o.leads()) {
        await sleepUnless(1000, signal);
        continue;
      }
      let updates: TgUpdate[];
      try {
        updates = await this.o.api.getUpdates(this.state.offset, timeout, signal);
      } catch (err) {
        if (signal.aborted) break;
        const e = err as BotApiError;
        if (e.code === 'HMM_OPS_TELEGRAM_UNAUTHORIZED') {
          this.o.log.error(`[TELEGRAM] commands off: the Bot API refused the token (${e.message}); fix TELEGRAM_TOKEN and restart`);
          return;
        }
        // 409: a webhook is set or another process polls this bot; anything else is transient.
        const waitMs = e.code === 'HMM_OPS_TELEGRAM_CONFLICT' ? 30_000 : 5_000;
        this.o.log.error(`[TELEGRAM] getUpdates failed: ${e.message}; polling again in ${waitMs / 1000} s`);
        await sleepUnless(waitMs, signal);
        continue;
      }
      for (const u of updates) {
        if (signal.aborted) break;
        try {
          await this.handle(u);
        } catch (err) {
          // The offset has moved past it already: a failure is reported, never retried into a double.
          this.count('failed');
          this.o.log.error(`[TELEGRAM] update ${u.update_id} failed: ${(err as Error).message}`);
        }
      }
    }
  }

  private async handle(u: TgUpdate): Promise<void> {
    if (this.state.offset !== null && u.update_id < this.state.offset) return; // seen: Telegram re-sent it
    this.state.offset = u.update_id + 1;
    const msg = u.message ?? u.callback_query?.message;
    const chat = msg ? String(msg.chat.id) : null;
    if (chat === null || !this.o.chats.has(chat)) {
      this.save();
      this.count('unauthorized');
      const who = chat ?? 'unknown';
      if (!this.warnedChats.has(who)) {
        this.warnedChats.add(who);
        this.o.log.warn(`[TELEGRAM] ignored an update from chat ${who}: not in TELEGRAM_COMMAND_CHAT_IDS (further ones from it are counted in hmm_telegram_updates_total, not logged)`);
      }
      return;
    }
    if (this.skipOld && msg && msg.date * 1000 < this.startedAt - 60_000 && !u.callback_query) {
      this.save();
      this.count('ignored');
      this.o.log.warn(`[TELEGRAM] skipped a message sent before this start (${new Date(msg.date * 1000).toISOString()}) with no saved offset: send it again to run it`);
      return;
    }
    this.skipOld = false;
    if (u.callback_query) return this.onCallback(u.callback_query, chat);
    return this.onMessage(u.message!, chat);
  }

  private async onMessage(m: TgMessage, chat: string): Promise<void> {
    const parsed = parseCommand(m.text ?? '');
    if (parsed === null) {
      this.save();
      this.count('ignored');
      return;
    }
    if ('unknown' in parsed) {
      this.save();
      this.count('refused');
      await this.o.api.sendMessage(chat, `Unknown command /${escapeHtml(parsed.unknown)}. Known: ${COMMAND_NAMES.map((n) => `/${n}`).join(' ')}`);
      return;
    }
    const plan = planCommand(parsed);
    if (plan.type === 'refuse') {
      this.save();
      this.count('refused');
      await this.o.api.sendMessage(chat, `❌ ${escapeHtml(plan.message)}`);
      return;
    }
    if (plan.type === 'read') {
      this.save();
      this.count('command');
      let reply: string;
      try {
        reply = plan.name === 'help' ? `<pre>${escapeHtml(helpText())}</pre>` : await this.o.operator.read(plan.name, plan.days);
      } catch (err) {
        reply = `❌ /${plan.name} failed: ${escapeHtml((err as Error).message)}`;
      }
      await this.o.api.sendMessage(chat, reply);
      return;
    }
    // A change: asked first. The pending entry and the offset are saved in one write.
    const id = randomBytes(6).toString('hex');
    const pending: Pending = { chat, action: plan.action, question: plan.question, created_at: this.now(), message_id: null };
    this.state.pending[id] = pending;
    this.expire();
    this.save();
    this.count('command');
    const sent = await this.o.api.sendMessage(chat, `❓ ${escapeHtml(plan.question)}`, {
      inline_keyboard: [[{ text: '✅ Confirm', callback_data: `ok:${id}` }, { text: '✖ Cancel', callback_data: `no:${id}` }]],
    });
    if (this.state.pending[id]) {
      this.state.pending[id]!.message_id = sent.message_id;
      this.save();
    }
  }

  /** A confirmation past its time is refused if pressed. */
  private expired(p: Pending): boolean {
    return this.now() - p.created_at > (this.o.confirmTtlMs ?? 300_000);
  }

  /** Drops confirmations past their time (they are refused if pressed later). */
  private expire(): void {
    for (const [id, p] of Object.entries(this.state.pending)) if (this.expired(p)) delete this.state.pending[id];
  }

  private async onCallback(q: TgCallbackQuery, chat: string): Promise<void> {
    const m = /^(ok|no):([0-9a-f]{12})$/.exec(q.data ?? '');
    const messageId = q.message?.message_id ?? null;
    const pending = m ? this.state.pending[m[2]!] : undefined;
    const expired = pending !== undefined && this.expired(pending);
    if (!m || !pending || pending.chat !== chat || expired) {
      if (m && pending && expired) delete this.state.pending[m[2]!];
      this.save();
      this.count('expired');
      const why = expired ? 'expired' : 'no longer pending (already decided, or asked before a reset)';
      await this.o.api.answerCallbackQuery(q.id, `Not done: this confirmation is ${why}. Send the command again.`);
      if (messageId !== null) await this.o.api.editMessageText(chat, messageId, `⌛ Not done: this confirmation is ${escapeHtml(why)}. Send the command again.`).catch(() => undefined);
      return;
    }
    // Decided: out of the pending set before anything is done, in the write that moves the offset.
    delete this.state.pending[m[2]!];
    this.save();
    if (m[1] === 'no') {
      this.count('cancelled');
      this.o.log.info(`[TELEGRAM] chat ${chat} cancelled: ${pending.action.kind}`);
      await this.o.api.answerCallbackQuery(q.id, 'Cancelled');
      if (messageId !== null) await this.o.api.editMessageText(chat, messageId, `✖ Cancelled: ${escapeHtml(pending.question)}`);
      return;
    }
    this.count('confirmed');
    await this.o.api.answerCallbackQuery(q.id, 'Working…');
    const line = await this.execute(pending.action, `telegram:${chat}`);
    const text = `${escapeHtml(pending.question)}\n${line}`;
    if (messageId !== null) await this.o.api.editMessageText(chat, messageId, text);
    else await this.o.api.sendMessage(chat, text);
  }

  /** Carries out a confirmed change and audits it as the API would; the reply line. */
  private async execute(action: PlannedAction, actor: string): Promise<string> {
    const { route, body } = auditShape(action);
    let status = 200;
    let line: string;
    try {
      line = `✅ ${escapeHtml(await this.o.operator.act(action, actor))}`;
      this.o.log.warn({ actor, action: action.kind }, `[TELEGRAM] ${actor} ${action.kind}: done`);
    } catch (err) {
      const coded = answerFor(err);
      status = coded?.status ?? 500;
      const code = coded ? String(coded.body.code) : 'HMM_HTTP_INTERNAL';
      line = `❌ Refused (${code}): ${escapeHtml((err as Error).message)}`;
      if (coded) this.o.log.warn({ actor, action: action.kind, code }, `[TELEGRAM] ${actor} ${action.kind} refused: ${(err as Error).message}`);
      else this.o.log.error({ err, actor, action: action.kind }, `[TELEGRAM] ${actor} ${action.kind} failed: ${(err as Error).message}`);
    }
    this.o.audit.record({
      server: 'telegram', action: actionFor('POST', route, body), method: 'POST', route, token_fp: null, actor, status, result: resultFor(status), body,
    });
    return line;
  }
}
