// A stop the engine puts on itself stays until the operator acknowledges its cause. The fault is
// a real failed COMMIT: a deferred foreign key the test adds to the ledger file from another
// connection (as a damaged or hand-edited ledger would), violated by every order event and by
// every write to the meta table, so SQLite refuses the engine's group commit. Then: a resume (a
// newer trading-state document, RUNNING) does not lift the stop, neither does a restart; an
// acknowledgement is refused while the ledger still cannot commit, and lifts the stop once it
// can. The counterpart: a stop a resume may lift (TRADING_ENABLED=false at start) is lifted by
// it and cannot be acknowledged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { fx } from '../../../src/core/decimal.js';
import { BTC, engineFixture, removeDir } from '../../support/engineFixture.js';
import { tradingDoc } from '../../support/tradingState.js';

const buy = (id: string) => ({ clientOrderId: id, symbol: BTC, side: 'BUY' as const, type: 'MARKET' as const, qty: fx('0.001'), price: null });

/** From another connection: every order event and meta write inserts a row whose deferred
 *  foreign key has no parent, so the COMMIT that carries it fails (SQLITE_CONSTRAINT_FOREIGNKEY). */
function setTrap(path: string): void {
  const db = new Database(path, { timeout: 5_000 });
  db.exec(`
    CREATE TABLE trap_parent (id INTEGER PRIMARY KEY);
    CREATE TABLE trap (id INTEGER PRIMARY KEY, ref INTEGER REFERENCES trap_parent(id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TRIGGER trap_events AFTER INSERT ON order_events BEGIN INSERT INTO trap(ref) VALUES (999); END;
    CREATE TRIGGER trap_meta_i AFTER INSERT ON meta BEGIN INSERT INTO trap(ref) VALUES (999); END;
    CREATE TRIGGER trap_meta_u AFTER UPDATE ON meta BEGIN INSERT INTO trap(ref) VALUES (999); END;`);
  db.close();
}

function clearTrap(path: string): void {
  const db = new Database(path, { timeout: 5_000 });
  db.exec('DROP TRIGGER trap_events; DROP TRIGGER trap_meta_i; DROP TRIGGER trap_meta_u; DROP TABLE trap; DROP TABLE trap_parent;');
  db.close();
}

test('a ledger commit failure stops the engine until acknowledged: a resume and a restart do not lift it, an ack while the ledger still fails is refused, one after the cause is removed lifts it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-selfstop-'));
  const stopFile = join(dir, 'engine_sim.stop.json');
  let f = engineFixture({ dir, stopFile });
  try {
    assert.equal((await f.engine.submit(buy('before'))).kind, 'accepted');
    setTrap(join(dir, 'ledger.sqlite'));
    await assert.rejects(f.engine.submit(buy('trapped')), /FOREIGN KEY/);
    const stop = f.engine.health().stop;
    assert.ok(stop, 'stopped itself');
    assert.equal(stop.code, 'LEDGER_COMMIT_FAILED');
    assert.equal(stop.error_code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
    assert.equal(stop.lifted_by, 'ack');
    assert.match(stop.reason, /ledger commit failed/);
    assert.ok(existsSync(stopFile), 'kept on disk');
    assert.equal(f.engine.tradingEnabled, false);

    // A plain resume (a newer document, global RUNNING, decided after the stop) does not lift it.
    await f.engine.applyTradingState(tradingDoc(5));
    assert.equal(f.engine.tradingEnabled, false);
    assert.equal(f.engine.health().stop?.code, 'LEDGER_COMMIT_FAILED');

    // An acknowledgement while the ledger still cannot commit is refused; the stop stays.
    const early = f.engine.ack('operator:test', 'looked too soon');
    assert.equal(early.acknowledged, false);
    assert.match(early.message, /still cannot commit/);
    assert.equal(f.engine.tradingEnabled, false);

    // The operator removes the cause. A restart still starts stopped, with the first cause.
    clearTrap(join(dir, 'ledger.sqlite'));
    f = await f.reopen();
    assert.equal(f.engine.tradingEnabled, false);
    assert.equal(f.engine.health().stop?.code, 'LEDGER_COMMIT_FAILED');
    assert.equal(f.engine.health().stop?.since, stop.since);
    await f.engine.applyTradingState(tradingDoc(6));
    assert.equal(f.engine.tradingEnabled, false, 'a resume after the restart does not lift it either');
    const refused = await f.engine.submit(buy('after-resume'));
    assert.equal(refused.kind === 'rejected' && refused.reason, 'TRADING_DISABLED');

    // The acknowledgement lifts the stop.
    const ack = f.engine.ack('operator:test', 'trigger removed');
    assert.equal(ack.acknowledged, true, ack.message);
    assert.equal(ack.trading_enabled, true);
    assert.equal(f.engine.health().stop, null);
    assert.equal(existsSync(stopFile), false);
    assert.equal((await f.engine.submit(buy('after-ack'))).kind, 'accepted');
    assert.match(String(f.ledger.getMeta('stop_acknowledged')), /trigger removed/, 'the acknowledgement is on record in the ledger');
  } finally {
    await f.close().catch(() => undefined);
    removeDir(dir);
  }
});

test('counterpart: a stop a resume may lift (TRADING_ENABLED=false at start) is lifted by it, and there is nothing to acknowledge', async () => {
  const f = engineFixture({ tradingEnabled: false, startStop: { reason: 'TRADING_ENABLED=false', until: 'resume' } });
  try {
    assert.equal(f.engine.health().stop?.lifted_by, 'resume');
    assert.equal(f.engine.health().stop?.code, 'TRADING_ENABLED_FALSE');
    const ack = f.engine.ack('operator:test');
    assert.equal(ack.acknowledged, false);
    assert.match(ack.message, /lifted by a resume/);
    await new Promise((r) => setTimeout(r, 5));
    await f.engine.applyTradingState(tradingDoc(1));
    assert.equal(f.engine.tradingEnabled, true);
    assert.equal(f.engine.health().stop, null);
    assert.equal(f.engine.ack('operator:test').acknowledged, false, 'no stop: nothing to acknowledge');
  } finally {
    await f.close();
    removeDir(f.dir);
  }
});
