// The governance daemon: the loop around rules.ts. It owns the exposure multiplier (which the
// strategy router multiplies every new order's budget by), the portfolio metrics publisher
// (metrics.update with equity, pnl_unrealized, pnl_realized, drawdown_pct every few seconds),
// and the escalations it makes through TradingStates (REDUCING, then HALTED; a venue with too
// many errors HALTED). It listens to the bus (metrics.update, trade.fill, risk.rejected) and
// polls engines through their handles (venue error counts, routing latency).
// Every action: a `[GOV]` log line, a governance.action bus event, an alert, an audit entry,
// hmm_governance_actions_total{action}. Its memory survives restarts in ops/governance_state.json.
import { existsSync, readFileSync } from 'node:fs';
import type { Bus } from '../../bus/bus.js';
import { type Clock, type TimerHandle, WallClock } from '../../core/clock.js';
import { fx, floorToStep, mul, toNumber } from '../../core/decimal.js';
import { statedDrawdownPct } from '../../core/drawdown.js';
import { modelId, symbol as toSymbol } from '../../core/ids.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { STOPPED_REASONS } from '../../engine/riskRails.js';
import type { Logger } from '../../obs/logger.js';
import type { Metrics } from '../../obs/metrics.js';
import { writeJsonAtomic } from '../../util/atomicFile.js';
import { PacedSave } from '../../util/pacedSave.js';
import { RearmingInterval } from '../../util/rearmingInterval.js';
import { reportStorageFault } from '../../util/storageHealth.js';
import type { AuditLog } from '../audit.js';
import type { GovernancePolicy } from './policy.js';
import {
  type EscalationArms, type ExposureChange, type MetricSample, type RuleHit, type VenueSample,
  countInWindow, describeHit, exposureCap, freshValue, isAdverse, stepEscalation, stepExposure, venueErrorRate,
} from './rules.js';
import type { TradingStates } from './tradingStates.js';

export interface GovernanceActionRecord {
  readonly ts: string;
  readonly action: string;
  readonly cause: string;
  readonly detail: Record<string, unknown>;
}

interface PersistedState {
  readonly multiplier: number;
  readonly calm_since: number | null;
  readonly peak_equity: number | null;
  readonly arms: EscalationArms;
  readonly updated_at: string;
  readonly recent: readonly GovernanceActionRecord[];
}

export interface GovernanceDeps {
  readonly statePath: string;
  readonly policy: () => GovernancePolicy;
  readonly bus: Bus;
  readonly engines: () => readonly EngineHandle[];
  readonly tradingStates: TradingStates;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  readonly audit: AuditLog | null;
  /** Total starting capital: the drawdown reference before any higher peak is seen. */
  readonly baselineEquity: number;
  /** MIN_NOTIONAL_USDT, so trims never send an order the rails would refuse. */
  readonly minNotionalUsd: number;
  /** The stack's clock: its rounds and windows run on it (WallClock when absent). */
  readonly clock?: Clock;
  /** Overrides the clock's time alone (tests). */
  readonly now?: () => number;
}

const RECENT = 50;
/** Host ms between two saves of memory that may wait (persistSoon). */
const SOON_PERSIST_MS = 1_000;
const fmtX = (m: number): string => `×${m.toFixed(2)}`;

export class GovernanceDaemon {
  private multiplier = 1;
  private calmSince: number | null = null;
  private peakEquity: number | null = null;
  private arms: EscalationArms = { reducing: true, halt: true };
  private readonly metricTable = new Map<string, MetricSample>();
  private readonly venueSamples = new Map<string, VenueSample[]>();
  private readonly venueArmed = new Map<string, boolean>();
  private latencyArmed = true;
  private burstArmed = true;
  private readonly rejections: number[] = [];
  private readonly rejectionReasons: string[] = [];
  private recent: GovernanceActionRecord[] = [];
  private readonly clock: Clock;
  /** The rounds, every metrics_interval_sec (at least 50 ms). */
  private readonly rounds: RearmingInterval;
  private fillTimer: TimerHandle | null = null;
  private ticking: Promise<void> | null = null;
  private evaluating: Promise<void> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly now: () => number;
  /** Saves of memory that may wait (persistSoon). */
  private readonly pacedPersist = new PacedSave(SOON_PERSIST_MS, () => this.persist());

  constructor(private readonly deps: GovernanceDeps) {
    this.clock = deps.clock ?? new WallClock();
    this.now = deps.now ?? (() => this.clock.now());
    this.rounds = new RearmingInterval(this.clock, () => Math.max(50, deps.policy().metrics_interval_sec * 1000), () => void this.tick());
    this.load();
    deps.metrics?.exposureMultiplier.set(this.effectiveMultiplier());
  }

  /** What the strategy router multiplies each new order's budget by. */
  effectiveMultiplier(): number {
    return this.deps.policy().enabled ? this.multiplier : 1;
  }

  status() {
    const policy = this.deps.policy();
    const now = this.now();
    const metrics: Record<string, { value: number; age_sec: number }> = {};
    for (const [k, s] of this.metricTable) metrics[k] = { value: s.value, age_sec: Math.round((now - s.ts) / 100) / 10 };
    return {
      enabled: policy.enabled,
      exposure_multiplier: this.effectiveMultiplier(),
      recovering_since: this.calmSince === null ? null : new Date(this.calmSince).toISOString(),
      peak_equity: this.peakEquity,
      escalation_armed: this.arms,
      metrics,
      recent_actions: [...this.recent].reverse(),
      policy,
    };
  }

  start(): void {
    const { bus } = this.deps;
    this.unsubscribe.push(
      bus.subscribe('metrics.update', (payload) => this.onMetrics(payload)),
      bus.subscribe('risk.rejected', (r) => this.onRejected(r.reason)),
      // A fill moves equity: publish fresh portfolio numbers soon rather than at the next tick.
      bus.subscribe('trade.fill', () => this.soon()),
    );
    this.rounds.start();
  }

  async stop(): Promise<void> {
    this.rounds.stop();
    this.clock.clear(this.fillTimer);
    this.fillTimer = null;
    for (const u of this.unsubscribe.splice(0)) u();
    await this.ticking;
    await this.evaluating;
    this.pacedPersist.flush();
  }

  /** A policy reload: the rounds re-armed on its interval, the rules evaluated under it. */
  onPolicyChanged(): void {
    if (!this.rounds.running) return;
    this.rounds.rearm();
    void this.evaluate(false);
  }

  private soon(): void {
    if (this.fillTimer || !this.rounds.running) return;
    this.fillTimer = this.clock.setTimeout(() => {
      this.fillTimer = null;
      void this.tick();
    }, 250);
  }

  /** One round: publish the portfolio's numbers, poll engines, and let recovery advance. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.runTick().catch((err: Error) => {
      this.deps.log.error({ err }, `[GOV] governance tick failed: ${err.message}`);
    }).finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    await this.publishPortfolioMetrics();
    await this.pollEngines();
    await this.evaluate(false);
  }

  /** metrics.update with the stack's real numbers (summed over engines). */
  async publishPortfolioMetrics(): Promise<void> {
    const engines = this.deps.engines();
    if (engines.length === 0) return;
    let equity = 0, unrealized = 0, realized = 0, exposure = 0;
    for (const e of engines) {
      const v = await e.valuation();
      equity += v.equity;
      unrealized += v.unrealizedPnl;
      realized += v.realizedPnl;
      exposure += v.exposure;
    }
    const previousPeak = this.peakEquity;
    this.peakEquity = Math.max(this.peakEquity ?? this.deps.baselineEquity, equity);
    if (previousPeak !== this.peakEquity) this.persistSoon();
    const peak = this.peakEquity;
    const r = (x: number) => Math.round(x * 100) / 100;
    // drawdown_pct with peak_equity is governance's statement (drawdownStatement.ts reads it).
    this.deps.bus.publish('metrics.update', {
      equity: r(equity), pnl_unrealized: r(unrealized), pnl_realized: r(realized), exposure: r(exposure),
      drawdown_pct: statedDrawdownPct(peak, equity), peak_equity: r(peak),
    });
  }

  private onMetrics(payload: Readonly<Record<string, number>>): void {
    const clean: Record<string, number> = {};
    for (const [k, v] of Object.entries(payload)) if (typeof v === 'number' && Number.isFinite(v)) clean[k] = v;
    const policy = this.deps.policy();
    const adverse = isAdverse(policy, this.metricTable, clean);
    const now = this.now();
    const bindingBefore = exposureCap(policy, this.metricTable, now).hit?.rule.name ?? null;
    for (const [k, v] of Object.entries(clean)) this.metricTable.set(k, { value: v, ts: now });
    const after = exposureCap(policy, this.metricTable, now).hit;
    // A rule that starts to bind without lowering the multiplier (it is already that low, e.g. a
    // drill run twice) still gets one line, so the operator sees the reading was acted on.
    void this.evaluate(adverse, after && after.rule.name !== bindingBefore ? after : null);
  }

  private onRejected(reason: string): void {
    // Deliberate stops (kill switch, HALTED, REDUCING) reject by design; they are not a burst.
    if (STOPPED_REASONS.has(reason) && reason !== 'SYMBOL_NOT_ALLOWED') return;
    const now = this.now();
    this.rejections.push(now);
    this.rejectionReasons.push(reason);
    const policy = this.deps.policy();
    const windowMs = policy.rejection_burst.window_sec * 1000;
    while (this.rejections.length > 0 && now - this.rejections[0]! > windowMs) {
      this.rejections.shift();
      this.rejectionReasons.shift();
    }
    const n = countInWindow(this.rejections, now, windowMs);
    if (n >= policy.rejection_burst.count && this.burstArmed && policy.enabled) {
      this.burstArmed = false;
      const byReason: Record<string, number> = {};
      for (const r of this.rejectionReasons) byReason[r] = (byReason[r] ?? 0) + 1;
      const cause = `${n} orders rejected in ${policy.rejection_burst.window_sec} s (${Object.entries(byReason).map(([k, v]) => `${k} ${v}`).join(', ')})`;
      this.deps.log.warn({ byReason }, `[GOV] 🚨 Rejection burst: ${cause}`);
      this.record('rejection_burst', cause, { count: n, by_reason: byReason }, 'WARNING', 'Rejection burst');
    } else if (n < policy.rejection_burst.count / 2) {
      this.burstArmed = true;
    }
  }

  /** Applies the exposure ladder and the drawdown escalation to the metrics seen so far. */
  evaluate(adverse: boolean, newlyBinding: RuleHit | null = null): Promise<void> {
    // Serialised so two quick readings cannot interleave their state changes.
    const run = () => this.evaluateNow(adverse, newlyBinding).catch((err: Error) => {
      // Callers fire and forget (bus handlers): a failure is logged here, never left unhandled.
      this.deps.log.error({ err }, `[GOV] governance evaluation failed: ${err.message}`);
    });
    this.evaluating = this.evaluating.then(run, run);
    return this.evaluating;
  }

  private async evaluateNow(adverse: boolean, newlyBinding: RuleHit | null): Promise<void> {
    const policy = this.deps.policy();
    if (!policy.enabled) return;
    const now = this.now();
    const step = stepExposure(policy, { multiplier: this.multiplier, calmSince: this.calmSince }, this.metricTable, adverse, now);
    const memoryChanged = step.memory.multiplier !== this.multiplier || step.memory.calmSince !== this.calmSince;
    this.multiplier = step.memory.multiplier;
    this.calmSince = step.memory.calmSince;
    if (step.change) this.onExposureChange(step.change);
    // A new start of the recovery window may wait; its end (an adverse reading) is saved at
    // once, or a crash could restore a window the market had since broken.
    else if (memoryChanged) {
      if (this.calmSince === null) this.persist();
      else this.persistSoon();
    }
    if (!step.change && newlyBinding && this.multiplier <= newlyBinding.rule.multiplier + 1e-9) {
      this.deps.log.info({ rule: newlyBinding.rule.name, multiplier: this.multiplier }, `[GOV] 📉 Exposure held at ${fmtX(this.multiplier)} (${describeHit(newlyBinding)}): already reduced that far`);
    }

    const dd = freshValue(this.metricTable, 'drawdown_pct', now, policy.metric_ttl_sec * 1000);
    const esc = stepEscalation(policy, dd, this.arms);
    if (esc.arms.reducing !== this.arms.reducing || esc.arms.halt !== this.arms.halt) {
      this.arms = esc.arms;
      this.persist();
    }
    for (const state of esc.escalate) {
      const current = this.deps.tradingStates.current.global.state;
      if (state === 'REDUCING' && current !== 'ACTIVE') continue;
      if (state === 'HALTED' && current === 'HALTED') continue;
      const threshold = state === 'REDUCING' ? policy.reducing_at_drawdown_pct : policy.halt_at_drawdown_pct;
      const cause = `drawdown ${dd!.toFixed(2)}% ≥ ${threshold}%`;
      await this.deps.tradingStates.set('global', null, state, 'governance', cause);
      this.record(state === 'REDUCING' ? 'trading_reducing' : 'trading_halted', cause, { drawdown_pct: dd, threshold }, state === 'HALTED' ? 'CRITICAL' : 'WARNING', `Governance: trading ${state}`);
    }
  }

  private onExposureChange(change: ExposureChange): void {
    this.deps.metrics?.exposureMultiplier.set(this.effectiveMultiplier());
    if (change.kind === 'reduced') {
      // The runbook's governance test greps for exactly this wording.
      this.deps.log.warn({ from: change.from, to: change.to, rule: change.hit?.rule.name ?? null }, `[GOV] 📉 Exposure reduced ${fmtX(change.from)} → ${fmtX(change.to)} (${change.cause})`);
      this.record('reduce_exposure', change.cause, { from: change.from, to: change.to, rule: change.hit?.rule.name ?? null, value: change.hit?.value ?? null }, change.to <= 0.5 ? 'CRITICAL' : 'WARNING', 'Exposure reduced');
      if (this.deps.policy().trim_positions) void this.trimPositions(change.from, change.to);
    } else {
      this.deps.log.info({ from: change.from, to: change.to }, `[GOV] 📈 Exposure restored ${fmtX(change.from)} → ${fmtX(change.to)} (${change.cause})`);
      this.record('restore_exposure', change.cause, { from: change.from, to: change.to }, 'INFO', 'Exposure restored');
    }
  }

  /** Operator override (POST /governance/exposure), e.g. after a drill. Rules still apply afterwards. */
  setMultiplier(value: number, actor: string, reason: string): { from: number; to: number } {
    const policy = this.deps.policy();
    const to = Math.min(1, Math.max(policy.min_multiplier, value));
    const from = this.multiplier;
    this.multiplier = to;
    this.calmSince = null;
    this.deps.metrics?.exposureMultiplier.set(this.effectiveMultiplier());
    const line = `[GOV] Exposure multiplier set ${fmtX(from)} → ${fmtX(to)} by ${actor}: ${reason}`;
    this.deps.log.warn({ from, to, actor }, line);
    this.record('set_exposure', `${actor}: ${reason}`, { from, to, actor }, 'INFO', 'Exposure multiplier set');
    void this.evaluate(false);
    return { from, to };
  }

  private async pollEngines(): Promise<void> {
    const policy = this.deps.policy();
    const now = this.now();
    for (const e of this.deps.engines()) {
      let health;
      try {
        health = await e.health();
      } catch {
        continue; // reachability is the metrics collector's concern (hmm_engine_up)
      }
      const calls = health.venue_calls;
      if (calls) {
        const samples = this.venueSamples.get(e.name) ?? [];
        samples.push({ ts: now, requests: calls.requests, errors: calls.errors });
        const keepMs = policy.venue_errors.window_sec * 1000 * 2;
        while (samples.length > 2 && now - samples[1]!.ts > keepMs) samples.shift();
        this.venueSamples.set(e.name, samples);
        const rate = venueErrorRate(samples, now, policy.venue_errors.window_sec * 1000, policy.venue_errors.min_requests);
        const armed = this.venueArmed.get(e.name) ?? true;
        if (rate && rate.rate >= policy.venue_errors.max_error_rate && armed && policy.enabled) {
          this.venueArmed.set(e.name, false);
          const cause = `venue error rate ${(rate.rate * 100).toFixed(0)}% (${rate.errors}/${rate.requests}) over ${policy.venue_errors.window_sec} s ≥ ${(policy.venue_errors.max_error_rate * 100).toFixed(0)}%${calls.last_error ? `; last: ${calls.last_error}` : ''}`;
          this.deps.log.error({ venue: e.name, ...rate }, `[GOV] 🚧 Venue ${e.name} paused: ${cause}`);
          if (this.deps.tradingStates.get('venue', e.name)?.state !== 'HALTED') {
            await this.deps.tradingStates.set('venue', e.name, 'HALTED', 'governance', cause);
          }
          this.record('pause_venue', cause, { venue: e.name, ...rate }, 'CRITICAL', `Venue ${e.name} paused`);
        } else if (!rate || rate.rate < policy.venue_errors.max_error_rate / 2) {
          this.venueArmed.set(e.name, true);
        }
      }
      if (policy.latency_p99_ms !== null) {
        const p99 = (await e.stats().catch(() => null))?.routing_ms.p99 ?? null;
        if (p99 !== null && p99 > policy.latency_p99_ms && this.latencyArmed && policy.enabled) {
          this.latencyArmed = false;
          const cause = `${e.name} routing p99 ${p99} ms > ${policy.latency_p99_ms} ms`;
          this.deps.log.warn({ venue: e.name, p99 }, `[GOV] 🐢 High latency: ${cause}`);
          this.record('high_latency', cause, { venue: e.name, p99_ms: p99 }, 'WARNING', 'High latency');
        } else if (p99 === null || p99 < policy.latency_p99_ms * 0.8) {
          this.latencyArmed = true;
        }
      }
    }
  }

  /** Sells down each model's long positions by the share the multiplier fell (trim_positions). */
  private async trimPositions(from: number, to: number): Promise<void> {
    if (from <= 0 || to >= from) return;
    const share = 1 - to / from;
    for (const e of this.deps.engines()) {
      try {
        const steps = new Map((await e.instruments()).map((i) => [i.symbol, fx(i.step_size)]));
        for (const p of await e.modelPositions()) {
          const held = fx(p.qty);
          const step = steps.get(p.symbol);
          const px = await e.lastPrice(p.symbol);
          if (held <= 0n || !step || px === null) continue;
          const qty = floorToStep(fx((toNumber(held) * share).toFixed(8)), step);
          if (qty <= 0n || toNumber(mul(qty, fx(px))) < this.deps.minNotionalUsd) continue;
          const out = await e.submit({
            clientOrderId: `gov-trim-${p.model}-${p.symbol}-${this.now()}`.slice(0, 64),
            symbol: toSymbol(p.symbol), side: 'SELL', type: 'MARKET', qty, price: null, model: modelId(p.model),
          });
          const result = out.kind === 'accepted' ? `${out.order.status} ${out.order.filled_qty}` : out.kind === 'rejected' ? `rejected ${out.reason}` : 'conflict';
          this.deps.log.warn({ model: p.model, symbol: p.symbol, qty: qty.toString() }, `[GOV] ✂️ Trimmed ${p.model} ${p.symbol} by ${(share * 100).toFixed(0)}%: SELL ${toNumber(qty)} → ${result}`);
        }
      } catch (err) {
        this.deps.log.error({ err, engine: e.name }, `[GOV] trimming positions at ${e.name} failed: ${(err as Error).message}`);
      }
    }
  }

  private record(action: string, cause: string, detail: Record<string, unknown>, severity: 'INFO' | 'WARNING' | 'CRITICAL', title: string): void {
    const ts = this.now();
    const entry: GovernanceActionRecord = { ts: new Date(ts).toISOString(), action, cause, detail };
    this.recent.push(entry);
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
    this.persist();
    this.deps.metrics?.governanceActions.inc({ action });
    this.deps.bus.publish('governance.action', { action, cause, detail, ts });
    this.deps.bus.publish('alert', { severity, title, message: cause, key: `governance:${action}`, ts });
    this.deps.audit?.record({ server: 'ops', action: `governance.${action}`, method: null, route: null, token_fp: null, actor: 'governance', status: null, result: 'ok', body: { cause, ...detail } });
  }

  private load(): void {
    if (!existsSync(this.deps.statePath)) return;
    try {
      const doc = JSON.parse(readFileSync(this.deps.statePath, 'utf8')) as Partial<PersistedState>;
      const m = Number(doc.multiplier);
      if (Number.isFinite(m) && m > 0 && m <= 1) this.multiplier = m;
      this.calmSince = typeof doc.calm_since === 'number' ? doc.calm_since : null;
      this.peakEquity = typeof doc.peak_equity === 'number' && Number.isFinite(doc.peak_equity) ? doc.peak_equity : null;
      if (doc.arms && typeof doc.arms.reducing === 'boolean' && typeof doc.arms.halt === 'boolean') this.arms = doc.arms;
      if (Array.isArray(doc.recent)) this.recent = doc.recent.slice(-RECENT);
      if (this.multiplier < 1) this.deps.log.warn(`[GOV] exposure multiplier ${fmtX(this.multiplier)} restored from ${this.deps.statePath}`);
    } catch (err) {
      // Fail safe: an unreadable memory must not silently restore full size after a reduction.
      this.multiplier = this.deps.policy().min_multiplier;
      this.deps.log.error(`[GOV] ${this.deps.statePath} is unreadable (${(err as Error).message}); exposure multiplier set to the minimum ${fmtX(this.multiplier)} until it recovers`);
    }
  }

  /** A new equity peak, or a new start of the recovery window, alone is saved at most once a
   *  host second: a replay makes one every round (a rising equity; readings that alternate
   *  between adverse and calm while exposure is reduced). What waits is saved by a host timer
   *  at the end of that second, or sooner with any other save (a multiplier change, an
   *  escalation, an action, the end of a recovery window are saved at once) or at stop(). A
   *  crash inside the second restores the memory before it: a peak a second's rise lower, or
   *  no recovery window yet (one starts at the next calm reading). */
  private persistSoon(): void {
    this.pacedPersist.request();
  }

  private persist(): void {
    this.pacedPersist.saved();
    const doc: PersistedState = {
      multiplier: this.multiplier, calm_since: this.calmSince, peak_equity: this.peakEquity, arms: this.arms,
      updated_at: new Date(this.now()).toISOString(), recent: this.recent,
    };
    try {
      writeJsonAtomic(this.deps.statePath, doc);
    } catch (err) {
      // A full disk is reported (new orders stop until writes succeed); said once, not every round.
      const storageFault = reportStorageFault(this.deps.statePath, err);
      if (!storageFault) this.deps.log.error({ err }, `[GOV] cannot write ${this.deps.statePath}: ${(err as Error).message}`);
    }
  }
}
