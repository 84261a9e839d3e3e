// Governance's drawdown statement as the control plane and the page read it off a
// metrics.update: both numbers finite, or no statement. The page's copy
// (web/dashboard.js governanceDrawdownOf: the browser has no bundler to load the TS module)
// is run here, as served, on the same payloads, and must answer exactly as the TS decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import fc from 'fast-check';
import { decodeDrawdownStatement } from '../../../src/ops/governance/drawdownStatement.js';

const dashboardJs = readFileSync(join(import.meta.dirname, '../../../web/dashboard.js'), 'utf8');
const source = /\n {2}function governanceDrawdownOf\(m\) \{\n[\s\S]*?\n {2}\}\n/.exec(dashboardJs)?.[0];
assert.ok(source, 'web/dashboard.js defines governanceDrawdownOf(m) as a function of its own');
const governanceDrawdownOf = runInThisContext(`(() => {${source}; return governanceDrawdownOf; })()`) as (m: unknown) => unknown;

/** What governance publishes every round (daemon.ts publishPortfolioMetrics), and what else arrives. */
const CASES: readonly [string, unknown, { drawdown_pct: number; peak_equity: number } | null][] = [
  ['governance\'s own round', { equity: 10_450, pnl_unrealized: -20, pnl_realized: 0, exposure: 900, drawdown_pct: 5, peak_equity: 11_000 }, { drawdown_pct: 5, peak_equity: 11_000 }],
  ['at the peak', { drawdown_pct: 0, peak_equity: 10_000 }, { drawdown_pct: 0, peak_equity: 10_000 }],
  // A peak ≤ 0 or a negative figure is still what was stated: whether to use it is the reader's rule.
  ['a statement from no capital', { drawdown_pct: 0, peak_equity: 0 }, { drawdown_pct: 0, peak_equity: 0 }],
  ['a negative figure', { drawdown_pct: -1, peak_equity: 5 }, { drawdown_pct: -1, peak_equity: 5 }],
  ['an operator\'s drill reading', { pnl_unrealized: -500, drawdown_pct: 50 }, null],
  ['a peak alone', { peak_equity: 11_000 }, null],
  ['no metrics', {}, null],
  ['a number as text', { drawdown_pct: '5', peak_equity: 11_000 }, null],
  ['a peak as text', { drawdown_pct: 5, peak_equity: '11000' }, null],
  ['NaN', { drawdown_pct: Number.NaN, peak_equity: 11_000 }, null],
  ['an infinite peak', { drawdown_pct: 5, peak_equity: Infinity }, null],
  ['null figures', { drawdown_pct: null, peak_equity: null }, null],
  ['null', null, null],
  ['a number', 5, null],
  ['a string', 'drawdown_pct', null],
  ['an array', [5, 11_000], null],
];

test('a statement is both numbers, finite; anything less is none', () => {
  for (const [what, payload, expected] of CASES) assert.deepStrictEqual(decodeDrawdownStatement(payload), expected, what);
});

test('the statement carries the numbers as stated, nothing else from the payload', () => {
  const s = decodeDrawdownStatement({ equity: 1, drawdown_pct: 3.015, peak_equity: 10_022.49, exposure_multiplier: 0.75 });
  assert.deepStrictEqual(Object.keys(s ?? {}), ['drawdown_pct', 'peak_equity']);
});

test('the page\'s copy answers every case as the TS decoder does', () => {
  for (const [what, payload, expected] of CASES) assert.deepStrictEqual(governanceDrawdownOf(payload), expected, `${what} (web/dashboard.js)`);
});

test('the page\'s copy agrees with the TS decoder on any payload', () => {
  const value = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, Infinity, -Infinity, Number.NaN), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined));
  const payload = fc.oneof(
    fc.record({ drawdown_pct: value, peak_equity: value, equity: value }, { requiredKeys: [] }),
    fc.dictionary(fc.constantFrom('drawdown_pct', 'peak_equity', 'equity', 'pnl_unrealized'), value),
    value,
    fc.array(value),
  );
  fc.assert(fc.property(payload, (p) => {
    assert.deepStrictEqual(governanceDrawdownOf(p), decodeDrawdownStatement(p));
  }), { numRuns: 2000 });
});
