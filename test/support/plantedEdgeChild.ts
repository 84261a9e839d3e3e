// One planted-edge replay in its own process (test/integration/plantedEdge.test.ts runs seeds
// side by side): `npx tsx test/support/plantedEdgeChild.ts <seed> <drift> <steps>` prints the
// outcome as one JSON line; the replay root is a temporary folder, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlantedEdge } from '../../src/replay/plantedEdge.js';

const [seed, drift, steps] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'hmm-planted-edge-'));
try {
  const { report, ...outcome } = await runPlantedEdge(join(dir, 'root'), seed!, drift!, steps!);
  process.stdout.write(JSON.stringify({ ...outcome, regimes: report.regimes?.summary ?? null }) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
