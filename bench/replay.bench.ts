// Whole-stack replay throughput: bars per second of `hmm replay` — the embedded stack with its
// default models (MA live, HMM and ensemble in shadow), router, allocator, canary, governance,
// shadow book, sim venue, ledger and order log — on a SimClock, each step settled before the
// next. Timed from the first replayed step to the last (start-up, warm-up and the HMM
// bootstrap are printed apart). Also printed: bars per CPU-second of this process over the
// same span (user + system), the figure to compare when other work shares the machine's cores.
// Run: npx tsx bench/replay.bench.ts [steps] [runs] [no-refits] [phases] [settle]  (default 2,000
// steps, 1 run; two symbols, 1-minute bars; with several runs each is a fresh root, and the
// median is printed last). `no-refits` replays under the shipped policies with
// `retrain: {enabled: false}`: the stack without its walk-forward HMM refits (a fit of a week of
// bars every 720), to show the two costs apart. `phases` also prints each step's CPU by phase
// (replay.ts StepPhases: the clock's advance, the bar handler, the settle's first event-loop turn
// and its two further turns), read with process.cpuUsage() around each — the reads' own cost is
// printed with it. `settle` also times the step's settle alone (replay.ts settle(): three
// setImmediate turns, the engine quiesced after each) on the started stack before the first
// step, with nothing to settle: what the mechanism costs a step by itself.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StepPhases, cpuMicros, runReplay, settle } from '../src/replay/replay.js';

const steps = Number(process.argv[2] ?? 2_000);
const runs = Number(process.argv[3] ?? 1);
const modes = process.argv.slice(4);
const unknown = modes.filter((m) => !['no-refits', 'phases', 'settle'].includes(m));
if (unknown.length > 0) throw new Error(`unknown mode(s) ${unknown.join(', ')}: give no-refits, phases and/or settle`);
const noRefits = modes.includes('no-refits');
const SETTLES = 20_000;

/** CPU µs of one process.cpuUsage() read (best of 3 × 100,000). */
function probeCost(): number {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = cpuMicros();
    for (let i = 0; i < 100_000; i++) cpuMicros();
    best = Math.min(best, (cpuMicros() - c0) / 100_000);
  }
  return best;
}
const shipped = readFileSync(new URL('../ops/policies.yaml', import.meta.url), 'utf8');
const policies = noRefits ? shipped.replace(/^retrain:\n {2}enabled: true$/m, 'retrain:\n  enabled: false') : undefined;
if (noRefits && policies === shipped) throw new Error('ops/policies.yaml: no `retrain:` / `enabled: true` to turn off');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const wallRates: number[] = [];
const cpuRates: number[] = [];
for (let run = 0; run < runs; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-replay-bench-'));
  try {
    let t1 = 0;
    let c1: NodeJS.CpuUsage = process.cpuUsage();
    const phases = modes.includes('phases') ? new StepPhases() : undefined;
    const t0 = performance.now();
    const r = await runReplay({
      root: join(dir, 'root'), synthetic: { seed: 42, drift: 1, steps }, ...(policies !== undefined ? { policies } : {}), ...(phases ? { phases } : {}),
      onStarted: async (stack) => {
        if (modes.includes('settle')) {
          for (let i = 0; i < 1_000; i++) await settle(stack); // warm
          const s0 = cpuMicros();
          const w0 = performance.now();
          for (let i = 0; i < SETTLES; i++) await settle(stack);
          process.stdout.write(`settle alone (started stack, nothing to settle), ${SETTLES.toLocaleString('en-US')} settles: ${((cpuMicros() - s0) / SETTLES).toFixed(1)} µs CPU each (${(((performance.now() - w0) * 1000) / SETTLES).toFixed(1)} µs wall)\n`);
        }
        t1 = performance.now();
        c1 = process.cpuUsage();
      },
    });
    const t2 = performance.now();
    const cpu = process.cpuUsage(c1);
    const loopS = (t2 - t1) / 1000;
    const cpuS = (cpu.user + cpu.system) / 1e6;
    wallRates.push(r.bars / loopS);
    cpuRates.push(r.bars / cpuS);
    process.stdout.write(`replay (whole stack, default models${noRefits ? ', walk-forward refits off' : ''}, ${r.bars} bars in ${r.steps} steps, ${r.orders} orders, ${r.fills} fills): start-up ${((t1 - t0) / 1000).toFixed(2)} s, ` +
      `replay ${loopS.toFixed(2)} s → ${Math.round(r.bars / loopS)} bars/s (${Math.round(r.steps / loopS)} steps/s); CPU ${cpuS.toFixed(2)} s → ${Math.round(r.bars / cpuS)} bars per CPU-second; goal 250,000 bars/s\n`);
    if (phases) {
      const per = (us: number) => `${(us / phases.steps).toFixed(1)} µs`;
      const p = phases.cpuUs;
      const total = p.advance + p.bars + p.firstTurn + p.furtherTurns;
      process.stdout.write(`  CPU per step by phase (${phases.steps} steps, ${(total / 1e6).toFixed(2)} s in all): advance ${per(p.advance)}, bar handler ${per(p.bars)}, ` +
        `settle first turn ${per(p.firstTurn)}, settle further turns ${per(p.furtherTurns)}; total ${per(total)} a step, ${(total / r.bars).toFixed(1)} µs a bar ` +
        `(each phase includes one process.cpuUsage() read, ${probeCost().toFixed(2)} µs)\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (runs > 1) process.stdout.write(`median of ${runs}: ${Math.round(median(wallRates))} bars/s, ${Math.round(median(cpuRates))} bars per CPU-second\n`);
