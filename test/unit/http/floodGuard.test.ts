// Floods on both APIs (issue 14, item 6; src/http/floodGuard.ts): a client sending bad tokens
// is answered 429 with Retry-After after a handful of 401s and the log gets a few lines, not
// one per request; a good token from another client keeps working meanwhile; the limit lifts
// when the window ends. Counterparts that must not fire: thousands of authenticated data-plane
// calls under the shipped defaults, and a client's good-token control calls below the limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../src/http/server.js';
import { errorSchema } from '../../../src/http/errors.js';
import type { ControlAction, TokenSource } from '../../../src/http/auth.js';
import { DEFAULT_FLOOD_LIMITS, floodLimitsFromEnv, type FloodLimits } from '../../../src/http/floodGuard.js';

const TOKEN = 'a-test-token-of-enough-length';
const tokens: TokenSource = { origin: 'env', verify: (v) => v === TOKEN, fingerprint: () => 'fp-test' };

interface Rig { app: FastifyInstance; lines: string[]; actions: ControlAction[]; advance(ms: number): void; kills: number[] }

async function rig(limits: FloodLimits = DEFAULT_FLOOD_LIMITS): Promise<Rig> {
  const lines: string[] = [];
  const actions: ControlAction[] = [];
  const kills: number[] = [];
  let t = 1_000_000;
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const app = await createHttpServer({ log, token: tokens, onControlAction: (a) => actions.push(a), floodLimits: limits, now: () => t });
  const errors = { 400: errorSchema, 401: errorSchema, 429: errorSchema };
  await app.register(async (r) => {
    r.post('/kill', { config: { auth: true }, schema: { response: errors } }, async () => { kills.push(t); return { ok: true }; });
    r.post('/signal', { config: { auth: true, audit: 'refusals' }, schema: { response: errors } }, async () => ({ ok: true }));
  });
  await app.ready();
  return { app, lines, actions, kills, advance: (ms) => { t += ms; } };
}

const kill = (app: FastifyInstance, token: string, ip: string) =>
  app.inject({ method: 'POST', url: '/kill', headers: { 'x-ops-token': token }, remoteAddress: ip });

test('300 bad-token POST /kill: a handful of 401 then 429 with Retry-After, a few log lines, nothing killed', async () => {
  const { app, lines, actions, kills } = await rig();
  const statuses: number[] = [];
  let retryAfter: string | undefined;
  for (let i = 0; i < 300; i++) {
    const res = await kill(app, 'wrong-token', '10.0.0.66');
    statuses.push(res.statusCode);
    if (res.statusCode === 429) {
      retryAfter = res.headers['retry-after'] as string;
      assert.equal(res.json().code, 'HMM_HTTP_TOO_MANY_REQUESTS');
    }
  }
  const n401 = statuses.filter((s) => s === 401).length;
  const n429 = statuses.filter((s) => s === 429).length;
  assert.equal(n401, DEFAULT_FLOOD_LIMITS.authFailures);
  assert.equal(n429, 300 - DEFAULT_FLOOD_LIMITS.authFailures);
  assert.deepEqual(statuses.slice(0, n401), Array(n401).fill(401));
  assert.ok(retryAfter !== undefined && Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
  assert.ok(lines.length <= 3, `${lines.length} log lines:\n${lines.join('')}`);
  assert.equal(kills.length, 0);
  assert.equal(actions.filter((a) => a.status === 429).length, 0, '429s are not audited one by one');
  console.log(`flood figure: 300 bad-token POST /kill → ${n401} × 401, ${n429} × 429, ${lines.length} log lines`);

  // Meanwhile an operator at another address with the good token is not affected.
  const good = await kill(app, TOKEN, '10.0.0.1');
  assert.equal(good.statusCode, 200);
  assert.equal(kills.length, 1);
  await app.close();
});

test('the limit lifts when the window ends, and the closed window is summarised in one line', async () => {
  const { app, lines, advance } = await rig();
  for (let i = 0; i < 50; i++) await kill(app, 'wrong-token', '10.0.0.66');
  assert.equal((await kill(app, TOKEN, '10.0.0.66')).statusCode, 429, 'the flooding client is refused even with the good token until the window ends');
  advance(DEFAULT_FLOOD_LIMITS.windowMs);
  const before = lines.length;
  assert.equal((await kill(app, TOKEN, '10.0.0.66')).statusCode, 200);
  const summary = lines.slice(before);
  assert.equal(summary.length, 1);
  assert.match(summary[0]!, /flood from 10\.0\.0\.66 .*10 failed authentications, 41 requests answered 429/);
  assert.equal((await kill(app, 'wrong-token', '10.0.0.66')).statusCode, 401);
  await app.close();
});

test('counterpart: thousands of authenticated data-plane calls and normal control use are never limited', async () => {
  const { app, lines } = await rig();
  for (let i = 0; i < 3000; i++) {
    const res = await app.inject({ method: 'POST', url: '/signal', headers: { 'x-ops-token': TOKEN }, remoteAddress: '10.0.0.2' });
    assert.equal(res.statusCode, 200);
  }
  for (let i = 0; i < 100; i++) assert.equal((await kill(app, TOKEN, '10.0.0.2')).statusCode, 200);
  // A few mistyped tokens below the limit: 401 each, one log line, then the good token works.
  for (let i = 0; i < DEFAULT_FLOOD_LIMITS.authFailures - 1; i++) assert.equal((await kill(app, 'typo', '10.0.0.2')).statusCode, 401);
  assert.equal((await kill(app, TOKEN, '10.0.0.2')).statusCode, 200);
  assert.equal(lines.length, 1);
  await app.close();
});

test('control calls past their per-client limit get 429; limits come from the environment with safe fallbacks', async () => {
  const { app } = await rig({ authFailures: 10, controlCalls: 5, windowMs: 60_000 });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await kill(app, TOKEN, '10.0.0.3')).statusCode);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  assert.equal((await app.inject({ method: 'POST', url: '/signal', headers: { 'x-ops-token': TOKEN }, remoteAddress: '10.0.0.3' })).statusCode, 200, 'data plane not limited');
  await app.close();

  assert.deepEqual(floodLimitsFromEnv({}), DEFAULT_FLOOD_LIMITS);
  assert.deepEqual(floodLimitsFromEnv({ HMM_RATE_AUTH_FAILURES: '3', HMM_RATE_CONTROL_CALLS: '0', HMM_RATE_WINDOW_MS: '5000' }), { authFailures: 3, controlCalls: 0, windowMs: 5000 });
  assert.deepEqual(floodLimitsFromEnv({ HMM_RATE_AUTH_FAILURES: '0', HMM_RATE_CONTROL_CALLS: '-1', HMM_RATE_WINDOW_MS: 'soon' }), DEFAULT_FLOOD_LIMITS);
});
