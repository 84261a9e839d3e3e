// A full disk in distributed mode (issue 14, item 1): `hmm engine` runs with HMM_ROOT on a small
// tmpfs of its own (unshare -rm, as diskFull.test.ts), a control plane (`startOpsProcess`, what
// `hmm ops` runs) on another root drives it over HTTP and the real Redis. The engine's disk is
// filled with dd while orders keep coming through the Ops API, then freed. The engine must stay
// up and refuse new orders with STORAGE (503 through the Ops API), the control plane's /status
// must show the engine's STORAGE condition and fault, the engine's hmm_storage_fault must be 1,
// and both must resume by themselves; every acknowledged order is in the engine's ledger.
// Counterpart: before the fill no order is refused for STORAGE and no condition stands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startOpsProcess, type OpsProcess } from '../../src/app/opsProcess.js';
import { freePort } from '../support/freePort.js';
import { http, until, waitUp } from '../support/hmmProcess.js';
import { canMountTmpfs, spawnOnTmpfs } from './diskFullHarness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = 'dist-diskfull-token-0123456789abcdef';
const skip = canMountTmpfs() ? false : 'this machine does not let a process mount a tmpfs in its own user + mount namespace (unshare -rm)';

interface Conditions { readonly trading_states?: { readonly conditions?: readonly { kind: string; source: string; reason: string }[] }; readonly engines?: Record<string, { storage?: unknown }> }

test('distributed: a full engine disk refuses orders with STORAGE, ops /status shows the engine\'s condition, it resumes by itself', { skip, timeout: 150_000 }, async () => {
  const prefix = `hmm-dist-df-${randomBytes(4).toString('hex')}:`;
  const enginePort = await freePort();
  const common = { REDIS_URL, REDIS_BUS_PREFIX: prefix, OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '40', HMM_STORAGE_PROBE_MS: '200', HMM_STORAGE_MIN_FREE_MB: '0', LOG_LEVEL: 'info' };
  const { child, hostDir } = spawnOnTmpfs('hmm-engine-tmpfs', 40, {
    ...common, ENGINE_PORT: String(enginePort),
    STARTING_CASH_USD: '1000000', EXPOSURE_CAP_SYMBOL_USD: '300000', EXPOSURE_CAP_TOTAL_USD: '600000',
    MAX_ORDERS_PER_MIN: '100000', MAX_OPEN_ORDERS: '1000', MAX_NOTIONAL_USDT: '5000',
    LOSS_STREAK_LIMIT: '0', MAX_DRAWDOWN_PCT: '0', EQUITY_FLOOR_USD: '0',
  }, { args: ['engine', '--venue', 'sim'] });
  let exitedEarly = false;
  void child.exited.then(() => { exitedEarly = true; });
  const opsRoot = mkdtempSync(join(tmpdir(), 'hmm-dist-df-ops-'));
  const engineUrl = `http://127.0.0.1:${enginePort}`;
  let ops: OpsProcess | null = null;
  const admin = new Redis(REDIS_URL);
  try {
    await waitUp(child, `${engineUrl}/health`, 60_000);
    ops = await startOpsProcess({ env: { ...common, HMM_ROOT: opsRoot, OPS_PORT: '0', OPS_REPLICA_ID: 'ops_df', HMM_ENGINES: `engine_sim=${engineUrl}`, HMM_LEADER_TTL_MS: '6000' }, stdout: false });
    const o = ops;
    await until('the replica to lead', () => o.coordinator!.leads() && o.controlPlane.daemons.running, 15_000);
    const opsUrl = ops.opsUrl;
    const seen = join(`/proc/${child.pid}/root`, join(hostDir, 'root'));
    const why = (): string => `\n--- engine ---\n${child.output().slice(-3000)}`;

    const acked: string[] = [];
    const other: string[] = [];
    let refused = 0;
    let n = 0;
    const order = async (): Promise<number> => {
      const id = `ddf-${++n}`;
      const a = await http('POST', `${opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50, client_order_id: id }, TOKEN);
      const b = a.body as { outcome?: string; reason?: string };
      if ((a.status === 200 || a.status === 201) && b.outcome === 'routed') acked.push(id);
      else if (a.status === 503 && b.reason === 'STORAGE') refused++;
      else other.push(`${id}: ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
      return a.status;
    };
    const status = async (): Promise<Conditions> => (await http('GET', `${opsUrl}/status`, undefined, TOKEN)).body['state'] as Conditions;

    // Counterpart: a disk with room refuses nothing for STORAGE and no condition stands.
    for (let i = 0; i < 10; i++) await order();
    assert.equal(refused, 0, 'no STORAGE refusal before the disk fills');
    assert.equal(acked.length, 10, `orders before the fill were acknowledged: ${other.join('; ')}${why()}`);
    assert.deepEqual((await status()).trading_states?.conditions, []);

    // Fill the engine's disk while orders keep coming.
    spawnSync('dd', ['if=/dev/zero', `of=${join(seen, 'fill')}`, 'bs=1M'], { stdio: 'ignore' });
    const t0 = Date.now();
    let last = 0;
    while (last !== 503 && Date.now() - t0 < 20_000) last = await order();
    assert.equal(last, 503, `an order on the full disk was refused with STORAGE: ${other.slice(-2).join("; ")}${why()}`);
    // Every timer of the engine runs on the full disk meanwhile (snapshot, market state, logs).
    for (let i = 0; i < 5; i++) {
      await order();
      await new Promise((r) => setTimeout(r, 150));
    }
    const full = await until('the engine\'s STORAGE condition at the control plane', async () => {
      const s = await status();
      return s.trading_states?.conditions?.some((c) => c.kind === 'STORAGE' && c.source === 'engine_sim') ? s : null;
    }, 10_000, 100);
    const cond = full.trading_states!.conditions!.find((c) => c.source === 'engine_sim')!;
    assert.match(cond.reason, /^engine_sim: (ENOSPC|SQLITE_FULL)/);
    assert.ok(full.engines?.['engine_sim']?.storage, '/status names the engine\'s storage fault');
    const engineMetrics = await fetch(`${engineUrl}/metrics`).then((r) => r.text());
    assert.match(engineMetrics, /^hmm_storage_fault\{code="(?!none)[^"]+"\} 1$/m, 'the engine\'s hmm_storage_fault is 1');
    // The control plane's own disk is fine: its condition is the engine's only.
    assert.equal(full.trading_states!.conditions!.length, 1);
    const opsMetrics = await fetch(`${opsUrl}/metrics`).then((r) => r.text());
    assert.match(opsMetrics, /^hmm_trading_state\{scope="condition",target="STORAGE"\} 2$/m);
    assert.match(opsMetrics, /^hmm_storage_fault\{code="none"\} 0$/m, 'the control plane\'s own disk is not faulted');
    assert.equal((await http('GET', `${opsUrl}/orders/recent`, undefined, TOKEN)).status, 200, 'reads answer');

    // Free it: both resume by themselves.
    unlinkSync(join(seen, 'fill'));
    await until('the STORAGE condition to clear at the control plane', async () => (await status()).trading_states?.conditions?.length === 0, 20_000, 100);
    const before = acked.length;
    const t1 = Date.now();
    while (acked.length === before && Date.now() - t1 < 20_000) await order();
    for (let i = 0; i < 3; i++) await order();
    assert.ok(acked.length >= before + 4, `orders are acknowledged again after the disk freed: ${other.slice(-3).join('; ')}${why()}`);
    assert.equal((await status()).engines?.['engine_sim']?.storage, null);

    assert.deepEqual(other, [], `every answer is an ack or a STORAGE refusal${why()}`);
    assert.ok(refused >= 1);
    assert.equal(exitedEarly, false, `the engine stayed up${why()}`);
    assert.doesNotMatch(child.output(), /escaped a write path/, 'no storage fault reached the last-resort handler');
    // Every acknowledged order is in the engine's ledger (read from the running engine: its
    // tmpfs goes with it).
    const missing: string[] = [];
    for (const id of acked) {
      const a = await http('GET', `${engineUrl}/orders/${id}`, undefined, TOKEN);
      if (a.status !== 200) missing.push(`${id}: ${a.status}`);
    }
    assert.deepEqual(missing, []);
  } finally {
    await ops?.stop();
    await child.stop();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
    rmSync(hostDir, { recursive: true, force: true });
    rmSync(opsRoot, { recursive: true, force: true });
  }
});
