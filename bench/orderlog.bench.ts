// engine/logs/orders.jsonl: sustained write rate of order-event lines (the engine's real line
// shape) with rotation on (small size limit so it rotates and gzips many times during the
// run), and the same without rotation, side by side. Every line is then counted back across
// the live file and the rotated .gz files: none may be lost or split. Then the start-up check
// of a full live file (every line validated at open, damaged ones quarantined): its time on a
// sound file and on one with damage spread through it.
//
//   npx tsx bench/orderlog.bench.ts [--lines 300000]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { OrderLog, type OrderLogLine } from '../src/engine/orderLog.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--lines') + 1] || 300_000) || 300_000;

const line = (i: number): OrderLogLine => ({
  ts: new Date(1_790_000_000_000 + i).toISOString(), event: 'order.accepted', venue: 'engine_sim', client_order_id: `ma_crossover_v1-BTCUSDT-${i}`,
  model: 'ma_crossover_v1', symbol: 'BTCUSDT', side: i % 2 ? 'SELL' : 'BUY', type: 'MARKET', status: 'FILLED', qty: '0.03364',
  price: null, filled_qty: '0.03364', avg_price: '59432.14', fees: '1.99928', reason: null, routing_time: 0.412,
});

async function run(label: string, rotation: { maxBytes: number; daily: boolean; compress: boolean; retentionDays: number; maxFiles: number } | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-log-'));
  const path = join(dir, 'orders.jsonl');
  const log = rotation ? new OrderLog(path, rotation) : new OrderLog(path);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) log.append(line(i));
  const ms = performance.now() - t0;
  // Background gzip of the rotated files (a fixed sleep read a .gz.tmp on a busy machine).
  await log.settle();
  log.close();
  let lines = 0, files = 0;
  for (const f of readdirSync(dir)) {
    const buf = readFileSync(join(dir, f));
    const text = f.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
    for (const l of text.split('\n')) if (l) { JSON.parse(l); lines++; }
    files++;
  }
  console.log(`  ${label.padEnd(34)} ${Math.round(N / (ms / 1000)).toLocaleString('en-US').padStart(9)} lines/s  ${(N * 300 / 1e6 / (ms / 1000)).toFixed(0)} MB/s approx  files ${files}  lines read back ${lines}/${N}${lines === N ? '' : '  LOST OR SPLIT'}`);
  rmSync(dir, { recursive: true, force: true });
}

console.log(`orders.jsonl: ${N.toLocaleString('en-US')} lines of ~300 bytes`);
await run('no rotation', { maxBytes: 0, daily: false, compress: false, retentionDays: 0, maxFiles: 0 });
await run('rotation every 8 MB, gzip', { maxBytes: 8 * 1024 * 1024, daily: true, compress: true, retentionDays: 0, maxFiles: 0 });

/** Opening a live orders.jsonl of `lines` lines: the validation pass, and the quarantine rewrite. */
async function startupCheck(lines: number, damaged: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-log-'));
  const path = join(dir, 'orders.jsonl');
  const text: string[] = [];
  const every = damaged > 0 ? Math.floor(lines / damaged) : 0;
  for (let i = 0; i < lines; i++) text.push(every > 0 && i % every === every - 1 ? '{"garbage":' : JSON.stringify(line(i)));
  writeFileSync(path, `${text.join('\n')}\n`);
  text.length = 0;
  const size = statSync(path).size;
  const t0 = performance.now();
  const log = new OrderLog(path, { maxBytes: 0, daily: false, compress: false, retentionDays: 0, maxFiles: 0 });
  const ms = performance.now() - t0;
  log.close();
  console.log(`  open ${(size / 1e6).toFixed(1)} MB, ${damaged} damaged lines`.padEnd(36) + ` ${ms.toFixed(0).padStart(6)} ms  ${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s  quarantined ${log.damaged.length}`);
  rmSync(dir, { recursive: true, force: true });
}

const full = Math.round((50 * 1024 * 1024) / 300);
console.log(`start-up check of a live orders.jsonl at the default rotation size (50 MB, ${full.toLocaleString('en-US')} lines)`);
// Twice each: the first open of a run also pays for compiling the check.
for (let i = 0; i < 2; i++) {
  await startupCheck(full, 0);
  await startupCheck(full, 10);
}
