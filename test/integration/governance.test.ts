// The runbook's Governance Testing and Market Disruption Response, against a running stack:
// `hmm bus publish metrics.update '{"pnl_unrealized": -150}'` (a child process, as an operator
// types it) and the one-line TypeScript snippet both produce "[GOV] 📉 Exposure reduced" in
// ops/logs/ops.log within 2 seconds; the multiplier shrinks routed orders; policies.yaml,
// capital_policy.json and strategy_weights.json hand edits are picked up, and bad edits are
// refused with an ERROR while the last good values stay; trading states over HTTP; a gradual
// resume's exposure_multiplier out of range is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startStack, type Stack } from '../../src/app/stack.js';
import { parsePolicies } from '../../src/ops/policies.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '../..');
const TOKEN = 'test-token-0123456789abcdef';
let root: string;
let stack: Stack;

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 8_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface LogLine { level: string; msg: string }
const logLines = (): LogLine[] => readFileSync(join(root, 'ops/logs/ops.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine);
const reducedLines = () => logLines().filter((l) => l.msg.startsWith('[GOV] 📉 Exposure reduced'));

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(stack.opsUrl + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-ops-token': token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-governance-'));
  // No model trades here, so the stack's own metrics stay flat and cannot pre-empt the drill.
  mkdirSync(join(root, 'ops'), { recursive: true });
  writeFileSync(join(root, 'ops/strategy_weights.json'), JSON.stringify({ weights: { ma_crossover_v1: 0 }, updated_at: '', updated_by: 'test' }));
  stack = await startStack({
    env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' },
    stdout: false,
  });
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('runbook: `hmm bus publish metrics.update \'{"pnl_unrealized": -150}\'` → "[GOV] 📉 Exposure reduced" in ops.log within 2 s', async () => {
  assert.equal(reducedLines().length, 0);
  const { stdout } = await run(process.execPath, [join(repo, 'bin/hmm.mjs'), '--url', stack.opsUrl, '--root', root, 'bus', 'publish', 'metrics.update', '{"pnl_unrealized": -150}'],
    { cwd: root, env: { ...process.env, OPS_API_TOKEN: TOKEN } });
  assert.deepEqual(JSON.parse(stdout), { ok: true, topic: 'metrics.update' });
  const published = Date.now();
  const line = await waitFor('the [GOV] line', () => reducedLines()[0], 2_000);
  assert.ok(Date.now() - published <= 2_000);
  assert.equal(line.msg, '[GOV] 📉 Exposure reduced ×1.00 → ×0.70 (pnl_unrealized -150 < -100, rule loss_100)');
  assert.equal(line.level, 'WARN');
  const status = await api('GET', '/governance/status');
  assert.equal(status.json.exposure_multiplier, 0.7);
  assert.equal(status.json.recent_actions[0].action, 'reduce_exposure');
  assert.equal((await api('GET', '/status')).json.state.exposure_multiplier, 0.7);
  assert.match(await (await fetch(stack.opsUrl + '/metrics')).text(), /hmm_governance_actions_total\{action="reduce_exposure"\} 1/);
  // The action is in the audit trail, the bus publish that caused it too.
  const audit = readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8');
  assert.match(audit, /"action":"bus.publish:metrics.update"/);
  assert.match(audit, /"action":"governance.reduce_exposure"/);
});

test('runbook: the one-line TypeScript snippet does the same', async () => {
  // Back to full size, with a healthy reading first so the drill value no longer holds.
  assert.equal((await api('POST', '/bus/publish', { topic: 'metrics.update', payload: { pnl_unrealized: 0 } })).status, 200);
  assert.equal((await api('POST', '/governance/exposure', { multiplier: 1, reason: 'reset after the CLI drill' })).json.to, 1);
  const before = reducedLines().length;
  const snippet = "import('./src/cli/opsClient.ts').then((c) => c.publishEvent('metrics.update', { pnl_unrealized: -150 }))";
  const { stdout } = await run(join(repo, 'node_modules/.bin/tsx'), ['-e', snippet], {
    cwd: repo, env: { ...process.env, OPS_URL: stack.opsUrl, HMM_ROOT: root, OPS_API_TOKEN: TOKEN },
  });
  assert.match(stdout, /"ok":true/);
  const published = Date.now();
  const line = await waitFor('the [GOV] line', () => reducedLines()[before], 2_000);
  assert.ok(Date.now() - published <= 2_000);
  assert.match(line.msg, /^\[GOV\] 📉 Exposure reduced ×1\.00 → ×0\.70 \(pnl_unrealized -150 < -100, rule loss_100\)$/);
});

test('the multiplier shrinks what the strategy router sends (quota × weight × strength × multiplier)', async () => {
  assert.equal((await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 1 } })).status, 200);
  const quota = stack.context.allocator.quota('ma_crossover_v1');
  const r = await api('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover_v1', strength: 0.05 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'routed');
  assert.ok(Math.abs(r.json.capital_quota_usd - quota * 0.7) < 0.01, `${r.json.capital_quota_usd} vs ${quota} × 0.7`);
  assert.ok(r.json.notional_usd <= quota * 0.7 * 0.05 + 0.01 && r.json.notional_usd > quota * 0.7 * 0.05 * 0.95);
  assert.equal((await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0 } })).status, 200);
});

test('policies.yaml: a good governance edit applies while running; a bad one is refused with an ERROR, the last good stays', async () => {
  const path = join(root, 'ops/policies.yaml');
  const original = readFileSync(path, 'utf8');
  const drill = original.replace('- { name: loss_50,    metric: pnl_unrealized, below: -50,  multiplier: 0.85 }', '- { name: loss_10,    metric: pnl_unrealized, below: -10,  multiplier: 0.9 }')
    .replace('high_frequency: false', 'high_frequency: true');
  assert.notEqual(drill, original);
  writeFileSync(path, drill);
  await waitFor('the reload', () => (stack.context.policies.current.governance.exposure_rules.some((r) => r.name === 'loss_10') ? true : undefined));
  assert.equal(stack.context.policies.current.alerting.high_frequency, true);
  await waitFor('the high-frequency line', () => logLines().find((l) => l.msg.startsWith('[ALERT] high-frequency alerting ON')));
  assert.equal((await api('GET', '/governance/status')).json.policy.exposure_rules[0].name, 'loss_10');

  const bad = drill.replace('multiplier: 0.9 }', 'multiplier: 5 }');
  writeFileSync(path, bad);
  const err = await waitFor('the ERROR line', () => logLines().find((l) => l.level === 'ERROR' && l.msg.includes('policies.yaml rejected')));
  assert.match(err.msg, /governance\.exposure_rules\[0\]\.multiplier must be a number in \[0, 1\], got 5; keeping the last good version/);
  assert.equal(stack.context.policies.current.governance.exposure_rules[0]!.multiplier, 0.9, 'last good policy in force');
  // ...and it still acts on it.
  await api('POST', '/governance/exposure', { multiplier: 1, reason: 'reset' });
  await api('POST', '/bus/publish', { topic: 'metrics.update', payload: { pnl_unrealized: -20 } });
  await waitFor('a reduction by the reloaded rule', () => reducedLines().find((l) => l.msg.includes('rule loss_10')));
  writeFileSync(path, original);
  await waitFor('the restore', () => (stack.context.policies.current.alerting.high_frequency === false ? true : undefined));
});

test('market disruption: capital_policy.json and strategy_weights.json hand edits are validated and picked up', async () => {
  const cp = join(root, 'ops/capital_policy.json');
  const policy = JSON.parse(readFileSync(cp, 'utf8')) as Record<string, unknown>;
  const freeze = new Date(Date.now() + 3_600_000).toISOString();
  writeFileSync(cp, JSON.stringify({ ...policy, cooldown_sec: 3600, freeze_until: freeze }, null, 2));
  await waitFor('the capital policy reload', () => (stack.context.capitalPolicy.current.freeze_until === freeze ? true : undefined));
  assert.equal(stack.context.capitalPolicy.current.cooldown_sec, 3600);
  assert.ok(logLines().some((l) => l.level === 'INFO' && l.msg.includes('capital_policy.json reloaded')));
  writeFileSync(cp, JSON.stringify({ ...policy, cooldown_sec: -5 }, null, 2));
  const err = await waitFor('the ERROR line', () => logLines().find((l) => l.level === 'ERROR' && l.msg.includes('capital_policy.json rejected')));
  assert.match(err.msg, /cooldown_sec/);
  assert.equal(stack.context.capitalPolicy.current.freeze_until, freeze, 'last good capital policy stays');

  const wp = join(root, 'ops/strategy_weights.json');
  const doc = JSON.parse(readFileSync(wp, 'utf8')) as { weights: Record<string, number> };
  writeFileSync(wp, JSON.stringify({ ...doc, weights: { ...doc.weights, ma_crossover_v1: 0.1 }, updated_by: 'hand edit' }, null, 2));
  await waitFor('the weights reload', () => (stack.context.weights.weight('ma_crossover_v1') === 0.1 ? true : undefined));
  assert.equal((await api('GET', '/strategy/weights')).json.weights.ma_crossover_v1, 0.1);
  writeFileSync(wp, JSON.stringify({ ...doc, weights: { ...doc.weights, ma_crossover_v1: 2 } }, null, 2));
  const werr = await waitFor('the weights ERROR', () => logLines().find((l) => l.level === 'ERROR' && l.msg.includes('strategy_weights.json rejected')));
  assert.match(werr.msg, /weights\.ma_crossover_v1 must be within \[0, 1\], got 2/);
  assert.equal(stack.context.weights.weight('ma_crossover_v1'), 0.1, 'last good weights stay');
});

test('POST /trading/state: validated, enforced, shown in /status and /metrics, audited, latched', async () => {
  const bad: [unknown, string][] = [
    [{ scope: 'global', target: 'x', state: 'HALTED', reason: 'r' }, 'target'],
    [{ scope: 'venue', state: 'HALTED', reason: 'r' }, 'target'],
    [{ scope: 'venue', target: 'engine_nope', state: 'HALTED', reason: 'r' }, 'target'],
    [{ scope: 'model', target: 'ghost', state: 'REDUCING', reason: 'r' }, 'target'],
    [{ scope: 'global', state: 'PAUSED', reason: 'r' }, 'state'],
    [{ scope: 'global', state: 'HALTED' }, 'reason'],
  ];
  for (const [body, field] of bad) {
    const r = await api('POST', '/trading/state', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.field, field, JSON.stringify(r.json));
  }
  assert.equal((await api('POST', '/trading/state', { scope: 'global', state: 'HALTED', reason: 'x' }, null)).status, 401);

  const set = await api('POST', '/trading/state', { scope: 'model', target: 'ma_crossover_v1', state: 'HALTED', reason: 'model under review' });
  assert.equal(set.status, 200, JSON.stringify(set.json));
  assert.equal(set.json.changed, true);
  assert.match(set.json.entry.actor, /^operator:[0-9a-f]{12}$/);
  await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 1 } });
  // Weights name the calling operator too (they read 'ops_api').
  assert.equal((await api('GET', '/strategy/weights')).json.updated_by, set.json.entry.actor);
  const sig = await api('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover_v1', quote_usd: 50 });
  assert.equal(sig.status, 403);
  assert.equal(sig.json.reason, 'TRADING_HALTED');
  const status = (await api('GET', '/status')).json.state;
  assert.equal(status.trading_states.models.ma_crossover_v1.state, 'HALTED');
  assert.equal(status.engines.engine_sim.trading_states.models.ma_crossover_v1, 'HALTED');
  assert.match(await (await fetch(stack.opsUrl + '/metrics')).text(), /hmm_trading_state\{scope="model",target="ma_crossover_v1"\} 2/);
  assert.ok(logLines().some((l) => l.level === 'WARN' && /\[GOV\] .*Trading HALTED \(model ma_crossover_v1\) by operator:[0-9a-f]{12}: model under review/.test(l.msg)));
  assert.match(readFileSync(join(root, 'ops/logs/audit.jsonl'), 'utf8'), /"action":"trading_state.set:model"/);

  assert.equal((await api('POST', '/trading/state', { scope: 'model', target: 'ma_crossover_v1', state: 'ACTIVE', reason: 'review done' })).json.previous, 'HALTED');
  const ok = await api('POST', '/strategy/signal', { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover_v1', quote_usd: 50 });
  assert.equal(ok.json.outcome, 'routed', JSON.stringify(ok.json));
  await api('POST', '/strategy/weights', { weights: { ma_crossover_v1: 0 } });
});

test('POST /kill exposure_multiplier: below 0.01 (0.000001), 0 or above 1 is refused naming the field and lifts nothing; 0.01 to 1 resumes at that size, floored at the shipped min_multiplier', async () => {
  const shipped = parsePolicies(readFileSync(join(repo, 'ops/policies.yaml'), 'utf8')).governance;
  assert.deepEqual(stack.context.policies.current.governance, shipped, 'the stack runs the shipped governance policy');
  await api('POST', '/governance/exposure', { multiplier: 1, reason: 'before the resume checks' });
  assert.equal((await api('POST', '/kill', { enabled: false, reason: 'before a gradual resume' })).status, 200);

  for (const m of [0.000001, 0, 1e-320, -0.25, 1.5]) {
    const r = await api('POST', '/kill', { enabled: true, exposure_multiplier: m, reason: `resume at ${m}` });
    assert.equal(r.status, 400, `${m}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.field, 'exposure_multiplier');
    assert.match(r.json.error, m > 1 ? /exposure_multiplier must be <= 1/ : /exposure_multiplier must be >= 0\.01/);
    // Refused whole: trading stays paused and the multiplier where it was.
    assert.equal(stack.context.killSwitch.enabled, false, `${m} resumed trading`);
    assert.equal(stack.governance.daemon.status().exposure_multiplier, 1, `${m} moved the multiplier`);
  }
  assert.ok(!logLines().some((l) => /Exposure multiplier set .*gradual resume: resume at/.test(l.msg)), 'no refused value reached governance');

  // The lowest value taken: in range, raised to governance's floor (0.1 shipped), trading resumed.
  const low = await api('POST', '/kill', { enabled: true, exposure_multiplier: 0.01, reason: 'resume at the lowest size' });
  assert.equal(low.status, 200, JSON.stringify(low.json));
  assert.deepEqual(low.json.exposure, { from: 1, to: shipped.min_multiplier });
  assert.equal(low.json.state.trading_enabled, true);
  const quarter = await api('POST', '/kill', { enabled: true, exposure_multiplier: 0.25, reason: 'runbook gradual resume' });
  assert.equal(quarter.status, 200, JSON.stringify(quarter.json));
  assert.equal(quarter.json.exposure.to, 0.25);
  assert.equal(stack.governance.daemon.status().exposure_multiplier, 0.25);
  await api('POST', '/governance/exposure', { multiplier: 1, reason: 'resume checks done' });
});
