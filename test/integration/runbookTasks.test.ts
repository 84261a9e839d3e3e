// The runbook's routine tasks, run against a real stack (real HTTP, real SQLite, temp root):
// each command as an operator types it, with its documented effect asserted (runbook.test.ts runs
// the document itself; this file checks what a block's exit status cannot: refusals, files, modes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { startStack, type Stack } from '../../src/app/stack.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '../..');
let root: string;
let stack: Stack;
let token: string;

const env = (extra: Record<string, string> = {}) => ({
  HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100', ...extra,
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(stack.opsUrl + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json, headers: res.headers };
}

const hmm = (...args: string[]) => run(process.execPath, [join(repo, 'bin/hmm.mjs'), '--url', stack.opsUrl, '--root', root, ...args], { cwd: root, env: { ...process.env, OPS_API_TOKEN: '' } });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-runbook-'));
  stack = await startStack({ env: env(), stdout: false });
  token = readFileSync(join(root, '.ops_token'), 'utf8').trim();
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('the operator token file is created with mode 0600 and never logged', async () => {
  assert.equal(statSync(join(root, '.ops_token')).mode & 0o777, 0o600);
  assert.ok(token.length >= 16);
  await api('POST', '/kill', { enabled: true }, { 'x-ops-token': 'wrong-token-value-123' });
  assert.ok(!readFileSync(join(root, 'ops/logs/ops.log'), 'utf8').includes(token));
});

test('View live PnL dashboard: /pnl_dashboard.html is served by the Ops API, with its chart library', async () => {
  const page = await api('GET', '/pnl_dashboard.html');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.json, /hmm-stack/);
  const lib = await fetch(stack.opsUrl + '/assets/uPlot.iife.min.js');
  assert.equal(lib.status, 200);
  const docs = await fetch(stack.opsUrl + '/docs/json');
  assert.equal(docs.status, 200);
  const spec = await docs.json() as { paths: Record<string, unknown> };
  for (const p of ['/kill', '/strategy/weights', '/status', '/aggregate/portfolio', '/aggregate/metrics']) assert.ok(p in spec.paths, p);
});

test('Inspect governance policies: ops/policies.yaml has the tuning keys', () => {
  const doc = parseYaml(readFileSync(join(root, 'ops/policies.yaml'), 'utf8'));
  for (const k of ['max_concurrent_signals', 'worker_threads', 'signal_queue_size', 'metrics_retention_hours', 'allocation_history_limit', 'dashboard_refresh_sec']) assert.equal(typeof doc[k], 'number', k);
});

test('the stack trades paper: orders reach the sim venue and the audit log carries routing_time', async () => {
  const filled = await waitFor('a filled model order', async () => {
    const r = await api('GET', '/orders/recent?limit=20');
    return r.json.orders.find((o: { filled_qty: string; model: string | null }) => Number(o.filled_qty) > 0 && o.model === 'ma_crossover_v1');
  });
  assert.ok(filled);
  const lines = readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8').trim().split('\n').filter((l) => l.includes('routing_time'));
  assert.ok(lines.length > 0);
  assert.ok(lines.every((l) => typeof JSON.parse(l).routing_time === 'number'));
});

test('Adjust model weights: 401 without the token, validated, written to ops/strategy_weights.json', async () => {
  const path = join(root, 'ops/strategy_weights.json');
  const noToken = await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0.01 } });
  assert.equal(noToken.status, 401);
  assert.equal(noToken.json.error, 'invalid or missing X-OPS-TOKEN');
  const before = readFileSync(path, 'utf8');
  const bad: [unknown, string][] = [
    [{ weights: { model1: 0.1 } }, 'weights.model1'],
    [{ weights: { ma_crossover_v1: -0.1 } }, 'weights.ma_crossover_v1'],
    [{ weights: { ma_crossover_v1: 1.5 } }, 'weights.ma_crossover_v1'],
    [{ weights: { ma_crossover_v1: '0.5' } }, 'weights.ma_crossover_v1'],
    [{ weights: { ma_crossover_v1: null } }, 'weights.ma_crossover_v1'],
    [{ weights: { ma_crossover_v1: 1e308 * 10 } }, 'weights.ma_crossover_v1'],
    [{ weights: {} }, 'weights'],
    [{ weights: [0.1] }, 'weights'],
    [{}, 'weights'],
    [{ weights: { ma_crossover_v1: 0.5 }, extra: 1 }, 'extra'],
  ];
  for (const [body, field] of bad) {
    const r = await api('POST', '/strategy/weights', body, { 'x-ops-token': token });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(typeof r.json.error, 'string');
    assert.equal(r.json.field, field, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`);
  }
  const malformed = await api('POST', '/strategy/weights', '{"weights": {', { 'x-ops-token': token });
  assert.equal(malformed.status, 400);
  assert.match(malformed.json.error, /malformed JSON/);
  const nan = await api('POST', '/strategy/weights', '{"weights": {"ma_crossover_v1": NaN}}', { 'x-ops-token': token });
  assert.equal(nan.status, 400);
  assert.equal(readFileSync(path, 'utf8'), before, 'nothing changed on bad input');

  const ok = await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0.01 } }, { 'x-ops-token': token });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.weights.ma_crossover_v1, 0.01);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).weights.ma_crossover_v1, 0.01);
  const cli = await hmm('weights', 'set', 'ma_crossover_v1=0.1');
  assert.equal(JSON.parse(cli.stdout).weights.ma_crossover_v1, 0.1);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).weights.ma_crossover_v1, 0.1);
  await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 1 } }, { 'x-ops-token': token });
});

test('Check allocations: ops/capital_allocations.json has capital_quota_usd per model, rewritten continuously', async () => {
  const path = join(root, 'ops/capital_allocations.json');
  const first = JSON.parse(readFileSync(path, 'utf8'));
  assert.ok(first.capital_quota_usd.ma_crossover_v1 > 0);
  assert.ok(first.capital_quota_usd.ma_crossover_v1 <= first.equity_usd);
  await stack.context.allocator.step();
  const second = JSON.parse(readFileSync(path, 'utf8'));
  assert.notEqual(second.ts, first.ts);
});

test('Pause trading: the runbook\'s curl command (form content type) stops orders on the engine, then resume', async () => {
  const { stdout } = await run('curl', ['-s', '-X', 'POST', `${stack.opsUrl}/kill`, '-H', `X-OPS-TOKEN: ${token}`, '-d', '{"enabled": false}']);
  const res = JSON.parse(stdout);
  assert.equal(res.ok, true);
  assert.equal(res.state.trading_enabled, false);
  const status = await api('GET', '/status');
  assert.equal(status.json.state.trading_enabled, false);
  assert.equal(status.json.state.engines.engine_sim.trading_enabled, false);
  // Persisted as the global HALTED of the one trading-state document (ops/state.json before it).
  assert.equal(JSON.parse(readFileSync(join(root, 'ops/trading_states.json'), 'utf8')).global.state, 'HALTED');

  const order = await fetch(`${stack.engineUrl}/orders`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': token },
    body: JSON.stringify({ client_order_id: 'while-killed-1', symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50 }),
  });
  assert.equal(order.status, 403);
  const body = await order.json() as { error: string };
  assert.equal(body.error, 'TRADING_DISABLED');
  const signal = await api('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50 }, { 'x-ops-token': token });
  assert.equal(signal.status, 403);
  assert.equal(signal.json.reason, 'TRADING_DISABLED');
  const log = readFileSync(join(root, 'engine/logs/orders.jsonl'), 'utf8');
  assert.ok(log.split('\n').some((l) => l.includes('"while-killed-1"') && l.includes('TRADING_DISABLED')));

  const noToken = await api('POST', '/kill', { enabled: true });
  assert.equal(noToken.status, 401);
  const resumed = JSON.parse((await hmm('resume')).stdout);
  assert.equal(resumed.state.trading_enabled, true);
  const after = await api('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 50, model: 'ma_crossover_v1' }, { 'x-ops-token': token });
  assert.equal(after.status, 200, JSON.stringify(after.json));
  assert.equal(after.json.outcome, 'routed');
});

test('/kill refuses bad bodies with a JSON error naming the field', async () => {
  for (const [body, field] of [['{"enabled": "no"}', 'enabled'], ['{}', 'enabled'], ['{"enabled": false, "bogus": 1}', 'bogus']] as const) {
    const r = await api('POST', '/kill', body, { 'x-ops-token': token });
    assert.equal(r.status, 400, body);
    assert.equal(r.json.field, field);
  }
  assert.equal((await api('GET', '/status')).json.state.trading_enabled, true);
});

test('Export daily PnL CSV: `hmm export-pnl` writes ops/exports/pnl_YYYY-MM-DD.csv', async () => {
  const day = new Date().toISOString().slice(0, 10);
  const { stdout } = await hmm('export-pnl');
  const path = join(root, `ops/exports/pnl_${day}.csv`);
  assert.match(stdout, new RegExp(`pnl_${day}\\.csv`));
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'date,venue,model,symbol,realized,unrealized,fees,trades,equity_at_close');
  assert.ok(lines.slice(1).some((l) => l.startsWith(`${day},engine_sim,ma_crossover_v1,`)));
  await assert.rejects(hmm('export-pnl', '--date', '2026-13-45'), (err: { code: number; stderr: string }) => err.code === 2 && /YYYY-MM-DD|no such date/.test(err.stderr));
});

test('Monitoring: /aggregate/metrics, /aggregate/portfolio, /aggregate/exposure, /strategy/status, /metrics', async () => {
  const m = await api('GET', '/aggregate/metrics');
  assert.ok(m.json.venues.engine_sim.orders_submitted > 0);
  assert.equal(typeof m.json.venues.engine_sim.routing_ms.p99, 'number');
  const p = await api('GET', '/aggregate/portfolio');
  for (const k of ['equity', 'cash', 'gain']) assert.equal(typeof p.json[k], 'number', k);
  assert.equal(typeof p.json.venues.engine_sim.equity, 'number');
  const x = await api('GET', '/aggregate/exposure');
  assert.equal(typeof x.json.totals.gross_usd, 'number');
  assert.ok(existsSync(join(root, 'ops/aggregate_exposure.json')));
  const s = await api('GET', '/strategy/status');
  assert.ok(s.json.leaderboard.length >= 1);
  assert.ok(s.json.leaderboard.some((r: { model: string }) => r.model === 'ma_crossover_v1'));
  // leaderboard[0] is the best: models with evidence first, by score (PSR), then the rest by
  // bars observed; a row without evidence shows no Sharpe and says why.
  type Row = { score: number | null; sharpe: number | null; sharpe_reason: string | null; evidence: { sufficient: boolean; bars: number; reason: string | null; status: string } };
  const rows = s.json.leaderboard as Row[];
  const key = (r: Row) => (r.evidence.sufficient ? [1, r.score ?? -1] : [0, r.evidence.bars]);
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [key(rows[i - 1]!), key(rows[i]!)];
    assert.ok(a[0]! > b[0]! || (a[0] === b[0] && a[1]! >= b[1]!), `leaderboard[${i - 1}] ranks before leaderboard[${i}]: ${JSON.stringify(rows.map(key))}`);
  }
  for (const r of rows) {
    assert.equal(r.evidence.sufficient, r.evidence.reason === null);
    if (!r.evidence.sufficient) assert.ok(r.sharpe === null && r.sharpe_reason === r.evidence.reason && r.evidence.status.startsWith('collecting: '), JSON.stringify(r));
  }
  assert.equal(s.json.weights.ma_crossover_v1, 1);
  const metrics = await fetch(stack.opsUrl + '/metrics');
  const text = await metrics.text();
  assert.match(text, /hmm_orders_submitted_total\{venue="engine_sim"/);
  assert.match(text, /hmm_order_routing_seconds_bucket/);
});

test('Log analysis: ops/logs/ops.log lines carry the level in capitals', () => {
  const lines = readFileSync(join(root, 'ops/logs/ops.log'), 'utf8').trim().split('\n');
  assert.ok(lines.length > 0);
  for (const l of lines) assert.match(JSON.parse(l).level, /^(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)$/);
});

test('`hmm bus publish` reaches the running stack; bad payloads are refused', async () => {
  const seen: Record<string, number>[] = [];
  const off = stack.bus.subscribe('metrics.update', (p) => { seen.push(p); });
  const { stdout } = await hmm('bus', 'publish', 'metrics.update', '{"pnl_unrealized": -150}');
  assert.equal(JSON.parse(stdout).ok, true);
  assert.deepEqual(seen.find((p) => p.pnl_unrealized === -150), { pnl_unrealized: -150 });
  off();
  await assert.rejects(hmm('bus', 'publish', 'metrics.update', '{"pnl_unrealized": "x"}'), /payload\.pnl_unrealized/);
  await assert.rejects(hmm('bus', 'publish', 'trade.fill', '{}'), (err: { code: number; stderr: string }) => err.code === 2 && /topics you can publish: metrics.update, alert, governance.action/.test(err.stderr));
  await assert.rejects(hmm('bus', 'publish', 'no.such.topic', '{}'), /unknown topic "no.such.topic"; topics you can publish/);
  await assert.rejects(hmm('bus', 'publish', 'metrics.update', 'not json'), /not valid JSON/);
});

test('the kill switch survives a restart, and /status reports state.recovered', async () => {
  const before = await api('GET', '/status');
  assert.equal(before.json.state.recovered, false);
  await api('POST', '/kill', { enabled: false }, { 'x-ops-token': token });
  await stack.stop();
  stack = await startStack({ env: env(), stdout: false });
  const s = await api('GET', '/status');
  assert.equal(s.json.state.trading_enabled, false);
  assert.equal(s.json.state.recovered, true);
  assert.ok(s.json.state.recovery.engine_sim.orders > 0);
  const ready = await waitFor('readiness', async () => ((await api('GET', '/readyz')).status === 200 ? true : undefined));
  assert.ok(ready);
  await api('POST', '/kill', { enabled: true }, { 'x-ops-token': token });
});
