// The Telegram Bot API channel: POST {base}/bot<token>/sendMessage with {chat_id, text}.
// Retries what can succeed later — 429 (waits the `parameters.retry_after` Telegram names, or
// Retry-After), 5xx and network errors (exponential backoff with jitter) — and gives up at once
// on what cannot (400 bad chat, 401/403/404 bad token). The token is part of the URL, so every
// error text is scrubbed of it before it can reach a log line.

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
  private readonly url: string;
  private readonly doFetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: TelegramOptions) {
    this.url = `${opts.apiBase.replace(/\/+$/, '')}/bot${opts.token}/sendMessage`;
    this.doFetch = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? sleepReal;
  }

  /** Removes the token from any text (URLs in error messages, bodies echoed back). */
  scrub(text: string): string {
    return text.split(this.opts.token).join('[REDACTED]');
  }

  async send(text: string): Promise<SendResult> {
    const body = JSON.stringify({
      chat_id: this.opts.chatId,
      text: text.length > TELEGRAM_MAX_TEXT ? `${text.slice(0, TELEGRAM_MAX_TEXT - 1)}…` : text,
      disable_web_page_preview: true,
    });
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let backoff = this.opts.backoffMs ?? 500;
    let lastError: string | null = null;
    let lastStatus: number | null = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      let res: Response;
      try {
        res = await this.doFetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        });
      } catch (err) {
        const e = err as Error & { cause?: { message?: string } };
        lastError = this.scrub(`network error: ${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}`);
        lastStatus = null;
        if (attempt < maxAttempts) await this.sleep(jitter(backoff));
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      lastStatus = res.status;
      const json = (await res.json().catch(() => null)) as { ok?: boolean; description?: string; parameters?: { retry_after?: number } } | null;
      if (res.ok && json?.ok !== false) return { ok: true, attempts: attempt, status: res.status, error: null };
      lastError = this.scrub(`HTTP ${res.status}${json?.description ? `: ${json.description}` : ''}`);
      if (res.status === 429) {
        const header = Number(res.headers.get('retry-after'));
        const retryAfter = json?.parameters?.retry_after ?? (Number.isFinite(header) && header > 0 ? header : 1);
        if (retryAfter > (this.opts.maxRetryAfterSec ?? 300)) break;
        if (attempt < maxAttempts) await this.sleep(retryAfter * 1000);
        continue;
      }
      if (res.status >= 500) {
        if (attempt < maxAttempts) await this.sleep(jitter(backoff));
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      // 400 (bad chat id, bad text), 401/403/404 (bad or revoked token): retrying cannot help.
      return { ok: false, attempts: attempt, status: res.status, error: lastError };
    }
    return { ok: false, attempts: maxAttempts, status: lastStatus, error: lastError };
  }
}

const jitter = (ms: number): number => Math.round(ms * (0.75 + Math.random() * 0.5));
