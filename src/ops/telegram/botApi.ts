// The Telegram Bot API as the command bot speaks it (https://core.telegram.org/bots/api):
// getUpdates (long polling with an offset), sendMessage, editMessageText, answerCallbackQuery.
// One typed call with the retries Telegram asks for: a 429 waits the `parameters.retry_after`
// it names (never sooner), a 5xx or a network error backs off and tries again, and what cannot
// succeed later (400, 401 bad token, 403, 404, 409 another poller or a webhook) is a coded error
// at once. The token is part of every URL, so every error text is scrubbed of it.
import { OpsError } from '../errors.js';

export interface TgUser { readonly id: number; readonly username?: string; readonly first_name?: string }
export interface TgChat { readonly id: number; readonly type: string }
export interface TgMessage { readonly message_id: number; readonly chat: TgChat; readonly from?: TgUser; readonly date: number; readonly text?: string }
export interface TgCallbackQuery { readonly id: string; readonly from: TgUser; readonly message?: TgMessage; readonly data?: string }
export interface TgUpdate { readonly update_id: number; readonly message?: TgMessage; readonly callback_query?: TgCallbackQuery }
export interface InlineButton { readonly text: string; readonly callback_data: string }
export interface InlineKeyboard { readonly inline_keyboard: readonly (readonly InlineButton[])[] }

/** A Bot API call that failed for good: `status` is Telegram's error_code (null: unreachable);
 *  `attempts` the requests made (0: stopped before the first). */
export class BotApiError extends OpsError {
  constructor(code: string, message: string, readonly status: number | null, readonly attempts = 0) {
    super(code, message);
  }
}

export interface BotApiOptions {
  readonly token: string;
  readonly apiBase: string;
  /** Attempts per call (429s and transient failures count). */
  readonly maxAttempts?: number;
  /** First backoff for 5xx / network errors; doubles each attempt, capped at 30 s. */
  readonly backoffMs?: number;
  /** A 429 asking for a longer wait than this gives up instead. */
  readonly maxRetryAfterSec?: number;
  readonly fetch?: typeof fetch;
  /** The wait between attempts (default sleepUnless). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface TgAnswer<T> { ok?: boolean; result?: T; description?: string; error_code?: number; parameters?: { retry_after?: number } }

/** Resolves after `ms`, or at once when `signal` aborts (a stopping bot must not wait out a 429). */
export function sleepUnless(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class BotApi {
  private readonly base: string;
  private readonly doFetch: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: BotApiOptions) {
    this.base = `${opts.apiBase.replace(/\/+$/, '')}/bot${opts.token}`;
    this.doFetch = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? sleepUnless;
  }

  /** Removes the token from any text (URLs in error messages, bodies echoed back). */
  private scrub(text: string): string {
    return text.split(this.opts.token).join('[REDACTED]');
  }

  getUpdates(offset: number | null, timeoutSec: number, signal?: AbortSignal): Promise<TgUpdate[]> {
    return this.call<TgUpdate[]>('getUpdates', {
      ...(offset !== null ? { offset } : {}), timeout: timeoutSec, allowed_updates: ['message', 'callback_query'],
    }, { signal, timeoutMs: (timeoutSec + 10) * 1000 });
  }

  sendMessage(chatId: number | string, text: string, keyboard?: InlineKeyboard, signal?: AbortSignal): Promise<TgMessage> {
    return this.call<TgMessage>('sendMessage', { chat_id: chatId, text, parse_mode: 'HTML', disable_web_page_preview: true, ...(keyboard ? { reply_markup: keyboard } : {}) }, { signal });
  }

  editMessageText(chatId: number | string, messageId: number, text: string, signal?: AbortSignal): Promise<unknown> {
    // No reply_markup: the edit removes the buttons, so a decision cannot be pressed twice.
    return this.call('editMessageText', { chat_id: chatId, message_id: messageId, text, parse_mode: 'HTML' }, { signal });
  }

  answerCallbackQuery(id: string, text?: string, signal?: AbortSignal): Promise<unknown> {
    return this.call('answerCallbackQuery', { callback_query_id: id, ...(text ? { text } : {}) }, { signal });
  }

  async call<T>(method: string, params: Record<string, unknown>, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    return (await this.request<T>(method, params, o)).result;
  }

  /** `call`, also saying how many requests it took (the alert channel reports them). */
  async request<T>(method: string, params: Record<string, unknown>, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ result: T; attempts: number; status: number }> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let backoff = this.opts.backoffMs ?? 500;
    let last: BotApiError | null = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (o.signal?.aborted) throw new BotApiError('HMM_OPS_TELEGRAM_ABORTED', `${method}: stopped`, null, attempt - 1);
      let res: Response;
      try {
        const timeout = AbortSignal.timeout(o.timeoutMs ?? 15_000);
        res = await this.doFetch(`${this.base}/${method}`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params),
          signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout,
        });
      } catch (err) {
        const e = err as Error & { cause?: { message?: string } };
        if (o.signal?.aborted) throw new BotApiError('HMM_OPS_TELEGRAM_ABORTED', `${method}: stopped`, null, attempt - 1);
        last = new BotApiError('HMM_OPS_TELEGRAM_UNREACHABLE', this.scrub(`${method}: network error: ${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}`), null, attempt);
        if (attempt < maxAttempts) await this.sleep(jitter(backoff), o.signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      const json = (await res.json().catch(() => null)) as TgAnswer<T> | null;
      if (res.ok && json?.ok === true) return { result: json.result as T, attempts: attempt, status: res.status };
      const what = this.scrub(`${method}: HTTP ${res.status}${json?.description ? `: ${json.description}` : ''}`);
      if (res.status === 429) {
        const header = Number(res.headers.get('retry-after'));
        const retryAfter = json?.parameters?.retry_after ?? (Number.isFinite(header) && header > 0 ? header : 1);
        last = new BotApiError('HMM_OPS_TELEGRAM_RATE_LIMITED', `${what} (retry_after ${retryAfter} s)`, 429, attempt);
        if (retryAfter > (this.opts.maxRetryAfterSec ?? 300)) break;
        if (attempt < maxAttempts) await this.sleep(retryAfter * 1000, o.signal);
        continue;
      }
      if (res.status >= 500) {
        last = new BotApiError('HMM_OPS_TELEGRAM_UNAVAILABLE', what, res.status, attempt);
        if (attempt < maxAttempts) await this.sleep(jitter(backoff), o.signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      // 401/404 (bad or revoked token), 400 (bad chat, bad text), 403 (blocked), 409 (a webhook
      // is set or another process polls): trying again cannot help.
      const code = res.status === 401 || res.status === 404 ? 'HMM_OPS_TELEGRAM_UNAUTHORIZED' : res.status === 409 ? 'HMM_OPS_TELEGRAM_CONFLICT' : 'HMM_OPS_TELEGRAM_REFUSED';
      throw new BotApiError(code, what, res.status, attempt);
    }
    throw last ?? new BotApiError('HMM_OPS_TELEGRAM_UNREACHABLE', `${method}: no attempt made`, null);
  }
}

const jitter = (ms: number): number => Math.round(ms * (0.75 + Math.random() * 0.5));
