// The operator token sent in every wrong place (query string, wrong header, body) must appear
// in no log line and no audit action: the [AUTH] rejected line logs the path with the query
// values redacted, and the audit trail's body has any valid token replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpServer } from '../../../src/http/server.js';
import { errorSchema } from '../../../src/http/errors.js';
import { redactUrl, type ControlAction, type TokenSource } from '../../../src/http/auth.js';
import { createLogger } from '../../../src/obs/logger.js';

const TOKEN = 'op-token-QWxhZGRpbjpvcGVuIHNlc2FtZQ';
const tokens: TokenSource = { origin: 'env', verify: (v) => v === TOKEN, fingerprint: () => 'fp-test' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('redactUrl keeps the path and the query names, never the values', () => {
  assert.equal(redactUrl('/api/kill?token=abc&x=1'), '/api/kill?token=[redacted]&x=[redacted]');
  assert.equal(redactUrl('/api/kill'), '/api/kill');
});

test('the operator token in the query string, a wrong header or the body is in no log file nor audit action', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hmm-leak-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const log = createLogger({ file: join(root, 'ops', 'logs', 'ops.log'), stdout: false, level: 'trace' });
  const actions: ControlAction[] = [];
  const app = await createHttpServer({ log, token: tokens, onControlAction: (a) => actions.push(a) });
  await app.register(async (r) => {
    r.post('/act', {
      config: { auth: true },
      schema: { body: { type: 'object', additionalProperties: true }, response: { 200: { type: 'object', additionalProperties: true }, 400: errorSchema, 401: errorSchema } },
    }, async () => ({ ok: true }));
  });
  const wrong = [
    { url: `/act?token=${TOKEN}`, headers: {}, payload: {} },
    { url: `/act?x-ops-token=${encodeURIComponent(TOKEN)}&a=1`, headers: {}, payload: {} },
    { url: '/act', headers: { authorization: `Bearer ${TOKEN}` }, payload: {} },
    { url: '/act', headers: { 'x-ops-tokn': TOKEN }, payload: {} },
    { url: '/act', headers: {}, payload: { token: TOKEN, note: TOKEN, nested: { t: [TOKEN] } } },
  ];
  for (const w of wrong) {
    const r = await app.inject({ method: 'POST', url: w.url, headers: w.headers, payload: w.payload });
    assert.equal(r.statusCode, 401);
    assert.ok(!r.body.includes(TOKEN));
  }
  // The counterpart: the token in its right place with itself in the body is accepted, and audited without it.
  const ok = await app.inject({ method: 'POST', url: '/act', headers: { 'x-ops-token': TOKEN }, payload: { note: TOKEN } });
  assert.equal(ok.statusCode, 200);
  await app.close();
  log.flush();
  await new Promise((res) => setTimeout(res, 50));
  const files = filesUnder(root);
  assert.ok(files.length > 0);
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(text, /\[AUTH\] rejected/);
  assert.equal(text.includes(TOKEN), false, 'token found in a log file');
  assert.equal(text.includes(encodeURIComponent(TOKEN)), false);
  assert.equal(actions.length, 6);
  assert.equal(JSON.stringify(actions).includes(TOKEN), false, 'token found in an audit action');
});
