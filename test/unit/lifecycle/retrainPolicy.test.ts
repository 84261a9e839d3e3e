// The retrain: section of ops/policies.yaml: validated key by key like the other sections, the
// shipped file says what the defaults say, and a bad value names the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RETRAIN_POLICY, parseRetrainPolicy } from '../../../src/lifecycle/retrainPolicy.js';
import { parsePolicies } from '../../../src/ops/policies.js';

test('the shipped ops/policies.yaml retrain section is the default, and a missing section means the default', () => {
  const shipped = parsePolicies(readFileSync(join(process.cwd(), 'ops/policies.yaml'), 'utf8'));
  assert.deepEqual(shipped.retrain, DEFAULT_RETRAIN_POLICY);
  assert.deepEqual(parsePolicies('').retrain, DEFAULT_RETRAIN_POLICY);
  assert.deepEqual(parseRetrainPolicy(null), DEFAULT_RETRAIN_POLICY);
  // Fires within a paper stack's first market day of one-minute bars.
  assert.ok(DEFAULT_RETRAIN_POLICY.enabled && DEFAULT_RETRAIN_POLICY.every_bars <= 24 * 60);
});

test('retrain keys are validated one by one; partial sections keep the other defaults', () => {
  assert.deepEqual(parsePolicies('retrain:\n  every_bars: 100\n').retrain, { ...DEFAULT_RETRAIN_POLICY, every_bars: 100 });
  assert.equal(parsePolicies('retrain:\n  enabled: false\n').retrain.enabled, false);
  assert.throws(() => parsePolicies('retrain:\n  enabled: maybe\n'), /retrain\.enabled must be true or false/);
  assert.throws(() => parsePolicies('retrain:\n  every_bars: 0\n'), /retrain\.every_bars must be an integer/);
  assert.throws(() => parsePolicies('retrain:\n  window_bars: 1.5\n'), /retrain\.window_bars/);
  assert.throws(() => parsePolicies('retrain:\n  min_bars: 10\n'), /retrain\.min_bars must be an integer in \[100/);
  assert.throws(() => parsePolicies('retrain:\n  max_shadow_versions: -1\n'), /retrain\.max_shadow_versions/);
  assert.throws(() => parsePolicies('retrain:\n  window_bars: 200\n  min_bars: 300\n'), /retrain\.min_bars \(300\) must not exceed retrain\.window_bars \(200\)/);
  assert.throws(() => parsePolicies('retrain:\n  evry_bars: 10\n'), /retrain\.evry_bars is not a known key/);
  assert.throws(() => parsePolicies('retrain: 5\n'), /retrain must be a mapping/);
});
