import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidValueError } from '../../../src/core/errors.js';
import { fx, toDecimalString, mul, div, bps, floorToStep, roundToStep, fromRaw, type Fixed } from '../../../src/core/decimal.js';

test('parses and prints decimals exactly', () => {
  assert.equal(toDecimalString(fx('0.1')), '0.1');
  assert.equal(toDecimalString(fx('60000.12345678')), '60000.12345678');
  assert.equal(toDecimalString(fx('-3.5')), '-3.5');
  assert.equal(toDecimalString(fx(0.1 + 0.2)), '0.3');
  assert.equal(fx('1.10000000000'), fx('1.1'));
});

test('refuses malformed numbers and hidden precision', () => {
  // A coded error (HMM_CORE_INVALID_DECIMAL, HTTP 400): bad input, never a silent zero.
  const invalid = (e: unknown) => e instanceof InvalidValueError && e.code === 'HMM_CORE_INVALID_DECIMAL' && e.httpStatus === 400;
  for (const bad of ['abc', '1e5', '', '1.2.3', ' ', 'NaN']) assert.throws(() => fx(bad), invalid, bad);
  assert.throws(() => fx('0.000000001'), /more than 8 decimal places/);
  assert.throws(() => fx(Number.NaN), invalid);
  assert.throws(() => fx(Number.POSITIVE_INFINITY), invalid);
});

test('multiplication and division round half-even at 8 places', () => {
  assert.equal(toDecimalString(mul(fx('0.00001'), fx('60000.01'))), '0.6000001');
  assert.equal(toDecimalString(div(fx('1'), fx('3'))), '0.33333333');
  assert.equal(toDecimalString(div(fx('2'), fx('3'))), '0.66666667');
  assert.equal(toDecimalString(div(fx('2'), fx('3'), 'down')), '0.66666666');
});

test('fees in basis points are exact', () => {
  assert.equal(toDecimalString(bps(fx('1000'), 10)), '1');
  assert.equal(toDecimalString(bps(fx('123.45678901'), 7.5)), '0.09259259');
});

test('step rounding never exceeds the input', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 16n }), fc.bigInt({ min: 1n, max: 10n ** 8n }), (raw, stepRaw) => {
    const a = fromRaw(raw);
    const step = fromRaw(stepRaw);
    const f = floorToStep(a, step);
    assert.ok(f <= a);
    assert.ok(a - f < step);
    assert.equal(f % step, 0n);
    const r = roundToStep(a, step);
    assert.equal(r % step, 0n);
  }));
});

test('decimal string round-trips through parse and print', () => {
  fc.assert(fc.property(fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }), (raw) => {
    const a = fromRaw(raw) as Fixed;
    assert.equal(fx(toDecimalString(a)), a);
  }));
});
