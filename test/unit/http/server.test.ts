// The server both APIs start from (src/http/server.ts): what a client reads when a request is
// refused (status, `error`, the field at fault, a stable `code`), the form body curl sends, and
// the token check and audit hooks — each with its counterpart that must not fire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../src/http/server.js';
import { HttpError, errorSchema } from '../../../src/http/errors.js';
import type { ControlAction, TokenSource } from '../../../src/http/auth.js';
import { StackError } from '../../../src/core/errors.js';
import { SignalQueueFull } from '../../../src/portfolio/signalGate.js';
import { CanaryError } from '../../../src/lifecycle/canaryManager.js';
import { silentLogger } from '../../../src/obs/logger.js';

const TOKEN = 'a-test-token-of-enough-length';
const tokens: TokenSource = { origin: 'env', verify: (v) => v === TOKEN, fingerprint: () => 'fp-test' };

async function server(actions: ControlAction[] = []): Promise<FastifyInstance> {
  const app = await createHttpServer({ log: silentLogger(), token: tokens, onControlAction: (a) => actions.push(a) });
  const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 429: errorSchema, 500: errorSchema };
  await app.register(async (r) => {
    r.post('/echo', {
      config: { auth: true },
      schema: { body: { type: 'object', required: ['enabled'], additionalProperties: false, properties: { enabled: { type: 'boolean' }, n: { type: 'number' } } }, response: { 200: { type: 'object', additionalProperties: true }, ...errors } },
    }, async (req) => ({ got: req.body }));
    r.get('/http-error', { schema: { response: errors } }, async () => {
      throw new HttpError(400, 'price is required for a LIMIT order', [{ field: 'price', message: 'required for LIMIT' }]);
    });
    r.get('/queue-full', { schema: { response: errors } }, async () => {
      throw new SignalQueueFull('signal queue full (4 waiting)');
    });
    r.get('/canary', { schema: { response: errors } }, async () => {
      throw new CanaryError(404, 'model', 'unknown model "x"');
    });
    r.get('/uncoded', { schema: { response: errors } }, async () => {
      throw new StackError('HMM_TEST_NO_STATUS', 'a failure without an HTTP status');
    });
    r.get('/boom', { schema: { response: errors } }, async () => {
      throw new Error('secret detail');
    });
  });
  return app;
}

test('an HttpError answers its status with the message, the field at fault and a stable code', async () => {
  const app = await server();
  const r = await app.inject({ method: 'GET', url: '/http-error' });
  assert.equal(r.statusCode, 400);
  assert.deepEqual(r.json(), { error: 'price is required for a LIMIT order', code: 'HMM_HTTP_BAD_REQUEST', field: 'price', fields: [{ field: 'price', message: 'required for LIMIT' }] });
  await app.close();
});

test('a coded error with a status is answered with it (signal queue 429, canary 404 naming the field); one without is a 500 that leaks nothing', async () => {
  const app = await server();
  const full = await app.inject({ method: 'GET', url: '/queue-full' });
  assert.equal(full.statusCode, 429);
  assert.deepEqual(full.json(), { error: 'signal queue full (4 waiting)', code: 'HMM_PORTFOLIO_SIGNAL_QUEUE_FULL' });
  const canary = await app.inject({ method: 'GET', url: '/canary' });
  assert.equal(canary.statusCode, 404);
  assert.equal(canary.json().code, 'HMM_LIFECYCLE_UNKNOWN_MODEL');
  assert.equal(canary.json().field, 'model');
  for (const url of ['/uncoded', '/boom']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 500, url);
    assert.deepEqual(r.json(), { error: 'internal error', code: 'HMM_HTTP_INTERNAL' });
  }
  await app.close();
});

test('a schema refusal names every field at fault; an unknown route says "no route"', async () => {
  const app = await server();
  const r = await app.inject({ method: 'POST', url: '/echo', headers: { 'x-ops-token': TOKEN }, payload: { enabled: 'no', extra: 1 } });
  assert.equal(r.statusCode, 400);
  const body = r.json();
  assert.equal(body.code, 'HMM_HTTP_INVALID_FIELD');
  assert.deepEqual(body.fields.map((f: { field: string }) => f.field).sort(), ['enabled', 'extra']);
  const missing = await app.inject({ method: 'GET', url: '/nothing-here' });
  assert.equal(missing.statusCode, 404);
  assert.match(missing.json().error, /^no route GET \/nothing-here/);
  await app.close();
});

test('the form body curl sends is read as a form, or as JSON when it is JSON', async () => {
  const app = await server();
  const form = await app.inject({ method: 'POST', url: '/echo', headers: { 'x-ops-token': TOKEN, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'enabled=false&n=3' });
  assert.equal(form.statusCode, 200);
  assert.deepEqual(form.json().got, { enabled: false, n: 3 });
  const json = await app.inject({ method: 'POST', url: '/echo', headers: { 'x-ops-token': TOKEN, 'content-type': 'application/x-www-form-urlencoded' }, payload: '{"enabled": true}' });
  assert.deepEqual(json.json().got, { enabled: true });
  await app.close();
});

test('an auth route refuses a missing or wrong token with 401 and audits the refusal; a valid token passes and is audited by fingerprint', async () => {
  const actions: ControlAction[] = [];
  const app = await server(actions);
  const refused = await app.inject({ method: 'POST', url: '/echo', headers: { 'x-ops-token': 'wrong' }, payload: { enabled: true } });
  assert.equal(refused.statusCode, 401);
  assert.deepEqual(refused.json(), { error: 'invalid or missing X-OPS-TOKEN', code: 'HMM_HTTP_UNAUTHORIZED' });
  const ok = await app.inject({ method: 'POST', url: '/echo', headers: { 'x-ops-token': TOKEN }, payload: { enabled: true } });
  assert.equal(ok.statusCode, 200);
  // A route without `auth` is neither checked nor audited.
  const open = await app.inject({ method: 'GET', url: '/http-error' });
  assert.equal(open.statusCode, 400);
  assert.deepEqual(actions.map((a) => [a.route, a.status, a.fingerprint]), [['/echo', 401, 'fp-test'], ['/echo', 200, 'fp-test']]);
  await app.close();
});
