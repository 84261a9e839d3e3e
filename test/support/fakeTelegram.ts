// A local stand-in for the Telegram Bot API (https://core.telegram.org/bots/api#sendmessage),
// over real HTTP on an ephemeral port. It checks what the real API checks that matters to us:
// the path /bot<token>/sendMessage (wrong token → 401 Unauthorized, unknown method → 404),
// a JSON body with the expected chat_id (else 400 "chat not found") and a non-empty text of at
// most 4096 characters. It can be told to answer the next requests with 429 and
// parameters.retry_after, or with a 5xx, and it records every request it saw.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTelegramRequest {
  readonly at: number;
  readonly path: string;
  readonly status: number;
  readonly body: Record<string, unknown> | null;
}

export interface FakeTelegramOptions {
  readonly token: string;
  readonly chatId: string;
}

type Scripted = { status: 429; retryAfter: number } | { status: 500 | 502 | 503 };

export class FakeTelegram {
  readonly requests: FakeTelegramRequest[] = [];
  private readonly script: Scripted[] = [];
  private server: Server | null = null;
  private nextId = 1;
  base = '';

  constructor(private readonly opts: FakeTelegramOptions) {}

  /** Messages accepted (200), in order. */
  get messages(): string[] {
    return this.requests.filter((r) => r.status === 200).map((r) => String(r.body?.text ?? ''));
  }

  /** The next `times` valid requests get 429 with parameters.retry_after = retryAfter seconds. */
  rateLimitNext(times: number, retryAfter: number): void {
    for (let i = 0; i < times; i++) this.script.push({ status: 429, retryAfter });
  }

  /** Forgets recorded requests and any scripted answers not used yet. */
  reset(): void {
    this.requests.length = 0;
    this.script.length = 0;
  }

  failNext(times: number, status: 500 | 502 | 503 = 502): void {
    for (let i = 0; i < times; i++) this.script.push({ status });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Resolves once `n` messages have been accepted (or rejects after `timeoutMs`). */
  async waitForMessages(n: number, timeoutMs = 5000): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      if (Date.now() > until) throw new Error(`fake Telegram: expected ${n} messages, got ${this.messages.length}: ${JSON.stringify(this.messages)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.messages;
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
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ at: Date.now(), path, status, body });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(json));
    };
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
    if (!m || req.method !== 'POST') return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
    if (m[1] !== this.opts.token) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    if (m[2] !== 'sendMessage') return reply(404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    if (!(req.headers['content-type'] ?? '').includes('application/json') || body === null) {
      return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
    }
    if (String(body.chat_id) !== this.opts.chatId) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
    const text = body.text;
    if (typeof text !== 'string' || text.length === 0) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
    if (text.length > 4096) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
    const scripted = this.script.shift();
    if (scripted?.status === 429) {
      return reply(429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${scripted.retryAfter}`, parameters: { retry_after: scripted.retryAfter } }, { 'retry-after': String(scripted.retryAfter) });
    }
    if (scripted) return reply(scripted.status, { ok: false, error_code: scripted.status, description: 'Bad Gateway' });
    reply(200, { ok: true, result: { message_id: this.nextId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(this.opts.chatId) || this.opts.chatId, type: 'private' }, text } });
  }
}
