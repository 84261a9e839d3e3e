// `hmm export-pnl`: the runbook's `python ops/export_pnl.py`.
import { stackPaths } from '../ops/paths.js';
import { exportPnlCsv } from '../ops/pnlExport.js';
import { CliError } from './opsClient.js';

export async function exportPnl(root: string, date?: string): Promise<{ path: string; rows: number }> {
  try {
    return exportPnlCsv(stackPaths(root), date);
  } catch (err) {
    if (err instanceof RangeError) throw new CliError(err.message, 2);
    throw err;
  }
}
