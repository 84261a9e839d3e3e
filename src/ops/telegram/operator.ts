// What the Telegram commands read and do, through the services the Ops API routes call — the
// kill switch (POST /kill), the weights with the route's validation (POST /strategy/weights),
// the canary manager (POST /strategy/promote, /strategy/rollback), the force-exit (POST
// /positions/force-exit) — and the views the read routes serve (aggregatePortfolio as in
// /aggregate/portfolio, modelPositionRows as in /positions, the leaderboard as in
// /strategy/status). No second implementation of a change or a view lives here: only the
// rendering of answers as compact monospace tables.
import type { EngineHandle } from '../../engine/engineHandle.js';
import type { LeaderboardRow } from '../../lifecycle/leaderboard.js';
import type { TradingStateDocument } from '../../core/tradingState.js';
import type { StrategyWeights } from '../../portfolio/strategyWeights.js';
import { aggregatePortfolio } from '../aggregate.js';
import type { DayPnl } from '../dailyPnl.js';
import type { KillSwitch } from '../killSwitch.js';
import { setWeights } from '../routes/control.js';
import { modelPositionRows } from '../routes/trading.js';
import type { BotOperator } from './commandBot.js';
import { type CommandName, type PlannedAction, escapeHtml, fmt, pre, table } from './commands.js';

/** A stage change as the canary manager answers it. */
export interface StageChangeResult {
  readonly action: string;
  readonly model: string;
  readonly from: string;
  readonly to: string;
  readonly counterpart: string | null;
}

/** A force-exit as the service answers it: quantity sold of quantity held. */
export interface ForceExitResult {
  readonly sold: string;
  readonly held: string;
}

export interface TelegramOperatorDeps {
  readonly engines: () => readonly EngineHandle[];
  readonly baselineEquity: (engine: string) => number;
  readonly killSwitch: Pick<KillSwitch, 'set' | 'enabled'>;
  readonly tradingStates: () => TradingStateDocument;
  readonly exposureMultiplier: () => number;
  readonly weights: Pick<StrategyWeights, 'current' | 'update'>;
  readonly modelIds: () => readonly string[];
  readonly stageOf: (model: string) => string;
  readonly quota: (model: string) => number;
  readonly leaderboard: () => Promise<LeaderboardRow[]>;
  readonly promote: (model: string, stage: string | undefined, actor: string, reason: string | undefined) => Promise<StageChangeResult>;
  readonly rollback: (model: string | undefined, actor: string, reason: string | undefined) => Promise<StageChangeResult>;
  readonly forceExit: (model: string, symbol: string, actor: string, reason: string | undefined) => Promise<ForceExitResult>;
  readonly dailyPnl: (days: number | null) => DayPnl[];
  readonly startedAt: number;
  readonly lastBarTs: () => number | null;
  readonly now: () => number;
}

const signed = (x: number): string => `${x >= 0 ? '+' : ''}${fmt(x)}`;
/** Label–value lines: a two-column table without its (empty) head line. */
const pairs = (rows: readonly (readonly string[])[]): string => table(['', ''], rows).split('\n').slice(1).join('\n');

export function telegramOperator(d: TelegramOperatorDeps): BotOperator {
  const reads: Partial<Record<CommandName, (days: number | null) => Promise<string>>> = {
    async status() {
      const p = await aggregatePortfolio(d.engines(), d.baselineEquity);
      const st = d.tradingStates();
      const held = [...Object.entries(st.venues), ...Object.entries(st.models)].filter(([, e]) => e.state !== 'ACTIVE').map(([k, e]) => `${k} ${e.state}`);
      const engines = await Promise.all(d.engines().map(async (e) => {
        try {
          const h = await e.health();
          return [e.name, h.trading_enabled ? 'trading' : 'halted', h.open_orders] as (string | number)[];
        } catch {
          return [e.name, 'UNREACHABLE', '-'] as (string | number)[];
        }
      }));
      const last = d.lastBarTs();
      const rows: [string, string][] = [
        ['trading', `${d.killSwitch.enabled ? 'ENABLED' : 'PAUSED'} (${st.global.state})`],
        ...(held.length ? [['held', held.join(', ')] as [string, string]] : []),
        ['multiplier', `×${d.exposureMultiplier().toFixed(2)}`],
        ['equity', `${fmt(p.equity)} (${signed(p.gain)}, ${signed(p.gain_pct)}%)`],
        ['exposure', fmt(p.exposure)],
        ['uptime', `${Math.round((d.now() - d.startedAt) / 60_000)} min`],
        ['last bar', last === null ? 'none yet' : `${Math.round((d.now() - last) / 1000)} s ago`],
      ];
      return pre('Status', `${pairs(rows)}\n\n${table(['engine', 'state', 'open'], engines)}`);
    },
    async balance() {
      const p = await aggregatePortfolio(d.engines(), d.baselineEquity);
      const rows = Object.entries(p.venues).map(([n, v]) => [n, v.equity, v.cash, v.realized_pnl, v.unrealized_pnl, v.fees]);
      rows.push(['total', p.equity, p.cash, p.realized_pnl, p.unrealized_pnl, p.fees]);
      const down = Object.keys(p.unreachable);
      return pre(`Balance (gain ${signed(p.gain)} USD, ${signed(p.gain_pct)}%)`, table(['venue', 'equity', 'cash', 'real', 'unreal', 'fees'], rows)) + (down.length ? `\nunreachable: ${escapeHtml(down.join(', '))}` : '');
    },
    async profit(days) {
      const daysRows = d.dailyPnl(days);
      const realized = daysRows.reduce((a, r) => a + r.realized, 0);
      const fees = daysRows.reduce((a, r) => a + r.fees, 0);
      const trades = daysRows.reduce((a, r) => a + r.trades, 0);
      const p = await aggregatePortfolio(d.engines(), d.baselineEquity);
      const span = days === null ? `since ${daysRows[0]?.day ?? 'start'}` : `last ${days} day${days === 1 ? '' : 's'}`;
      return pre(`Profit, ${span}`, pairs([
        ['realized', fmt(realized)], ['fees', fmt(fees)], ['net', fmt(realized - fees)], ['trades', String(trades)],
        ['unrealized now', fmt(p.unrealized_pnl)], ['equity gain', `${signed(p.gain)} (${signed(p.gain_pct)}%)`],
      ]));
    },
    async daily(days) {
      const rows = d.dailyPnl(days ?? 7).reverse().map((r) => [r.day, r.realized, r.fees, r.realized - r.fees, r.trades]);
      return pre(`Daily PnL (UTC), last ${days ?? 7} days`, table(['day', 'real', 'fees', 'net', 'trades'], rows));
    },
    async positions() {
      // GET /positions's rows: the same marks, rounding and order (a position with no last
      // price is marked at its average, its last shown as '-').
      const rows = (await modelPositionRows(d.engines())).map((r) => [r.model, r.symbol, r.qty, r.avg_price, r.last_price ?? NaN, r.value_usd, r.unrealized_pnl]);
      if (rows.length === 0) return pre('Positions', 'no open position');
      return pre('Positions', table(['model', 'symbol', 'qty', 'avg', 'last', 'value', 'unreal'], rows));
    },
    async leaderboard() {
      const rows = (await d.leaderboard()).map((r) => [r.rank, r.model, r.stage, r.weight, r.pnl, r.evidence.psr === null ? r.evidence.status.replace(/^collecting: /, '') : r.evidence.psr.toFixed(2)]);
      if (rows.length === 0) return pre('Leaderboard', 'no model');
      return pre('Leaderboard', table(['#', 'model', 'stage', 'w', 'pnl', 'psr'], rows.map((r) => [String(r[0]), ...r.slice(1)])));
    },
    async weights() {
      const doc = d.weights.current;
      const rows = d.modelIds().map((m) => [m, d.stageOf(m), doc.weights[m] ?? 0, d.quota(m)]);
      return pre(`Weights (${doc.updated_by || 'file'}, ${doc.updated_at || 'never'})`, table(['model', 'stage', 'weight', 'quota'], rows));
    },
  };

  return {
    async read(name, days) {
      const r = reads[name];
      if (!r) throw new Error(`/${name} is not a read`);
      return r(days);
    },

    async act(a: PlannedAction, actor: string): Promise<string> {
      switch (a.kind) {
        case 'pause': case 'resume': {
          const r = await d.killSwitch.set(a.kind === 'resume', actor, a.reason);
          const down = r.unreachable.length ? `; unreachable (they get it when they answer): ${r.unreachable.join(', ')}` : '';
          return `${r.state.trading_enabled ? 'Trading enabled' : 'Trading paused'} (${r.state.reason})${down}`;
        }
        case 'weights': {
          // The route's own validation (unknown model, range) and its answer (400 naming the field).
          const doc = setWeights(d.weights, { ...a.weights }, d.modelIds(), actor);
          return `Weights now ${Object.entries(doc.weights).map(([m, w]) => `${m}=${w}`).join(' ')}`;
        }
        case 'promote': {
          const r = await d.promote(a.model, a.stage ?? undefined, actor, undefined);
          return `${r.action}: ${r.model} ${r.from} → ${r.to}${r.counterpart ? ` (${r.counterpart} replaced)` : ''}`;
        }
        case 'rollback': {
          const r = await d.rollback(a.model ?? undefined, actor, undefined);
          return `rollback: ${r.model} ${r.from} → ${r.to}; ${r.counterpart ?? '-'} live again`;
        }
        case 'forceexit': {
          const r = await d.forceExit(a.model, a.symbol, actor, undefined);
          return `force-exit ${a.model} ${a.symbol}: sold ${r.sold} of ${r.held}`;
        }
      }
    },
  };
}
