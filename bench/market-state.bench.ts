// What persisting the synthetic market costs a step (app/marketSource.ts: the generator state and
// the warm-up history a restart continues from, engine/state/<engine>.market.json). The market
// source is driven as a stack drives it (start(), then its own timer, MARKET_INTERVAL_MS=1) for
// N steps with the state file and N without it (statePath null), alternately; printed: process
// CPU (user + system) per step of each, their difference (the file's own cost), and the file's
// size at the end. Two symbols, WARMUP_BARS as given (default 300, the shipped default).
//
//   npx tsx bench/market-state.bench.ts [steps] [rounds] [warmup]   (default 3000 steps, 3 rounds, 300)
//
// `hmm replay` and bench/replay.bench.ts do not pass through this code: a replay hands the stack
// its own market source, and its root has no market state file.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticSource } from '../src/app/marketSource.js';
import { loadConfig } from '../src/config/config.js';
import { symbol } from '../src/core/ids.js';

const steps = Number(process.argv[2] ?? 3_000);
const rounds = Number(process.argv[3] ?? 3);
const warmup = process.argv[4] ?? '300';
const symbols = [symbol('BTCUSDT'), symbol('ETHUSDT')];
const cpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU µs per step over `steps` steps of a fresh market source; the file's size at the end. */
async function run(withFile: boolean): Promise<{ usPerStep: number; bytes: number | null }> {
  const root = mkdtempSync(join(tmpdir(), 'hmm-bench-market-'));
  try {
    const config = loadConfig({ HMM_ROOT: root, WARMUP_BARS: warmup, MARKET_INTERVAL_MS: '1' });
    const statePath = withFile ? join(root, 'engine/state/engine_sim.market.json') : null;
    const source = syntheticSource(config, symbols, { statePath });
    let n = 0;
    let c0 = 0;
    await new Promise<void>((resolve) => {
      source.start(() => {
        if (++n === 1) c0 = cpuMicros();
        else if (n === steps + 1) resolve();
      });
    });
    const usPerStep = (cpuMicros() - c0) / steps;
    await source.close();
    return { usPerStep, bytes: statePath === null ? null : statSync(statePath).size };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

console.log(`synthetic market source, 2 symbols, WARMUP_BARS=${warmup}, ${steps} steps a run, ${rounds} round(s) of without / with the state file`);
const diffs: number[] = [];
for (let r = 0; r < rounds; r++) {
  const without = await run(false);
  const withFile = await run(true);
  diffs.push(withFile.usPerStep - without.usPerStep);
  console.log(`  round ${r + 1}: without the file ${without.usPerStep.toFixed(1)} µs CPU a step, with it ${withFile.usPerStep.toFixed(1)} µs; ` +
    `the file's cost ${(withFile.usPerStep - without.usPerStep).toFixed(1)} µs a step; file at the end ${withFile.bytes!.toLocaleString('en-US')} bytes`);
}
const sorted = [...diffs].sort((a, b) => a - b);
console.log(`median of ${rounds}: the state file costs ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs of CPU a step`);
