// Owns the drawdown formula: how far equity stands below a peak. Governance, the metrics
// gauges, the dashboard's frames, the backtest's equity.csv and each model's performance
// accumulator (its running drawdown; performance.ts's saved-state figure keeps its own, which
// may go negative on a reloaded index above its peak) all state drawdown with it, so
// the figure an operator reads on one surface is the one governance escalates on. Each caller
// keeps its own peak (where it starts and what it remembers differ); only the formula is here.
// Floats, not Fixed: drawdown is a statistic at the edges, never an amount in the ledger.

/**
 * Fraction of the peak that equity stands below it (0.05 = 5 %). 0 when the peak is not
 * positive (there is no capital to have lost a share of) and when equity is at or above the
 * peak. A NaN equity or an infinite pair gives NaN: a broken input shows as broken rather
 * than as "no drawdown".
 */
export function drawdownRatio(peak: number, equity: number): number {
  return peak > 0 ? Math.max(0, (peak - equity) / peak) : 0;
}

/** drawdownRatio in percent (5 = 5 %). */
export function drawdownPct(peak: number, equity: number): number {
  return drawdownRatio(peak, equity) * 100;
}

/** drawdownPct to a thousandth of a percent: as governance states it on the bus (metrics.update
 *  drawdown_pct) and as the dashboard draws it beside that statement. */
export function statedDrawdownPct(peak: number, equity: number): number {
  return Math.round(drawdownPct(peak, equity) * 1000) / 1000;
}
