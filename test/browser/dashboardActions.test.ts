// The dashboard that acts and remembers, in Debian's Chromium against a real stack: every
// operator action from the page (cancel one order, cancel all, force-exit, weights, promote,
// a refused rollback and a real one, retire, pause, gradual resume) asks for a confirmation
// that names what will happen, takes the token once per tab, and shows the API's answer — or
// its refusal with the code — in place; the API agrees. Then the stack restarts on the same
// root and the page shows the same history: equity points from before, the events, the
// drawdown governance reports, model PnL that does not plunge to $0 (nor across a promotion
// or rollback: a model's PnL is paper plus real over its life); nothing is clipped at
// 1280 px and the legends show values. The after-restart screenshot's path is printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, type Stack } from '../../src/app/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'test-token-actions-0123456789';
const repo = join(import.meta.dirname, '../..');
const artifacts = join(repo, 'test-artifacts');
const ENV = { OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' };

let root: string;
let stack: Stack | null = null;
let browser: Browser;

/** JSON bodies are read by path in assertions; a wrong path fails the assertion that reads it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), 'x-ops-token': TOKEN },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

const start = () => startStack({ env: { ...ENV, HMM_ROOT: root }, stdout: false });

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run node scripts/test-setup.mjs (installs Debian's chromium)`);
  root = mkdtempSync(join(tmpdir(), 'hmm-dashboard-actions-'));
  // The shipped policies, polling once a second so the page follows the API quickly.
  mkdirSync(join(root, 'ops'), { recursive: true });
  const shipped = readFileSync(join(repo, 'ops/policies.yaml'), 'utf8');
  writeFileSync(join(root, 'ops/policies.yaml'), shipped.replace(/^dashboard_refresh_sec:.*$/m, 'dashboard_refresh_sec: 1'));
  stack = await start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Confirms the open dialog after checking it names what will happen; types the token if asked. */
async function confirm(page: Page, names: RegExp, token = false): Promise<void> {
  await page.waitForSelector('#dlg[open]');
  assert.match((await page.textContent('#dlgText'))!, names);
  assert.equal(await page.isVisible('#dlgInput'), false, 'the confirmation comes before any token');
  await page.click('#dlgOk');
  if (token) {
    await page.waitForSelector('#dlg[open] #dlgInput');
    await page.fill('#dlgInput', TOKEN);
    await page.click('#dlgOk');
  }
}

async function resultOf(page: Page, id: string, pattern: RegExp): Promise<string> {
  await page.waitForFunction(([sel, src]) => new RegExp(src).test(document.getElementById(sel)?.textContent ?? ''), [id, pattern.source] as const, { timeout: 15_000 });
  return (await page.textContent(`#${id}`))!;
}

async function limitOrder(url: string, id: string): Promise<void> {
  const r = await api('POST', `${url}/orders`, { client_order_id: id, symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '20000' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.order.status, 'ACCEPTED', JSON.stringify(r.json));
}

test('every dashboard action confirms, acts, shows its answer or refusal; after a restart the history is intact', { timeout: 240_000 }, async () => {
  const s = stack!;
  const buy = await api('POST', `${s.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover_v1', quote_usd: 1500 });
  assert.equal(buy.status, 200, JSON.stringify(buy.json));
  await limitOrder(s.engineUrl!, 'dash-limit-1');

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const failed: string[] = [];
  page.on('pageerror', (e) => failed.push(e.message));
  await page.goto(`${s.opsUrl}/pnl_dashboard.html`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });

  // 1. Cancel one open order from its row: the first action asks for the token.
  await page.waitForSelector('#orders .act-cancel', { timeout: 10_000 });
  await page.click('#orders .act-cancel');
  await confirm(page, /Cancel BUY 0\.002 BTCUSDT @ 20000 \(dash-limit-1, ACCEPTED/, true);
  await resultOf(page, 'ordersResult', /Canceled dash-limit-1/);
  assert.equal((await api('GET', `${s.engineUrl}/orders/dash-limit-1`)).json.order.status, 'CANCELED');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hmm.opsToken')), TOKEN);
  assert.ok(!page.url().includes(TOKEN), 'the token is never in a URL');

  // 2. Cancel every open order (no second token prompt).
  await limitOrder(s.engineUrl!, 'dash-limit-2');
  await page.waitForSelector('#cancelAllBtn:not([disabled])', { timeout: 10_000 });
  await page.click('#cancelAllBtn');
  await confirm(page, /Cancel every open order at every engine \(1 now\)/);
  await resultOf(page, 'ordersResult', /Canceled 1 open order$/);
  assert.equal((await api('GET', `${s.opsUrl}/orders/open`)).json.orders.length, 0);

  // 3. Force-exit the model's BTCUSDT position from its row.
  const exitRow = page.locator('#positions tbody tr', { hasText: 'BTCUSDT' }).filter({ hasText: 'ma_crossover_v1' });
  await exitRow.locator('.act-exit').click();
  await confirm(page, /Sell all [0-9.]+ BTCUSDT held by ma_crossover_v1 at engine_sim, at market now/);
  const exitText = await resultOf(page, 'posResult', /Force-exit ma_crossover_v1 BTCUSDT: sold/);
  assert.doesNotMatch(exitText, /sold 0$/);
  const recent = (await api('GET', `${s.opsUrl}/orders/recent?limit=100`)).json.orders as { client_order_id: string; side: string; status: string }[];
  assert.ok(recent.some((o) => o.client_order_id.startsWith('ma_crossover_v1-fx-') && o.side === 'SELL' && o.status === 'FILLED'), 'a filled force-exit SELL is in the engine');

  // 4. Edit a weight.
  const weight = page.locator('#modelsCtl tr[data-model="ma_crossover_v1"] input.weight');
  await weight.fill('0.5');
  await page.click('#saveWeightsBtn');
  await confirm(page, /ma_crossover_v1 1\.00 → 0\.50/);
  await resultOf(page, 'modelsResult', /Weights set: ma_crossover_v1 0\.50/);
  assert.equal((await api('GET', `${s.opsUrl}/strategy/weights`)).json.weights.ma_crossover_v1, 0.5);

  const modelButton = (model: string, cls: string) => page.locator(`#modelsCtl tr[data-model="${model}"] .${cls}`);
  const stageOf = async (m: string) => ((await api('GET', `${s.opsUrl}/strategy/registry`)).json.models as { id: string; stage: string }[]).find((x) => x.id === m)!.stage;
  // 5. A refusal, shown in place with the API's code: the live model replaced nothing.
  await modelButton('ma_crossover_v1', 'act-rollback').click();
  await confirm(page, /Roll back ma_crossover_v1/);
  const refused = await resultOf(page, 'modelsResult', /refused/);
  assert.match(refused, /refused \(HTTP 409 HMM_LIFECYCLE_STAGE_CONFLICT\): ma_crossover_v1 replaced no model/);
  assert.equal(await page.getAttribute('#modelsResult', 'data-state'), 'err');
  assert.equal(await stageOf('ma_crossover_v1'), 'live', 'a refused rollback changes nothing');

  // 6. Promote hmm_regime_v1 to canary, then to live (ma_crossover_v1 drops to shadow) ...
  await modelButton('hmm_regime_v1', 'act-promote').click();
  await confirm(page, /Promote hmm_regime_v1 from shadow to canary/);
  await resultOf(page, 'modelsResult', /promote hmm_regime_v1: shadow → canary/);
  await page.waitForFunction(() => document.querySelector('#modelsCtl tr[data-model="hmm_regime_v1"] .tag')?.textContent === 'canary');
  await modelButton('hmm_regime_v1', 'act-promote').click();
  await confirm(page, /Promote hmm_regime_v1 from canary to live .*ma_crossover_v1 goes to shadow/);
  await resultOf(page, 'modelsResult', /promote hmm_regime_v1: canary → live \(ma_crossover_v1 to shadow\)/);
  assert.equal(await stageOf('ma_crossover_v1'), 'shadow');
  // While in shadow, ma_crossover_v1's PnL line carries on: its real PnL from live plus its paper
  // PnL, never its paper book alone (a dip to about $0). Waits for a model PnL sample (one every
  // 5 s) taken after the demotion.
  const demotedAt = Date.now();
  const pnlSamples = async () => ((await api('GET', `${s.opsUrl}/dashboard/history?points=5000`)).json.model_pnl as { ts: number; pnl: Record<string, number> }[]);
  let inShadow: { ts: number; pnl: Record<string, number> } | undefined;
  for (let i = 0; i < 60 && inShadow === undefined; i++) {
    inShadow = (await pnlSamples()).find((p) => p.ts > demotedAt);
    if (inShadow === undefined) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(inShadow !== undefined, 'a model PnL sample while ma_crossover_v1 is in shadow');
  const maRow = ((await api('GET', `${s.opsUrl}/strategy/status`)).json.leaderboard as Json[]).find((r) => r.model === 'ma_crossover_v1')!;
  assert.equal(maRow.source, 'shadow');
  assert.notEqual(maRow.live_pnl, 0, 'the real PnL it made live');
  assert.equal(maRow.pnl, Math.round((maRow.live_pnl + maRow.shadow_pnl) * 100) / 100, `pnl is real + paper: ${JSON.stringify(maRow)}`);
  assert.notEqual(inShadow.pnl.ma_crossover_v1, 0);
  assert.equal(await stageOf('ma_crossover_v1'), 'shadow', 'still in shadow when sampled');
  // ... and roll it back: the model it replaced is live again.
  await page.waitForSelector('#modelsCtl tr[data-model="hmm_regime_v1"] .act-rollback:not([disabled])');
  await modelButton('hmm_regime_v1', 'act-rollback').click();
  await confirm(page, /Roll back hmm_regime_v1: it goes to shadow .* ma_crossover_v1, the model it replaced, is live again/);
  await resultOf(page, 'modelsResult', /rollback hmm_regime_v1: live → shadow \(ma_crossover_v1 live again\)/);
  assert.equal(await stageOf('ma_crossover_v1'), 'live');
  assert.equal(await stageOf('hmm_regime_v1'), 'shadow');

  // 7. Retire the ensemble.
  await modelButton('ensemble_v1', 'act-retire').click();
  await confirm(page, /Retire ensemble_v1 \(now shadow\): it stops running/);
  await resultOf(page, 'modelsResult', /retire ensemble_v1: shadow → retired/);
  assert.equal(await stageOf('ensemble_v1'), 'retired');

  // 8. Pause, then a gradual resume at 25 % of normal size.
  await page.click('#killBtn');
  await confirm(page, /Every engine stops taking new orders now/);
  await resultOf(page, 'killResult', /Trading paused/);
  assert.equal((await api('GET', `${s.opsUrl}/status`)).json.state.trading_enabled, false);
  await page.waitForSelector('#gradual:not([hidden])');
  await page.fill('#gradualPct', '25');
  await page.click('#gradualBtn');
  await confirm(page, /every new order is sized at 25% of normal \(exposure multiplier ×0\.25\)\. Governance then raises it by 10 points after every 300 s/);
  await resultOf(page, 'killResult', /Trading resumed at ×0\.25 size/);
  const status = (await api('GET', `${s.opsUrl}/status`)).json.state;
  assert.equal(status.trading_enabled, true);
  assert.equal(status.exposure_multiplier, 0.25);
  assert.deepEqual([...failed], []);
  await page.close();

  // Governance has stated its drawdown at least once; the history has points and events. The
  // sampler writes a frame a wall second: on a quick machine the steps above take under ten.
  const dashHistory = async (url: string) => (await api('GET', `${url}/dashboard/history?points=5000`)).json as { points: { ts: number; equity: number }[]; model_pnl: { ts: number; pnl: Record<string, number> }[]; governance: { drawdown_pct: number } | null };
  const deadline = Date.now() + 20_000;
  for (let h = await dashHistory(s.opsUrl); (h.governance === null || h.points.length < 10) && Date.now() < deadline; h = await dashHistory(s.opsUrl)) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const beforeRestart = await dashHistory(s.opsUrl);
  assert.ok(beforeRestart.governance !== null, 'governance stated its drawdown');
  assert.ok(beforeRestart.points.length >= 10, `${beforeRestart.points.length} equity points before the restart`);
  const lastBefore = beforeRestart.points.at(-1)!;
  const eventsBefore = (await api('GET', `${s.opsUrl}/dashboard/events?limit=200`)).json.events as { topic: string }[];
  assert.ok(eventsBefore.some((e) => e.topic === 'strategy.promoted') && eventsBefore.some((e) => e.topic === 'trading.state'));
  // Across the promotions and the rollback no model's PnL line came back to $0 once it had PnL.
  for (const model of Object.keys(beforeRestart.model_pnl.at(-1)!.pnl)) {
    const line = beforeRestart.model_pnl.map((p) => p.pnl[model]).filter((v): v is number => v !== undefined);
    const from = line.findIndex((v) => v !== 0);
    if (from >= 0) assert.ok(line.slice(from).every((v) => v !== 0), `${model} PnL line: ${line.join(', ')}`);
  }

  // ── Restart on the same root ──
  await s.stop();
  stack = null;
  const s2 = (stack = await start());
  const afterRestart = await dashHistory(s2.opsUrl);
  const tsAfter = new Set(afterRestart.points.map((p) => p.ts));
  for (const p of beforeRestart.points) assert.ok(tsAfter.has(p.ts), `equity point ${p.ts} kept across the restart`);
  assert.equal(afterRestart.points.find((p) => p.ts === lastBefore.ts)!.equity, lastBefore.equity);

  const page2 = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page2.on('pageerror', (e) => failed.push(e.message));
  await page2.goto(`${s2.opsUrl}/pnl_dashboard.html`);
  await page2.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });
  // The equity chart starts where the history starts, with at least the points from before.
  await page2.waitForFunction((n) => Number(document.getElementById('equityChart')?.dataset.points ?? 0) >= n, beforeRestart.points.length, { timeout: 10_000 });
  assert.equal(Number(await page2.getAttribute('#equityChart', 'data-first')), beforeRestart.points[0]!.ts);
  // The events from before the restart are on the page.
  await page2.waitForFunction(() => {
    const t = document.getElementById('events')?.textContent ?? '';
    return t.includes('paused from the dashboard') && t.includes('PROMOTED') && !t.includes('no events yet');
  }, undefined, { timeout: 10_000 });
  // The drawdown shown is governance's figure (GET /governance/status), whichever it states now.
  const govDrawdown = async () => ((await api('GET', `${s2.opsUrl}/governance/status`)).json.metrics.drawdown_pct?.value as number | undefined);
  let matched = false;
  for (let i = 0; i < 60 && !matched; i++) {
    const shown = Number(await page2.getAttribute('#drawdown', 'data-value'));
    const gov = await govDrawdown();
    matched = gov !== undefined && shown === gov;
    if (!matched) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(matched, `page drawdown ${await page2.getAttribute('#drawdown', 'data-value')} vs governance ${await govDrawdown()}`);
  assert.match((await page2.textContent('#drawdown'))!, /^\d+\.\d\d%$/);

  // Model PnL after the restart never reads $0 for a model that had PnL (no plunge at start-up).
  await page2.waitForFunction(() => document.querySelectorAll('#modelChart .u-series').length > 1, undefined, { timeout: 15_000 });
  await new Promise((r) => setTimeout(r, 6_000)); // a model PnL sample or two after the start
  const pnl = (await dashHistory(s2.opsUrl)).model_pnl;
  const restartTs = lastBefore.ts;
  const maBefore = beforeRestart.model_pnl.at(-1)!.pnl.ma_crossover_v1!;
  assert.notEqual(maBefore, 0);
  const maAfter = pnl.filter((p) => p.ts > restartTs).map((p) => p.pnl.ma_crossover_v1);
  assert.ok(maAfter.length >= 1, 'model PnL sampled after the restart');
  assert.ok(maAfter.every((v) => v !== 0), `ma_crossover_v1 PnL after the restart: ${maAfter.join(', ')}`);
  // Legends show values, not "–".
  const legend = await page2.$$eval('#modelChart .u-legend .u-value', (els) => els.map((e) => e.textContent ?? ''));
  assert.ok(legend.length >= 2 && legend.every((v) => v !== '' && v !== '–'), `legend values: ${legend.join(' | ')}`);

  // Nothing is clipped at 1280 px: no table wider than its panel, no cell cut short.
  const clipped = await page2.evaluate(() => {
    const out: string[] = [];
    if (document.documentElement.scrollWidth > window.innerWidth) out.push(`page ${document.documentElement.scrollWidth} px wide`);
    for (const t of Array.from(document.querySelectorAll('table'))) {
      const card = t.closest('.card') as HTMLElement;
      const room = card.getBoundingClientRect().right - parseFloat(getComputedStyle(card).paddingRight);
      if (t.getBoundingClientRect().right > room + 1) out.push(`#${t.id} ends ${Math.round(t.getBoundingClientRect().right - room)} px past its panel`);
      for (const c of Array.from(t.querySelectorAll('th, td')) as HTMLElement[]) if (c.scrollWidth > c.clientWidth + 1) out.push(`#${t.id} cell "${c.textContent}" cut`);
    }
    return out;
  });
  assert.deepEqual(clipped, []);

  mkdirSync(artifacts, { recursive: true });
  const shot = join(artifacts, 'dashboard-after-restart.png');
  await page2.screenshot({ path: shot, fullPage: true });
  console.log(`after-restart screenshot: ${shot}`);
  assert.deepEqual(failed, []);
  await page2.close();
});
