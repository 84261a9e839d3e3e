// The live PnL dashboard's feed (the page and its assets are dashboardPage.ts's): the
// data only the page needs (/dashboard/config, /dashboard/history, /dashboard/events), and
// GET /stream, Server-Sent Events carrying bus events plus a portfolio frame each second.
// One sampler per process feeds every client and writes what it samples to the dashboard's
// history (dashboardHistory.ts, SQLite), so a page opened now — or after a restart — starts
// with the same equity curve, drawdown, events and model PnL, and N open pages cost one
// valuation a second, not N.
import type { FastifyPluginAsync } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Bus } from '../../bus/bus.js';
import type { Topic } from '../../bus/topics.js';
import { statedDrawdownPct } from '../../core/drawdown.js';
import type { EngineHandle } from '../../engine/engineHandle.js';
import { HttpError, errorSchema } from '../../http/errors.js';
import type { LeaderboardRow } from '../../lifecycle/leaderboard.js';
import type { Logger } from '../../obs/logger.js';
import { aggregatePortfolio, type AggregatePortfolio } from '../aggregate.js';
import { DashboardHistory, type GovernanceDrawdown } from '../dashboardHistory.js';
import { decodeDrawdownStatement } from '../governance/drawdownStatement.js';

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
  /** Where the dashboard's history is kept (ops/dashboard_history.sqlite). */
  readonly historyPath: string;
  /** ops/policies.yaml metrics_retention_hours: how long history points are kept. */
  readonly retentionHours: () => number;
  /** Whether the tracker has sampled the models' books since start: before that every model's
   *  PnL reads 0, and a chart line would plunge to $0 and jump back. */
  readonly modelPnlReady: () => boolean;
}

/** Bus topics forwarded to browsers (market bars and raw signals are too chatty and not shown). */
const STREAMED_TOPICS = new Set<Topic>(['order.update', 'trade.fill', 'risk.rejected', 'trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert', 'metrics.update']);
/** Topics kept in the recent-events list the page shows on load: decisions an operator reads.
 *  Orders have their own table; metrics.update is periodic telemetry and would bury the rest. */
const EVENT_TOPICS = new Set<Topic>(['trading.state', 'strategy.weights_updated', 'strategy.promoted', 'governance.action', 'alert']);

const SAMPLE_MS = 1000;
/** Model PnL needs a pass over every model's book, so it is sampled every fifth frame. */
const LEADERBOARD_EVERY = 5;
/** Points a history answer holds at most by default (a chart a few thousand pixels wide). */
const HISTORY_POINTS = 1500;
const HISTORY_POINTS_MAX = 5000;
const MAX_SSE_CLIENTS = 64;
/** A client that stops reading is dropped once this much is queued for it. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/** The process's one sampler: portfolio frames, model PnL, recent events, and the SSE clients it feeds. */
class DashboardFeed {
  readonly history: DashboardHistory;
  latest: AggregatePortfolio | null = null;
  latestLeaderboard: LeaderboardRow[] | null = null;
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private ticks = 0;
  private sampling = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: StreamRouteOptions) {
    this.history = new DashboardHistory({ path: o.historyPath, retentionMs: () => o.retentionHours() * 3_600_000, log: o.log, now: () => Date.now() });
  }

  /** Governance's drawdown as it last stated it (metrics.update), kept across restarts by the history. */
  get governance(): GovernanceDrawdown | null {
    return this.history.governance();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  start(): void {
    this.unsubscribe = this.o.bus.subscribeAll((payload, topic) => {
      if (EVENT_TOPICS.has(topic)) {
        const ts = typeof (payload as { ts?: unknown }).ts === 'number' ? (payload as { ts: number }).ts : Date.now();
        this.history.addEvent({ topic, ts, payload });
      }
      if (topic === 'metrics.update') this.onMetrics(payload);
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

  /** Governance states its drawdown with its peak; an operator's injected metrics carry neither. */
  private onMetrics(m: unknown): void {
    const s = decodeDrawdownStatement(m);
    if (s !== null) this.history.setGovernance({ ...s, ts: Date.now() });
  }

  /** Governance's formula at one frame: below the highest equity governance has seen. */
  private drawdownAt(equity: number): number {
    const baseline = this.o.engines().reduce((a, e) => a + this.o.baselineEquity(e.name), 0);
    const peak = Math.max(this.governance?.peak_equity ?? baseline, equity);
    return statedDrawdownPct(peak, equity);
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
      const drawdown = this.drawdownAt(p.equity);
      const frame = Object.assign(p, { drawdown_pct: drawdown, governance: this.governance });
      this.latest = frame;
      this.history.addPoint({
        ts: Date.parse(p.ts), equity: p.equity, cash: p.cash, gain: p.gain, realized_pnl: p.realized_pnl,
        unrealized_pnl: p.unrealized_pnl, fees: p.fees, exposure: p.exposure, drawdown_pct: drawdown,
      });
      this.broadcast('portfolio', frame);
      if (this.ticks++ % LEADERBOARD_EVERY === 0) {
        const rows = await this.o.leaderboard();
        this.latestLeaderboard = rows;
        // Until the tracker has read the books every model's PnL is 0: not a point to draw.
        if (this.o.modelPnlReady()) this.history.addModelPnl({ ts: Date.now(), pnl: Object.fromEntries(rows.map((r) => [r.model, r.pnl])) });
        this.broadcast('leaderboard', { rows, ts: new Date().toISOString(), pnl_ready: this.o.modelPnlReady() });
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
    if (this.latestLeaderboard) this.send(res, 'leaderboard', { rows: this.latestLeaderboard, ts: new Date().toISOString(), pnl_ready: this.o.modelPnlReady() });
  }

  remove(res: ServerResponse): void {
    if (this.clients.delete(res)) this.o.sseClients.set(this.clients.size);
  }
}

const num = { type: 'number' } as const;
const equityPointSchema = {
  type: 'object',
  properties: { ts: num, equity: num, cash: num, gain: num, realized_pnl: num, unrealized_pnl: num, fees: num, exposure: num, drawdown_pct: num },
} as const;
const governanceSchema = {
  type: ['object', 'null'],
  description: 'governance\'s drawdown figure as it last stated it (the same as GET /governance/status metrics.drawdown_pct)',
  properties: { drawdown_pct: num, peak_equity: num, ts: num },
} as const;
/** The page shows this many events at most; the store keeps more for the API. */
const EVENTS_LIMIT = 200;

export const streamRoutes: FastifyPluginAsync<StreamRouteOptions> = async (app, o) => {
  const feed = new DashboardFeed(o);
  feed.start();
  // preClose, not onClose: the server waits for open connections before onClose runs, and
  // an open dashboard tab would otherwise hold `hmm up` from stopping.
  app.addHook('preClose', async () => feed.stop());
  // The store closes after the last request that could read it.
  app.addHook('onClose', async () => feed.history.close());

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
      summary: 'Portfolio frames (one a second) and model PnL (one every 5 s) kept across restarts for ops/policies.yaml metrics_retention_hours, downsampled to at most `points` each (the last frame of equal time buckets), and governance\'s drawdown figure',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          since: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'only points after this time (ms since epoch)' },
          points: { type: 'string', pattern: '^[1-9][0-9]{0,3}$', description: `at most this many points per series (default ${HISTORY_POINTS}, up to ${HISTORY_POINTS_MAX})` },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            baseline_equity: num,
            retention_hours: num,
            governance: governanceSchema,
            points: { type: 'array', items: equityPointSchema },
            model_pnl: { type: 'array', items: { type: 'object', properties: { ts: num, pnl: { type: 'object', additionalProperties: num } } } },
          },
        },
        400: errorSchema,
      },
    },
  }, async (req) => {
    const { since, points } = req.query as { since?: string; points?: string };
    const max = points === undefined ? HISTORY_POINTS : Number(points);
    if (max > HISTORY_POINTS_MAX) throw new HttpError(400, `points must be between 1 and ${HISTORY_POINTS_MAX}`, [{ field: 'points', message: `must be between 1 and ${HISTORY_POINTS_MAX}` }]);
    const after = since === undefined ? -1 : Number(since);
    return {
      baseline_equity: feed.latest?.baseline_equity ?? o.engines().reduce((a, e) => a + o.baselineEquity(e.name), 0),
      retention_hours: o.retentionHours(),
      governance: feed.governance,
      points: feed.history.points(after, max),
      model_pnl: feed.history.modelPnl(after, max),
    };
  });

  app.get('/dashboard/events', {
    schema: {
      summary: 'Recent governance, alert, kill-switch and strategy events (newest first), kept across restarts',
      querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: `1..${EVENTS_LIMIT}, default 50` } } },
      response: {
        200: { type: 'object', properties: { events: { type: 'array', items: { type: 'object', properties: { topic: { type: 'string' }, ts: num, payload: { type: 'object', additionalProperties: true } } } } } },
        400: errorSchema,
      },
    },
  }, async (req) => {
    const { limit: raw } = req.query as { limit?: string };
    const limit = raw === undefined ? 50 : Number(raw);
    if (limit < 1 || limit > EVENTS_LIMIT) throw new HttpError(400, `limit must be between 1 and ${EVENTS_LIMIT}`, [{ field: 'limit', message: `must be between 1 and ${EVENTS_LIMIT}` }]);
    return { events: feed.history.events(limit) };
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
