// The observability kit with the real tools: promtool checks the shipped Prometheus config,
// alert rules (and runs their unit tests) and a real /metrics scrape; a real Prometheus
// scrapes a running stack with the shipped config and rules (targets pointed at the test's
// ports) and every PromQL expression in the Grafana dashboard and the alert rules is
// evaluated through its HTTP API.
//
// How alert rules are judged: a rule's full expression must be valid (it is normally empty:
// nothing is wrong), so each top-level operand of and/or/unless is evaluated without its
// final threshold comparison (`<signal> > 0.05` → `<signal>`), and that signal must return
// data: the metric exists and the arithmetic around it works. Prometheus must also load
// every rule with health "ok", and EngineDown must go pending for an engine that is not running.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../support/freePort.js';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startStack, type Stack } from '../../src/app/stack.js';
import type { ModelInfo } from '../../src/ops/context.js';

const TOKEN = 'test-token-0123456789abcdef';
const repo = join(import.meta.dirname, '../..');
const obsDir = join(repo, 'ops/observability');
/** Grafana's built-in interval variables, as Grafana would expand them for a 1 s scrape interval. */
const GRAFANA_VARS: Record<string, string> = { $__rate_interval: '10s', $__interval: '2s', $__range: '5m' };

const onPath = (tool: string) => (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, tool)));

let root: string;
let stack: Stack;
let prom: ChildProcess | null = null;
let promUrl: string;
let promLog: string;

interface PromResult { metric: Record<string, string>; value?: [number, string] }
interface PromAnswer { status: string; error?: string; data?: { resultType: string; result: PromResult[] | [number, string] } }

function run(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', cwd: obsDir });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}


async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}\n--- prometheus log ---\n${promLog && existsSync(promLog) ? readFileSync(promLog, 'utf8').slice(-3000) : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function query(expr: string): Promise<PromAnswer> {
  const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ query: expr }) });
  return (await res.json()) as PromAnswer;
}

const hasData = (a: PromAnswer) => a.status === 'success' && a.data !== undefined && (a.data.resultType === 'scalar' || (a.data.result as PromResult[]).length > 0);

// ---- PromQL helpers: split at top level, ignoring (), {}, [] and quoted strings ----

function topLevelScan(expr: string, visit: (i: number, depth: number) => number | void): void {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') { quote = c; continue; }
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (depth === 0) {
      const skip = visit(i, depth);
      if (typeof skip === 'number') i = skip;
    }
  }
}

/** Operands of top-level and / or / unless. */
function splitLogical(expr: string): string[] {
  const parts: string[] = [];
  let start = 0;
  topLevelScan(expr, (i) => {
    const m = /^\s(and|or|unless)\s/.exec(expr.slice(i));
    if (m && /[\s)}\]]/.test(expr[i] ?? '')) {
      parts.push(expr.slice(start, i));
      start = i + m[0].length;
      return i + m[0].length - 1;
    }
  });
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** The expression left of its last top-level comparison (`x > 0.5` → `x`), or itself. */
function stripComparison(expr: string): string {
  let cut = -1;
  topLevelScan(expr, (i) => {
    const two = expr.slice(i, i + 2);
    if (['==', '!=', '>=', '<='].includes(two)) { cut = i; return i + 1; }
    if ((expr[i] === '>' || expr[i] === '<') && expr[i + 1] !== '=') cut = i;
  });
  let out = (cut >= 0 ? expr.slice(0, cut) : expr).trim();
  while (out.startsWith('(') && out.endsWith(')') && balancedInside(out)) out = out.slice(1, -1).trim();
  return out;
}

function balancedInside(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    if (depth === 0 && i < s.length - 1) return false;
  }
  return true;
}

interface Rule { alert?: string; record?: string; expr: string }
const rules = (): Rule[] => (parseYaml(readFileSync(join(obsDir, 'alert_rules.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

interface Panel { title?: string; type?: string; targets?: { expr?: string; datasource?: { uid?: string } }[]; datasource?: { uid?: string }; panels?: Panel[] }
const dashboardFiles = () => readdirSync(join(obsDir, 'grafana/dashboards')).filter((f) => f.endsWith('.json'));
function dashboardPanels(file: string): Panel[] {
  const doc = JSON.parse(readFileSync(join(obsDir, 'grafana/dashboards', file), 'utf8')) as { panels: Panel[] };
  return doc.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}
const expand = (expr: string) => Object.entries(GRAFANA_VARS).reduce((e, [k, v]) => e.split(k).join(v), expr);

before(async () => {
  assert.ok(onPath('promtool') && onPath('prometheus'), 'promtool/prometheus missing: run node scripts/test-setup.mjs (installs Debian\'s prometheus)');
  root = mkdtempSync(join(tmpdir(), 'hmm-observability-'));
  stack = await startStack({ env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' }, stdout: false });

  // Regime panels need a model that exports posterior_<i> diagnostics. The stack ships an HMM
  // model; should a configuration run without one, stand one in so the panels are still checked.
  if (!stack.context.models().some((m) => Object.keys(m.diagnostics).some((k) => k.startsWith('posterior_')))) {
    const models = stack.context.models;
    const standIn: ModelInfo = { id: 'hmm_stand_in', kind: 'hmm', symbols: ['BTCUSDT'], diagnostics: { posterior_0: 0.7, posterior_1: 0.2, posterior_2: 0.1, regime: 0 } };
    Object.defineProperty(stack.context, 'models', { value: () => [...models(), standIn] });
  }

  // Activity behind every panel: fills, a rejection, a governance action (as the governance
  // daemon counts it) and a governance.action event on the bus.
  const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify(body) });
  assert.equal((await post(`${stack.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 500 })).status, 200);
  assert.equal((await post(`${stack.engineUrl}/orders`, { symbol: 'DOGEUSDT', side: 'BUY', quantity: '1' })).status, 403);
  stack.metrics.governanceActions.inc({ action: 'reduce_exposure' });
  assert.equal((await post(`${stack.opsUrl}/bus/publish`, { topic: 'governance.action', payload: { action: 'reduce_exposure', cause: 'test', detail: {}, ts: Date.now() } })).status, 200);

  // A real Prometheus with the shipped config, its targets pointed at this stack; engine_binance
  // points at a port where nothing listens, so EngineDown has something to find.
  const port = await freePort();
  const deadPort = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const cfg = parseYaml(readFileSync(join(obsDir, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>; rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const ops = new URL(stack.opsUrl);
  const engine = new URL(stack.engineUrl!);
  const retarget: Record<string, string> = { 'hmm_ops:8002': ops.host, 'engine_sim:8101': engine.host, 'engine_binance:8101': `127.0.0.1:${deadPort}` };
  for (const job of cfg.scrape_configs) for (const sc of job.static_configs) sc.targets = sc.targets.map((t) => retarget[t] ?? assert.fail(`unexpected target ${t} in prometheus.yml`));
  cfg.global = { ...cfg.global, scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' };
  cfg.rule_files = cfg.rule_files.map((f) => join(obsDir, f));
  const cfgPath = join(root, 'prometheus.yml');
  writeFileSync(cfgPath, stringifyYaml(cfg));
  promLog = join(root, 'prometheus.log');
  const logFd = openSync(promLog, 'a');
  prom = spawn('prometheus', [`--config.file=${cfgPath}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(root, 'tsdb')}`, '--log.level=warn'], { stdio: ['ignore', logFd, logFd] });
  await waitFor('prometheus ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined));
  // Enough scrapes that every rate() window holds several samples.
  await waitFor('several scrapes of both targets', async () => {
    const a = await query('min(count_over_time(up{job=~"hmm_ops|engine_sim"}[30s]))');
    return hasData(a) && Number((a.data!.result as PromResult[])[0]!.value![1]) >= 3 ? true : undefined;
  });
});

after(async () => {
  if (prom && prom.exitCode === null) {
    const exited = new Promise((r) => prom!.once('exit', r));
    process.kill(prom.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (prom.exitCode === null) process.kill(prom.pid!, 'SIGKILL');
  }
  await stack?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('promtool accepts the shipped Prometheus config and alert rules, and the rules pass their unit tests', () => {
  const config = run('promtool', ['check', 'config', 'prometheus.yml']);
  assert.equal(config.code, 0, config.out);
  assert.match(config.out, /SUCCESS: 1 rule files found/);
  const check = run('promtool', ['check', 'rules', 'alert_rules.yml']);
  assert.equal(check.code, 0, check.out);
  const unit = run('promtool', ['test', 'rules', 'alert_rules.test.yml']);
  assert.equal(unit.code, 0, unit.out);
  assert.match(unit.out, /SUCCESS/);
});

test('promtool finds no problem in a real /metrics scrape of the Ops API and the engine', async () => {
  for (const url of [`${stack.opsUrl}/metrics`, `${stack.engineUrl}/metrics`]) {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const body = await res.text();
    const lint = run('promtool', ['check', 'metrics'], body);
    assert.equal(lint.code, 0, `${url}: ${lint.out}`);
    assert.equal(lint.out.trim(), '', `${url}: ${lint.out}`);
    for (const name of ['hmm_orders_submitted_total', 'hmm_orders_rejected_total', 'hmm_order_routing_seconds_bucket', 'hmm_equity_usd', 'hmm_regime_posterior', 'hmm_governance_actions_total', 'hmm_model_weight', 'hmm_capital_quota_usd', 'hmm_process_cpu_seconds_total']) {
      assert.match(body, new RegExp(`^${name}[{ ]`, 'm'), `${url} exports ${name}`);
    }
  }
});

test('Prometheus scrapes the stack: the Ops API and the engine are up, the missing engine is down', async () => {
  // Any successful scrape in the last 15 s: on a loaded machine one scrape may miss its 900 ms
  // timeout, which is not what this asks; the dead target has never answered.
  const up = await query('max_over_time(up[15s])');
  assert.equal(up.status, 'success');
  const byJob = Object.fromEntries((up.data!.result as PromResult[]).map((r) => [r.metric.job, r.value![1]]));
  assert.deepEqual(byJob, { hmm_ops: '1', engine_sim: '1', engine_binance: '0' });
});

test('every PromQL expression of the Grafana dashboards returns data from the running stack', async (t) => {
  const files = dashboardFiles();
  assert.ok(files.length >= 1);
  let count = 0;
  for (const file of files) {
    for (const panel of dashboardPanels(file)) {
      for (const target of panel.targets ?? []) {
        assert.ok(target.expr, `${file} "${panel.title}": a target without a PromQL expression`);
        const expr = expand(target.expr);
        assert.doesNotMatch(expr, /\$\w+/, `${file} "${panel.title}": unexpanded variable in ${expr}`);
        const answer = await waitFor(`data for "${panel.title}": ${expr}`, async () => {
          const a = await query(expr);
          assert.equal(a.status, 'success', `${file} "${panel.title}": ${expr}: ${a.error}`);
          return hasData(a) ? a : undefined;
        }, 15_000);
        assert.ok(hasData(answer));
        count++;
      }
    }
  }
  t.diagnostic(`${count} dashboard queries returned data`);
  assert.ok(count >= 25, `only ${count} queries found`);
});

test('every alert rule is valid, and the signal each one thresholds returns data', async (t) => {
  const all = rules();
  assert.ok(all.length >= 9);
  for (const rule of all) {
    const full = await query(rule.expr);
    assert.equal(full.status, 'success', `${rule.alert}: ${full.error}`);
    for (const operand of splitLogical(rule.expr)) {
      const signal = stripComparison(operand);
      assert.notEqual(signal, operand.trim(), `${rule.alert}: "${operand}" has no threshold comparison`);
      await waitFor(`data for ${rule.alert}: ${signal}`, async () => {
        const a = await query(signal);
        assert.equal(a.status, 'success', `${rule.alert}: ${signal}: ${a.error}`);
        return hasData(a) ? true : undefined;
      }, 15_000);
    }
  }
  t.diagnostic(`${all.length} rules checked`);

  // Prometheus itself loaded every rule and evaluates it without error.
  const loaded = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
  const health = loaded.data.groups.flatMap((g) => g.rules).map((r) => `${r.name}:${r.health}${r.lastError ? ` ${r.lastError}` : ''}`).sort();
  assert.deepEqual(health, all.map((r) => `${r.alert}:ok`).sort());
  // And it notices the engine that is not running.
  await waitFor('EngineDown pending for engine_binance', async () => {
    const a = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
    return a.data.alerts.some((x) => x.labels.alertname === 'EngineDown' && x.labels.job === 'engine_binance') ? true : undefined;
  }, 10_000);
});

test('the PromQL splitting the rule check relies on', () => {
  assert.deepEqual(splitLogical('(a / b) > 0.25\nand\nsum(x{l="and"}) >= 5'), ['(a / b) > 0.25', 'sum(x{l="and"}) >= 5']);
  assert.equal(stripComparison('(sum(rate(a[5m])) / sum(b)) > 0.25'), 'sum(rate(a[5m])) / sum(b)');
  assert.equal(stripComparison('up{job=~"engine_.*"} == 0'), 'up{job=~"engine_.*"}');
  assert.equal(stripComparison('time() - max by (symbol) (ts) > 60'), 'time() - max by (symbol) (ts)');
  assert.equal(stripComparison('x{a!="b"} <= 1'), 'x{a!="b"}');
  assert.equal(stripComparison('no_comparison'), 'no_comparison');
});

test('the Grafana provisioning is consistent: one Prometheus datasource uid, every panel uses it', () => {
  const ds = parseYaml(readFileSync(join(obsDir, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
  assert.equal(ds.datasources.length, 1);
  const { uid, type, url } = ds.datasources[0]!;
  assert.equal(type, 'prometheus');
  assert.equal(url, 'http://prometheus:9090');
  const provider = parseYaml(readFileSync(join(obsDir, 'grafana/provisioning/dashboards/hmm.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
  assert.equal(provider.providers[0]!.options.path, '/etc/grafana/dashboards');
  for (const file of dashboardFiles()) {
    const doc = JSON.parse(readFileSync(join(obsDir, 'grafana/dashboards', file), 'utf8')) as { uid: string; title: string };
    assert.ok(doc.uid && doc.title);
    for (const p of dashboardPanels(file)) {
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, uid, `${file} "${p.title}" datasource`);
      for (const tg of p.targets ?? []) assert.equal(tg.datasource?.uid, uid, `${file} "${p.title}" target datasource`);
    }
  }
});

test('the observability compose file is valid for docker-compose v1 (or, without it, mounts files that exist)', (t) => {
  const file = 'docker-compose.observability.yml';
  if (onPath('docker-compose')) {
    const r = run('docker-compose', ['-f', file, 'config', '--quiet']);
    assert.equal(r.code, 0, r.out);
  } else {
    t.diagnostic('docker-compose v1 not installed: checked the file structurally only');
  }
  const doc = parseYaml(readFileSync(join(obsDir, file), 'utf8')) as { services: Record<string, { ports: string[]; volumes: string[] }> };
  assert.deepEqual(Object.keys(doc.services).sort(), ['grafana', 'prometheus']);
  assert.match(doc.services.prometheus!.ports.join(), /:9090$/);
  assert.match(doc.services.grafana!.ports.join(), /:3000$/);
  for (const svc of Object.values(doc.services)) {
    for (const v of svc.volumes) {
      const src = v.split(':')[0]!;
      if (src.startsWith('./')) assert.ok(existsSync(join(obsDir, src)), `${file} mounts ${src}, which does not exist`);
    }
  }
});
