// Whole-stack replay throughput: bars per second of `hmm replay` — the embedded stack with its
// default models (MA live, HMM and ensemble in shadow), router, allocator, canary, governance,
// shadow book, sim venue, ledger and order log — on a SimClock, each step settled before the
// next. Timed from the first replayed step to the last (start-up, warm-up and the HMM
// bootstrap are printed apart). Run: npx tsx bench/replay.bench.ts [steps]  (default 2,000;
// two symbols, 1-minute bars).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReplay } from '../src/replay/replay.js';

const steps = Number(process.argv[2] ?? 2_000);
const dir = mkdtempSync(join(tmpdir(), 'hmm-replay-bench-'));
try {
  let t1 = 0;
  const t0 = performance.now();
  const r = await runReplay({ root: join(dir, 'root'), synthetic: { seed: 42, drift: 1, steps }, onStarted: () => { t1 = performance.now(); } });
  const t2 = performance.now();
  const loopS = (t2 - t1) / 1000;
  process.stdout.write(`replay (whole stack, default models, ${r.bars} bars in ${r.steps} steps): start-up ${((t1 - t0) / 1000).toFixed(2)} s, ` +
    `replay ${loopS.toFixed(2)} s → ${Math.round(r.bars / loopS)} bars/s (${Math.round(r.steps / loopS)} steps/s); goal 250,000 bars/s\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
