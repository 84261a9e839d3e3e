// The live PnL dashboard and its feed: GET /pnl_dashboard.html and its assets (served from
// web/, the chart library from the installed uplot package: no CDN, works offline), the
// data only the page needs (/dashboard/config, /dashboard/history, /dashboard/events), and
// GET /stream, Server-Sent Events carrying bus events plus a portfolio frame each second.
// One sampler per process feeds every client and keeps the last hour, so a page opened
// now starts with a full equity curve and N open pages cost one valuation a second, not N.
import type { FastifyPluginAsync } from 'fastify';
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import type { Bus } from '../../bus/bus.js';
import type { Topic } from '../../bus/topics.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { HttpError, errorSchema } from '../../http/errors.js';
import type { LeaderboardRow } from '../../lifecycle/leaderboard.js';
import type { Logger } from '../../obs/logger.js';
import { aggregatePortfolio, type AggregatePortfolio } from '../aggregate.js';

/** What the dashboard routes and their feed use, and nothing else (Fastify register options). */
export interface StreamRouteOptions {
  readonly bus: Pick<Bus, 'subscribeAll'>;
  readonly engines: () => readonly EngineHandle[];
  readonly baselineEquity: (engine: string) => number;
  /** The leaderboard as GET /strategy/status ranks it (sampled every fifth frame). */
  readonly leaderboard: () => Promise<LeaderboardRow[]>;
  /** Whether trading is enabled (the page's first frame shows it). */
  readonly tradingEnabled: () => boolean;
  /** ops/policies.yaml dashboard_refresh_sec: the page's poll interval without the stream. */
  readonly refreshSec: () => number;
  /** The gauge of open streams. */
  readonly sseClients: { set(value: number): void };
  readonly log: Logger;
  readonly mode: string;
  readonly startedAt: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const webDir = join(here, '../../../web');
const require = createRequire(import.meta.url);

/** Bus topics forwarded to browsers (market bars and raw signals are too chatty and not shown). */
const STREAMED_TOPICS = new Set<Topic>(['order.update', 'trade.fill', 'risk.rejected', 'trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert', 'metrics.update']);
/** Topics kept in the recent-events list the page shows on load: decisions an operator reads.
 *  Orders have their own table; metrics.update is periodic telemetry and would bury the rest. */
const EVENT_TOPICS = new Set<Topic>(['trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert']);

const SAMPLE_MS = 1000;
/** Model PnL needs a pass over every model's book, so it is sampled every fifth frame. */
const LEADERBOARD_EVERY = 5;
const HISTORY_POINTS = 3600;
const LEADERBOARD_POINTS = HISTORY_POINTS / LEADERBOARD_EVERY;
const EVENTS_KEPT = 200;
const MAX_SSE_CLIENTS = 64;
/** A client that stops reading is dropped once this much is queued for it. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export interface EquityPoint {
  readonly ts: number;
  readonly equity: number;
  readonly cash: number;
  readonly gain: number;
  readonly realized_pnl: number;
  readonly unrealized_pnl: number;
  readonly fees: number;
  readonly exposure: number;
}

export interface ModelPnlPoint {
  readonly ts: number;
  readonly pnl: Record<string, number>;
}

export interface DashboardEvent {
  readonly topic: string;
  readonly ts: number;
  readonly payload: unknown;
}

/** A fixed-capacity ring: oldest entries fall off. */
class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }
  list(): readonly T[] {
    return this.items;
  }
}

/** The process's one sampler: portfolio frames, model PnL, recent events, and the SSE clients it feeds. */
class DashboardFeed {
  readonly history = new Ring<EquityPoint>(HISTORY_POINTS);
  readonly modelPnl = new Ring<ModelPnlPoint>(LEADERBOARD_POINTS);
  readonly events = new Ring<DashboardEvent>(EVENTS_KEPT);
  latest: AggregatePortfolio | null = null;
  latestLeaderboard: LeaderboardRow[] | null = null;
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private ticks = 0;
  private sampling = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: StreamRouteOptions) {}

  get clientCount(): number {
    return this.clients.size;
  }

  start(): void {
    this.unsubscribe = this.o.bus.subscribeAll((payload, topic) => {
      if (EVENT_TOPICS.has(topic)) {
        const ts = typeof (payload as { ts?: unknown }).ts === 'number' ? (payload as { ts: number }).ts : Date.now();
        this.events.push({ topic, ts, payload });
      }
      if (STREAMED_TOPICS.has(topic)) this.broadcast(topic, payload);
    });
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unsubscribe?.();
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.o.sseClients.set(0);
  }

  private async sample(): Promise<void> {
    if (this.sampling) return; // a slow engine never stacks up samples
    this.sampling = true;
    try {
      const p = await aggregatePortfolio(this.o.engines(), this.o.baselineEquity);
      this.latest = p;
      this.history.push({
        ts: Date.parse(p.ts), equity: p.equity, cash: p.cash, gain: p.gain, realized_pnl: p.realized_pnl,
        unrealized_pnl: p.unrealized_pnl, fees: p.fees, exposure: p.exposure,
      });
      this.broadcast('portfolio', p);
      if (this.ticks++ % LEADERBOARD_EVERY === 0) {
        const rows = await this.o.leaderboard();
        this.latestLeaderboard = rows;
        this.modelPnl.push({ ts: Date.now(), pnl: Object.fromEntries(rows.map((r) => [r.model, r.pnl])) });
        this.broadcast('leaderboard', { rows, ts: new Date().toISOString() });
      }
    } catch (err) {
      // An engine hiccup skips one frame; the page keeps the last one.
      this.o.log.debug({ err }, `[OPS] dashboard sample failed: ${(err as Error).message}`);
    } finally {
      this.sampling = false;
    }
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    if (res.writableLength > MAX_QUEUED_BYTES) {
      this.o.log.warn(`[OPS] dropping a dashboard stream client that stopped reading (${res.writableLength} bytes queued)`);
      this.remove(res);
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) {
      if (c.writableLength > MAX_QUEUED_BYTES) this.send(c, event, data);
      else c.write(frame);
    }
  }

  add(res: ServerResponse): void {
    this.clients.add(res);
    this.o.sseClients.set(this.clients.size);
    this.send(res, 'hello', { refresh_sec: this.o.refreshSec(), trading_enabled: this.o.tradingEnabled(), ts: new Date().toISOString() });
    if (this.latest) this.send(res, 'portfolio', this.latest);
    if (this.latestLeaderboard) this.send(res, 'leaderboard', { rows: this.latestLeaderboard, ts: new Date().toISOString() });
  }

  remove(res: ServerResponse): void {
    if (this.clients.delete(res)) this.o.sseClients.set(this.clients.size);
  }
}

const ASSETS: Record<string, { file: () => string; type: string; cache: string }> = {
  '/assets/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'application/javascript; charset=utf-8', cache: 'max-age=86400' },
  '/assets/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8', cache: 'max-age=86400' },
  // The page's own code changes with deployments: revalidate every load.
  '/assets/dashboard.js': { file: () => join(webDir, 'dashboard.js'), type: 'application/javascript; charset=utf-8', cache: 'no-cache' },
  '/assets/dashboard.css': { file: () => join(webDir, 'dashboard.css'), type: 'text/css; charset=utf-8', cache: 'no-cache' },
};

const num = { type: 'number' } as const;
const equityPointSchema = {
  type: 'object',
  properties: { ts: num, equity: num, cash: num, gain: num, realized_pnl: num, unrealized_pnl: num, fees: num, exposure: num },
} as const;

export const streamRoutes: FastifyPluginAsync<StreamRouteOptions> = async (app, o) => {
  const feed = new DashboardFeed(o);
  feed.start();
  // preClose, not onClose: the server waits for open connections before onClose runs, and
  // an open dashboard tab would otherwise hold `hmm up` from stopping.
  app.addHook('preClose', async () => feed.stop());

  const page = () => readFileSync(join(webDir, 'pnl_dashboard.html'));
  app.get('/pnl_dashboard.html', { schema: { summary: 'Live PnL dashboard page' } }, async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page()));
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));
  app.get('/ops/pnl_dashboard.html', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/pnl_dashboard.html'));
  for (const [path, a] of Object.entries(ASSETS)) {
    const file = a.file();
    app.get(path, { schema: { hide: true } }, async (_req, reply) => reply.type(a.type).header('cache-control', a.cache).send(readFileSync(file)));
  }

  app.get('/dashboard/config', {
    schema: {
      summary: 'Settings the dashboard page reads: polling interval (policies.yaml dashboard_refresh_sec) and its feeds',
      response: {
        200: {
          type: 'object',
          properties: {
            refresh_sec: { type: 'integer', description: 'poll interval when the live stream is unavailable (ops/policies.yaml dashboard_refresh_sec)' },
            stream: { type: 'string' },
            sample_ms: { type: 'integer' },
            history_points: { type: 'integer' },
            mode: { type: 'string' },
            started_at: { type: 'string' },
          },
        },
      },
    },
  }, async () => ({
    refresh_sec: o.refreshSec(),
    stream: '/stream',
    sample_ms: SAMPLE_MS,
    history_points: HISTORY_POINTS,
    mode: o.mode,
    started_at: new Date(o.startedAt).toISOString(),
  }));

  app.get('/dashboard/history', {
    schema: {
      summary: 'The last hour of portfolio frames (one a second) and model PnL (one every 5 s), for the page\'s charts',
      querystring: { type: 'object', additionalProperties: false, properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'only points after this time (ms since epoch)' } } },
      response: {
        200: {
          type: 'object',
          properties: {
            baseline_equity: num,
            points: { type: 'array', items: equityPointSchema },
            model_pnl: { type: 'array', items: { type: 'object', properties: { ts: num, pnl: { type: 'object', additionalProperties: num } } } },
          },
        },
        400: errorSchema,
      },
    },
  }, async (req) => {
    const { since } = req.query as { since?: string };
    const after = since === undefined ? -Infinity : Number(since);
    return {
      baseline_equity: feed.latest?.baseline_equity ?? o.engines().reduce((a, e) => a + o.baselineEquity(e.name), 0),
      points: feed.history.list().filter((p) => p.ts > after),
      model_pnl: feed.modelPnl.list().filter((p) => p.ts > after),
    };
  });

  app.get('/dashboard/events', {
    schema: {
      summary: 'Recent governance, alert, kill-switch and strategy events (newest first)',
      querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: '1..200, default 50' } } },
      response: {
        200: { type: 'object', properties: { events: { type: 'array', items: { type: 'object', properties: { topic: { type: 'string' }, ts: num, payload: { type: 'object', additionalProperties: true } } } } } },
        400: errorSchema,
      },
    },
  }, async (req) => {
    const { limit: raw } = req.query as { limit?: string };
    const limit = raw === undefined ? 50 : Number(raw);
    if (limit < 1 || limit > EVENTS_KEPT) throw new HttpError(400, `limit must be between 1 and ${EVENTS_KEPT}`, [{ field: 'limit', message: `must be between 1 and ${EVENTS_KEPT}` }]);
    return { events: [...feed.events.list()].reverse().slice(0, limit) };
  });

  app.get('/stream', {
    schema: {
      summary: 'Server-Sent Events: bus events (order.update, trade.fill, risk.rejected, trading.state, governance.action, alert, ...), a portfolio frame each second, the leaderboard every 5 s',
      response: { 503: errorSchema },
    },
  }, (req, reply) => {
    if (feed.clientCount >= MAX_SSE_CLIENTS) {
      void reply.code(503).send({ error: `too many dashboard streams (${MAX_SSE_CLIENTS}); close other tabs or poll /aggregate/portfolio` });
      return;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 3000\n\n');
    feed.add(res);
    req.raw.on('close', () => feed.remove(res));
  });
};
