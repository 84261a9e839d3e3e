// Owns how governance's drawdown statement is read off the bus. The daemon publishes
// metrics.update with drawdown_pct and peak_equity together (daemon.ts
// publishPortfolioMetrics); a reading an operator injects usually carries neither, and one
// without both is not governance's figure. The metrics collector and the dashboard feed read
// it here; the page's copy (web/dashboard.js governanceDrawdownOf, no bundler to share this
// file with) is held to the same rules by test/unit/ops/drawdownStatement.test.ts.

/** Governance's drawdown as it stated it: percent below its peak equity, and that peak. */
export interface DrawdownStatement {
  readonly drawdown_pct: number;
  readonly peak_equity: number;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The statement a metrics.update payload makes, or null when it makes none: both numbers
 * present and finite, or nothing (a half statement is not taken). Values are passed as they
 * came; what a reader does with a peak ≤ 0 is the reader's rule, not the message's.
 */
export function decodeDrawdownStatement(payload: unknown): DrawdownStatement | null {
  if (payload === null || typeof payload !== 'object') return null;
  const p = payload as Readonly<Record<string, unknown>>;
  const dd = p['drawdown_pct'];
  const peak = p['peak_equity'];
  return isFiniteNumber(dd) && isFiniteNumber(peak) ? { drawdown_pct: dd, peak_equity: peak } : null;
}
