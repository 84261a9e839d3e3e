// The planted-edge figures (issue 13, item 6) until the replay is fast enough for a CI test:
// replays the whole stack under the shipped policies for each seed at MARKET_DRIFT d and
// prints, per seed, the lifecycle changes with their market time and the final weights, then
// how many seeds promoted a model to live. Run one drift per process:
//   npx tsx bench/replay-proof.ts <drift> <steps> <seed> [seed ...]
// e.g. drift 1 (planted) and drift 0 (no edge) over 5040 steps (3.5 days of minute bars).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReplay } from '../src/replay/replay.js';

const [drift, steps, ...seeds] = process.argv.slice(2).map(Number);
let promoted = 0;
for (const seed of seeds) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-replay-proof-'));
  try {
    const r = await runReplay({ root: join(dir, 'root'), synthetic: { seed: seed!, drift: drift!, steps: steps! } });
    const changes = r.lifecycle.filter((h) => h.action !== 'register' && h.action !== 'retire');
    if (changes.some((h) => h.to === 'live' && h.action === 'promote')) promoted++;
    process.stdout.write(`seed ${seed} drift ${drift}: ${r.steps} steps in ${(r.wall_ms / 1000).toFixed(1)} s; ` +
      `${changes.map((h) => `${h.action} ${h.model} ${h.from}→${h.to} at ${h.ts}`).join('; ') || 'no promotion'}; weights ${JSON.stringify(r.final_weights)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stdout.write(`drift ${drift}: promoted to live in ${promoted} of ${seeds.length} seeds\n`);
