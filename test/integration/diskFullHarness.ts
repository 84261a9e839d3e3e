// The full-disk set-up every such test shares (tmpfsCommand: a real, small tmpfs mounted in a
// user + mount namespace of its own, `unshare -rm`, no root needed, gone with the process; used
// by diskFull, distributedDiskFull and lostCommit), and the disk-full cycle of
// test/integration/diskFull.test.ts (one cycle in CI) and bench/disk-full.ts (many): `node
// bin/hmm.mjs up` runs with HMM_ROOT on such a tmpfs, trades, has its disk filled with dd, then
// freed. Not a test file itself.
//
// What one cycle checks, and returns for the caller to assert or report:
//  - every order answer is an acknowledgement or a refusal with reason STORAGE (HTTP 503): no
//    5xx of another kind, no connection error, and the process never exits;
//  - while full: /status shows the STORAGE condition, hmm_storage_fault is 1, reads and POST
//    /kill answer;
//  - freed: the condition clears by itself and orders are acknowledged again;
//  - every acknowledged order is in the ledger.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/freePort.js';
import { type Child, REPO, http, spawnChild, until, waitUp } from '../support/hmmProcess.js';

export const TOKEN = 'diskfull-token-0123456789abcdef';

/** Whether this machine lets an unprivileged process mount a tmpfs in namespaces of its own. */
export function canMountTmpfs(): boolean {
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d" && rmdir "$d"'], { stdio: 'ignore' });
  return r.status === 0;
}

function env(root: string, opsPort: number, enginePort: number, extra: Record<string, string>): Record<string, string> {
  return {
    HMM_ROOT: root, OPS_PORT: String(opsPort), ENGINE_PORT: String(enginePort), OPS_API_TOKEN: TOKEN,
    MARKET_INTERVAL_MS: '50', WARMUP_BARS: '60', LOG_LEVEL: 'info',
    STARTING_CASH_USD: '1000000', EXPOSURE_CAP_SYMBOL_USD: '300000', EXPOSURE_CAP_TOTAL_USD: '600000',
    MAX_ORDERS_PER_MIN: '100000', MAX_OPEN_ORDERS: '1000', MAX_NOTIONAL_USDT: '5000',
    LOSS_STREAK_LIMIT: '0', MAX_DRAWDOWN_PCT: '0', EQUITY_FLOOR_USD: '0',
    HMM_STORAGE_PROBE_MS: '200',
    ...extra,
  };
}

/** The command that runs `argv` with a fresh tmpfs of `sizeMb` mounted at `dir` (created if
 *  missing), in a user + mount namespace of its own, optionally filled before `argv` starts:
 *  `unshare -rm sh -c …`, for spawn/spawnSync as [command, args]. The mount goes with the process. */
export function tmpfsCommand(dir: string, sizeMb: number, argv: readonly string[], opts: { prefill?: boolean } = {}): [string, string[]] {
  const fill = opts.prefill ? 'dd if=/dev/zero of="$0/fill" bs=1M 2>/dev/null; ' : '';
  const script = `mkdir -p "$0" && mount -t tmpfs -o size=${sizeMb}m tmpfs "$0" && ${fill}exec "$@"`;
  return ['unshare', ['-rm', 'sh', '-c', script, dir, ...argv]];
}

/** `hmm up` (or `opts.args`, e.g. `engine --venue sim`) with HMM_ROOT on a fresh tmpfs of
 *  `sizeMb`, optionally filled before it starts. The tmpfs is seen from here under
 *  `/proc/<child pid>/root<root>` (seenRoot). */
export function spawnOnTmpfs(label: string, sizeMb: number, vars: Record<string, string>, opts: { prefill?: boolean; args?: readonly string[] } = {}): { child: Child; root: string; hostDir: string } {
  const hostDir = mkdtempSync(join(tmpdir(), 'hmm-diskfull-'));
  const root = join(hostDir, 'root');
  const [cmd, args] = tmpfsCommand(root, sizeMb, [process.execPath, join(REPO, 'bin/hmm.mjs'), ...(opts.args ?? ['up'])], opts);
  const child = spawnChild(label, cmd, args, { ...vars, HMM_ROOT: root }, REPO);
  return { child, root, hostDir };
}

export interface CycleResult {
  readonly acked: readonly string[];
  readonly refusedStorage: number;
  readonly otherAnswers: readonly string[];
  readonly statusCondition: unknown;
  readonly engineStorage: unknown;
  readonly faultMetric: boolean;
  readonly readsAnswered: boolean;
  readonly killStatus: number;
  readonly secondsToRefuse: number;
  readonly secondsToResume: number;
  readonly missingFromLedger: readonly string[];
  readonly exitedEarly: boolean;
  readonly escapedFaults: number;
  readonly output: string;
}

export async function diskFullCycle(opts: { sizeMb?: number; minFreeMb?: string; ordersBefore?: number; seed?: number } = {}): Promise<CycleResult> {
  const opsPort = await freePort();
  const enginePort = await freePort();
  const vars = env('', opsPort, enginePort, { HMM_STORAGE_MIN_FREE_MB: opts.minFreeMb ?? '0' });
  const { child, root, hostDir } = spawnOnTmpfs('hmm-up-tmpfs', opts.sizeMb ?? 48, vars);
  const ops = `http://127.0.0.1:${opsPort}`;
  let exitedEarly = false;
  void child.exited.then(() => { exitedEarly = true; });
  const seen = join(`/proc/${child.pid}/root`, root);
  const acked: string[] = [];
  const otherAnswers: string[] = [];
  let refusedStorage = 0;
  let n = 0;
  const tag = `df${opts.seed ?? 1}`;
  const order = async (): Promise<number> => {
    const id = `${tag}-${++n}`;
    let a;
    try {
      a = await http('POST', `${ops}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50, client_order_id: id }, TOKEN);
    } catch (err) {
      otherAnswers.push(`${id}: ${(err as Error).message}`);
      return -1;
    }
    const body = a.body as { outcome?: string; reason?: string };
    if ((a.status === 200 || a.status === 201) && body.outcome === 'routed') acked.push(id);
    else if (a.status === 503 && body.reason === 'STORAGE') refusedStorage++;
    // A refusal by the rails or the venue (4xx with its reason) is an answer, not a fault.
    else if (!((a.status === 200 && body.outcome !== 'routed') || (a.status >= 400 && a.status < 500 && body.outcome === 'rejected'))) otherAnswers.push(`${id}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
    return a.status;
  };
  try {
    await waitUp(child, `${ops}/health`, 60_000);
    for (let i = 0; i < (opts.ordersBefore ?? 20); i++) await order();

    // Fill the disk while orders keep coming.
    const t0 = Date.now();
    spawnSync('dd', ['if=/dev/zero', `of=${join(seen, 'fill')}`, 'bs=1M'], { stdio: 'ignore' });
    let status = 0;
    while (status !== 503 && Date.now() - t0 < 20_000) status = await order();
    const secondsToRefuse = (Date.now() - t0) / 1000;
    // Let every timer run on the full disk (snapshots, market state, allocator, exposure, logs).
    for (let i = 0; i < 10; i++) {
      await order();
      await sleep(150);
    }
    const st = await http('GET', `${ops}/status`, undefined, TOKEN);
    const state = (st.body.state ?? {}) as { trading_states?: { conditions?: unknown[] }; engines?: Record<string, { storage?: unknown }> };
    const statusCondition = state.trading_states?.conditions?.[0] ?? null;
    const engineStorage = state.engines?.engine_sim?.storage ?? null;
    const metricsText = await fetch(`${ops}/metrics`).then((r) => r.text());
    const faultMetric = /^hmm_storage_fault\{code="(?!none)[^"]+"\} 1$/m.test(metricsText);
    const recent = await http('GET', `${ops}/orders/recent`, undefined, TOKEN);
    const readsAnswered = st.status === 200 && recent.status === 200;
    const kill = await http('POST', `${ops}/kill`, { enabled: false, reason: 'disk full drill' }, TOKEN);

    // Free it: the stack resumes by itself (the kill is the operator's, lifted by the operator).
    const t1 = Date.now();
    unlinkSync(join(seen, 'fill'));
    await until('the STORAGE condition to clear', async () => {
      const s = await http('GET', `${ops}/status`, undefined, TOKEN);
      const c = ((s.body.state as { trading_states?: { conditions?: unknown[] } } | undefined)?.trading_states?.conditions ?? ['?']);
      return c.length === 0;
    }, 20_000, 100);
    await http('POST', `${ops}/kill`, { enabled: true, reason: 'disk freed' }, TOKEN);
    let resumed = 0;
    while (resumed !== 201 && resumed !== 200 && Date.now() - t1 < 20_000) resumed = await order();
    const secondsToResume = (Date.now() - t1) / 1000;
    for (let i = 0; i < 5; i++) await order();

    // Every acknowledged order is in the ledger, asked of the running engine (its tmpfs goes with
    // the process): GET /orders/:id reads the ledger's committed row.
    await sleep(300);
    const missingFromLedger: string[] = [];
    for (const id of acked) {
      const a = await http('GET', `http://127.0.0.1:${enginePort}/orders/${id}`, undefined, TOKEN);
      if (a.status !== 200) missingFromLedger.push(`${id}: ${a.status}`);
    }
    const out = child.output();
    return {
      acked, refusedStorage, otherAnswers, statusCondition, engineStorage, faultMetric, readsAnswered, killStatus: kill.status,
      secondsToRefuse, secondsToResume, missingFromLedger, exitedEarly, escapedFaults: (out.match(/escaped a write path/g) ?? []).length, output: out,
    };
  } finally {
    await child.stop();
    rmSync(hostDir, { recursive: true, force: true });
  }
}

/** `hmm up` on a tmpfs filled before it starts: its exit status and what it printed. */
export async function startOnFullDisk(): Promise<{ code: number | null; output: string }> {
  const opsPort = await freePort();
  const enginePort = await freePort();
  const { child, hostDir } = spawnOnTmpfs('hmm-up-full', 8, env('', opsPort, enginePort, {}), { prefill: true });
  const t = setTimeout(() => child.signal('SIGKILL'), 30_000);
  try {
    const code = await child.exited;
    return { code, output: child.output() };
  } finally {
    clearTimeout(t);
    rmSync(hostDir, { recursive: true, force: true });
  }
}

