// Proof on a planted edge (issue 13 item 6): the whole stack, under the shipped policies, finds
// and funds an edge planted in the market, starves a losing model, and promotes nothing when
// there is nothing to find. Each run: a seeded synthetic market (BTCUSDT, minute bars), a week
// of history the first HMM is trained on, then STEPS replayed bars on the stack's SimClock with
// the default models (MA crossover live, HMM and ensemble in shadow, walk-forward refits) plus
// an inverted MA crossover in shadow (src/replay/plantedEdge.ts).
//
// Pass rule, over SEEDS (10 seeds, each in its own process, two at a time):
//   drift ×3 (trends of ±0.24 σ per bar, PLANTED_EDGE.drift):
//     an HMM version is promoted to live in ≥ 8 of 10 seeds;
//     an HMM version ends with the largest capital quota in ≥ 8 of 10;
//     the inverted MA's quota ends at the floor (min_quota_usd) in ≥ 8 of 10;
//   drift 0 (no edge anywhere): a promotion to live in ≤ 1 of 10 seeds — the stated
//     false-positive rate, near the canary's 1 − confidence per candidate.
//
// Runtime: with the replay at ~160 bars/s (BENCHMARKS.md, whole-stack replay) one run of two
// weeks takes ~3 minutes, the 20 runs ~30 minutes on two cores: far past the suite's budget.
// The test therefore runs when PLANTED_EDGE=1 is set (PLANTED_EDGE_STEPS and PLANTED_EDGE_SEEDS
// change its scale) and is skipped, saying so, otherwise. Once the replay is fast (branch
// replay-speed) the gate goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PLANTED_EDGE } from '../../src/replay/plantedEdge.js';

const STEPS = Number(process.env.PLANTED_EDGE_STEPS ?? 20_160); // two weeks of minute bars
const SEEDS = Array.from({ length: Number(process.env.PLANTED_EDGE_SEEDS ?? 10) }, (_, i) => i + 1);
const PARALLEL = 2;
const enabled = process.env.PLANTED_EDGE === '1';

interface Outcome {
  readonly seed: number;
  readonly hmmPromotions: readonly { readonly model: string; readonly ts: string }[];
  readonly promotions: number;
  readonly finalQuotas: Readonly<Record<string, number>>;
  readonly largest: string | null;
  readonly loserAtFloor: boolean;
}

function runChild(seed: number, drift: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/plantedEdgeChild.ts', String(seed), String(drift), String(STEPS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`seed ${seed} drift ${drift}: exit ${code}\n${err.slice(-2000)}`));
      try { resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Outcome); } catch (e) { reject(new Error(`seed ${seed}: unreadable outcome ${out.slice(-500)}: ${String(e)}`)); }
    });
  });
}

async function runAll(drift: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const queue = [...SEEDS];
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) out.push(await runChild(s, drift));
  }));
  return out.sort((a, b) => a.seed - b.seed);
}

const count = (xs: readonly Outcome[], f: (o: Outcome) => boolean): number => xs.filter(f).length;
const need = Math.ceil(0.8 * SEEDS.length);
const skip = enabled ? false : 'set PLANTED_EDGE=1: 20 whole-stack replays of two weeks take ~30 min at the current replay speed';

test(`planted edge ×${PLANTED_EDGE.drift}: an HMM goes live and holds the most capital, the inverted MA ends at the floor (≥ ${need}/${SEEDS.length} seeds each)`, { skip, timeout: 4 * 3600_000 }, async () => {
  const runs = await runAll(PLANTED_EDGE.drift);
  const lines = runs.map((o) => `seed ${o.seed}: hmm live ${o.hmmPromotions.map((p) => `${p.model}@${p.ts}`).join(',') || '—'}; largest ${o.largest}; inverted at floor ${o.loserAtFloor}; quotas ${JSON.stringify(o.finalQuotas)}`);
  const why = lines.join('\n');
  assert.ok(count(runs, (o) => o.hmmPromotions.length > 0) >= need, `HMM promoted in too few seeds:\n${why}`);
  assert.ok(count(runs, (o) => o.largest?.startsWith('hmm_') === true) >= need, `HMM holds the largest quota in too few seeds:\n${why}`);
  assert.ok(count(runs, (o) => o.loserAtFloor) >= need, `inverted MA not at the floor in enough seeds:\n${why}`);
});

test(`no edge (drift 0): a promotion to live in at most 1 of ${SEEDS.length} seeds`, { skip, timeout: 4 * 3600_000 }, async () => {
  const runs = await runAll(0);
  const promoted = runs.filter((o) => o.promotions > 0);
  assert.ok(promoted.length <= Math.max(1, Math.floor(SEEDS.length / 10)), `promotions with no edge in seeds ${promoted.map((o) => o.seed).join(', ')}`);
});
