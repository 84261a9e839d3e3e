// ops/capital_allocations.json is the allocator's output (issue 14 item 5): an operator's edit
// of it is overwritten at the next step, and that no longer happens silently — one WARN names
// the edited quotas and says where the intent belongs (capital_policy.json model_limits pins or
// freeze_until). Counterpart: the allocator's own rewrites, steady state, a deleted file and a
// restart that resumes from the file say nothing. Runs under the shipped capital policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CapitalAllocator } from '../../../src/portfolio/allocator.js';
import { parseCapitalPolicy } from '../../../src/portfolio/capitalPolicy.js';

const SHIPPED = parseCapitalPolicy(readFileSync(join(import.meta.dirname, '../../../ops/capital_policy.json'), 'utf8'));
const WARN = 40;

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'hmm-alloc-edit-'));
  const path = join(root, 'capital_allocations.json');
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l) as { level: number; msg: string }); } });
  const make = () => new CapitalAllocator(path, () => SHIPPED, () => ['ma_crossover_v1', 'hmm_regime_v1'], async () => 10_000, log, null);
  return { root, path, lines, make, warns: () => lines.filter((l) => l.level >= WARN) };
}

test('an operator edit of capital_allocations.json is overwritten with one WARN naming it and where the intent belongs', async () => {
  const s = setup();
  try {
    const a = s.make();
    let now = Date.parse('2026-01-01T00:00:00Z');
    await a.step(now);
    await a.step((now += 5_000));
    assert.equal(s.warns().length, 0, 'the allocator\'s own rewrites say nothing');
    const before = a.quota('ma_crossover_v1');

    const edited = JSON.parse(readFileSync(s.path, 'utf8')) as { capital_quota_usd: Record<string, number> };
    edited.capital_quota_usd['ma_crossover_v1'] = 5_000;
    writeFileSync(s.path, JSON.stringify(edited));
    await a.step((now += 5_000));
    const w = s.warns();
    assert.equal(w.length, 1);
    assert.match(w[0]!.msg, /\[ALLOC\] ops\/capital_allocations\.json was edited outside the stack \(ma_crossover_v1 [\d.]+ → 5000\)/);
    assert.match(w[0]!.msg, /capital_policy\.json \(model_limits\.<model>\.min_quota_usd = max_quota_usd\).*freeze_until/);
    // The stack's decision stands (the edit is not silently half-applied), and the file is its output again.
    assert.equal(a.quota('ma_crossover_v1'), before);
    assert.equal((JSON.parse(readFileSync(s.path, 'utf8')) as typeof edited).capital_quota_usd['ma_crossover_v1'], before);
    await a.step((now += 5_000));
    assert.equal(s.warns().length, 1, 'one line per edit, not per step');

    // A file that no longer parses is named as such; a deleted one is just written again.
    writeFileSync(s.path, '{ not json');
    await a.step((now += 5_000));
    assert.equal(s.warns().length, 2);
    assert.match(s.warns()[1]!.msg, /the file does not parse/);
    rmSync(s.path);
    await a.step((now += 5_000));
    assert.equal(s.warns().length, 2);

    // A restart resumes from the file it finds: no WARN for what the last run wrote.
    const b = s.make();
    await b.step((now += 5_000));
    assert.equal(s.warns().length, 2);
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});
