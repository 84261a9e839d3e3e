// Crash tests: the stack runs as a child process (`node bin/hmm.mjs up`), takes orders from
// us and from its MA model, and is SIGKILLed at random moments, then restarted. Afterwards
// nothing may be lost or doubled: ledger fills = the sim venue's own fills, every
// acknowledged order is in the ledger, ledger replay = portfolio.json = venue balances, open
// orders agree after reconciliation, every state file parses. Then damaged files: a
// truncated snapshot and a torn JSONL line are recovered, garbage policies refuse start-up
// with a message naming the file. CRASH_ITERATIONS (default 10, issue 14) / CRASH_SEED replay
// a run; bench/soak-crash.ts runs 100. Each kill lands 150–600 ms into the load: every phase
// (orders in flight, resting limits, the models' bars, group commits) is hit within that window,
// and the iteration stays dominated by the restart (~1.4 s) so ten of them fit in CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumOf } from '../../src/engine/snapshot.js';
import { type Ack, StackProcess, StartupRefused, driveOrders, killAll, rng, sleep, verifyRoot, waitInSync, TOKEN } from './crashHarness.js';

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 10);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);

interface StatusBody {
  state: { recovered: boolean; recovery: Record<string, { recovered: boolean; at: string; unclean_shutdown: unknown; orders: number; fills: number; open_orders: number; positions: number; snapshot: { status: string } | null; reconciliation: { flagged: number; ok: boolean } | null }> };
}

test(`SIGKILL at random moments, ${ITERATIONS} times: no fill lost or doubled, every acknowledged order kept (seed ${SEED})`, { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-crash-'));
  const rand = rng(SEED);
  const acks = new Map<string, Ack>();
  let sent = 0;
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const p = await StackProcess.start(root);
      const status = await p.get<StatusBody>(`${p.opsUrl}/status`);
      if (i > 0) {
        // Every start after the first recovers from the ledger and knows the last run crashed.
        const rec = status.state.recovery.engine_sim!;
        assert.equal(status.state.recovered, true);
        assert.ok(rec.unclean_shutdown, 'the SIGKILLed run is reported as an unclean shutdown');
        assert.equal(rec.reconciliation?.ok, true);
        if (rec.reconciliation?.flagged !== 0) {
          const report = await p.get<unknown>(`${p.opsUrl}/reconcile/report`).catch((err: Error) => err.message);
          assert.fail(`iteration ${i}: reconciliation flagged ${rec.reconciliation?.flagged}: ${JSON.stringify(report).slice(0, 3000)}`);
        }
      } else {
        assert.equal(status.state.recovered, false);
      }
      const ac = new AbortController();
      const drive = driveOrders(p.engineUrl, `it${i}`, rand, acks, ac.signal);
      await sleep(150 + Math.floor(rand() * 450));
      await p.kill(); // mid-flight: requests are being answered as the process dies
      ac.abort();
      const s = await drive;
      sent += s.sent;
    }
    // The last restart: reconcile, check the running stack, stop cleanly, check the files.
    const p = await StackProcess.start(root);
    const status = await p.get<StatusBody>(`${p.opsUrl}/status`);
    assert.equal(status.state.recovered, true);
    await waitInSync(p);
    const engineOpen = (await p.get<{ orders: unknown[] }>(`${p.engineUrl}/orders`)).orders.length;
    assert.equal(await p.stop(), 0, 'a clean stop after recovery');
    const v = verifyRoot(root, acks);
    t.diagnostic(`crash iterations: ${ITERATIONS}, seed ${SEED}; orders sent ${sent}, acknowledged ${acks.size}; ledger: ${v.orders} orders, ${v.fills} fills, ${v.openOrders} open (engine API said ${engineOpen}); lost ${v.lost}, duplicates ${v.duplicates}, drift ${v.drift}`);
    assert.deepEqual(v.problems, [], `seed ${SEED}`);
    assert.deepEqual({ lost: v.lost, duplicates: v.duplicates, drift: v.drift }, { lost: 0, duplicates: 0, drift: 0 });
    assert.ok(acks.size > 0 && v.fills > 0, 'the run actually traded');
    // The checker itself can fail: an acknowledgement the ledger never saw counts as lost, and a
    // snapshot whose cash disagrees with the ledger replay counts as drift.
    const phantom = new Map(acks).set('never-booked', { http: 201, status: 'FILLED', filled_qty: '1' });
    assert.equal(verifyRoot(root, phantom).lost, 1);
    const snap = join(root, 'engine/state/portfolio.json');
    const { checksum: _, ...body } = JSON.parse(readFileSync(snap, 'utf8')) as { checksum: string; cash: string };
    const off = { ...body, cash: `${body.cash}1` };
    writeFileSync(snap, JSON.stringify({ ...off, checksum: checksumOf(off) }));
    const drifted = verifyRoot(root, acks);
    assert.equal(drifted.drift, 1, drifted.problems.join('; '));
  } finally {
    await killAll();
    rmSync(root, { recursive: true, force: true });
  }
});

test('damaged files after a crash: truncated snapshot and torn JSONL lines are recovered; garbage policies refuse start-up naming the file', { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-crash-files-'));
  try {
    let p = await StackProcess.start(root);
    const ac = new AbortController();
    const acks = new Map<string, Ack>();
    const drive = driveOrders(p.engineUrl, 'f', rng(7), acks, ac.signal, 2);
    await sleep(600);
    await p.kill();
    ac.abort();
    await drive;

    // A snapshot cut in half, a torn last line in the order log and in ops.log (a crash mid-write).
    const snap = join(root, 'engine/state/portfolio.json');
    const text = readFileSync(snap, 'utf8');
    writeFileSync(snap, text.slice(0, Math.floor(text.length / 2)));
    appendFileSync(join(root, 'engine/logs/orders.jsonl'), '{"ts":"2025-01-01T00:00:00Z","event":"order.acc');
    appendFileSync(join(root, 'ops/logs/ops.log'), '{"level":"INFO","time":"2025-01-01T00:0');

    p = await StackProcess.start(root);
    const status = await p.get<StatusBody>(`${p.opsUrl}/status`);
    const rec = status.state.recovery.engine_sim!;
    assert.equal(rec.snapshot?.status, 'corrupt');
    assert.equal(readFileSync(join(root, 'engine/logs/orders.jsonl.torn'), 'utf8'), '{"ts":"2025-01-01T00:00:00Z","event":"order.acc\n');
    assert.ok(existsSync(join(root, 'ops/logs/ops.log.torn')));
    // Orders keep flowing into the repaired log.
    const r = await fetch(`${p.engineUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify({ client_order_id: 'after-repair', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quote_usd: '50' }) });
    assert.equal(r.status, 201, `the repaired stack refused an order: ${await r.text()}`);
    await waitInSync(p);
    assert.equal(await p.stop(), 0);
    const ops = readFileSync(join(root, 'ops/logs/ops.log'), 'utf8');
    assert.match(ops, /\[RECON\] engine_sim: snapshot .*portfolio\.json is corrupt/);
    assert.match(ops, /\[RECON\] .*orders\.jsonl ended with a torn line/);
    const v = verifyRoot(root, acks);
    assert.deepEqual(v.problems, []);
    assert.ok(readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').includes('"client_order_id":"after-repair"'));

    // Garbage in ops/policies.yaml: start-up refuses, naming the file and the problem.
    const policies = join(root, 'ops/policies.yaml');
    const good = readFileSync(policies, 'utf8');
    for (const garbage of ['max_concurrent_signals: [unclosed\n  : : :', 'logs:\n  rotate_max_mb: lots\n', '\u0000\u0001binary']) {
      writeFileSync(policies, garbage);
      await assert.rejects(StackProcess.start(root), (err: Error) => {
        assert.ok(err instanceof StartupRefused, err.message);
        assert.notEqual(err.code, 0);
        assert.match(err.stderr, /ops\/policies\.yaml/);
        return true;
      });
    }
    const capital = join(root, 'ops/capital_policy.json');
    const capitalGood = readFileSync(capital, 'utf8');
    writeFileSync(capital, '{"min_weight": ');
    writeFileSync(policies, good);
    await assert.rejects(StackProcess.start(root), (err: Error) => err instanceof StartupRefused && /ops\/capital_policy\.json/.test(err.stderr));
    writeFileSync(capital, capitalGood);

    // A ledger overwritten with garbage: refused, naming the file and the way out (restore).
    const ledger = join(root, 'engine/state/engine_sim.ledger.sqlite');
    for (const f of [`${ledger}-wal`, `${ledger}-shm`]) rmSync(f, { force: true });
    writeFileSync(ledger, Buffer.alloc(8192, 0x5a));
    await assert.rejects(StackProcess.start(root), (err: Error) => {
      assert.ok(err instanceof StartupRefused, err.message);
      assert.match(err.stderr, /ledger .*engine_sim\.ledger\.sqlite cannot be opened: file is not a database.*hmm restore/);
      return true;
    });
  } finally {
    await killAll();
    rmSync(root, { recursive: true, force: true });
  }
});
