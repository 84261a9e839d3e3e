// Where the stack keeps its operator files (src/ops/paths.ts), as an existing root has them on
// disk: the control plane and the engine process take every path from this module, so a path
// changed here would leave a running deployment's state (governance memory, retiring tokens, the
// dashboard's history, the audit trail) behind at the old place after an upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stackPaths } from '../../../src/ops/paths.js';

const ROOT = '/srv/hmm';
const p = stackPaths(ROOT);
const at = (rel: string) => join(ROOT, rel);

test('the control plane\'s operator files are where existing roots and the runbook have them', () => {
  assert.equal(p.tokenFile, at('.ops_token'));
  assert.equal(p.tokensFile, at('.ops_tokens'));
  assert.equal(p.opsTokenGrace, at('ops/token_grace.json'));
  assert.equal(p.opsAudit, at('ops/logs/audit.jsonl'));
  assert.equal(p.governanceState, at('ops/governance_state.json'));
  assert.equal(p.alertState, at('ops/alert_state.json'));
  assert.equal(p.shadowBook, at('ops/shadow_book.json'));
  assert.equal(p.capitalAllocationsHistory, at('ops/capital_allocations_history.json'));
  assert.equal(p.dashboardHistory, at('ops/dashboard_history.sqlite'));
  assert.equal(p.telegramState, at('ops/telegram_state.json'));
});

test('an engine process keeps its own token memory, audit trail and log under engine/', () => {
  assert.equal(p.engineTokenGrace, at('engine/state/token_grace.json'));
  assert.notEqual(p.engineTokenGrace, p.opsTokenGrace, 'two processes on one root must not share the grace file');
  assert.equal(p.engineAudit, at('engine/logs/audit.jsonl'));
  assert.equal(p.engineLogsDir, at('engine/logs'));
  assert.equal(p.engineLog('engine_sim'), at('engine/logs/engine_sim.log'));
});

test('every path is under the root', () => {
  for (const [key, v] of Object.entries(p)) {
    const path = typeof v === 'function' ? v('engine_sim') : v;
    assert.ok(path === ROOT || path.startsWith(`${ROOT}/`), `${key}: ${path}`);
  }
});
