// `hmm backup [--out FILE]` and `hmm restore FILE`: the runbook's State Backup and Disaster
// Recovery as commands (the tar commands it shows would copy live SQLite files mid-write).
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BackupError, createBackup, restoreBackup, verifyBackup } from '../ops/backup.js';
import { CliError } from './opsClient.js';

function human(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export async function backupCommand(root: string, out?: string): Promise<string> {
  if (out !== undefined) {
    // No silent side effects: a mistyped --out must not leave a new folder tree behind.
    const dir = dirname(resolve(out));
    if (!existsSync(dir)) throw new CliError(`--out ${out}: the folder ${dir} does not exist; create it first (mkdir -p ${dir}) or choose another path`, 2);
    if (!statSync(dir).isDirectory()) throw new CliError(`--out ${out}: ${dir} is not a folder`, 2);
  }
  try {
    const r = await createBackup(root, { out });
    const ledgers = Object.entries(r.manifest.ledgers).map(([f, l]) => `${f}: ${l.orders} orders, ${l.fills} fills`).join('; ');
    return [
      `wrote ${r.path} (${r.manifest.files.length} files, ${human(r.bytes)})`,
      ledgers ? `ledgers: ${ledgers}` : 'ledgers: none yet',
      r.manifest.sqlite_consistent ? 'SQLite copies: one consistent set' : 'SQLite copies: WARNING the ledger kept changing; reconciliation will settle the difference after a restore',
      `restore with: hmm restore ${r.path}`,
    ].join('\n');
  } catch (err) {
    if (err instanceof BackupError) throw new CliError(err.message, 2);
    throw err;
  }
}

// The restore says which trading decision the next start will obey: a restore must never
// silently turn trading back on after `hmm kill`.
const TRADING_LINE = {
  kept: 'trading state: KEPT the current one (ops/trading_states.json not restored; --with-trading-state restores the backup\'s)',
  restored: 'trading state: RESTORED from the backup (check it: hmm status, hmm kill to halt)',
  none: 'trading state: none in the root or the backup (the stack starts with its defaults)',
} as const;

export async function restoreCommand(root: string, file: string, opsUrls: readonly string[], verifyOnly: boolean, withTradingState = false): Promise<string> {
  try {
    if (verifyOnly) {
      const m = await verifyBackup(file);
      return `${file} is intact: ${m.files.length} files from ${m.created_at} (${m.hostname}), checksums and SQLite integrity verified`;
    }
    const r = await restoreBackup(root, file, { opsUrls, withTradingState });
    return [
      `restored ${r.restored.length} files from ${file} (backup of ${r.manifest.created_at})`,
      TRADING_LINE[r.tradingState],
      r.previous ? `the state it replaced is kept in ${r.previous}` : 'nothing was replaced (empty root)',
      'start the stack (`hmm up`), then check: curl http://localhost:8002/status | jq .state.recovered',
    ].join('\n');
  } catch (err) {
    if (err instanceof BackupError) throw new CliError(err.message, 2);
    throw err;
  }
}
