// The operator's side of an engine that stopped itself, on the stack `npm start` runs (`hmm up`):
// a real failed COMMIT (a deferred foreign key added to the engine's ledger from another
// connection) stops the engine; `/status` says why (reason, code, SQLite's error code, since);
// `hmm resume` does not re-enable it; `hmm engine ack` is refused while the ledger still cannot
// commit and, once the cause is removed, lifts the stop — audited — and the engine trades again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO, StackProcess, TOKEN, killAll } from './crashHarness.js';
import { http, until } from '../support/hmmProcess.js';

const root = mkdtempSync(join(tmpdir(), 'hmm-ack-'));
after(async () => {
  await killAll();
  rmSync(root, { recursive: true, force: true });
});

const TRAP = `
  CREATE TABLE trap_parent (id INTEGER PRIMARY KEY);
  CREATE TABLE trap (id INTEGER PRIMARY KEY, ref INTEGER REFERENCES trap_parent(id) DEFERRABLE INITIALLY DEFERRED);
  CREATE TRIGGER trap_events AFTER INSERT ON order_events BEGIN INSERT INTO trap(ref) VALUES (999); END;
  CREATE TRIGGER trap_meta_i AFTER INSERT ON meta BEGIN INSERT INTO trap(ref) VALUES (999); END;
  CREATE TRIGGER trap_meta_u AFTER UPDATE ON meta BEGIN INSERT INTO trap(ref) VALUES (999); END;`;
const UNTRAP = 'DROP TRIGGER trap_events; DROP TRIGGER trap_meta_i; DROP TRIGGER trap_meta_u; DROP TABLE trap; DROP TABLE trap_parent;';

function ledgerExec(sql: string): void {
  const db = new Database(join(root, 'engine/state/engine_sim.ledger.sqlite'), { timeout: 5_000 });
  db.exec(sql);
  db.close();
}

function hmm(url: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/hmm.mjs'), '--url', url, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', OPS_API_TOKEN: TOKEN, HMM_ROOT: root }, encoding: 'utf8', timeout: 30_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a self-stopped engine ignores hmm resume, says why in /status, and trades again only after hmm engine ack', { timeout: 120_000 }, async () => {
  const stack = await StackProcess.start(root);
  let n = 0;
  const order = () => http('POST', `${stack.engineUrl}/orders`, { client_order_id: `ack-${++n}`, symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001' }, TOKEN);
  const engineStatus = async () => ((await http('GET', `${stack.opsUrl}/status`)).body['state'] as { engines: Record<string, { trading_enabled: boolean; stop: Record<string, string> | null }> }).engines['engine_sim']!;

  assert.equal((await order()).status, 201);
  assert.equal((await engineStatus()).stop, null);
  ledgerExec(TRAP);
  await order().catch(() => undefined); // its commit fails: the engine stops itself
  const stopped = await until('the engine to stop itself', async () => {
    const s = await engineStatus();
    return s.stop !== null ? s : null;
  }, 10_000);
  assert.equal(stopped.trading_enabled, false);
  assert.equal(stopped.stop!['code'], 'LEDGER_COMMIT_FAILED');
  assert.equal(stopped.stop!['error_code'], 'SQLITE_CONSTRAINT_FOREIGNKEY');
  assert.equal(stopped.stop!['lifted_by'], 'ack');
  assert.match(stopped.stop!['reason']!, /ledger commit failed: FOREIGN KEY constraint failed/);
  assert.ok(Date.parse(stopped.stop!['since']!) > 0);

  // A plain resume does not re-enable it.
  const resume = hmm(stack.opsUrl, 'resume', '--reason', 'try a plain resume');
  assert.equal(resume.code, 0, resume.out);
  assert.equal((await engineStatus()).trading_enabled, false);
  // An acknowledgement while the ledger still cannot commit is refused (409, says why).
  const early = await http('POST', `${stack.opsUrl}/engines/engine_sim/ack`, {}, TOKEN);
  assert.equal(early.status, 409, JSON.stringify(early.body));
  assert.match(String(early.body['message']), /still cannot commit/);
  assert.equal((await engineStatus()).trading_enabled, false);

  // The cause is removed; a resume still does not lift the stop, orders are still refused.
  ledgerExec(UNTRAP);
  assert.equal((await http('POST', `${stack.opsUrl}/kill`, { enabled: true }, TOKEN)).status, 200);
  const refused = await order();
  assert.equal(refused.status, 403);
  assert.equal(refused.body['error'], 'TRADING_DISABLED');

  const ack = hmm(stack.opsUrl, 'engine', 'ack', 'engine_sim', '--note', 'trap trigger removed');
  assert.equal(ack.code, 0, ack.out);
  assert.match(ack.out, /"acknowledged": true/);
  const after = await engineStatus();
  assert.equal(after.stop, null);
  assert.equal(after.trading_enabled, true);
  assert.equal((await order()).status, 201, 'it trades again');
  // Audited: the Ops API's audit trail has both acknowledgements, the refused one and this one.
  const audit = readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { route?: string; url?: string; status?: number });
  const acks = audit.filter((a) => String(a.route ?? a.url).includes('/engines/') && String(a.route ?? a.url).includes('/ack'));
  assert.deepEqual(acks.map((a) => a.status), [409, 200], JSON.stringify(acks));
  assert.match(readFileSync(join(root, 'ops/logs/ops.log'), 'utf8'), /engine_sim: own stop \(ledger commit failed.*acknowledged by operator:/);
  await stack.stop();
});
