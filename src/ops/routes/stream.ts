// The dashboard page and its live feed: GET /pnl_dashboard.html (served from web/), the chart
// library from the installed npm package (no CDN), and GET /stream, Server-Sent Events
// carrying bus events plus a portfolio snapshot every second.
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import type { OpsContext } from '../context.js';
import { aggregatePortfolio } from '../aggregate.js';

const here = dirname(fileURLToPath(import.meta.url));
const webDir = join(here, '../../../web');
const require = createRequire(import.meta.url);

function asset(path: string): Buffer {
  return readFileSync(path);
}

const STREAMED_TOPICS = new Set(['order.update', 'trade.fill', 'risk.rejected', 'trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert', 'metrics.update']);

export function streamRoutes(ctx: OpsContext) {
  return async (app: FastifyInstance) => {
    const page = () => asset(join(webDir, 'pnl_dashboard.html'));
    app.get('/pnl_dashboard.html', { schema: { summary: 'Live PnL dashboard page' } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(page()));
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));
    app.get('/ops/pnl_dashboard.html', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));

    const uplotJs = require.resolve('uplot/dist/uPlot.iife.min.js');
    const uplotCss = require.resolve('uplot/dist/uPlot.min.css');
    app.get('/assets/uPlot.iife.min.js', { schema: { hide: true } }, async (_req, reply) => reply.type('application/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(asset(uplotJs)));
    app.get('/assets/uPlot.min.css', { schema: { hide: true } }, async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=86400').send(asset(uplotCss)));
    app.get('/assets/dashboard.js', { schema: { hide: true } }, async (_req, reply) => reply.type('application/javascript; charset=utf-8').send(asset(join(webDir, 'dashboard.js'))));

    app.get('/stream', { schema: { summary: 'Server-Sent Events: bus events and a portfolio snapshot each second' } }, (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(`retry: 3000\n\n`);
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      const unsubscribe = ctx.bus.subscribeAll((payload, topic) => {
        if (STREAMED_TOPICS.has(topic)) send(topic, payload);
      });
      const tick = async () => {
        try {
          send('portfolio', await aggregatePortfolio(ctx.engines(), ctx.baselineEquity));
        } catch { /* an engine hiccup skips one frame */ }
      };
      void tick();
      const timer = setInterval(tick, 1000);
      ctx.metrics.sseClients.inc();
      req.raw.on('close', () => {
        clearInterval(timer);
        unsubscribe();
        ctx.metrics.sseClients.dec();
      });
    });
  };
}
