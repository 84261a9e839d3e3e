// The alert manager: turns bus events into operator messages. Sources: `alert` events (kill
// switch, trading states, governance actions, venue errors, loss streaks...) and
// `strategy.promoted` (promotions and rollbacks). Every alert is logged as an `[ALERT]` line;
// those at or above alerting.min_severity also go to Telegram when it is configured.
// De-duplication by key: the first occurrence waits `coalesce_ms` for repeats, so a storm of
// one event becomes one message with a count; later repeats within the dedupe window are
// summarised in one message when the window closes. A rate limit spaces messages, and sends
// are strictly sequential so a 429's retry_after pauses everything behind it.
// It also counts the day's fills, rejections and governance actions for the daily digest.
import { existsSync, readFileSync } from 'node:fs';
import type { Bus } from '../../bus/bus.js';
import { type Clock, type TimerHandle, WallClock } from '../../core/clock.js';
import type { AlertPayload } from '../../bus/topics.js';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { reportStorageFault } from '../../util/storageHealth.js';
import { type AlertingPolicy, type Severity, effectiveAlerting } from './policy.js';
import type { AlertChannel } from './telegram.js';

const RANK: Record<Severity, number> = { INFO: 0, WARNING: 1, CRITICAL: 2 };
const ICON: Record<Severity, string> = { INFO: 'ℹ️', WARNING: '⚠️', CRITICAL: '🚨' };
const MAX_QUEUE = 200;

interface Pending {
  latest: AlertPayload;
  worst: Severity;
  /** Occurrences not yet reported. */
  count: number;
  firstAt: number;
  timer: NodeJS.Timeout | null;
  /** True once the first message of this key went out: later ones are window summaries. */
  reported: boolean;
}

interface Outgoing {
  readonly text: string;
  readonly severity: Severity;
  readonly key: string;
}

export interface DigestCounters {
  fills: number;
  rejections: Record<string, number>;
  governance: Record<string, number>;
  alerts: number;
  since: string;
}

export interface AlertManagerOptions {
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  readonly policy: () => AlertingPolicy;
  /** null: Telegram not configured (alerts are logged only). */
  readonly channel: AlertChannel | null;
  /** Lines describing the stack for the digest (equity, PnL, states). */
  readonly digestLines?: () => Promise<string[]>;
  /** The stack's clock: digests are due on it (WallClock when absent). Delivery pacing stays
   *  on the host's timers: Telegram's rate limits are in wall time. */
  readonly clock?: Clock;
  /** Overrides the clock's time alone (tests). */
  readonly now?: () => number;
  /** Label shown in messages (e.g. the host), so several stacks in one chat are told apart. */
  readonly stackName?: string;
  /** Remembers the day of the last daily digest, so a restart does not send it again. */
  readonly statePath?: string;
}

export class AlertManager {
  private readonly pending = new Map<string, Pending>();
  private readonly queue: Outgoing[] = [];
  private sending: Promise<void> | null = null;
  private lastSentAt = 0;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly clock: Clock;
  private digestTimer: TimerHandle | null = null;
  private lastDailyDigest: string | null = null;
  private lastHourlyDigest = 0;
  private counters: DigestCounters;
  private readonly now: () => number;
  private stopped = false;
  private highFrequency: boolean;

  constructor(private readonly opts: AlertManagerOptions) {
    this.clock = opts.clock ?? new WallClock();
    this.now = opts.now ?? (() => this.clock.now());
    this.counters = this.freshCounters();
    this.highFrequency = opts.policy().high_frequency;
    if (opts.statePath && existsSync(opts.statePath)) {
      try {
        const doc = JSON.parse(readFileSync(opts.statePath, 'utf8')) as { last_daily_digest?: unknown };
        if (typeof doc.last_daily_digest === 'string') this.lastDailyDigest = doc.last_daily_digest;
      } catch { /* unreadable: at worst one extra digest */ }
    }
  }

  start(): void {
    const { bus } = this.opts;
    this.unsubscribe.push(
      bus.subscribe('alert', (a) => this.notify(a)),
      bus.subscribe('strategy.promoted', (p) => this.notify(promotionAlert(p, this.now()))),
      bus.subscribe('trade.fill', () => { this.counters.fills++; }),
      bus.subscribe('risk.rejected', (r) => { this.counters.rejections[r.reason] = (this.counters.rejections[r.reason] ?? 0) + 1; }),
      bus.subscribe('governance.action', (g) => { this.counters.governance[g.action] = (this.counters.governance[g.action] ?? 0) + 1; }),
    );
    this.digestTimer = this.clock.setInterval(() => void this.checkDigest(), 30_000, { coalesce: true });
  }

  /** Stops listening; sends what is still coalescing (so a kill right before shutdown is not lost). */
  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    this.clock.clear(this.digestTimer);
    for (const [key, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      if (p.count > 0) this.emit(key, p);
    }
    this.pending.clear();
    this.stopped = true;
    await this.drainWithin(5_000);
  }

  /** Called after ops/policies.yaml reloads: says so when high-frequency alerting turns on or off. */
  policyChanged(): void {
    const p = this.opts.policy();
    if (p.high_frequency === this.highFrequency) return;
    this.highFrequency = p.high_frequency;
    const eff = effectiveAlerting(p);
    this.opts.log.warn({ high_frequency: p.high_frequency }, `[ALERT] high-frequency alerting ${p.high_frequency ? 'ON' : 'OFF'}: repeats summarised every ${eff.dedupeWindowMs / 1000} s, first message after ${eff.coalesceMs} ms, at most ${Math.round(60_000 / eff.minIntervalMs)} messages/min${eff.digestEveryMs ? ', hourly digest' : ''}`);
    if (p.high_frequency) this.lastHourlyDigest = this.now();
  }

  /** Waits until every queued message has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  notify(a: AlertPayload): void {
    const sev: Severity = a.severity in RANK ? a.severity : 'WARNING';
    this.counters.alerts++;
    const key = a.key || a.title;
    const existing = this.pending.get(key);
    if (existing) {
      existing.count++;
      existing.latest = a;
      if (RANK[sev] > RANK[existing.worst]) existing.worst = sev;
      this.opts.metrics?.alertDeliveries.inc({ channel: 'dedupe', result: 'coalesced' });
      return;
    }
    const p: Pending = { latest: a, worst: sev, count: 1, firstAt: this.now(), timer: null, reported: false };
    this.pending.set(key, p);
    const eff = effectiveAlerting(this.opts.policy());
    p.timer = setTimeout(() => this.flushFirst(key), eff.coalesceMs);
    p.timer.unref();
  }

  private flushFirst(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.emit(key, p);
    p.reported = true;
    p.count = 0;
    p.firstAt = this.now();
    this.scheduleWindow(key, p);
  }

  private scheduleWindow(key: string, p: Pending): void {
    const eff = effectiveAlerting(this.opts.policy());
    p.timer = setTimeout(() => {
      if (p.count === 0) {
        this.pending.delete(key);
        return;
      }
      this.emit(key, p);
      p.count = 0;
      p.firstAt = this.now();
      this.scheduleWindow(key, p);
    }, eff.dedupeWindowMs);
    p.timer.unref();
  }

  /** Logs the (possibly summarised) alert and queues it for Telegram. */
  private emit(key: string, p: Pending): void {
    const a = p.latest;
    const windowSec = Math.max(1, Math.round((this.now() - p.firstAt) / 1000));
    const countNote = p.reported ? ` (×${p.count} more in the last ${windowSec} s)` : p.count > 1 ? ` (×${p.count})` : '';
    const line = `[ALERT] ${p.worst} ${a.title}: ${a.message}${countNote}`;
    const fields = { key, severity: p.worst, count: p.count };
    if (p.worst === 'CRITICAL') this.opts.log.error(fields, line);
    else if (p.worst === 'WARNING') this.opts.log.warn(fields, line);
    else this.opts.log.info(fields, line);
    const policy = this.opts.policy();
    if (!this.opts.channel || !policy.enabled || RANK[p.worst] < RANK[policy.min_severity]) return;
    const name = this.opts.stackName ? ` [${this.opts.stackName}]` : '';
    this.enqueue({ text: `${ICON[p.worst]} ${a.title}${name}\n${a.message}${countNote}`, severity: p.worst, key });
  }

  private enqueue(m: Outgoing): void {
    if (this.queue.length >= MAX_QUEUE) {
      // Drop the least important queued message, never a CRITICAL one for an INFO.
      let idx = -1;
      for (let i = 0; i < this.queue.length; i++) if (idx === -1 || RANK[this.queue[i]!.severity] < RANK[this.queue[idx]!.severity]) idx = i;
      if (idx >= 0 && RANK[this.queue[idx]!.severity] <= RANK[m.severity]) {
        this.queue.splice(idx, 1);
      } else {
        this.opts.metrics?.alertDeliveries.inc({ channel: 'telegram', result: 'dropped' });
        return;
      }
      this.opts.metrics?.alertDeliveries.inc({ channel: 'telegram', result: 'dropped' });
    }
    this.queue.push(m);
    if (!this.sending) this.sending = this.drain().finally(() => { this.sending = null; });
  }

  private async drain(): Promise<void> {
    const channel = this.opts.channel;
    if (!channel) return;
    while (this.queue.length > 0) {
      const wait = this.lastSentAt + effectiveAlerting(this.opts.policy()).minIntervalMs - this.now();
      if (wait > 0 && !this.stopped) await new Promise((r) => setTimeout(r, wait).unref());
      const m = this.queue.shift()!;
      const res = await channel.send(m.text);
      this.lastSentAt = this.now();
      this.opts.metrics?.alertDeliveries.inc({ channel: channel.name, result: res.ok ? 'sent' : 'failed' });
      if (!res.ok) this.opts.log.error({ key: m.key, status: res.status, attempts: res.attempts }, `[ALERT] ${channel.name} delivery failed after ${res.attempts} attempt(s): ${res.error ?? 'unknown error'}`);
    }
  }

  private async drainWithin(ms: number): Promise<void> {
    if (!this.sending) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.sending, new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
    clearTimeout(timer);
  }

  /** Sends the digest now (the timer calls this at daily_digest_utc; operators may too). */
  async sendDigest(kind: 'daily' | 'hourly' = 'daily'): Promise<string> {
    const c = this.counters;
    this.counters = this.freshCounters();
    const lines = [`📊 hmm-stack ${kind} digest${this.opts.stackName ? ` [${this.opts.stackName}]` : ''} — ${new Date(this.now()).toISOString().slice(0, 16).replace('T', ' ')} UTC`];
    try {
      lines.push(...(await this.opts.digestLines?.() ?? []));
    } catch (err) {
      lines.push(`(portfolio unavailable: ${(err as Error).message})`);
    }
    const rej = Object.entries(c.rejections).sort((a, b) => b[1] - a[1]);
    const gov = Object.entries(c.governance);
    lines.push(`Since ${c.since.slice(0, 16).replace('T', ' ')}: ${c.fills} fills · ${rej.reduce((a, [, n]) => a + n, 0)} rejections${rej.length ? ` (${rej.slice(0, 5).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''} · ${gov.reduce((a, [, n]) => a + n, 0)} governance actions${gov.length ? ` (${gov.map(([k, n]) => `${k} ${n}`).join(', ')})` : ''} · ${c.alerts} alerts`);
    const text = lines.join('\n');
    this.opts.log.info({ kind }, `[ALERT] ${kind} digest: ${text.replace(/\n/g, ' | ')}`);
    const policy = this.opts.policy();
    if (this.opts.channel && policy.enabled) this.enqueue({ text, severity: 'INFO', key: `digest:${kind}` });
    return text;
  }

  /** Sends the daily (and, in high-frequency mode, hourly) digest when due; the timer calls it every 30 s. */
  async checkDigest(): Promise<void> {
    const policy = this.opts.policy();
    const now = this.now();
    const today = new Date(now).toISOString().slice(0, 10);
    if (digestDue(now, policy.daily_digest_utc, this.lastDailyDigest)) {
      this.lastDailyDigest = today;
      if (this.opts.statePath) {
        try {
          writeJsonAtomic(this.opts.statePath, { last_daily_digest: today });
        } catch (err) {
          // A full disk is reported (new orders stop until writes succeed); said once, not every round.
          const storageFault = reportStorageFault(this.opts.statePath, err);
          if (!storageFault) this.opts.log.error(`[ALERT] cannot write ${this.opts.statePath}: ${(err as Error).message}`);
        }
      }
      await this.sendDigest('daily');
      return;
    }
    const every = effectiveAlerting(policy).digestEveryMs;
    if (every !== null && now - this.lastHourlyDigest >= every) {
      if (this.lastHourlyDigest !== 0) await this.sendDigest('hourly');
      this.lastHourlyDigest = now;
    }
  }

  private freshCounters(): DigestCounters {
    return { fills: 0, rejections: {}, governance: {}, alerts: 0, since: new Date(this.now()).toISOString() };
  }
}

/** True when today's digest time (HH:MM UTC) has passed and today's digest was not sent yet. */
export function digestDue(now: number, hhmm: string | null, lastSentDay: string | null): boolean {
  if (hhmm === null) return false;
  const d = new Date(now);
  const today = d.toISOString().slice(0, 10);
  if (lastSentDay === today) return false;
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return d.getUTCHours() * 60 + d.getUTCMinutes() >= h * 60 + m;
}

/** strategy.promoted events (the canary manager's promotions, demotions, rollbacks, stage
 *  changes by weight edits) as an alert an operator can read at a glance. */
export function promotionAlert(p: Record<string, unknown>, ts: number): AlertPayload {
  const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
  const model = str(p.model) ?? str(p.model_id) ?? '?';
  const action = str(p.action) ?? (p.rollback === true ? 'rollback' : 'promote');
  const titles: Record<string, string> = { promote: 'Model promoted', demote: 'Model demoted', rollback: 'Model rolled back', degraded: 'Model degraded', stage_sync: 'Model stage changed' };
  const move = str(p.from) && str(p.to) ? ` ${str(p.from)} → ${str(p.to)}` : '';
  const who = str(p.actor) ? ` by ${str(p.actor)}` : '';
  const why = str(p.reason) ? `: ${str(p.reason)}` : '';
  const bad = /rollback|demote|degraded|retire/i.test(action);
  return {
    severity: bad ? 'WARNING' : 'INFO',
    title: `${titles[action] ?? `Model ${action}`}: ${model}`,
    message: `${model}${move}${who}${why}`,
    key: `strategy.promoted:${model}:${action}:${str(p.to) ?? ''}`,
    ts,
  };
}
