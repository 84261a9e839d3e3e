// `hmm status`: the stack on one screen — trading state (global and per engine), equity, PnL
// today, positions, models (stage, weight, quota, evidence) and what needs attention. The
// board is a pure function of the API answers (renderStatusBoard), so it is tested with plain
// inputs; `hmm status --json` prints GET /status untouched for scripts.
import { heldByOther, readLock } from '../ops/stackLock.js';
import { stackPaths } from '../ops/paths.js';
import { dayStartEquity } from '../ops/pnlExport.js';
import type { OpsLocation } from './locate.js';
import { opsRequest } from './opsClient.js';

/* The answers the board reads, as far as it reads them (the API's wire names). */
interface TradingEntry { readonly state: string; readonly reason?: string; readonly actor?: string; readonly updated_at?: string }
export interface StatusAnswer {
  readonly state: {
    readonly mode: string;
    readonly trading_enabled: boolean;
    readonly trading_states: { readonly global: TradingEntry; readonly venues: Record<string, TradingEntry>; readonly models: Record<string, TradingEntry> } | null;
    readonly exposure_multiplier: number | null;
    readonly recovered: boolean;
    readonly recovery: Record<string, { readonly unclean_shutdown?: unknown; readonly journal_damaged?: number; readonly reconciliation?: { readonly in_sync?: boolean; readonly flagged?: number } | null }>;
    readonly engines: Record<string, { readonly engine: string; readonly error?: string; readonly trading_enabled?: boolean; readonly open_orders?: number; readonly orders?: number; readonly trading_states?: { readonly venue?: string }; readonly venue_calls?: { readonly requests: number; readonly errors: number }; readonly risk?: { readonly loss_cooldown_until?: string | null } }>;
    readonly uptime_sec: number;
    readonly equity: number;
    readonly cash: number;
    readonly last_bar_at: string | null;
  };
}
interface Position { readonly symbol: string; readonly qty: number; readonly avgPrice: number; readonly lastPrice: number; readonly unrealizedPnl: number }
export interface PortfolioAnswer {
  readonly equity: number; readonly gain: number; readonly gain_pct: number;
  readonly venues: Record<string, { readonly equity: number; readonly positions?: readonly Position[] }>;
  readonly unreachable?: Record<string, unknown>;
}
export interface LeaderboardAnswer {
  readonly leaderboard: readonly { readonly model: string; readonly stage: string; readonly weight: number; readonly capital_quota_usd: number; readonly pnl: number; readonly score: number | null; readonly evidence: { readonly status: string; readonly bars: number; readonly trades: number } }[];
}
export interface GovernanceAnswer {
  readonly metrics?: { readonly drawdown_pct?: { readonly value: number } };
  readonly recent_actions?: readonly { readonly ts: string; readonly action: string; readonly cause: string }[];
}
export interface ReadyAnswer { readonly ok: boolean; readonly reasons: readonly string[] }

export interface StatusBoardInput {
  readonly url: string;
  readonly source: string;
  readonly now: number;
  readonly status: StatusAnswer;
  readonly portfolio: PortfolioAnswer;
  readonly strategy: LeaderboardAnswer;
  readonly governance: GovernanceAnswer;
  readonly ready: ReadyAnswer;
  /** Equity per engine at the start of today (UTC), from the ledgers; null: not on this host. */
  readonly dayStart: Record<string, number> | null;
}

/** At most this many rows per table keep the board on one 24-line screen. */
const MAX_MODELS = 6;
const MAX_POSITIONS = 4;
const MAX_ALERTS = 5;

const usd = (x: number): string => `${x < 0 ? '-' : ''}$${Math.abs(x).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const signedUsd = (x: number): string => (x > 0 ? `+${usd(x)}` : usd(x));
const pct = (x: number): string => `${x > 0 ? '+' : ''}${x.toFixed(2)} %`;

function ago(sec: number): string {
  if (sec < 60) return `${Math.max(0, Math.round(sec))}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86_400) return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(sec / 86_400)}d${Math.floor((sec % 86_400) / 3600)}h`;
}

function table(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => (indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).trimEnd());
}

const more = (n: number, what: string, where: string): string[] => (n > 0 ? [`             … ${n} more ${what} (${where})`] : []);

/** What an operator should look at, most urgent first: each line names the thing and the why. */
export function attention(i: StatusBoardInput): string[] {
  const out: string[] = [];
  const s = i.status.state;
  for (const r of i.ready.reasons) out.push(`not ready: ${r}`);
  for (const [name, e] of Object.entries(s.engines)) if (e.engine !== 'ok') out.push(`engine ${name} ${e.engine}${e.error ? `: ${e.error}` : ''}`);
  const ts = s.trading_states;
  if (ts) {
    for (const [v, e] of Object.entries(ts.venues)) if (e.state !== 'ACTIVE') out.push(`venue ${v} ${e.state}${e.reason ? `: ${e.reason}` : ''}`);
    for (const [m, e] of Object.entries(ts.models)) if (e.state !== 'ACTIVE') out.push(`model ${m} ${e.state}${e.reason ? `: ${e.reason}` : ''}`);
  }
  if (s.exposure_multiplier !== null && s.exposure_multiplier < 1) out.push(`governance reduced exposure to ×${s.exposure_multiplier.toFixed(2)} (curl /governance/status)`);
  for (const [name, r] of Object.entries(s.recovery)) {
    if ((r.journal_damaged ?? 0) > 0) out.push(`${name}: ${r.journal_damaged} damaged intent-journal line(s) quarantined (/status state.recovery.${name}.damaged_lines)`);
    if (r.reconciliation && r.reconciliation.in_sync === false) out.push(`${name}: reconciliation not in sync with the venue (${r.reconciliation.flagged ?? 0} flagged; /reconcile/report)`);
    if (r.unclean_shutdown) out.push(`${name}: recovered from an unclean shutdown`);
  }
  for (const [name, e] of Object.entries(s.engines)) {
    const until = e.risk?.loss_cooldown_until;
    if (until && Date.parse(until) > i.now) out.push(`${name}: loss-streak cooldown until ${until.slice(11, 19)} UTC`);
  }
  for (const v of Object.keys(i.portfolio.unreachable ?? {})) if (!out.some((l) => l.includes(v))) out.push(`engine ${v} unreachable (its equity is missing from the totals)`);
  const hourAgo = i.now - 3_600_000;
  for (const a of i.governance.recent_actions ?? []) if (Date.parse(a.ts) >= hourAgo) out.push(`[GOV] ${a.ts.slice(11, 19)} ${a.action}: ${a.cause}`);
  return out;
}

export function renderStatusBoard(i: StatusBoardInput): string {
  const s = i.status.state;
  const lines: string[] = [];
  const lastBar = s.last_bar_at ? `last bar ${ago((i.now - Date.parse(s.last_bar_at)) / 1000)} ago` : 'no market data yet';
  lines.push(`hmm-stack ${s.mode} · up ${ago(s.uptime_sec)} · ${lastBar} · ${i.url} (${i.source})`);

  const g = s.trading_states?.global;
  const globalState = g?.state ?? (s.trading_enabled ? 'ACTIVE' : 'HALTED');
  const why = g && g.state !== 'ACTIVE' ? ` — ${g.reason ?? ''}${g.actor ? ` (${g.actor}${g.updated_at ? `, ${g.updated_at.slice(0, 16).replace('T', ' ')}` : ''})` : ''}` : '';
  const mult = s.exposure_multiplier === null ? '' : ` · exposure ×${s.exposure_multiplier.toFixed(2)}`;
  lines.push(`Trading    ${globalState}${why}${mult}`);
  for (const [name, e] of Object.entries(s.engines)) {
    if (e.engine !== 'ok') {
      lines.push(`  ${name}  ${e.engine.toUpperCase()}`);
      continue;
    }
    const venue = s.trading_states?.venues[name]?.state ?? e.trading_states?.venue ?? 'ACTIVE';
    const calls = e.venue_calls ? ` · venue errors ${e.venue_calls.errors}/${e.venue_calls.requests}` : '';
    lines.push(`  ${name}  ${venue} · orders ${e.trading_enabled ? 'on' : 'off'} · ${e.open_orders ?? 0} open / ${e.orders ?? 0} orders${calls}`);
  }

  const dd = i.governance.metrics?.drawdown_pct?.value;
  lines.push(`Equity     ${usd(i.portfolio.equity)} · cash ${usd(s.cash)} · gain ${signedUsd(i.portfolio.gain)} (${pct(i.portfolio.gain_pct)})${dd === undefined ? '' : ` · drawdown ${dd.toFixed(2)} %`}`);
  if (i.dayStart === null) {
    lines.push('PnL today  n/a — the ledgers are not under this root (run hmm status on the stack\'s root, or hmm --root)');
  } else {
    const venues = Object.entries(i.portfolio.venues).filter(([v]) => v in i.dayStart!);
    const missing = Object.keys(i.portfolio.venues).filter((v) => !(v in i.dayStart!));
    const today = venues.reduce((a, [v, p]) => a + p.equity - i.dayStart![v]!, 0);
    const start = venues.reduce((a, [v]) => a + i.dayStart![v]!, 0);
    lines.push(`PnL today  ${signedUsd(today)}${start > 0 ? ` (${pct((today / start) * 100)})` : ''} since 00:00 UTC${missing.length ? ` · without ${missing.join(', ')} (ledger not here)` : ''}`);
  }

  const positions = Object.entries(i.portfolio.venues).flatMap(([v, p]) => (p.positions ?? []).filter((x) => x.qty !== 0).map((x) => ({ v, ...x })));
  if (positions.length === 0) lines.push('Positions  none (flat)');
  else {
    const rows = positions.slice(0, MAX_POSITIONS).map((p) => [p.symbol, `${p.qty > 0 ? '+' : ''}${p.qty}`, `avg ${p.avgPrice.toFixed(2)}`, `last ${p.lastPrice.toFixed(2)}`, `uPnL ${signedUsd(p.unrealizedPnl)}`, p.v]);
    const t = table(rows, '');
    lines.push(`Positions  ${t[0]}`, ...t.slice(1).map((l) => `           ${l}`), ...more(positions.length - MAX_POSITIONS, 'positions', 'curl /aggregate/portfolio'));
  }

  const board = i.strategy.leaderboard;
  if (board.length === 0) lines.push('Models     none registered');
  else {
    const rows = [['model', 'stage', 'weight', 'quota', 'pnl', 'score', 'evidence'], ...board.slice(0, MAX_MODELS).map((r) => [
      r.model, r.stage, r.weight.toFixed(2), usd(r.capital_quota_usd), signedUsd(r.pnl), r.score === null ? '—' : r.score.toFixed(2),
      r.evidence.status === 'sufficient' ? `sufficient (${r.evidence.bars} bars, ${r.evidence.trades} trades)` : r.evidence.status,
    ])];
    const t = table(rows, '');
    lines.push(`Models     ${t[0]}`, ...t.slice(1).map((l) => `           ${l}`), ...more(board.length - MAX_MODELS, 'models', 'curl /strategy/status'));
  }

  const alerts = attention(i);
  if (alerts.length === 0) lines.push('Alerts     none');
  else {
    lines.push(`Alerts     ${alerts[0]}`, ...alerts.slice(1, MAX_ALERTS).map((a) => `           ${a}`), ...more(alerts.length - MAX_ALERTS, 'alerts', 'hmm status --json, /governance/status'));
  }
  return lines.join('\n') + '\n';
}

/** Reads the answers the board needs (in parallel) and the ledgers for PnL today. */
export async function fetchStatusBoard(loc: OpsLocation, root: string, now = Date.now()): Promise<StatusBoardInput> {
  const [status, portfolio, strategy, governance, ready] = await Promise.all([
    opsRequest(loc, 'GET', '/status') as Promise<StatusAnswer>,
    opsRequest(loc, 'GET', '/aggregate/portfolio') as Promise<PortfolioAnswer>,
    opsRequest(loc, 'GET', '/strategy/status') as Promise<LeaderboardAnswer>,
    opsRequest(loc, 'GET', '/governance/status') as Promise<GovernanceAnswer>,
    // 503 is an answer here: not ready, with the reasons.
    opsRequest(loc, 'GET', '/readyz', undefined, undefined, [503]) as Promise<ReadyAnswer>,
  ]);
  return { url: loc.url, source: loc.source, now, status, portfolio, strategy, governance, ready, dayStart: ledgersFor(loc, root, now) };
}

/** The root's ledgers count only when the root's stack is the one answering (else another
 *  stack's ledger would give a wrong PnL today). */
function ledgersFor(loc: OpsLocation, root: string, now: number): Record<string, number> | null {
  const lock = readLock(root);
  const ours = loc.source === 'lock file' || (lock !== null && heldByOther(lock) && lock.ops_url !== null && sameOrigin(lock.ops_url, loc.url));
  if (!ours) return null;
  try {
    const d = dayStartEquity(stackPaths(root), now);
    return Object.keys(d).length > 0 ? d : null;
  } catch {
    return null; // a ledger being created or unreadable: the board still prints
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    const local = (h: string) => (['127.0.0.1', 'localhost', '0.0.0.0', '[::1]', '[::]'].includes(h) ? 'local' : h);
    return local(x.hostname) === local(y.hostname) && x.port === y.port;
  } catch {
    return false;
  }
}
