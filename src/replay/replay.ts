// The whole-stack replay (`hmm replay`): the embedded stack of src/app/stack.ts — every
// registered model, router, allocator, governance, canary, shadow book, sim venue, ledger and
// exports — run over recorded or synthetic bars on a SimClock, in a fresh root, as fast as the
// CPU allows. Same code path as live: the stack is started with a market source whose start()
// hands us the stack's own bar handler, and each step waits for the work that step set off
// (signals → router → engine → venue → ledger) to settle before the clock moves on, so a run
// depends on its bars and seed only, never on CPU speed. Writes the artefacts a live run
// writes in its root, plus replay/report.json and replay/summary.txt.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SimClock } from '../core/clock.js';
import { StackError } from '../core/errors.js';
import { symbol as toSymbol } from '../core/ids.js';
import type { Bar } from '../core/marketData.js';
import { loadConfig } from '../config/config.js';
import { SyntheticMarket } from '../market/synthetic.js';
import type { MarketSource } from '../app/marketSource.js';
import { startStack, type Stack } from '../app/stack.js';
import { stackPaths } from '../ops/paths.js';
import type { HistoryEntry } from '../lifecycle/strategyRegistry.js';
import { setAtomicDurability, writeFileAtomic, writeJsonAtomic } from '../util/atomicFile.js';
import { loadHmmModel } from '../strategy/hmm/modelStore.js';
import { labelRegimes, summariseRegimes } from '../strategy/hmm/regimeLabels.js';

/** The replay layer's coded errors (HMM_REPLAY_*). */
export class ReplayError extends StackError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ReplayError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface ReplayOptions {
  /** A fresh root (absent or empty): a replay never writes over a root that has state. */
  readonly root: string;
  /** Recorded bars, time-ordered; the first WARMUP_BARS steps are the warm-up history. */
  readonly bars?: readonly Bar[];
  /** Or the seeded synthetic market: `steps` steps after the warm-up. */
  readonly synthetic?: { readonly seed: number; readonly drift: number; readonly steps: number };
  /** The stack's environment (TRADE_SYMBOLS, BAR_INTERVAL_MS, WARMUP_BARS, ...). HMM_ROOT,
   *  MARKET_SEED and MARKET_DRIFT are set from the options. */
  readonly env?: Env;
  /** Steps between two samples of the allocation history (default: about 200 samples). */
  readonly sampleEvery?: number;
  /** Models registered in shadow before the first replayed step, beside the defaults (the
   *  planted-edge scenario adds invertedMa(), a deliberately losing contender). */
  readonly models?: readonly { readonly id: string; readonly spec: unknown }[];
  /** Called once the stack is up, before the first replayed step (a test adds its models). */
  readonly onStarted?: (stack: Stack) => void | Promise<void>;
  /** The text of an ops/policies.yaml to replay under (a what-if: other canary, governance or
   *  retrain rules), written into the fresh root before the stack starts and read as at any
   *  start; default: the shipped policies. */
  readonly policies?: string;
  /** When given, the replayed steps' CPU time is added up in it by phase (bench/replay.bench.ts
   *  `phases`); five process.cpuUsage() reads a step, so only a bench passes one. */
  readonly phases?: StepPhases;
}

/** Process CPU time (user + system, µs) of a replay's steps, by phase: the clock's advance (the
 *  daemons' timers due by the step), the stack's bar handler, the settle's first event-loop turn
 *  (the async continuations the step set off) and its two further turns (the fixed point). */
export class StepPhases {
  readonly cpuUs = { advance: 0, bars: 0, firstTurn: 0, furtherTurns: 0 };
  steps = 0;
  private at = 0;

  /** Starts a step's first phase. */
  start(): void {
    this.steps++;
    this.at = cpuMicros();
  }

  /** Ends `phase` (its CPU since the previous mark) and starts the next. */
  lap(phase: keyof StepPhases['cpuUs']): void {
    const now = cpuMicros();
    this.cpuUs[phase] += now - this.at;
    this.at = now;
  }
}

/** Process CPU time so far (user + system), µs: what StepPhases and bench/replay.bench.ts read. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** A deliberately losing model for the planted-edge scenario: the default MA crossover turned
 *  around (long while the fast average is below the slow one), on the first traded symbol. */
export function invertedMa(symbol: string): { readonly id: string; readonly spec: unknown } {
  return { id: 'ma_inverted', spec: { kind: 'ma', symbols: [symbol], params: { fast: 9, slow: 21, band: 0.0002, invert: true } } };
}

export interface AllocationSample {
  readonly ts: number;
  readonly weights: Readonly<Record<string, number>>;
  /** Capital quota per model (USD), the allocator's at that bar: the capital curve per model. */
  readonly quotas: Readonly<Record<string, number>>;
}

/** A run of bars the HMM's most likely regime path (Viterbi) keeps in one regime. */
export interface RegimeSegment {
  readonly from: string;
  readonly to: string;
  readonly bars: number;
  /** Rank by mean return: 0 = most bearish of the model's k regimes. */
  readonly regime: number;
  /** Price change over the segment, in percent. */
  readonly return_pct: number;
}

export interface ReplayReport {
  readonly root: string;
  readonly source: string;
  readonly steps: number;
  readonly bars: number;
  readonly from: string | null;
  readonly to: string | null;
  readonly wall_ms: number;
  readonly bars_per_s: number;
  readonly models: readonly {
    readonly model: string;
    readonly is_live: boolean;
    readonly pnl: number;
    readonly live_pnl: number;
    readonly shadow_pnl: number;
    readonly fees: number;
    readonly evidence: unknown;
  }[];
  /** Registry changes (promotions, rollbacks, demotions, ...) with their market time. */
  readonly lifecycle: readonly HistoryEntry[];
  readonly allocations: readonly AllocationSample[];
  readonly final_weights: Readonly<Record<string, number>>;
  readonly final_quotas: Readonly<Record<string, number>>;
  /** Promotions to live (market time, model, what it replaced): the heart of a planted-edge run. */
  readonly promotions: readonly { readonly ts: string; readonly model: string; readonly from: string | null; readonly to: string; readonly reason: string }[];
  /** Viterbi regime labels of the replayed bars of the HMM's symbol, by the first registered
   *  HMM (the one trained on the history before the replay): per segment, and per regime. */
  readonly regimes: {
    readonly model: string;
    readonly symbol: string;
    readonly k: number;
    readonly summary: readonly { readonly regime: number; readonly share_pct: number; readonly spells: number; readonly mean_spell_bars: number; readonly mean_return_bp: number }[];
    readonly segments: readonly RegimeSegment[];
  } | null;
  /** The trading states (governance) at the end. */
  readonly trading_states: unknown;
  readonly orders: number;
  readonly fills: number;
}

/** Waits until the work a step set off has settled: the bus, the runtime's signals, the router
 *  and the engine's submissions all run on promises of this process (the sim venue and the
 *  ledger answer synchronously), so a few turns of the event loop with the engine quiesced in
 *  between reach a fixed point. */
export async function settle(stack: Stack, phases: StepPhases | null = null): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((r) => setImmediate(r));
    await stack.engine.quiesce();
    if (i === 0) phases?.lap('firstTurn');
  }
  phases?.lap('furtherTurns');
}

/** Host ms between two writes of an exported state file during a replay (util/exportFile.ts). */
const EXPORT_PACING_MS = 1_000;

/** Groups time-ordered bars into steps of one open time. */
function stepsOf(bars: readonly Bar[]): Bar[][] {
  const out: Bar[][] = [];
  for (const b of bars) {
    const last = out[out.length - 1];
    if (last && last[0]!.ts === b.ts) last.push(b);
    else if (last && b.ts < last[0]!.ts) throw new ReplayError('HMM_REPLAY_UNORDERED', `bars are not time-ordered at ${new Date(b.ts).toISOString()}`);
    else out.push([b]);
  }
  return out;
}

export async function runReplay(opts: ReplayOptions): Promise<ReplayReport> {
  if (existsSync(opts.root) && readdirSync(opts.root).length > 0) {
    throw new ReplayError('HMM_REPLAY_ROOT_NOT_FRESH', `${opts.root} already has state; a replay runs in a fresh (absent or empty) root`);
  }
  if ((opts.bars === undefined) === (opts.synthetic === undefined)) throw new ReplayError('HMM_REPLAY_NO_BARS', 'give exactly one of bars or synthetic');
  const env: Record<string, string | undefined> = { ...(opts.env ?? {}), HMM_ROOT: opts.root };
  if (opts.synthetic) {
    env.MARKET_SEED = String(opts.synthetic.seed);
    env.MARKET_DRIFT = String(opts.synthetic.drift);
  }
  const config = loadConfig(env);
  const symbols = config.tradeSymbols.map(toSymbol);
  let steps: Bar[][];
  let source: string;
  if (opts.bars) {
    steps = stepsOf(opts.bars);
    source = `recorded bars (${opts.bars.length})`;
  } else {
    const s = opts.synthetic!;
    const m = new SyntheticMarket({ seed: s.seed, symbols, intervalMs: config.barIntervalMs, driftScale: s.drift });
    steps = [];
    for (let i = 0; i < config.warmupBars + s.steps; i++) steps.push(m.nextBars());
    source = `synthetic (seed ${s.seed}, drift ×${s.drift})`;
  }
  // Written once the bars are known to be replayable: a refused replay leaves its folder fresh.
  if (opts.policies !== undefined) writeFileAtomic(stackPaths(config.root).policies, opts.policies);
  const warm = Math.min(config.warmupBars, Math.max(0, steps.length - 1));
  const history = steps.slice(0, warm).flat();
  const replayed = steps.slice(warm);
  const first = replayed[0]?.[0]?.ts ?? history[history.length - 1]?.ts ?? 0;
  const clock = new SimClock(first);
  let handler: ((bars: readonly Bar[]) => void) | null = null;
  const market: MarketSource = {
    description: `replay of ${source}`,
    kind: 'synthetic',
    history,
    start(onBars) { handler = onBars; },
    close: () => Promise.resolve(),
  };
  const t0 = performance.now();
  const wasDurable = setAtomicDurability(false);
  try {
    return await replayOn(opts, { env, config, clock, market, replayed, source, t0, handlerOf: () => handler });
  } finally {
    setAtomicDurability(wasDurable);
  }
}

async function replayOn(opts: ReplayOptions, r: { env: Env; config: ReturnType<typeof loadConfig>; clock: SimClock; market: MarketSource; replayed: Bar[][]; source: string; t0: number; handlerOf: () => ((bars: readonly Bar[]) => void) | null }): Promise<ReplayReport> {
  const { env, config, clock, market, replayed, source, t0 } = r;
  // The state files a live stack refreshes every few seconds are refreshed at most every
  // EXPORT_PACING_MS of host time here (and last at stop): nobody polls a replay's files
  // mid-run, and renaming them once per bar bounded it to a few hundred bars/s.
  const stack = await startStack({ env, clock, market, stdout: false, listen: false, exportPacingMs: EXPORT_PACING_MS });
  const allocations: AllocationSample[] = [];
  const every = opts.sampleEvery ?? Math.max(1, Math.floor(replayed.length / 200));
  let nBars = 0;
  try {
    const onBars = r.handlerOf();
    if (onBars === null) throw new ReplayError('HMM_REPLAY_NOT_STARTED', 'the stack did not start its market source');
    for (const m of opts.models ?? []) stack.strategy.fleet.register(m.id, m.spec, 'replay scenario: contender');
    if ((opts.models ?? []).length > 0) stack.strategy.fleet.scan();
    await opts.onStarted?.(stack);
    await settle(stack);
    const phases = opts.phases ?? null;
    for (let i = 0; i < replayed.length; i++) {
      const step = replayed[i]!;
      phases?.start();
      clock.advanceTo(step[0]!.ts);
      phases?.lap('advance');
      onBars(step);
      phases?.lap('bars');
      nBars += step.length;
      await settle(stack, phases);
      if (i % every === 0 || i === replayed.length - 1) allocations.push({ ts: clock.now(), weights: { ...stack.context.weights.current.weights }, quotas: { ...stack.strategy.allocator.all() } });
    }
    // The last bar's interval ends: timers due by then (allocator, canary, tracker) run.
    clock.advanceBy(config.barIntervalMs);
    await settle(stack);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  const wallMs = performance.now() - t0;
  const reports = stack.strategy.tracker.reports();
  const lifecycle = stack.strategy.registry.history(100_000);
  const regimes = regimeReport(stack, replayed);
  const finalQuotas = { ...stack.strategy.allocator.all() };
  const report: ReplayReport = {
    root: opts.root, source, steps: replayed.length, bars: nBars,
    from: replayed[0] ? new Date(replayed[0][0]!.ts).toISOString() : null,
    to: replayed.length ? new Date(replayed[replayed.length - 1]![0]!.ts).toISOString() : null,
    wall_ms: Math.round(wallMs), bars_per_s: Math.round(nBars / Math.max(1e-9, wallMs / 1000)),
    models: reports.map((r) => ({ model: r.model, is_live: r.is_live, pnl: r.pnl, live_pnl: r.live_pnl, shadow_pnl: r.shadow_pnl, fees: r.fees, evidence: r.evidence })),
    lifecycle, allocations, final_weights: { ...stack.context.weights.current.weights }, final_quotas: finalQuotas,
    promotions: lifecycle.filter((h) => h.action === 'promote' && h.to === 'live').map((h) => ({ ts: h.ts, model: h.model, from: h.from, to: h.to, reason: h.reason })),
    regimes,
    trading_states: stack.governance.tradingStates.current,
    orders: 0, fills: 0,
  };
  await stack.stop();
  const counted = countOrders(join(opts.root, 'engine/logs/orders.jsonl'));
  const full = { ...report, ...counted };
  writeJsonAtomic(join(opts.root, 'replay/report.json'), full);
  writeFileAtomic(join(opts.root, 'replay/summary.txt'), formatReplay(full));
  return full;
}

/** The capital curve per model: quotas at about ten evenly spaced samples. */
function capitalCurve(r: ReplayReport): string[] {
  if (r.allocations.length === 0) return [];
  const models = Object.keys(r.final_quotas);
  const step = Math.max(1, Math.floor((r.allocations.length - 1) / 10));
  const rows: string[] = [`  capital curve (quota USD): ${'market time'.padEnd(24)} ${models.map((m) => m.padStart(18)).join('')}`];
  for (let i = 0; i < r.allocations.length; i += step) {
    const a = r.allocations[i]!;
    rows.push(`  ${''.padEnd(26)} ${new Date(a.ts).toISOString().padEnd(24)} ${models.map((m) => (a.quotas[m] ?? 0).toFixed(0).padStart(18)).join('')}`);
  }
  return rows;
}

/** Viterbi labels of the replayed bars by the first registered HMM, as segments. */
function regimeReport(stack: Stack, replayed: readonly Bar[][]): ReplayReport['regimes'] {
  const hmm = stack.strategy.registry.entries().filter((e) => e.kind === 'hmm').sort((a, b) => a.created_at.localeCompare(b.created_at) || a.version - b.version)[0];
  if (!hmm) return null;
  const p = hmm.params as { store_id: string; store_version: number };
  let stored;
  try {
    stored = loadHmmModel(stack.paths.modelsDir, p.store_id, p.store_version);
  } catch {
    return null;
  }
  const sym = hmm.symbols[0]!;
  const bars = replayed.flat().filter((b) => b.symbol === sym);
  const labels = labelRegimes(stored, bars);
  const { spells, regimes } = summariseRegimes(labels, bars, stored.k);
  return {
    model: hmm.id, symbol: sym, k: stored.k,
    summary: regimes.map((r) => ({ regime: r.regime, share_pct: round2(r.share_pct), spells: r.spells, mean_spell_bars: Math.round(r.mean_spell_bars), mean_return_bp: round2(r.mean_return_bp) })),
    segments: spells.map((sp) => ({
      from: new Date(sp.from_ts).toISOString(), to: new Date(sp.to_ts).toISOString(), bars: sp.bars,
      regime: sp.regime, return_pct: round2(sp.return_pct),
    })),
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Lines of the order log by kind (fills are their own lines). */
function countOrders(path: string): { orders: number; fills: number } {
  if (!existsSync(path)) return { orders: 0, fills: 0 };
  let orders = 0;
  let fills = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    if (line.includes("\"event\":\"trade.fill\"")) fills++;
    else orders++;
  }
  return { orders, fills };
}

export function formatReplay(r: ReplayReport): string {
  const lines = [
    `replay of ${r.source}: ${r.steps} steps, ${r.bars} bars, ${r.from ?? '—'} → ${r.to ?? '—'} (${r.wall_ms} ms, ${r.bars_per_s} bars/s)`,
    ...r.models.map((m) => `  ${m.model.padEnd(24)} ${m.is_live ? 'live  ' : 'shadow'} pnl ${m.pnl.toFixed(2)} (live ${m.live_pnl.toFixed(2)}, shadow ${m.shadow_pnl.toFixed(2)}), fees ${m.fees.toFixed(2)}, weight ${(r.final_weights[m.model] ?? 0).toFixed(3)}`),
    `  lifecycle: ${r.lifecycle.length} change(s)${r.lifecycle.length ? ': ' + r.lifecycle.map((h) => `${h.action} ${h.model} ${h.from ?? '—'}→${h.to} at ${h.ts}`).join('; ') : ''}`,
    `  order log: ${r.orders} order line(s), ${r.fills} fill line(s)`,
    `  promoted to live: ${r.promotions.length === 0 ? 'none' : r.promotions.map((p) => `${p.model} at ${p.ts}`).join('; ')}`,
    `  final quotas (USD): ${Object.entries(r.final_quotas).map(([m, q]) => `${m} ${q.toFixed(0)}`).join(', ')}`,
    ...capitalCurve(r),
    ...(r.regimes === null ? [] : [
      `  regimes (Viterbi, ${r.regimes.model} on ${r.regimes.symbol}, rank 0 = most bearish of ${r.regimes.k}): ${r.regimes.segments.length} segments`,
      ...r.regimes.summary.map((g) => `    regime ${g.regime}: ${g.share_pct.toFixed(1)} % of bars in ${g.spells} spells (mean ${g.mean_spell_bars} bars), ${g.mean_return_bp.toFixed(2)} bp/bar`),
    ]),
  ];
  return lines.join('\n') + '\n';
}
