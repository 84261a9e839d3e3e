// Owns how a backtest is shown and kept: the printed summary, report.json (the figures plus
// an equity curve thinned to at most 2000 points for charts) and equity.csv (every step).
// Both files are written atomically. Sharpe and Sortino are the performance module's
// (per bar, annualised with the bar interval); a withheld figure prints as "—" with its reason.
import { join } from 'node:path';
import { drawdownPct } from '../core/drawdown.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomicFile.js';
import type { BacktestReport, BacktestResult, CurvePoint } from './backtest.js';

export function thinCurve(curve: readonly CurvePoint[], max = 2000): CurvePoint[] {
  if (curve.length <= max) return [...curve];
  const out: CurvePoint[] = [];
  const stride = (curve.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(curve[Math.round(i * stride)]!);
  return out;
}

export function curveCsv(curve: readonly CurvePoint[]): string {
  const lines = ['ts,time,equity,exposure_usd,drawdown_pct'];
  let peak = -Infinity;
  for (const p of curve) {
    if (p.equity > peak) peak = p.equity;
    const dd = drawdownPct(peak, p.equity);
    lines.push(`${p.ts},${new Date(p.ts).toISOString()},${p.equity.toFixed(2)},${p.exposure.toFixed(2)},${dd.toFixed(4)}`);
  }
  return lines.join('\n') + '\n';
}

export function writeBacktestFiles(dir: string, result: BacktestResult, meta: Record<string, unknown> = {}): { json: string; csv: string } {
  const json = join(dir, 'report.json');
  const csv = join(dir, 'equity.csv');
  writeFileAtomic(csv, curveCsv(result.curve));
  writeJsonAtomic(json, { report: result.report, run: meta, equity_curve: thinCurve(result.curve).map((p) => ({ ts: p.ts, equity: Math.round(p.equity * 100) / 100 })) });
  return { json, csv };
}

/** Annualised in market time (the bars' interval); "—" with the reason when a figure is withheld. */
function sharpeLine(r: Pick<BacktestReport, 'sharpe' | 'sortino' | 'sharpe_reason' | 'bars_observed'>): string {
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(2));
  const why = r.sharpe === null ? `: ${r.sharpe_reason ?? 'not enough bars'}` : `, ${r.bars_observed.toLocaleString('en-US')} bar returns`;
  return `${f(r.sharpe)} / ${f(r.sortino)} (annualised in market time${why})`;
}

export function formatReport(r: BacktestReport): string {
  const pct = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)} %`);
  const usd = (x: number) => `${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} USDT`;
  const rows: [string, string][] = [
    ['model', `${r.model} (${r.kind}) on ${r.symbols.join(', ')}`],
    ['bars', `${r.bars.toLocaleString('en-US')} (${r.steps.toLocaleString('en-US')} steps, ${r.from ?? '–'} → ${r.to ?? '–'})`],
    ['return', `${pct(r.return_pct)} (${usd(r.pnl)}; buy & hold ${pct(r.buy_and_hold_return_pct)})`],
    ['final equity', usd(r.final_equity)],
    ['sharpe / sortino', sharpeLine(r)],
    ['max drawdown', pct(r.max_drawdown_pct)],
    ['trades', `${r.trades} fills from ${r.orders} orders (${r.signals} signals, ${r.rejected} rejected${r.rejected > 0 ? `: ${Object.entries(r.rejections).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''})`],
    ['win rate', pct(r.win_rate)],
    ['fees', usd(r.fees)],
    ['exposure time', pct(r.exposure_time_pct)],
    ['speed', `${r.bars_per_sec.toLocaleString('en-US')} bars/s (${r.elapsed_sec.toFixed(2)} s)`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}
