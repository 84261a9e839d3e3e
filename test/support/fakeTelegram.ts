// A local stand-in for the Telegram Bot API (https://core.telegram.org/bots/api), over real
// HTTP on an ephemeral port, speaking the wire protocol the stack uses:
//   - /bot<token>/<method> (wrong token → 401 Unauthorized, unknown method → 404);
//   - sendMessage: JSON body, a chat the bot may write to (the configured chat, or one that has
//     written to the bot; else 400 "chat not found"), text of 1..4096 characters, optional
//     reply_markup.inline_keyboard whose callback_data is 1..64 bytes;
//   - getUpdates: `offset` confirms every update below it (they are never returned again, as
//     Telegram forgets them), `timeout` long-polls until an update arrives;
//   - editMessageText: the message must exist in that chat (400 "message to edit not found")
//     and the text must change (400 "message is not modified"); the edit drops the keyboard;
//   - answerCallbackQuery: a known callback query, answered once (400 "query is too old").
// A test plays the user with userSends() and userPresses() (a callback_query from a button of
// a message the bot sent), and can have the next requests answered 429 with
// parameters.retry_after, or 5xx. Every request is recorded.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTelegramRequest {
  readonly at: number;
  readonly path: string;
  readonly method: string;
  readonly status: number;
  readonly body: Record<string, unknown> | null;
}

export interface FakeTelegramOptions {
  readonly token: string;
  readonly chatId: string;
}

/** A message the bot sent (and its edits), as the user's chat shows it. */
export interface BotMessage {
  readonly chat: string;
  readonly message_id: number;
  text: string;
  keyboard: { text: string; callback_data: string }[][] | null;
  edits: number;
}

type Scripted = { status: 429; retryAfter: number; method: string } | { status: 500 | 502 | 503; method: string };

interface Update { update_id: number; [k: string]: unknown }

export class FakeTelegram {
  readonly requests: FakeTelegramRequest[] = [];
  /** Messages the bot sent, in order, with their current text and buttons. */
  readonly botMessages: BotMessage[] = [];
  /** callback_query ids answered, with the text shown. */
  readonly callbackAnswers: { id: string; text: string | null }[] = [];
  private readonly script: Scripted[] = [];
  private readonly updates: Update[] = [];
  private readonly callbacks = new Map<string, boolean>();
  private readonly knownChats = new Set<string>();
  private waiters: (() => void)[] = [];
  private server: Server | null = null;
  private nextId = 1;
  private nextUpdate = 1000;
  private nextCallback = 1;
  base = '';

  constructor(private readonly opts: FakeTelegramOptions) {
    this.knownChats.add(opts.chatId);
  }

  /** Texts of sendMessage calls accepted (200), in order. */
  get messages(): string[] {
    return this.requests.filter((r) => r.status === 200 && r.method === 'sendMessage').map((r) => String(r.body?.text ?? ''));
  }

  /** The next `times` calls of `method` get 429 with parameters.retry_after = retryAfter seconds. */
  rateLimitNext(times: number, retryAfter: number, method = 'sendMessage'): void {
    for (let i = 0; i < times; i++) this.script.push({ status: 429, retryAfter, method });
  }

  failNext(times: number, status: 500 | 502 | 503 = 502, method = 'sendMessage'): void {
    for (let i = 0; i < times; i++) this.script.push({ status, method });
  }

  /** Forgets recorded requests and any scripted answers not used yet (not the chat history). */
  reset(): void {
    this.requests.length = 0;
    this.script.length = 0;
  }

  /** The user writes `text` in `chat`; resolves to the update's id. */
  userSends(chat: string, text: string, userId = 7001): number {
    this.knownChats.add(chat);
    const id = this.nextUpdate++;
    this.push({ update_id: id, message: { message_id: this.nextId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(chat), type: 'private' }, from: { id: userId, is_bot: false, first_name: 'op' }, text } });
    return id;
  }

  /** The user presses the button whose callback_data starts with `dataPrefix` on `message`. */
  userPresses(message: BotMessage, dataPrefix: string, userId = 7001): number {
    const button = (message.keyboard ?? []).flat().find((b) => b.callback_data.startsWith(dataPrefix));
    if (!button) throw new Error(`fake Telegram: no button "${dataPrefix}…" on message ${message.message_id}: ${JSON.stringify(message.keyboard)}`);
    return this.pressData(message, button.callback_data, userId);
  }

  /** A callback_query with arbitrary data (an old button, a forged one). */
  pressData(message: Pick<BotMessage, 'chat' | 'message_id' | 'text'>, data: string, userId = 7001): number {
    const id = this.nextUpdate++;
    const cq = String(this.nextCallback++);
    this.callbacks.set(cq, false);
    this.push({
      update_id: id,
      callback_query: {
        id: cq, from: { id: userId, is_bot: false, first_name: 'op' }, chat_instance: '1', data,
        message: { message_id: message.message_id, date: Math.floor(Date.now() / 1000), chat: { id: Number(message.chat), type: 'private' }, text: message.text },
      },
    });
    return id;
  }

  sentTo(chat: string): BotMessage[] {
    return this.botMessages.filter((m) => m.chat === chat);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const w of this.waiters.splice(0)) w();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Resolves once `n` messages have been accepted (or rejects after `timeoutMs`). */
  async waitForMessages(n: number, timeoutMs = 5000): Promise<string[]> {
    await this.waitUntil(`${n} messages`, () => this.messages.length >= n, timeoutMs);
    return this.messages;
  }

  async waitUntil<T>(what: string, fn: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > until) throw new Error(`fake Telegram: timed out waiting for ${what}; bot messages: ${JSON.stringify(this.botMessages.map((m) => m.text))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private push(u: Update): void {
    this.updates.push(u);
    for (const w of this.waiters.splice(0)) w();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch { /* checked below */ }
    const path = req.url ?? '';
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
    const method = m?.[2] ?? '';
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ at: Date.now(), path, method, status, body });
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(json));
    };
    const bad = (description: string) => reply(400, { ok: false, error_code: 400, description: `Bad Request: ${description}` });
    const ok = (result: unknown) => reply(200, { ok: true, result });
    if (!m || req.method !== 'POST') return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
    if (m[1] !== this.opts.token) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    if (!['sendMessage', 'getUpdates', 'editMessageText', 'answerCallbackQuery'].includes(method)) return reply(404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    if (!(req.headers['content-type'] ?? '').includes('application/json') || body === null) return bad('message text is empty');
    const i = this.script.findIndex((s) => s.method === method);
    if (i >= 0) {
      const [s] = this.script.splice(i, 1);
      if (s!.status === 429) return reply(429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${s!.retryAfter}`, parameters: { retry_after: s!.retryAfter } }, { 'retry-after': String(s!.retryAfter) });
      return reply(s!.status, { ok: false, error_code: s!.status, description: 'Bad Gateway' });
    }
    const b = body;
    switch (method) {
      case 'getUpdates': {
        const offset = typeof b.offset === 'number' ? b.offset : null;
        // An offset confirms every update below it: Telegram will not send those again.
        if (offset !== null) while (this.updates.length > 0 && this.updates[0]!.update_id < offset) this.updates.shift();
        const timeout = typeof b.timeout === 'number' ? b.timeout : 0;
        const until = Date.now() + timeout * 1000;
        while (this.updates.length === 0 && Date.now() < until && !req.socket.destroyed && this.server) {
          await new Promise<void>((r) => {
            const t = setTimeout(r, Math.max(0, until - Date.now()));
            this.waiters.push(() => { clearTimeout(t); r(); });
            req.socket.once('close', () => { clearTimeout(t); r(); });
          });
        }
        return ok(this.updates.slice(0, 100));
      }
      case 'sendMessage': {
        const chat = String(b.chat_id);
        if (!this.knownChats.has(chat)) return bad('chat not found');
        const text = b.text;
        if (typeof text !== 'string' || text.length === 0) return bad('message text is empty');
        if (text.length > 4096) return bad('message is too long');
        const keyboard = (b.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? null;
        if (keyboard?.flat().some((k) => typeof k.callback_data !== 'string' || Buffer.byteLength(k.callback_data) < 1 || Buffer.byteLength(k.callback_data) > 64)) return bad('BUTTON_DATA_INVALID');
        const msg: BotMessage = { chat, message_id: this.nextId++, text, keyboard, edits: 0 };
        this.botMessages.push(msg);
        return ok({ message_id: msg.message_id, date: Math.floor(Date.now() / 1000), chat: { id: Number(chat) || chat, type: 'private' }, text });
      }
      case 'editMessageText': {
        const msg = this.botMessages.find((x) => x.chat === String(b.chat_id) && x.message_id === b.message_id);
        if (!msg) return bad('message to edit not found');
        if (typeof b.text !== 'string' || b.text.length === 0) return bad('message text is empty');
        if (b.text === msg.text && !msg.keyboard) return bad('message is not modified');
        msg.text = b.text;
        msg.keyboard = (b.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? null;
        msg.edits++;
        return ok({ message_id: msg.message_id, chat: { id: Number(msg.chat), type: 'private' }, text: msg.text });
      }
      case 'answerCallbackQuery': {
        const id = String(b.callback_query_id);
        if (this.callbacks.get(id) !== false) return bad('query is too old and response timeout expired or query ID is invalid');
        this.callbacks.set(id, true);
        this.callbackAnswers.push({ id, text: typeof b.text === 'string' ? b.text : null });
        return ok(true);
      }
    }
  }
}
