// The server factory both APIs start from (the Ops API on 8002, each engine's API): Fastify
// with JSON errors that name the field, the form-encoded body curl sends by default, the
// token check and audit hooks (auth.ts), and the OpenAPI docs at /docs. Routes are plugins
// registered onto it by the process that composes them.
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from '../obs/logger.js';
import { addAuditHook, addTokenCheck, type ControlAction, type TokenSource } from './auth.js';
import { FloodGuard, floodLimitsFromEnv, type FloodLimits } from './floodGuard.js';
import { answerFor, codeForStatus, HttpError } from './errors.js';
import { isStorageFault, reportStorageFault } from '../util/storageHealth.js';

/** curl -d sends `application/x-www-form-urlencoded` even when the body is JSON (the runbook's
 *  kill command does exactly that): a body that parses as JSON is taken as JSON, else as a form. */
export function parseFormOrJson(body: string): unknown {
  const text = body.trim();
  if (text.startsWith('{') || text.startsWith('[')) return JSON.parse(text);
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    out[k] = v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

export interface HttpServerOptions {
  readonly log: Logger;
  readonly token: TokenSource;
  /** Told of every call to an authenticated route (the audit trail). */
  readonly onControlAction?: (entry: ControlAction) => void;
  /** The OpenAPI docs' title and description. */
  readonly title?: string;
  readonly description?: string;
  /** Prefix of the line logged for a 500 (e.g. `[OPS]`, `[ENGINE]`). */
  readonly logTag?: string;
  /** Per-client limits on failed authentication and control calls (floodGuard.ts); from the
   *  environment when absent. */
  readonly floodLimits?: FloodLimits;
  /** The limiter's time source (tests); wall time otherwise. */
  readonly now?: () => number;
}

/** One route as registered: what the fuzz tests and the docs enumerate (a new route joins by itself). */
export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  /** Needs X-OPS-TOKEN (`config: { auth: true }`). */
  readonly auth: boolean;
  readonly schema: Readonly<Record<string, unknown>> | null;
}

const routeTables = new WeakMap<object, RouteEntry[]>();

/** Every route registered on a server made by createHttpServer, in registration order. */
export function routeTable(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/** The methods that change something: every such route must bound its input. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type FastifyFailure = Error & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; statusCode?: number; code?: string };

export async function createHttpServer(opts: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are info level; at warn the HTTP layer logs only what went wrong.
    loggerInstance: opts.log.child({ component: 'http' }, { level: 'warn' }),
    // No child logger per request: nothing logs per request at warn, and making one cost a
    // measurable share of a signal's time under load (errors still carry route and method).
    childLoggerFactory: (logger) => logger,
    bodyLimit: 1_048_576,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    // Typed as the default instance: routes and plugins take FastifyInstance, not our logger's type.
  }) as unknown as FastifyInstance;

  // The route table (routeTable): recorded as routes register, the docs' own included.
  const table: RouteEntry[] = [];
  routeTables.set(app, table);
  app.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      table.push({ method, url: r.url, auth: (r.config as { auth?: unknown } | undefined)?.auth === true, schema: (r.schema as Record<string, unknown> | undefined) ?? null });
    }
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseFormOrJson(body as string));
    } catch {
      done(new HttpError(400, 'body is neither JSON nor a form'), undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: opts.title ?? 'hmm-stack Ops API',
        version: '0.1.0',
        description: opts.description ?? 'Control plane of hmm-stack: trading state, strategy weights, signals, aggregates, metrics.',
      },
      components: { securitySchemes: { opsToken: { type: 'apiKey', in: 'header', name: 'X-OPS-TOKEN' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  addTokenCheck(app, opts.token, opts.log, new FloodGuard(opts.floodLimits ?? floodLimitsFromEnv(), opts.log, opts.now));
  if (opts.onControlAction) addAuditHook(app, opts.token, opts.onControlAction);

  const tag = opts.logTag ?? '[OPS]';
  app.setErrorHandler((err: FastifyFailure, req, reply) => {
    const coded = answerFor(err);
    if (coded !== null) return reply.code(coded.status).send(coded.body);
    if (err.validation) {
      const fields = err.validation.map((v) => {
        const missing = v.params && typeof v.params.missingProperty === 'string' ? `.${v.params.missingProperty}` : '';
        const extra = v.params && typeof v.params.additionalProperty === 'string' ? `.${v.params.additionalProperty}` : '';
        const path = (v.instancePath.replace(/^\//, '').replace(/\//g, '.') + missing + extra).replace(/^\./, '') || 'body';
        // An enum names what would have been valid (e.g. the publishable topics).
        const allowed = v.params && Array.isArray(v.params.allowedValues) ? `must be one of: ${v.params.allowedValues.map(String).join(', ')}` : null;
        return { field: path, message: extra ? 'is not an allowed field' : (allowed ?? v.message ?? 'is invalid') };
      });
      return reply.code(400).send({ error: `invalid request: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, code: 'HMM_HTTP_INVALID_FIELD', field: fields[0]?.field ?? 'body', fields });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return reply.code(400).send({ error: `malformed JSON body: ${err.message}`, code: 'HMM_HTTP_MALFORMED_JSON', field: 'body' });
    }
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return reply.code(400).send({ error: 'empty JSON body', code: 'HMM_HTTP_EMPTY_BODY', field: 'body' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: `unsupported content type ${req.headers['content-type'] ?? ''}`, code: codeForStatus(415) });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'body too large', code: codeForStatus(413) });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, ...(err.code ? { code: err.code } : {}) });
    if (isStorageFault(err)) {
      // A full or failing disk under a route that writes (weights, tokens, a state file): the
      // change was not saved, the stack stays up, and the client may retry once writes succeed.
      // The body names the code, never the path.
      const path = (err as { path?: unknown }).path;
      if (typeof path === 'string') reportStorageFault(path, err);
      opts.log.error({ route: req.url, code: err.code }, `${tag} ${req.method} ${req.url} not saved: storage fault ${err.code ?? ''}`);
      return reply.code(503).send({ error: `storage fault (${err.code ?? 'EIO'}): the change was not saved; retry once the disk takes writes`, code: 'HMM_STORAGE_FAULT', reason: 'STORAGE' });
    }
    opts.log.error({ err, route: req.url }, `${tag} ${req.method} ${req.url} failed: ${err.message}`);
    return reply.code(500).send({ error: 'internal error', code: codeForStatus(500) });
  });

  // The body starts "no route ": HttpEngineHandle tells a missing route from a missing thing by it.
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}`, code: 'HMM_HTTP_NO_ROUTE' }));
  return app;
}
