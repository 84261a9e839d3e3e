// The Ops API (Fastify): the operator's HTTP surface on port 8002. This module owns the
// server set-up shared by every route: JSON errors that name the field, the form-encoded
// body curl sends by default, token checks on mutating routes, and the OpenAPI docs.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TokenSource } from './auth.js';
import type { Logger } from '../obs/logger.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route changes state: requires X-OPS-TOKEN. */
    auth?: boolean;
    /** Data-plane routes (orders, signals: thousands a second) audit only refused tokens;
     *  control actions (kill, weights, states, ...) audit every call. */
    audit?: 'all' | 'refusals';
  }
}

export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    field: { type: 'string' },
    fields: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
  required: ['error'],
} as const;

export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly fields: { field: string; message: string }[] = []) {
    super(message);
  }
}

/** curl -d sends `application/x-www-form-urlencoded` even when the body is JSON (the runbook's
 *  kill command does exactly that): a body that parses as JSON is taken as JSON, else as a form. */
function parseFormOrJson(body: string): unknown {
  const text = body.trim();
  if (text.startsWith('{') || text.startsWith('[')) return JSON.parse(text);
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    out[k] = v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

export interface OpsServerOptions {
  readonly log: Logger;
  readonly token: TokenSource;
  readonly onControlAction?: (entry: { route: string; method: string; fingerprint: string | null; status: number; body: unknown }) => void;
}

export async function createOpsServer(opts: OpsServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are info level; at warn the HTTP layer logs only what went wrong.
    loggerInstance: opts.log.child({ component: 'http' }, { level: 'warn' }),
    // No child logger per request: nothing logs per request at warn, and making one cost a
    // measurable share of a signal's time under load (errors still carry route and method).
    childLoggerFactory: (logger) => logger,
    bodyLimit: 1_048_576,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
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
      info: { title: 'hmm-stack Ops API', version: '0.1.0', description: 'Control plane of hmm-stack: trading state, strategy weights, signals, aggregates, metrics.' },
      components: { securitySchemes: { opsToken: { type: 'apiKey', in: 'header', name: 'X-OPS-TOKEN' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (!req.routeOptions.config.auth) return done();
    const presented = req.headers['x-ops-token'];
    const value = Array.isArray(presented) ? presented[0] : presented;
    if (opts.token.verify(value)) return done();
    opts.log.warn({ route: req.url, method: req.method }, `[AUTH] rejected ${req.method} ${req.routeOptions.url ?? req.url}: invalid or missing X-OPS-TOKEN`);
    void reply.code(401).send({ error: 'invalid or missing X-OPS-TOKEN' });
  });

  if (opts.onControlAction) {
    const audit = opts.onControlAction;
    app.addHook('onResponse', (req, reply, done) => {
      if (!req.routeOptions.config.auth) return done();
      if (req.routeOptions.config.audit === 'refusals' && reply.statusCode !== 401) return done();
      const presented = req.headers['x-ops-token'];
      const value = Array.isArray(presented) ? presented[0] : presented;
      try {
        audit({ route: req.routeOptions.url ?? req.url, method: req.method, fingerprint: value ? opts.token.fingerprint(value) : null, status: reply.statusCode, body: req.body });
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  }

  app.setErrorHandler((err: Error & { validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[]; statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) {
      return reply.code(err.statusCode).send({ error: err.message, ...(err.fields.length ? { field: err.fields[0]!.field, fields: err.fields } : {}) });
    }
    if (err.validation) {
      const fields = err.validation.map((v) => {
        const missing = v.params && typeof v.params.missingProperty === 'string' ? `.${v.params.missingProperty}` : '';
        const extra = v.params && typeof v.params.additionalProperty === 'string' ? `.${v.params.additionalProperty}` : '';
        const path = (v.instancePath.replace(/^\//, '').replace(/\//g, '.') + missing + extra).replace(/^\./, '') || 'body';
        return { field: path, message: extra ? 'is not an allowed field' : (v.message ?? 'is invalid') };
      });
      return reply.code(400).send({ error: `invalid request: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, field: fields[0]?.field ?? 'body', fields });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return reply.code(400).send({ error: `malformed JSON body: ${err.message}`, field: 'body' });
    }
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return reply.code(400).send({ error: 'empty JSON body', field: 'body' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: `unsupported content type ${req.headers['content-type'] ?? ''}` });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'body too large' });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    opts.log.error({ err, route: req.url }, `[OPS] ${req.method} ${req.url} failed: ${err.message}`);
    return reply.code(500).send({ error: 'internal error' });
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}` }));
  return app as unknown as FastifyInstance;
}
