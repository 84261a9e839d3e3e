// What a failed ccxt call means: acted, did not act, or unknown; and the 429/418 gate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ccxt from 'ccxt';
import { classifyError, scrubMessage, venueErrorOf } from '../../../src/venues/ccxt/ccxtErrors.js';
import { RequestGate, parseBanUntil, parseRetryAfter } from '../../../src/venues/ccxt/requestGate.js';

const body = (code: number, msg: string) => `binance {"code":${code},"msg":"${msg}"}`;

test('Binance codes decide the class, whatever ccxt class carries them', () => {
  const c = (err: Error) => classifyError(err);
  assert.deepEqual(venueErrorOf(body(-2010, 'Duplicate order sent.')), { code: '-2010', msg: 'Duplicate order sent.' });
  assert.equal(c(new ccxt.InvalidOrder(body(-2010, 'Account has insufficient balance for requested action.'))).kind, 'rejected');
  const ins = c(new ccxt.InvalidOrder(body(-2010, 'Account has insufficient balance for requested action.')));
  assert.equal(ins.kind === 'rejected' && ins.reason, 'INSUFFICIENT_BALANCE');
  assert.equal(c(new ccxt.InvalidOrder(body(-2010, 'Duplicate order sent.'))).kind, 'duplicate');
  const filter = c(new ccxt.BadRequest(body(-1013, 'Filter failure: NOTIONAL')));
  assert.equal(filter.kind === 'rejected' && filter.reason, 'VENUE_FILTER');
  assert.equal(c(new ccxt.InvalidNonce(body(-1021, 'Timestamp for this request is outside of the recvWindow.'))).kind, 'clock');
  assert.equal(c(new ccxt.BadRequest(body(-1021, 'Timestamp for this request is outside of the recvWindow.'))).kind, 'clock');
  assert.equal(c(new ccxt.AuthenticationError(body(-1022, 'Signature for this request is not valid.'))).kind, 'auth');
  assert.equal(c(new ccxt.BadRequest(body(-1022, 'Signature for this request is not valid.'))).kind, 'auth');
  assert.equal(c(new ccxt.OrderNotFound(body(-2013, 'Order does not exist.'))).kind, 'not_found');
  assert.equal(c(new ccxt.ExchangeError(body(-2011, 'Unknown order sent.'))).kind, 'not_found');
  // "Execution status unknown" is unknown even though ccxt calls it an OperationFailed.
  assert.equal(c(new ccxt.OperationFailed(body(-1006, 'An unexpected response was received from the message bus. Execution status unknown.'))).kind, 'unknown_outcome');
  assert.equal(c(new ccxt.RequestTimeout(body(-1007, 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.'))).kind, 'unknown_outcome');
  assert.equal(c(new ccxt.RateLimitExceeded(body(-1015, 'Too many new orders; current limit is 100 orders per 10 SECOND.'))).kind, 'rate_limited');
  // A temporary ban shows as -2015 on an account that authenticated before: a rate limit, not bad keys.
  assert.equal(c(new ccxt.DDoSProtection(body(-2015, 'Invalid API-key, IP, or permissions for action.'))).kind, 'rate_limited');
});

test('without a venue code: timeouts and 5xx are unknown, the venue saying no is a rejection', () => {
  assert.equal(classifyError(new ccxt.RequestTimeout('binance POST http://x/api/v3/order request timed out (400 ms)')).kind, 'unknown_outcome');
  assert.equal(classifyError(new ccxt.ExchangeNotAvailable('binance 503 Service Unavailable')).kind, 'unknown_outcome');
  assert.equal(classifyError(new ccxt.NetworkError('fetch failed')).kind, 'unknown_outcome');
  assert.equal(classifyError(new ccxt.DDoSProtection('binance 429 Too Many Requests')).kind, 'rate_limited');
  assert.equal(classifyError(new ccxt.InsufficientFunds('kraken EOrder:Insufficient funds')).kind, 'rejected');
  assert.equal(classifyError(new ccxt.BadSymbol('no such market')).kind, 'rejected');
  assert.equal(classifyError(new TypeError('boom')).kind, 'unknown_outcome', 'our own failure mid-request may be after the send');
});

test('signatures and credentials are scrubbed from messages', () => {
  const m = scrubMessage('GET http://x/api/v3/account?timestamp=1&signature=abcdef0123 X-MBX-APIKEY: KEYKEYKEY123 secret SECRET999', ['SECRET999']);
  assert.ok(!m.includes('abcdef0123'));
  assert.ok(!m.includes('KEYKEYKEY123'));
  assert.ok(!m.includes('SECRET999'));
});

test('Retry-After in seconds or as a date; Binance ban-until from the body', () => {
  assert.equal(parseRetryAfter('3', 1000), 4000);
  assert.equal(parseRetryAfter(new Date(50_000).toUTCString(), 1000), 50_000);
  assert.equal(parseRetryAfter(undefined, 1000), null);
  assert.equal(parseRetryAfter('soon', 1000), null);
  assert.equal(parseBanUntil('Way too many requests; IP(1.2.3.4) banned until 1659146813111. Please use'), 1659146813111);
  assert.equal(parseBanUntil('nothing'), null);
});

test('the gate: 429 closes for Retry-After or an exponential backoff; 418 bans and outranks it', () => {
  const T = 1_700_000_000_000;
  let now = T;
  const g = new RequestGate(() => now, { backoffBaseMs: 1000, defaultBanMs: 120_000 });
  assert.equal(g.onResponse(200, {}, ''), null);
  assert.equal(g.waitMs(), 0);
  g.onResponse(429, { 'Retry-After': '2' }, '');
  assert.equal(g.waitMs(), 2000);
  assert.equal(g.state().reason, 'rate_limit');
  now = T + 2000;
  assert.equal(g.waitMs(), 0);
  g.onResponse(429, {}, ''); // second in a row, no header: 2 s
  assert.equal(g.waitMs(), 2000);
  now = T + 4000;
  g.onResponse(429, {}, ''); // third: 4 s
  assert.equal(g.waitMs(), 4000);
  now = T + 8000;
  g.onResponse(200, {}, '');
  g.onResponse(429, {}, ''); // reset by a success: 1 s
  assert.equal(g.waitMs(), 1000);

  g.onResponse(418, { 'retry-after': '60' }, `IP(1.2.3.4) banned until ${T + 200_000}.`);
  assert.equal(g.state().reason, 'ip_ban');
  assert.equal(g.state().until, T + 200_000, 'the later of Retry-After and ban-until');
  g.onResponse(429, { 'retry-after': '1' }, '');
  assert.equal(g.state().reason, 'ip_ban', 'a 429 during a ban does not shorten or relabel it');
  assert.equal(g.state().until, T + 200_000);
  now = T + 200_000;
  assert.equal(g.state().open, true);
  g.onResponse(418, {}, '');
  assert.equal(g.state().until, T + 320_000, 'a ban without any duration: the default');
  assert.equal(g.state().bans, 2);
});
