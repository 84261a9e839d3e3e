// The dashboard's page and assets (src/ops/routes/dashboardPage.ts) on the server the Ops API
// starts from: each answers with its Content-Type and caching header, from what was read at
// start — a file changed or deleted on disk afterwards changes nothing served (no disk read per
// request) — and a file missing at start stops the start naming it, never a 500 on a visit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpServer } from '../../../../src/http/server.js';
import type { TokenSource } from '../../../../src/http/auth.js';
import { silentLogger } from '../../../../src/obs/logger.js';
import { DEFAULT_WEB_DIR, dashboardPageRoutes } from '../../../../src/ops/routes/dashboardPage.js';

const tokens: TokenSource = { origin: 'env', verify: () => false, fingerprint: () => 'fp' };
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A copy of the repository's web/ to change under a running server. */
function webCopy(): string {
  const d = mkdtempSync(join(tmpdir(), 'hmm-dashboard-page-'));
  dirs.push(d);
  for (const f of ['pnl_dashboard.html', 'dashboard.js', 'dashboard.css']) copyFileSync(join(DEFAULT_WEB_DIR, f), join(d, f));
  return d;
}

async function serve(webDir: string) {
  const app = await createHttpServer({ log: silentLogger(), token: tokens, onControlAction: () => undefined });
  try {
    await app.register(dashboardPageRoutes, { webDir });
    await app.ready();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}

const uplot = createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js');

test('the page and each asset answer with their Content-Type and caching header and the file\'s bytes', async () => {
  const web = webCopy();
  const app = await serve(web);
  const expected: [string, Buffer, string, string][] = [
    ['/pnl_dashboard.html', readFileSync(join(web, 'pnl_dashboard.html')), 'text/html; charset=utf-8', 'no-cache'],
    ['/assets/dashboard.js', readFileSync(join(web, 'dashboard.js')), 'application/javascript; charset=utf-8', 'no-cache'],
    ['/assets/dashboard.css', readFileSync(join(web, 'dashboard.css')), 'text/css; charset=utf-8', 'no-cache'],
    ['/assets/uPlot.iife.min.js', readFileSync(uplot), 'application/javascript; charset=utf-8', 'max-age=86400'],
  ];
  for (const [url, body, type, cache] of expected) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.equal(r.headers['content-type'], type, url);
    assert.equal(r.headers['cache-control'], cache, url);
    assert.ok(r.rawPayload.equals(body), `${url}: the file's bytes`);
  }
  const css = await app.inject({ method: 'GET', url: '/assets/uPlot.min.css' });
  assert.deepEqual([css.statusCode, css.headers['content-type'], css.headers['cache-control']], [200, 'text/css; charset=utf-8', 'max-age=86400']);
  for (const url of ['/', '/ops/pnl_dashboard.html']) {
    const r = await app.inject({ method: 'GET', url });
    assert.deepEqual([r.statusCode, r.headers.location], [302, '/pnl_dashboard.html'], url);
  }
  await app.close();
});

test('read once at start: web/ edited or deleted under a running server changes nothing it serves', async () => {
  const web = webCopy();
  const page = readFileSync(join(web, 'pnl_dashboard.html'));
  const script = readFileSync(join(web, 'dashboard.js'));
  const app = await serve(web);
  writeFileSync(join(web, 'pnl_dashboard.html'), '<html>edited</html>');
  unlinkSync(join(web, 'dashboard.js'));
  const p = await app.inject({ method: 'GET', url: '/pnl_dashboard.html' });
  assert.equal(p.statusCode, 200);
  assert.ok(p.rawPayload.equals(page), 'the page as read at start');
  const s = await app.inject({ method: 'GET', url: '/assets/dashboard.js' });
  assert.equal(s.statusCode, 200, 'a file deleted after start is still served, not a 500');
  assert.ok(s.rawPayload.equals(script));
  await app.close();
  // The counterpart: the next start reads what is on disk now.
  writeFileSync(join(web, 'dashboard.js'), 'console.log("v2")');
  const next = await serve(web);
  assert.equal((await next.inject({ method: 'GET', url: '/pnl_dashboard.html' })).body, '<html>edited</html>');
  assert.equal((await next.inject({ method: 'GET', url: '/assets/dashboard.js' })).body, 'console.log("v2")');
  await next.close();
});

test('a dashboard file missing at start stops the start naming the route and the file', async () => {
  const web = webCopy();
  unlinkSync(join(web, 'dashboard.css'));
  await assert.rejects(serve(web), (err: Error) => {
    assert.match(err.message, /dashboard asset for \/assets\/dashboard\.css cannot be read at .*dashboard\.css: ENOENT/);
    return true;
  });
});
