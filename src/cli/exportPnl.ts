// `hmm export-pnl`: the runbook's `python ops/export_pnl.py`.
import { stackPaths } from '../ops/paths.js';
import { InvalidDateError, exportPnlCsv } from '../ops/pnlExport.js';
import { CliError } from './opsClient.js';

export async function exportPnl(root: string, date?: string): Promise<{ path: string; rows: number }> {
  try {
    return exportPnlCsv(stackPaths(root), date);
  } catch (err) {
    // A bad --date, or a value the ledger holds that does not parse: both are exit code 2.
    if (err instanceof InvalidDateError || err instanceof RangeError) throw new CliError(err.message, 2);
    throw err;
  }
}
