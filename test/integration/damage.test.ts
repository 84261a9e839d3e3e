// Issue 14 item 2 against a real stack: a damaged intent-journal line (JSON-valid, decimal qty —
// once "Cannot convert 0.001 to a BigInt", fatal at start) is quarantined beside the journal,
// named by file and line in an ERROR, counted in /status and /reconcile/report, and the stack
// starts with every acknowledged order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

const TOKEN = 'test-token-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'hmm-damage-'));
let stack: Stack | null = null;
// No bar after start (the interval is an hour): no model trades, so the ledger holds exactly the orders sent here.
const env = () => ({ HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '3600000', WARMUP_BARS: '100', MAX_NOTIONAL_USDT: '5000', LOSS_STREAK_LIMIT: '0' });

async function get(base: string, path: string) {
  return (await fetch(base + path, { headers: { 'x-ops-token': TOKEN } })).json() as Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function find(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...find(p, suffix));
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out;
}

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('a damaged intent-journal line: the stack starts, quarantines and reports it, and loses no acknowledged order', async () => {
  stack = await startStack({ env: env(), stdout: false });
  const acked: string[] = [];
  for (const id of ['dmg-1', 'dmg-2', 'dmg-3']) {
    const res: Response = await fetch(`${stack.engineUrl!}/orders`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN },
      body: JSON.stringify({ client_order_id: id, symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quote_usd: '100' }),
    });
    assert.equal(res.status, 201);
    acked.push(id);
  }
  await stack.stop();
  stack = null;
  const [journal] = find(root, '.ledger.sqlite-intents');
  assert.ok(journal, 'the engine keeps an intent journal');
  const bad = JSON.stringify({ id: 'dmg-bad', venue: 'sim', model: null, symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', tif: 'IOC', qty: '0.001', price: null, hash: 'h', ts: Date.now() });
  appendFileSync(journal, `${bad}\n{garbage\n`);

  stack = await startStack({ env: env(), stdout: false });
  const s = await get(stack.opsUrl, '/status');
  const r = s.state.recovery.engine_sim;
  assert.equal(r.journal_damaged, 2);
  assert.deepEqual(r.damaged_lines.map((d: { line: number; client_order_id: string | null }) => [d.line, d.client_order_id]), [[1, 'dmg-bad'], [2, null]]);
  assert.equal(r.damaged_lines[0].file, journal);
  assert.equal(readFileSync(`${journal}.damaged`, 'utf8'), `${bad}\n{garbage\n`, 'the damaged lines are kept beside the journal');
  const rep = await get(stack.opsUrl, '/reconcile/report');
  assert.equal(rep.engines.engine_sim.damaged_lines, 2);
  // The ERROR names the file and the line.
  const logs = find(root, '.log').map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(logs, new RegExp(`ERROR.*${journal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 1 is damaged \\(qty`));
  // Nothing acknowledged was lost: the three orders and their fills are all in the ledger.
  assert.equal(r.orders, acked.length);
  assert.equal(r.fills_replayed, acked.length);
  assert.equal(r.ledger_check.ok, true);
  assert.ok(existsSync(journal));
});

test('a garbage line in the middle of orders.jsonl: quarantined to orders.jsonl.damaged, named in an ERROR, counted, its order reconciled by id, and start-up goes on', async () => {
  await stack?.stop();
  stack = null;
  const orders = join(root, 'engine/logs/orders.jsonl');
  const lines = readFileSync(orders, 'utf8').split('\n').filter((l) => l !== '');
  assert.ok(lines.length >= 3, 'the orders of the first test are in the order log');
  // A line in the middle: one that still names an order (a bit flip in a number) and one of garbage.
  const named = JSON.stringify({ ...JSON.parse(lines[0]!), qty: '1e9999' });
  const damagedFile = [lines[0]!, named, '\u0000\u0000garbage{', ...lines.slice(1)];
  writeFileSync(orders, `${damagedFile.join('\n')}\n`);

  stack = await startStack({ env: env(), stdout: false });
  const s = await get(stack.opsUrl, '/status');
  const r = s.state.recovery.engine_sim;
  assert.equal(r.order_log_damaged, 2);
  const mine = r.damaged_lines.filter((d: { file: string }) => d.file === orders);
  assert.deepEqual(mine.map((d: { line: number; client_order_id: string | null; in_ledger: boolean }) => [d.line, d.client_order_id, d.in_ledger]), [[2, JSON.parse(lines[0]!).client_order_id, true], [3, null, false]]);
  assert.match(mine[0].reason, /qty "1e9999" is not a decimal/);
  assert.equal(readFileSync(`${orders}.damaged`, 'utf8'), `${named}\n\u0000\u0000garbage{\n`, 'the damaged lines are kept beside the log');
  // The log reads back whole: every line left is an order event, the sound ones all kept, in order.
  const after = readFileSync(orders, 'utf8').split('\n').filter((l) => l !== '');
  assert.deepEqual(after.slice(0, lines.length), lines, 'no sound line was lost or moved');
  const rep = await get(stack.opsUrl, '/reconcile/report');
  assert.equal(rep.engines.engine_sim.damaged_lines, 2);
  const logs = find(root, '.log').map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(logs, new RegExp(`ERROR.*${orders.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 3 is damaged \\(not JSON\\)`));
  // Nothing was lost: the same orders and fills as before the damage.
  assert.equal(r.orders, 3);
  assert.equal(r.ledger_check.ok, true);
  // The counterpart: a sound order log quarantines nothing at the next start.
  await stack.stop();
  stack = await startStack({ env: env(), stdout: false });
  const s2 = await get(stack.opsUrl, '/status');
  assert.equal(s2.state.recovery.engine_sim.order_log_damaged, 0);
  assert.equal(readFileSync(`${orders}.damaged`, 'utf8').split('\n').filter((l) => l !== '').length, 2, 'nothing more quarantined');
});
