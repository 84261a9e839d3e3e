// Coded errors (core/errors.ts and each layer's base): a caller matches a stable code or a whole
// layer, never the prose of a message; bad input is an InvalidValueError with HTTP 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidValueError, StackError } from '../../../src/core/errors.js';
import { clientOrderId, modelId, symbol } from '../../../src/core/ids.js';
import { div, fx } from '../../../src/core/decimal.js';
import { EngineError } from '../../../src/engine/errors.js';
import { EngineUnreachableError } from '../../../src/engine/httpEngineHandle.js';
import { LedgerOpenError } from '../../../src/engine/ledger.js';
import { ModelError } from '../../../src/strategy/errors.js';
import { HmmError } from '../../../src/strategy/hmm/errors.js';
import { VenueError } from '../../../src/venues/errors.js';
import { SubmitOutcomeUnknownError, VenueRequestError } from '../../../src/venues/ccxt/ccxtVenue.js';
import { DEFAULT_MA_CONFIG, MaCrossoverModel } from '../../../src/strategy/ma/maCrossover.js';

const coded = (code: string, status: number | null = 400) => (e: unknown) =>
  e instanceof StackError && e.code === code && e.httpStatus === status;

test('bad input in core, strategy and market is an InvalidValueError with a stable code; messages are kept', () => {
  assert.throws(() => clientOrderId('has space'), (e: unknown) => e instanceof InvalidValueError && coded('HMM_CORE_INVALID_ID')(e) && /invalid client order id/.test((e as Error).message));
  assert.throws(() => symbol('btc'), coded('HMM_CORE_INVALID_ID'));
  assert.throws(() => div(fx('1'), fx('0')), coded('HMM_CORE_DIVISION_BY_ZERO'));
  assert.throws(() => new MaCrossoverModel(modelId('ma'), [symbol('BTCUSDT')], { ...DEFAULT_MA_CONFIG, fast: 5, slow: 3 }), coded('HMM_MODEL_INVALID_CONFIG'));
  assert.doesNotThrow(() => clientOrderId('ext-0abc-1'), 'a valid id is not refused');
});

test('each layer has one base a caller can catch, with its own codes', () => {
  const ledger = new LedgerOpenError('/x/ledger.sqlite', 'gone');
  assert.ok(ledger instanceof EngineError && ledger.code === 'HMM_ENGINE_LEDGER_UNREADABLE' && ledger.name === 'LedgerOpenError');
  assert.ok(new EngineUnreachableError('engine_x', 'http://x', 'refused') instanceof EngineError);
  const banned = new VenueRequestError('binance', 'fetchOpenOrders', 'VENUE_BANNED', 'IP banned');
  assert.ok(banned instanceof VenueError && banned.code === 'VENUE_BANNED', 'the venue adapter\'s own codes stay what callers match');
  assert.equal(new SubmitOutcomeUnknownError('binance', 'o1', 'timeout').code, 'HMM_VENUE_SUBMIT_OUTCOME_UNKNOWN');
  const hmm = new HmmError('bad model file');
  assert.ok(hmm instanceof ModelError && hmm.code === 'HMM_MODEL_HMM' && hmm.name === 'HmmError');
  assert.ok(!(hmm instanceof EngineError) && !(banned instanceof ModelError), 'layers do not overlap');
});
