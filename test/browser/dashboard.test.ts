// The live PnL dashboard in a real browser (Debian's Chromium driven by playwright-core)
// against a real stack: it loads with no console errors, its equity figure moves with the
// market over the SSE stream, it falls back to polling at dashboard_refresh_sec when the
// stream is unavailable, and its kill control really pauses trading (asking for the token
// once). Saves test-artifacts/dashboard.png for a person to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { startStack, type Stack } from '../../src/app/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'test-token-0123456789abcdef';
const repo = join(import.meta.dirname, '../..');
const artifacts = join(repo, 'test-artifacts');

let root: string;
let stack: Stack;
let browser: Browser;

async function api(method: string, url: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), 'x-ops-token': TOKEN },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Collects everything the page reports as broken: console errors, uncaught exceptions, failed requests. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    // A stream a test cuts on purpose logs a failed load of /stream; anything else counts.
    if (m.type() === 'error' && !m.location().url.endsWith('/stream')) problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // EventSource connections are aborted when the page closes or a test cuts the stream on purpose.
    if (!r.url().endsWith('/stream')) problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });
  return problems;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run node scripts/test-setup.mjs (installs Debian's chromium)`);
  root = mkdtempSync(join(tmpdir(), 'hmm-dashboard-'));
  // Poll once a second when the stream is down, so the fallback test is quick.
  mkdirSync(join(root, 'ops'), { recursive: true });
  const shipped = readFileSync(join(repo, 'ops/policies.yaml'), 'utf8');
  const policies = /^dashboard_refresh_sec:.*$/m.test(shipped) ? shipped.replace(/^dashboard_refresh_sec:.*$/m, 'dashboard_refresh_sec: 1') : `${shipped}\ndashboard_refresh_sec: 1\n`;
  writeFileSync(join(root, 'ops/policies.yaml'), policies);
  stack = await startStack({
    env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' },
    stdout: false,
  });
  // Hold a position so equity moves with every bar.
  const buy = await api('POST', `${stack.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 1500 });
  assert.equal(buy.status, 200, JSON.stringify(buy.json));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('the page loads without errors, streams live equity, and is saved as a screenshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems = watch(page);
  await page.goto(`${stack.opsUrl}/pnl_dashboard.html`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
  await page.waitForFunction(() => /\$[0-9,]+\.\d\d/.test(document.getElementById('equity')?.textContent ?? ''), undefined, { timeout: 10_000 });

  // The figure on the page is the portfolio's (to the cent at the moment it was shown) ...
  const shown = async () => Number((await page.textContent('#equity'))!.replace(/[^0-9.]/g, ''));
  const portfolio = (await (await fetch(`${stack.opsUrl}/aggregate/portfolio`)).json()) as { equity: number };
  assert.ok(Math.abs((await shown()) - portfolio.equity) < portfolio.equity * 0.01, `page ${await shown()} vs API ${portfolio.equity}`);
  // ... and it moves on its own, pushed over the stream.
  const first = await page.textContent('#equity');
  await page.waitForFunction((was) => document.getElementById('equity')?.textContent !== was, first, { timeout: 15_000 });

  // Tables are filled from the API: the model, its quota, the BUY we placed.
  await page.waitForFunction(() => document.querySelector('#leaderboard tbody')?.textContent?.includes('ma_crossover_v1') ?? false, undefined, { timeout: 10_000 });
  // Every model shows its evidence state; a model still collecting shows no Sharpe ("—") and,
  // beside it, what it still lacks (the reason, also on the dash's tooltip).
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#leaderboard tbody tr')).every((tr) => /sufficient|\d+\/\d+ (bars|trades)/.test(tr.querySelector('td.evidence-state')?.textContent ?? '')), undefined, { timeout: 10_000 });
  const collecting = await page.$$eval('#leaderboard tbody tr', (trs) => trs.filter((tr) => !tr.querySelector('td.evidence-state')?.textContent?.includes('sufficient'))
    .map((tr) => ({ sharpe: tr.querySelector('td.sharpe')?.textContent ?? '', why: tr.querySelector('td.sharpe span')?.getAttribute('title') ?? '', state: tr.querySelector('td.evidence-state')?.textContent ?? '' })));
  for (const c of collecting) {
    assert.equal(c.sharpe, '—', JSON.stringify(c));
    assert.match(c.why, /^\d+ of \d+ (bars|trades)/, JSON.stringify(c));
    assert.match(c.state, /^\d+\/\d+ (bars|trades)/, JSON.stringify(c));
  }
  await page.waitForFunction(() => document.querySelector('#positions tbody')?.textContent?.includes('BTCUSDT') ?? false, undefined, { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('#orders tbody')?.textContent?.includes('FILLED') ?? false, undefined, { timeout: 10_000 });
  assert.match((await page.textContent('#allocations'))!, /ma_crossover_v1/);
  assert.equal(await page.getAttribute('#trading', 'data-state'), 'on');
  // Charts are drawn by uPlot from the installed package.
  assert.ok(await page.locator('#equityChart canvas').count() >= 1);
  // The regime band under the equity chart: one cell per recent bar of the HMM's Viterbi path.
  await page.waitForFunction(() => (document.querySelectorAll('#regimeBand i').length ?? 0) >= 30, undefined, { timeout: 10_000 });
  assert.match((await page.textContent('#regimeBandHint'))!, /regime of hmm_regime_v1 \(shadow\), last \d+ bars: now R\d of 4/);

  // Governance events reach the page's feed live.
  const gov = await api('POST', `${stack.opsUrl}/bus/publish`, { topic: 'governance.action', payload: { action: 'reduce_exposure', cause: 'drawdown 3.1% > 3%', detail: { factor: 0.5 }, ts: Date.now() } });
  assert.equal(gov.status, 200, JSON.stringify(gov.json));
  await page.waitForFunction(() => document.getElementById('events')?.textContent?.includes('reduce_exposure') ?? false, undefined, { timeout: 5_000 });

  // Let the charts gather several seconds of points, then keep a picture for a person to check.
  await page.waitForFunction(() => document.querySelectorAll('#modelChart .u-series').length > 1, undefined, { timeout: 12_000 });
  await page.waitForFunction(() => /last ([6-9]|\d\d)s|last \d+m/.test(document.getElementById('equityRange')?.textContent ?? ''), undefined, { timeout: 15_000 });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('without the stream the page polls every dashboard_refresh_sec and still updates', async () => {
  const cfg = (await (await fetch(`${stack.opsUrl}/dashboard/config`)).json()) as { refresh_sec: number };
  assert.equal(cfg.refresh_sec, 1, 'policies.yaml dashboard_refresh_sec is exposed to the page');
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watch(page);
  await page.route('**/stream', (route) => route.abort());
  const polls: number[] = [];
  page.on('request', (r) => { if (r.url().endsWith('/aggregate/portfolio')) polls.push(Date.now()); });
  await page.goto(`${stack.opsUrl}/pnl_dashboard.html`);
  await page.waitForSelector('#conn[data-state="polling"]', { timeout: 10_000 });
  const first = await page.textContent('#equity');
  await page.waitForFunction((was) => document.getElementById('equity')?.textContent !== was, first, { timeout: 10_000 });
  assert.ok(polls.length >= 2, `polled ${polls.length} times`);
  assert.ok(polls.length < 10, `polled ${polls.length} times in a few seconds: faster than refresh_sec`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the kill control pauses trading after asking for the token once, and resumes it', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems = watch(page);
  await page.goto(`${stack.opsUrl}/pnl_dashboard.html`);
  await page.waitForSelector('#killBtn:not([disabled])');
  assert.equal((await page.textContent('#killBtn'))!.trim(), 'Pause trading');

  // A confirmation naming what happens, then the token: a wrong one is refused and asked
  // again; the right one pauses trading.
  await page.click('#killBtn');
  await page.waitForSelector('#dlg[open]');
  assert.match((await page.textContent('#dlgText'))!, /stops taking new orders/);
  assert.equal(await page.isVisible('#dlgInput'), false);
  await page.click('#dlgOk');
  await page.waitForSelector('#dlg[open] #dlgInput');
  await page.fill('#dlgInput', 'wrong-token-000000000000');
  await page.click('#dlgOk');
  await page.waitForFunction(() => document.getElementById('dlgError')?.textContent?.includes('refused') ?? false);
  await page.fill('#dlgInput', TOKEN);
  await page.click('#dlgOk');
  await page.waitForSelector('#trading[data-state="off"]', { timeout: 10_000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hmm.opsToken')), TOKEN);

  const status = await api('GET', `${stack.opsUrl}/status`);
  assert.equal((status.json.state as { trading_enabled: boolean }).trading_enabled, false);
  // Orders after the kill are refused, through the router and at the engine itself.
  const signal = await api('POST', `${stack.opsUrl}/strategy/signal`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 100 });
  assert.equal(signal.status, 403);
  assert.equal(signal.json.reason, 'TRADING_DISABLED');
  assert.ok(stack.engineUrl);
  const order = await api('POST', `${stack.engineUrl}/orders`, { symbol: 'BTCUSDT', side: 'BUY', quote_usd: 100 });
  assert.equal(order.status, 403);
  assert.equal(order.json.error, 'TRADING_DISABLED');
  // The page shows the kill in its events feed, from the stream.
  await page.waitForFunction(() => document.getElementById('events')?.textContent?.includes('paused from the dashboard') ?? false, undefined, { timeout: 5_000 });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard-paused.png'), fullPage: true });

  // Resume: a confirmation, but no second token prompt (kept for the tab).
  await page.click('#killBtn');
  await page.waitForSelector('#dlg[open]');
  assert.equal(await page.isVisible('#dlgInput'), false);
  await page.click('#dlgOk');
  await page.waitForSelector('#trading[data-state="on"]', { timeout: 10_000 });
  const resumed = await api('GET', `${stack.opsUrl}/status`);
  assert.equal((resumed.json.state as { trading_enabled: boolean }).trading_enabled, true);
  // The one 401 from the wrong token is the only failed request.
  assert.deepEqual(problems.filter((p) => !/HTTP 401 .*\/kill$/.test(p) && !/401 \(Unauthorized\)/.test(p)), []);
  await page.close();
});
