// The dashboard's feed over real HTTP: the page and its assets (offline: nothing from a CDN),
// the settings it reads (dashboard_refresh_sec from policies.yaml), its history and events
// routes with their validation, and the SSE stream (frames, bus events, client gauge).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../src/app/stack.js';

const TOKEN = 'test-token-0123456789abcdef';
let root: string;
let stack: Stack;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hmm-feed-'));
  stack = await startStack({ env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '50', WARMUP_BARS: '100' }, stdout: false });
});

after(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

const get = async (path: string) => {
  const res = await fetch(stack.opsUrl + path);
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) as Record<string, unknown> };
};

interface SseFrame { event: string; data: Record<string, unknown> }

/** Reads frames from /stream until `until` says stop (or the timeout), then closes the connection. */
function readStream(until: (frames: SseFrame[]) => boolean, timeoutMs = 8000): Promise<SseFrame[]> {
  return new Promise((resolve, reject) => {
    const frames: SseFrame[] = [];
    const req = request(`${stack.opsUrl}/stream`, { agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) frames.push({ event, data: JSON.parse(data) as Record<string, unknown> });
        }
        if (until(frames)) {
          clearTimeout(timer);
          req.destroy();
          resolve(frames);
        }
      });
    });
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`stream: condition not met in ${timeoutMs} ms; got ${frames.map((f) => f.event).join(', ')}`)); }, timeoutMs);
    req.on('error', (err) => { if (!req.destroyed) reject(err); });
    req.end();
  });
}

test('the page and its assets are served from the stack itself, with nothing from outside', async () => {
  const page = await get('/pnl_dashboard.html');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.doesNotMatch(page.text, /(src|href)="(https?:)?\/\//, 'no CDN or external asset');
  for (const asset of [...page.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)) {
    const a = await get(asset);
    assert.equal(a.status, 200, asset);
    assert.ok(a.text.length > 100, asset);
  }
  assert.match((await get('/assets/uPlot.iife.min.js')).text, /uPlot/);
  const root = await fetch(stack.opsUrl + '/', { redirect: 'manual' });
  assert.equal(root.headers.get('location'), '/pnl_dashboard.html');
});

test('GET /dashboard/config exposes dashboard_refresh_sec from ops/policies.yaml', async () => {
  const c = await get('/dashboard/config');
  assert.equal(c.status, 200);
  const body = c.json();
  assert.equal(body.refresh_sec, stack.context.policies.current.dashboard_refresh_sec);
  assert.equal(body.stream, '/stream');
  assert.equal(body.mode, 'paper');
});

test('GET /dashboard/history returns the sampled equity curve, oldest first, filterable by time', async () => {
  // the sampler takes a frame a second from start-up
  let points: { ts: number; equity: number }[] = [];
  for (let i = 0; i < 40 && points.length < 2; i++) {
    points = (await get('/dashboard/history')).json().points as typeof points;
    if (points.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(points.length >= 2, `${points.length} points`);
  for (let i = 1; i < points.length; i++) assert.ok(points[i]!.ts > points[i - 1]!.ts);
  const body = (await get('/dashboard/history')).json();
  assert.equal(body.baseline_equity, 10_000);
  const last = points[points.length - 1]!;
  const portfolio = (await get('/aggregate/portfolio')).json();
  assert.ok(Math.abs(last.equity - (portfolio.equity as number)) < 100, 'the curve is the portfolio\'s equity');
  // Filtered: exactly the frames after the first (and any sampled since the read above).
  const first = points[0]!;
  const since = (await get(`/dashboard/history?since=${first.ts}`)).json().points as typeof points;
  assert.deepEqual(since.slice(0, points.length - 1).map((p) => p.ts), points.slice(1).map((p) => p.ts));
  assert.ok(since.every((p) => p.ts > first.ts));
  const bad = await get('/dashboard/history?since=yesterday');
  assert.equal(bad.status, 400);
  assert.equal(bad.json().field, 'since');
});

test('GET /dashboard/events lists governance and kill-switch events newest first, and validates limit', async () => {
  const post = (path: string, body: unknown) => fetch(stack.opsUrl + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify(body) });
  assert.equal((await post('/bus/publish', { topic: 'governance.action', payload: { action: 'reduce_exposure', cause: 'drawdown', detail: {}, ts: Date.now() } })).status, 200);
  assert.equal((await post('/kill', { enabled: false, reason: 'feed test' })).status, 200);
  assert.equal((await post('/kill', { enabled: true, reason: 'feed test done' })).status, 200);
  const events = (await get('/dashboard/events?limit=10')).json().events as { topic: string; payload: Record<string, unknown> }[];
  const trading = events.filter((e) => e.topic === 'trading.state');
  assert.equal(trading[0]!.payload.reason, 'feed test done', 'newest first');
  assert.equal(trading[1]!.payload.reason, 'feed test');
  assert.ok(events.some((e) => e.topic === 'governance.action' && e.payload.action === 'reduce_exposure'));
  assert.ok(!events.some((e) => e.topic === 'market.bar' || e.topic === 'order.update'), 'bars and orders are not in the events list');
  for (const q of ['limit=0', 'limit=201', 'limit=abc', 'other=1']) {
    const r = await get(`/dashboard/events?${q}`);
    assert.equal(r.status, 400, q);
    assert.ok(typeof r.json().field === 'string', q);
  }
});

test('/stream sends hello, portfolio frames each second, the leaderboard, and bus events as they happen', async () => {
  const seen = readStream((f) => f.some((x) => x.event === 'governance.action') && f.filter((x) => x.event === 'portfolio').length >= 2 && f.some((x) => x.event === 'leaderboard'));
  await new Promise((r) => setTimeout(r, 300));
  // while connected, the client gauge counts it
  assert.match(await (await fetch(`${stack.opsUrl}/metrics`)).text(), /^hmm_sse_clients 1$/m);
  await fetch(stack.opsUrl + '/bus/publish', { method: 'POST', headers: { 'content-type': 'application/json', 'x-ops-token': TOKEN }, body: JSON.stringify({ topic: 'governance.action', payload: { action: 'freeze_allocation', cause: 'stream test', detail: {}, ts: Date.now() } }) });
  const frames = await seen;
  assert.equal(frames[0]!.event, 'hello');
  assert.equal(frames[0]!.data.refresh_sec, stack.context.policies.current.dashboard_refresh_sec);
  const p = frames.find((f) => f.event === 'portfolio')!.data;
  for (const k of ['equity', 'cash', 'gain', 'realized_pnl', 'unrealized_pnl', 'fees', 'exposure', 'venues']) assert.ok(k in p, k);
  const lb = frames.find((f) => f.event === 'leaderboard')!.data.rows as { model: string }[];
  assert.ok(lb.some((r) => r.model === 'ma_crossover_v1'));
  assert.equal(frames.find((f) => f.event === 'governance.action')!.data.action, 'freeze_allocation');
  assert.ok(!frames.some((f) => f.event === 'market.bar'), 'market bars are not streamed');
  // disconnected: the gauge drops back
  for (let i = 0; i < 50; i++) {
    if (/^hmm_sse_clients 0$/m.test(await (await fetch(`${stack.opsUrl}/metrics`)).text())) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('hmm_sse_clients did not return to 0 after the client left');
});

test('an open dashboard stream does not hold the stack from stopping', async () => {
  let stopping: Promise<void> = Promise.resolve();
  const closed = new Promise<void>((resolve, reject) => {
    const req = request(`${stack.opsUrl}/stream`, { agent: false }, (res) => {
      res.resume();
      res.on('close', () => resolve());
      res.on('error', () => resolve());
      // connected: now stop the stack underneath it
      stopping = stack.stop();
    });
    req.on('error', reject);
    req.end();
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('stack.stop() hung on an open /stream connection')), 5000); });
  try {
    await Promise.race([closed.then(() => stopping), timeout]);
  } finally {
    clearTimeout(timer);
  }
});
