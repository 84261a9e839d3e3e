// The dashboard's page and static assets: GET /pnl_dashboard.html (and the two redirects to it),
// the page's own script and stylesheet from web/, and the chart library from the installed uplot
// package (no CDN: it works offline). Every file is read once, when the routes are registered,
// and served from memory: a page load costs no disk read, a file missing at start stops start-up
// naming it (never a 500 on the first visit), and the page served always belongs to the server
// that serves its API (web/ changed on disk takes effect at the next start).
import type { FastifyPluginAsync } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

/** What the page routes use (Fastify register options). */
export interface DashboardPageOptions {
  /** Where the page, its script and its stylesheet are (default: the repository's web/). */
  readonly webDir?: string;
}

export const DEFAULT_WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../web');
const require = createRequire(import.meta.url);

interface Asset {
  readonly file: (webDir: string) => string;
  readonly type: string;
  readonly cache: string;
}

const PAGE: Asset = { file: (d) => join(d, 'pnl_dashboard.html'), type: 'text/html; charset=utf-8', cache: 'no-cache' };
const ASSETS: Readonly<Record<string, Asset>> = {
  '/assets/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'application/javascript; charset=utf-8', cache: 'max-age=86400' },
  '/assets/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8', cache: 'max-age=86400' },
  // The page's own code changes with deployments: revalidate every load.
  '/assets/dashboard.js': { file: (d) => join(d, 'dashboard.js'), type: 'application/javascript; charset=utf-8', cache: 'no-cache' },
  '/assets/dashboard.css': { file: (d) => join(d, 'dashboard.css'), type: 'text/css; charset=utf-8', cache: 'no-cache' },
};

/** A file's bytes, or an error naming the file (start-up stops on it). */
function load(path: string, route: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`dashboard asset for ${route} cannot be read at ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export const dashboardPageRoutes: FastifyPluginAsync<DashboardPageOptions> = async (app, o) => {
  const webDir = o.webDir ?? DEFAULT_WEB_DIR;
  const page = load(PAGE.file(webDir), '/pnl_dashboard.html');
  app.get('/pnl_dashboard.html', { schema: { summary: 'Live PnL dashboard page' } }, async (_req, reply) => reply.type(PAGE.type).header('cache-control', PAGE.cache).send(page));
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));
  app.get('/ops/pnl_dashboard.html', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));
  for (const [path, a] of Object.entries(ASSETS)) {
    const body = load(a.file(webDir), path);
    app.get(path, { schema: { hide: true } }, async (_req, reply) => reply.type(a.type).header('cache-control', a.cache).send(body));
  }
};
