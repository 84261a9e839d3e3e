// Issue 14 item 3: every mutating route of both APIs (the Ops API and the engine's), taken from
// the servers' own route tables, is fuzzed in-process (fastify.inject) with thousands of bad
// requests — every body field out of its schema's range or shape, required fields missing,
// unknown fields, bodies that are not objects, malformed JSON, wrong content types, and values
// that pass the schema but not the route (out-of-range bus payloads, unknown models). Each must
// be a 4xx with no stack trace and no filesystem path in it, and none may change anything: the
// ledger, the trading states, risk limits, weights, the exposure multiplier, tokens, stages and
// the operator-visible files are compared before and after. A mutating route registered without
// an entry in BASES fails the run, so a new route is fuzzed from the day it exists. Also: every
// numeric field of every route has a declared range, and a bus event out of range (the
// governance input `pnl_unrealized: -1e308`) is refused by the control plane, WARNed and counted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { startStack, type Stack } from '../../src/app/stack.js';
import { MUTATING_METHODS, routeTable, type RouteEntry } from '../../src/http/server.js';

const TOKEN = 'fuzz-token-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'hmm-fuzz-'));
let stack: Stack;
/** Cases per mutating route (schema-driven); about 17 routes. */
const RUNS = Number(process.env.HMM_FUZZ_RUNS ?? 200);

// ---- a small JSON-schema checker (the subset the routes use) ------------------------------

type Schema = Record<string, unknown>;

function conforms(s: Schema, v: unknown): boolean {
  if (Array.isArray(s.anyOf)) return (s.anyOf as Schema[]).some((b) => conforms(b, v));
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(v)) return false;
  const types = s.type === undefined ? null : Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  if (types !== null && !types.some((t) => isType(t, v))) return false;
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) return false;
    if (typeof s.maximum === 'number' && v > s.maximum) return false;
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) return false;
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) return false;
  }
  if (typeof v === 'string') {
    const len = [...v].length;
    if (typeof s.minLength === 'number' && len < s.minLength) return false;
    if (typeof s.maxLength === 'number' && len > s.maxLength) return false;
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) return false;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) return false;
    const keys = Object.keys(o);
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) return false;
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) return false;
    for (const k of keys) {
      if (props[k]) {
        if (!conforms(props[k]!, o[k])) return false;
      } else if (s.additionalProperties === false) return false;
      else if (typeof s.additionalProperties === 'object' && !conforms(s.additionalProperties as Schema, o[k])) return false;
    }
  }
  return true;
}

function isType(t: string, v: unknown): boolean {
  switch (t) {
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
    default: return true;
  }
}

// ---- bad values, aimed at a schema ----------------------------------------------------------

const EXTREMES = [1e308, -1e308, 1e-320, -1e-320, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 9.3e18, 1e20, -1, -0.5, 0, 2 ** 63];
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 12 }),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '-1', '0x10', ' 1', '1e-320', '../../etc/passwd', '\u0000', '{"a":1}', '<script>'),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

/** Values that do not conform to `s` (targeted at its bounds, plus junk), never one that does. */
function invalidFor(s: Schema): fc.Arbitrary<unknown> {
  const aimed: fc.Arbitrary<unknown>[] = [junk, fc.constantFrom(...EXTREMES)];
  const branches = Array.isArray(s.anyOf) ? (s.anyOf as Schema[]) : [s];
  for (const b of branches) {
    if (b.type === 'number' || b.type === 'integer') {
      if (typeof b.maximum === 'number' && b.maximum < Number.MAX_VALUE) aimed.push(fc.double({ min: b.maximum, max: Number.MAX_VALUE, minExcluded: true, noNaN: true }));
      const lo = typeof b.minimum === 'number' ? b.minimum : typeof b.exclusiveMinimum === 'number' ? b.exclusiveMinimum : null;
      if (lo !== null) aimed.push(fc.double({ min: -Number.MAX_VALUE, max: lo, maxExcluded: typeof b.minimum === 'number', noNaN: true }));
      if (b.type === 'integer') aimed.push(fc.double({ min: 0, max: 1e6, noNaN: true }).map((x) => Math.floor(x) + 0.5));
    }
    if (b.type === 'string') {
      const max = typeof b.maxLength === 'number' ? b.maxLength : 64;
      aimed.push(fc.string({ minLength: max + 1, maxLength: max + 40 }), fc.constantFrom('é', '\u{1F4A9}', '\uFFFD', 'Ω∑', '\u200B', '\uD800'), fc.constant(''));
      if (typeof b.pattern === 'string') aimed.push(fc.stringMatching(/^[0-9]{11,30}(\.[0-9]{9,20})?$/), fc.constantFrom('1.', '.5', '-5', '1e3', '1,5', '٣', '１', 'BTC USDT', 'a/b', '00000000000000000000001'));
    }
    if (b.type === 'object' && typeof b.additionalProperties === 'object') {
      aimed.push(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), invalidFor(b.additionalProperties as Schema), { minKeys: 1, maxKeys: 3 }));
    }
  }
  return fc.oneof(...aimed).filter((v) => !conforms(s, v));
}

interface Req {
  readonly url: string;
  readonly body?: unknown;
  /** Sent as is, with this content type (malformed JSON, forms, text). */
  readonly raw?: { readonly text: string; readonly type: string };
  /** Extra request headers (a declared header out of its bounds). */
  readonly headers?: Record<string, string>;
}

/** A valid body of each mutating route, which the fuzzer spoils one way at a time. */
interface Base {
  readonly body: Record<string, unknown>;
  /** Requests that pass the schema but that the route must still refuse. */
  readonly semantic?: (url: string) => fc.Arbitrary<Req>;
  /** Other URLs to try (bad path parameters). */
  readonly urls?: fc.Arbitrary<string>;
}

const amount = fc.oneof(fc.constantFrom(1e308, -1e308, 1e20, -1e13), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => Math.abs(x) > 1e12));
const BASES: Readonly<Record<string, Base>> = {
  // ---- the Ops API
  'ops POST /kill': { body: { enabled: true, cancel_open: false, reason: 'r' } },
  'ops POST /strategy/weights': {
    body: { weights: { ma_crossover: 0.5 } },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ weights: fc.dictionary(fc.stringMatching(/^zz[a-z]{1,8}$/), fc.double({ min: 0, max: 1, noNaN: true }), { minKeys: 1, maxKeys: 3 }) }) }),
  },
  'ops POST /strategy/signal': {
    body: { symbol: 'BTCUSDT', side: 'BUY', model: 'ma_crossover', strength: 0.5, quote_usd: 100, client_order_id: 'fz-1' },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('BUY'), model: fc.stringMatching(/^zz[a-z]{1,8}$/) }) }),
  },
  'ops POST /bus/publish': {
    body: { topic: 'metrics.update', payload: {} },
    semantic: (url) => fc.oneof(
      // Out of range where the control plane reads it (the governance inputs of issue 14).
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constant('metrics.update'), payload: fc.record({ pnl_unrealized: amount }) }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constant('metrics.update'), payload: fc.record({ drawdown_pct: fc.oneof(fc.double({ min: 100, max: 1e308, minExcluded: true, noNaN: true }), fc.double({ min: -1e308, max: 0, maxExcluded: true, noNaN: true }).filter((x) => x < 0)) }) }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constant('metrics.update'), payload: fc.record({ equity: fc.oneof(fc.string(), fc.constant(null)) }) }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constant('governance.action'), payload: fc.record({ action: fc.constant('x'), cause: fc.constant('y'), detail: fc.record({ multiplier: fc.constantFrom(1e308, -1e308, 1e20, -1e16) }), ts: fc.constant(1) }) }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constant('alert'), payload: fc.record({ severity: fc.constant('INFO'), title: fc.constant('t'), message: fc.constant('m'), key: fc.constant('k'), ts: amount }) }) }),
      // Topics the stack owns.
      fc.record({ url: fc.constant(url), body: fc.record({ topic: fc.constantFrom('trade.fill', 'order.update', 'trading.state', 'signal', 'market.bar'), payload: fc.constant({}) }) }),
    ),
  },
  'ops POST /trading/state': {
    body: { scope: 'venue', target: 'engine_sim', state: 'ACTIVE', reason: 'r' },
    semantic: (url) => fc.oneof(
      fc.record({ url: fc.constant(url), body: fc.record({ scope: fc.constantFrom('venue', 'model'), target: fc.stringMatching(/^zz[a-z]{1,8}$/), state: fc.constant('HALTED'), reason: fc.constant('r') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ scope: fc.constant('global'), target: fc.constant('engine_sim'), state: fc.constant('HALTED'), reason: fc.constant('r') }) }),
    ),
  },
  'ops POST /governance/exposure': { body: { multiplier: 0.5, reason: 'r' } },
  'ops POST /alerts/test': { body: { message: 'm' } },
  'ops POST /alerts/digest': { body: {} },
  'ops POST /auth/rotate': { body: {} },
  'ops POST /reconcile/manual': { body: {} },
  'ops POST /strategy/promote': {
    body: { model: 'ma_crossover', stage: 'shadow', reason: 'r' },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ model: fc.stringMatching(/^zz[a-z]{1,8}$/), stage: fc.constantFrom('shadow', 'canary', 'live') }) }),
  },
  'ops POST /positions/force-exit': {
    body: { model: 'zzfuzz', symbol: 'BTCUSDT', reason: 'r' },
    // A model that holds nothing: refused (409), nothing sold.
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ model: fc.stringMatching(/^zz[a-z]{1,8}$/), symbol: fc.constantFrom('BTCUSDT', 'ETHUSDT') }) }),
  },
  'ops POST /orders/cancel': {
    body: { client_order_id: 'zz-unknown' },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ client_order_id: fc.stringMatching(/^[A-Za-z0-9]{1,20}$/).map((id) => `zz-${id}`) }) }),
  },
  'ops POST /engines/:name/ack': {
    body: { note: 'n' },
    // An unknown engine (404), and the engine of this stack with no stop of its own (409).
    urls: fc.oneof(fc.stringMatching(/^[a-z]{1,10}$/).map((n) => `/engines/zz${n}/ack`), fc.constant('/engines/engine_sim/ack')),
  },
  'ops POST /strategy/rollback': {
    body: { model: 'zzfuzz', reason: 'r' },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ model: fc.stringMatching(/^zz[a-z]{1,8}$/) }) }),
  },
  // ---- the engine API
  'engine POST /orders': {
    body: {
      client_order_id: 'fz-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01', quote_usd: '100', notional_usd: '100', target_usd: '100',
      max_notional_usd: '100', min_notional_usd: '10', price: '100', time_in_force: 'IOC', model: 'm',
    },
    semantic: (url) => fc.oneof(
      // Amounts within the schema that the route must refuse: both or neither of quantity/quote, a zero amount, a LIMIT without price, notional without model.
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('BUY'), quantity: fc.constant('1'), quote_usd: fc.constant('100') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('BUY'), quantity: fc.constantFrom('0', '0.0', '0.00000000', '0.000000001') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('BUY'), type: fc.constant('LIMIT'), quantity: fc.constant('0.01') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('BUY'), notional_usd: fc.constant('100') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), side: fc.constant('SELL'), model: fc.constant('m'), target_usd: fc.constant('10') }) }),
      fc.record({ url: fc.constant(url), body: fc.record({ symbol: fc.constant('BTCUSDT'), quantity: fc.constant('0.01') }) }),
    ),
  },
  'engine DELETE /orders/:id': { body: {}, urls: fc.oneof(fc.stringMatching(/^[A-Za-z0-9]{1,20}$/).map((id) => `/orders/zz-${id}`), fc.constantFrom('/orders/%00', '/orders/..%2F..%2Fetc', `/orders/${'a'.repeat(65)}`, '/orders/a%20b')) },
  'engine POST /orders/cancel-all': { body: { actor: 'fuzz' } },
  'engine POST /reconcile/manual': { body: {} },
  'engine POST /trading/state': {
    body: { version: 1, global: { state: 'ACTIVE', reason: 'r', actor: 'a', updated_at: '2026-01-01T00:00:00Z', cancel_open: false }, venues: {}, models: {} },
  },
  // No stop of its own to acknowledge: 409 whatever the body, nothing written.
  'engine POST /stop/ack': { body: { actor: 'fuzz', note: 'n' } },
  'engine POST /risk/limits': {
    body: {
      min_notional_usdt: '10', max_notional_usdt: '5000', exposure_cap_symbol_usd: '1000', exposure_cap_total_usd: '1000', equity_floor_usd: '10',
      max_orders_per_min: 10, max_drawdown_pct: 5, loss_streak_limit: 3, loss_streak_cooldown_sec: 60, price_band_pct: 5, max_open_orders: 5, reason: 'r',
    },
    semantic: (url) => fc.record({ url: fc.constant(url), body: fc.record({ min_notional_usdt: fc.constant('6000'), max_notional_usdt: fc.constant('5000') }) }),
  },
};

/** Every way of spoiling one route's request. */
function badRequests(route: RouteEntry, base: Base): fc.Arbitrary<Req> {
  const url = route.url.replace(':id', 'zz-unknown');
  const body = (route.schema?.body ?? null) as Schema | null;
  const props = Object.keys((body?.properties ?? {}) as Record<string, Schema>);
  const required = (body?.required ?? []) as string[];
  const ways: fc.Arbitrary<Req>[] = [
    // A body that is not an object at all, as JSON.
    fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.string({ minLength: 1 }), fc.integer(), fc.boolean()).map((b) => ({ url, raw: { text: JSON.stringify(b), type: 'application/json' } })),
    // Malformed JSON, and types the API does not take.
    // Malformed JSON, and only that: "{" + "} " happens to be a valid empty object.
    fc.oneof(fc.string({ minLength: 1 }).map((s) => `{${s}`), fc.constantFrom('{"a":', '{,}', 'nul', '\u0000', '{"__proto__":{"x":1}')).filter((text) => !parsesAsJson(text)).map((text) => ({ url, raw: { text, type: 'application/json' } })),
    fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data')).map(([text, type]) => ({ url, raw: { text, type } })),
    // A field no route knows.
    fc.tuple(fc.stringMatching(/^zz[a-z_]{1,10}$/), fc.jsonValue({ maxDepth: 1 })).map(([k, v]) => ({ url, body: { ...base.body, [k]: v } })),
  ];
  if (props.length > 0 && body !== null) {
    const propSchemas = body.properties as Record<string, Schema>;
    // Built once per field (an arbitrary built inside chain() is rebuilt for every case).
    ways.push(fc.oneof(...props.map((k) => invalidFor(propSchemas[k]!).map((v) => ({ url, body: { ...base.body, [k]: v } })))));
    // The same as a form (curl -d without a JSON content type).
    ways.push(fc.constantFrom(...props).chain((k) => fc.constantFrom('1e999', '-1e308', 'NaN', '', 'x'.repeat(300)).map((v) => ({ url, raw: { text: new URLSearchParams({ ...stringsOf(base.body), [k]: v }).toString(), type: 'application/x-www-form-urlencoded' } }))).filter((r) => !formConforms(body, r.raw.text)));
  }
  // Declared headers out of bounds (header values are always text).
  const headerProps = ((route.schema?.headers as Schema | undefined)?.properties ?? {}) as Record<string, Schema>;
  for (const [h, hs] of Object.entries(headerProps)) {
    ways.push(invalidFor(hs).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined')).filter((v) => !conforms(hs, v) && /^[\x20-\x7e]*$/.test(v)).map((v) => ({ url, body: base.body, headers: { [h]: v } })));
  }
  if (required.length > 0) ways.push(fc.constantFrom(...required).map((k) => { const b = { ...base.body }; delete b[k]; return { url, body: b }; }));
  if (base.semantic) ways.push(base.semantic(url));
  if (base.urls) ways.push(base.urls.map((u) => ({ url: u, body: {} })));
  return fc.oneof(...ways);
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function stringsOf(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== 'object').map(([k, v]) => [k, String(v)]));
}

/** What the server's form parser makes of a form body, checked against the schema. */
function formConforms(s: Schema, text: string): boolean {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) out[k] = v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  return conforms(s, out);
}

// ---- the stack, its state, and the checks on every answer ----------------------------------

function sha(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
}

let testAlerts = 0;
async function state(): Promise<string> {
  const e = stack.engine;
  const h = e.health();
  return JSON.stringify({
    orders: h.orders, fills: h.fills, open: e.listOpenOrders().length, limits: e.riskLimits(), engineStates: e.currentTradingStates,
    opsStates: stack.governance.tradingStates.current, weights: stack.context.weights.current.weights, multiplier: stack.governance.daemon.status().exposure_multiplier,
    tokens: stack.governance.tokens.list(), stages: stack.strategy.registry.current.models.map((m) => [m.id, m.stage]), testAlerts,
    // (ops/strategy_registry.json is rewritten by the tracker as metrics move: its stages are compared above.)
    files: ['ops/trading_states.json', 'ops/strategy_weights.json', '.ops_token', '.ops_tokens', 'ops/policies.yaml', 'ops/capital_policy.json'].map((f) => sha(join(root, f))),
  }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Set ? [...v] : v));
}

const TRACE = /\n\s+at |\bat [\w.<>]+ \(|node:internal|\.ts:\d+/;
function assertClean(what: string, body: string): void {
  assert.ok(!TRACE.test(body), `${what}: a stack trace in the body: ${body.slice(0, 300)}`);
  for (const p of [root, '/node_modules/', '/src/', process.cwd()]) assert.ok(!body.includes(p), `${what}: a filesystem path (${p}) in the body: ${body.slice(0, 300)}`);
}

async function send(app: FastifyInstance, method: string, r: Req) {
  const headers: Record<string, string> = { ...r.headers, 'x-ops-token': TOKEN };
  if (r.raw) {
    headers['content-type'] = r.raw.type;
    return app.inject({ method: method as 'POST', url: r.url, headers, payload: r.raw.text });
  }
  if (r.body === undefined) return app.inject({ method: method as 'POST', url: r.url, headers });
  headers['content-type'] = 'application/json';
  return app.inject({ method: method as 'POST', url: r.url, headers, payload: JSON.stringify(r.body) });
}

before(async () => {
  // Every request must reach validation: the per-client control-call limit is lifted here.
  process.env.HMM_RATE_CONTROL_CALLS = '0';
  stack = await startStack({
    env: { HMM_ROOT: root, OPS_PORT: '0', ENGINE_PORT: '0', OPS_API_TOKEN: TOKEN, MARKET_INTERVAL_MS: '3600000', WARMUP_BARS: '100', LOSS_STREAK_LIMIT: '0' },
    stdout: false, listen: false,
  });
  stack.bus.subscribe('alert', (a) => { if (a.title === 'Test alert') testAlerts++; });
});

after(async () => {
  await stack?.stop();
  delete process.env.HMM_RATE_CONTROL_CALLS;
  rmSync(root, { recursive: true, force: true });
});

function servers(): { name: string; app: FastifyInstance }[] {
  return [{ name: 'ops', app: stack.ops }, { name: 'engine', app: stack.engineServer! }];
}

function mutatingRoutes(): { server: string; app: FastifyInstance; route: RouteEntry }[] {
  return servers().flatMap(({ name, app }) => routeTable(app).filter((r) => MUTATING_METHODS.has(r.method)).map((route) => ({ server: name, app, route })));
}

test('every mutating route of both APIs has a fuzz entry, needs the token, and bounds every numeric field it declares', () => {
  const routes = mutatingRoutes();
  assert.ok(routes.length >= 15, `route tables list the mutating routes (${routes.length})`);
  const missing = routes.map((r) => `${r.server} ${r.route.method} ${r.route.url}`).filter((k) => BASES[k] === undefined);
  assert.deepEqual(missing, [], 'a mutating route without a fuzz entry in BASES');
  const stale = Object.keys(BASES).filter((k) => !routes.some((r) => `${r.server} ${r.route.method} ${r.route.url}` === k));
  assert.deepEqual(stale, [], 'a fuzz entry for a route that no longer exists');
  for (const { server, route } of routes) assert.ok(route.auth, `${server} ${route.method} ${route.url} does not need the operator token`);
  // Every number in any route's input schema has a minimum and a maximum; every string is bounded.
  const unbounded: string[] = [];
  const walk = (s: Schema, where: string) => {
    if (Array.isArray(s.anyOf)) (s.anyOf as Schema[]).forEach((b, i) => walk(b, `${where}|${i}`));
    if ((s.type === 'number' || s.type === 'integer') && (s.maximum === undefined || (s.minimum === undefined && s.exclusiveMinimum === undefined))) unbounded.push(`${where} (number without a range)`);
    if (s.type === 'string' && s.maxLength === undefined && s.pattern === undefined && s.enum === undefined) unbounded.push(`${where} (string without a bound)`);
    for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) walk(p, `${where}.${k}`);
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties as Schema, `${where}.*`);
  };
  for (const { name, app } of servers()) {
    for (const r of routeTable(app)) for (const part of ['body', 'querystring', 'params', 'headers']) {
      const s = r.schema?.[part] as Schema | undefined;
      if (s) walk(s, `${name} ${r.method} ${r.url} ${part}`);
    }
  }
  assert.deepEqual(unbounded, []);
});

test(`fuzz: ${RUNS} bad requests per mutating route — 4xx only, no trace or path in any body, nothing changed`, { timeout: 120_000 }, async () => {
  const before = await state();
  let cases = 0;
  const statuses = new Map<number, number>();
  for (const { server, app, route } of mutatingRoutes()) {
    const key = `${server} ${route.method} ${route.url}`;
    await fc.assert(
      fc.asyncProperty(badRequests(route, BASES[key]!), async (r) => {
        const res = await send(app, route.method, r);
        cases++;
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${key} answered ${res.statusCode} to ${JSON.stringify(r).slice(0, 300)}: ${res.body.slice(0, 300)}`);
        assertClean(key, res.body);
      }),
      { numRuns: RUNS, seed: Number(process.env.HMM_FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    assert.equal(await state(), before, `${key}: a refused request changed state`);
  }
  assert.ok(cases >= 15 * RUNS, `cases run: ${cases}`);
  // The counterpart: the same snapshot does see a real change (so "unchanged" above means something).
  const ok = await stack.ops.inject({ method: 'POST', url: '/governance/exposure', headers: { 'x-ops-token': TOKEN, 'content-type': 'application/json' }, payload: JSON.stringify({ multiplier: 0.5, reason: 'fuzz counterpart' }) });
  assert.equal(ok.statusCode, 200);
  assert.notEqual(await state(), before, 'a valid request changes the snapshot');
  await stack.ops.inject({ method: 'POST', url: '/governance/exposure', headers: { 'x-ops-token': TOKEN, 'content-type': 'application/json' }, payload: JSON.stringify({ multiplier: 1, reason: 'fuzz counterpart undone' }) });
  console.log(`fuzzed ${cases} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
});

test('governance inputs out of range are refused: the API answers 400, a bus event is dropped with a WARN and a count; in range they act', async () => {
  const post = (url: string, body: unknown) => stack.ops.inject({ method: 'POST', url, headers: { 'x-ops-token': TOKEN, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  // The two inputs of issue 14, through the API.
  const r1 = await post('/bus/publish', { topic: 'metrics.update', payload: { pnl_unrealized: -1e308 } });
  assert.equal(r1.statusCode, 400);
  assert.match(r1.json().error, /pnl_unrealized -1e\+308 is not a finite number in \[-1000000000000, 1000000000000\]/);
  const r2 = await post('/governance/exposure', { multiplier: 1e-320, reason: 'tiny' });
  assert.equal(r2.statusCode, 400);
  assert.equal(r2.json().field, 'multiplier');
  // The same as a bus event arriving from elsewhere (Redis, another replica): the control plane drops it.
  const refused = async () => (await stack.metrics.registry.getSingleMetric('hmm_bus_events_refused_total')!.get()).values.find((v) => v.labels.topic === 'metrics.update')?.value ?? 0;
  const before = await refused();
  stack.bus.publish('metrics.update', { pnl_unrealized: -1e308 });
  stack.bus.publish('metrics.update', { pnl_unrealized: -1e300, drawdown_pct: 50 });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await refused(), before + 2);
  assert.equal(stack.governance.daemon.status().exposure_multiplier, 1, 'nothing acted on the refused events');
  assert.ok((stack.governance.daemon.status().metrics.pnl_unrealized?.value ?? 0) > -1e12, 'the refused value is not in the metric table');
  stack.log.flush();
  await new Promise((r) => setTimeout(r, 50));
  const logText = readFileSync(join(root, 'ops/logs/ops.log'), 'utf8');
  const warns = logText.split('\n').filter((l) => l.includes('[BUS] refused a metrics.update event'));
  assert.equal(warns.length, 1, 'one WARN per topic per minute, not one per event');
  assert.match(warns[0]!, /"level":"?(WARN|40)/i);
  // The counterpart under the shipped policy: a real loss of 150 binds loss_100 (0.7).
  stack.bus.publish('metrics.update', { pnl_unrealized: -150 });
  const until = Date.now() + 5_000;
  while (stack.governance.daemon.status().exposure_multiplier === 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(stack.governance.daemon.status().exposure_multiplier, 0.7);
  // And through the API, in range.
  const r3 = await post('/bus/publish', { topic: 'metrics.update', payload: { pnl_unrealized: -10 } });
  assert.equal(r3.statusCode, 200);
});
