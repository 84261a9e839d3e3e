// The Telegram Bot API channel: POST {base}/bot<token>/sendMessage with {chat_id, text}.
// Retries what can succeed later — 429 (waits the `parameters.retry_after` Telegram names, or
// Retry-After), 5xx and network errors (exponential backoff with jitter) — and gives up at once
// on what cannot (400 bad chat, 401/403/404 bad token). The token is part of the URL, so every
// error text is scrubbed of it before it can reach a log line. The calls are the command bot's
// BotApi (ops/telegram/botApi.ts); this channel only shapes an alert into a SendResult.
import { BotApi, BotApiError } from '../telegram/botApi.js';

export interface SendResult {
  readonly ok: boolean;
  readonly attempts: number;
  readonly status: number | null;
  readonly error: string | null;
}

export interface AlertChannel {
  readonly name: string;
  send(text: string): Promise<SendResult>;
}

export interface TelegramOptions {
  readonly token: string;
  readonly chatId: string;
  readonly apiBase: string;
  readonly maxAttempts?: number;
  /** First backoff for 5xx/network errors; doubles each attempt (capped at 30 s). */
  readonly backoffMs?: number;
  /** Longest wait a 429 may impose before we give up on the message. */
  readonly maxRetryAfterSec?: number;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Telegram's message size limit (characters). */
export const TELEGRAM_MAX_TEXT = 4096;

const sleepReal = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class TelegramChannel implements AlertChannel {
  readonly name = 'telegram';
  private readonly api: BotApi;

  constructor(private readonly opts: TelegramOptions) {
    // The command bot's Bot API client: one implementation of the retries and the scrubbing.
    this.api = new BotApi({ ...opts, sleep: opts.sleep ?? sleepReal });
  }

  async send(text: string): Promise<SendResult> {
    // Plain text (no parse_mode): an alert may carry any character.
    const params = {
      chat_id: this.opts.chatId,
      text: text.length > TELEGRAM_MAX_TEXT ? `${text.slice(0, TELEGRAM_MAX_TEXT - 1)}…` : text,
      disable_web_page_preview: true,
    };
    try {
      const r = await this.api.request('sendMessage', params, { timeoutMs: this.opts.timeoutMs ?? 10_000 });
      return { ok: true, attempts: r.attempts, status: r.status, error: null };
    } catch (err) {
      if (!(err instanceof BotApiError)) throw err;
      // The alert log names the channel; the method name adds nothing there.
      return { ok: false, attempts: err.attempts, status: err.status, error: err.message.replace(/^sendMessage: /, '') };
    }
  }
}
