// Operator files are refused, not reinterpreted (issue 14 item 5): an empty or whitespace-only
// ops/policies.yaml, capital_policy.json or strategy_weights.json is refused like an invalid
// one — the last good value stays, one ERROR names the file — and at start-up (no last good
// in memory) it stops the start with a message naming the file. Counterparts: a valid edit is
// taken, and a missing file is the shipped defaults (a fresh root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { WatchedFile } from '../../../src/config/watchedFile.js';
import type { Logger } from '../../../src/obs/logger.js';
import { DEFAULT_POLICIES, parsePolicies } from '../../../src/ops/policies.js';
import { DEFAULT_CAPITAL_POLICY, parseCapitalPolicy } from '../../../src/portfolio/capitalPolicy.js';
import { parseWeightsFile } from '../../../src/portfolio/strategyWeights.js';

const SHIPPED = join(import.meta.dirname, '../../../ops');

function capture(): { log: Logger; lines: Array<{ level: number; msg: string; file?: string }> } {
  const lines: Array<{ level: number; msg: string; file?: string }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l) as { level: number; msg: string }); } });
  return { log, lines };
}

const ERROR = 50;
const EMPTY_TEXTS = ['', '   ', '\n\n', ' \t\r\n '];

interface Case {
  readonly rel: string;
  readonly good: string;
  readonly edited: string;
  readonly parse: (t: string) => unknown;
  readonly fallback: () => unknown;
}

const CASES: Case[] = [
  {
    rel: 'ops/policies.yaml',
    good: readFileSync(join(SHIPPED, 'policies.yaml'), 'utf8'),
    edited: 'retrain:\n  every_bars: 40\n  window_bars: 400\n  min_bars: 150\n  max_shadow_versions: 2\n',
    parse: parsePolicies, fallback: () => DEFAULT_POLICIES,
  },
  {
    rel: 'ops/capital_policy.json',
    good: readFileSync(join(SHIPPED, 'capital_policy.json'), 'utf8'),
    edited: JSON.stringify({ ...JSON.parse(readFileSync(join(SHIPPED, 'capital_policy.json'), 'utf8')), refresh_sec: 7 }),
    parse: parseCapitalPolicy, fallback: () => DEFAULT_CAPITAL_POLICY,
  },
  {
    rel: 'ops/strategy_weights.json',
    good: JSON.stringify({ weights: { ma_crossover_v1: 1 }, updated_at: '', updated_by: 'operator' }),
    edited: JSON.stringify({ weights: { ma_crossover_v1: 0.5 }, updated_at: '', updated_by: 'operator' }),
    parse: (t) => parseWeightsFile(t, new Set(['ma_crossover_v1'])), fallback: () => ({ weights: {}, updated_at: '', updated_by: 'defaults' }),
  },
];

function withRoot(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'hmm-watched-'));
  mkdirSync(join(root, 'ops'));
  try {
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

for (const c of CASES) {
  test(`${c.rel}: an empty or whitespace-only edit is refused, the last good value kept, one ERROR naming the file`, () => {
    withRoot((root) => {
      const path = join(root, c.rel);
      writeFileSync(path, c.good);
      const { log, lines } = capture();
      const f = new WatchedFile(path, root, c.parse, c.fallback, log);
      const good = f.current;
      for (const empty of EMPTY_TEXTS) {
        writeFileSync(path, empty);
        assert.equal(f.reload(), false, JSON.stringify(empty));
        assert.deepEqual(f.current, good, 'the last good value stays in force');
      }
      const errors = lines.filter((l) => l.level === ERROR);
      assert.equal(errors.length, EMPTY_TEXTS.length);
      for (const e of errors) {
        assert.equal(e.file, c.rel);
        assert.match(e.msg, new RegExp(`${c.rel.replace('.', '\\.')} rejected: the file is empty.*keeping the last good version`));
      }
      // The counterpart: a valid edit after the empty one takes effect, with no ERROR.
      writeFileSync(path, c.edited);
      assert.equal(f.reload(), true);
      assert.deepEqual(f.current, c.parse(c.edited));
      assert.equal(lines.filter((l) => l.level === ERROR).length, EMPTY_TEXTS.length);
    });
  });

  test(`${c.rel}: start-up with an empty file stops, naming the file; a missing file is the defaults`, () => {
    withRoot((root) => {
      const path = join(root, c.rel);
      for (const empty of EMPTY_TEXTS) {
        writeFileSync(path, empty);
        assert.throws(() => new WatchedFile(path, root, c.parse, c.fallback, capture().log), (err: Error) => {
          assert.match(err.message, new RegExp(`^${c.rel.replace('.', '\\.')}: the file is empty`));
          assert.ok(!err.message.includes('\n'), 'one line');
          return true;
        });
      }
      rmSync(path);
      assert.deepEqual(new WatchedFile(path, root, c.parse, c.fallback, capture().log).current, c.fallback());
      writeFileSync(path, c.good);
      assert.deepEqual(new WatchedFile(path, root, c.parse, c.fallback, capture().log).current, c.parse(c.good));
    });
  });
}
