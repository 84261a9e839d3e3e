// The planted-edge figures (issue 13, item 6): the planted-edge scenario (src/replay/plantedEdge.ts:
// a week of history the first HMM trains on, the default models plus an inverted MA crossover,
// shipped policies) replayed for each seed at drift d, printing per seed when an HMM went live,
// the final quotas and who holds the most, whether the inverted MA sits at the floor; then the
// whole replay summary of the first seed (promotions, capital curve per model, Viterbi regimes).
// Run one drift per process:
//   npx tsx bench/replay-proof.ts <drift> <steps> <seed> [seed ...]
// e.g. `npx tsx bench/replay-proof.ts 3 14400 2` (the planted edge, ten days, the horizon of
// test/integration/plantedEdge.test.ts) and `npx tsx bench/replay-proof.ts 0 14400 2` (no edge).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlantedEdge } from '../src/replay/plantedEdge.js';
import { formatReplay } from '../src/replay/replay.js';

const [drift, steps, ...seeds] = process.argv.slice(2).map(Number);
let promoted = 0;
let hmmLargest = 0;
let funded = 0;
let atFloor = 0;
let first: string | null = null;
for (const seed of seeds) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-replay-proof-'));
  try {
    const o = await runPlantedEdge(join(dir, 'root'), seed!, drift!, steps!);
    if (o.promotions > 0) promoted++;
    if (o.largest?.startsWith('hmm_') === true) hmmLargest++;
    if (o.loserAtFloor) atFloor++;
    if (o.hmmFundedForEdge) funded++;
    first ??= formatReplay(o.report);
    process.stdout.write(`seed ${seed} drift ${drift}: ${o.steps} steps in ${(o.wallMs / 1000).toFixed(1)} s; ` +
      `promoted to live: ${o.report.promotions.map((p) => `${p.model} at ${p.ts}`).join(', ') || 'none'}; ` +
      `largest quota ${o.largest}; largest HMM quota ${o.largestHmmQuota.toFixed(2)} against the edge quota ${o.edgeQuotaUsd.toFixed(2)} ` +
      `(even split ${o.evenSplitUsd.toFixed(2)}): funded as for an edge ${o.hmmFundedForEdge} (any model ${o.anyFundedForEdge}); inverted MA at the floor: ${o.loserAtFloor}; quotas ${JSON.stringify(o.finalQuotas)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stdout.write(`drift ${drift}: promoted to live in ${promoted} of ${seeds.length} seeds; an HMM holds the largest quota in ${hmmLargest}, as for an edge in ${funded}; ` +
  `the inverted MA ends at the floor in ${atFloor}\n\n${first ?? ''}`);
